import { defineProject } from "vitest/config";

export default defineProject({
  test: { name: "@strata/daemon", include: ["src/**/*.test.ts"] },
});
