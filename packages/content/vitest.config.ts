import { defineProject } from "vitest/config";

export default defineProject({
  test: { name: "@strata/content", include: ["src/**/*.test.ts"] },
});
