import { defineProject } from "vitest/config";

export default defineProject({
  test: { name: "@strata/compression", include: ["src/**/*.test.ts"] },
});
