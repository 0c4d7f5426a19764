import { defineProject } from "vitest/config";

export default defineProject({
  test: { name: "@strata/api", include: ["src/**/*.test.ts"] },
});
