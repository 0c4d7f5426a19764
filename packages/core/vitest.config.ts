import { defineProject } from "vitest/config";

export default defineProject({
  test: { name: "@strata/core", include: ["src/**/*.test.ts"] },
});
