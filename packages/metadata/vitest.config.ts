import { defineProject } from "vitest/config";

export default defineProject({
  test: { name: "@strata/metadata", include: ["src/**/*.test.ts"] },
});
