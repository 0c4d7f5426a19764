import { defineProject } from "vitest/config";

export default defineProject({
  test: { name: "@strata/diff", include: ["src/**/*.test.ts"] },
});
