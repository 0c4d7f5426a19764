import { defineProject } from "vitest/config";

export default defineProject({
  test: { name: "@strata/oci", include: ["src/**/*.test.ts"] },
});
