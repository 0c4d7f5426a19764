import { defineProject } from "vitest/config";

export default defineProject({
  test: { name: "@strata/snapshots", include: ["src/**/*.test.ts"] },
});
