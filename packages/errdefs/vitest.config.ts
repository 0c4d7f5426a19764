import { defineProject } from "vitest/config";

export default defineProject({
  test: { name: "@strata/errdefs", include: ["src/**/*.test.ts"] },
});
