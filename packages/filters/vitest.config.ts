import { defineProject } from "vitest/config";

export default defineProject({
  test: { name: "@strata/filters", include: ["src/**/*.test.ts"] },
});
