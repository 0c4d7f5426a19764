import { defineProject } from "vitest/config";

export default defineProject({
  test: { name: "@strata/bench", include: ["src/**/*.test.ts"] },
});
