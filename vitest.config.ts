import { defineConfig } from "vitest/config";

// One project per workspace package; each also runs alone with
// `pnpm --filter @strata/<name> test`, from its own vitest.config.ts.
export default defineConfig({
  test: {
    projects: [
      "packages/*/vitest.config.ts",
      "apps/*/vitest.config.ts",
      "tools/*/vitest.config.ts",
      "test-e2e/vitest.config.ts",
    ],
  },
});
