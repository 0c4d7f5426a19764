import { defineProject } from "vitest/config";

export default defineProject({
  test: { name: "@strata/leases", include: ["src/**/*.test.ts"] },
});
