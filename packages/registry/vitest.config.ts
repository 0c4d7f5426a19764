import { defineProject } from "vitest/config";

export default defineProject({
  test: { name: "@strata/registry", include: ["src/**/*.test.ts"] },
});
