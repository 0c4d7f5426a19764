import { defineProject } from "vitest/config";

export default defineProject({
  test: { name: "@strata/cache", include: ["src/**/*.test.ts"] },
});
