import { defineProject } from "vitest/config";

export default defineProject({
  test: { name: "@strata/cli", include: ["src/**/*.test.ts"] },
});
