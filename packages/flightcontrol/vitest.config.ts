import { defineProject } from "vitest/config";

export default defineProject({
  test: { name: "@strata/flightcontrol", include: ["src/**/*.test.ts"] },
});
