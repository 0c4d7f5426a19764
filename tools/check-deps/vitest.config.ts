import { defineProject } from "vitest/config";

export default defineProject({
  test: { name: "@strata/check-deps", include: ["src/**/*.test.ts"] },
});
