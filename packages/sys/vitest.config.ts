import { defineProject } from "vitest/config";

export default defineProject({
  test: { name: "@strata/sys", include: ["src/**/*.test.ts"] },
});
