/**
 * The conformance suite of `@strata/content`: what containerd's content
 * testsuite checks, as vitest `describe`/`it` blocks, for any {@link Store}.
 *
 * @example
 * ```ts
 * import { contentSuite } from "@strata/content/testsuite";
 *
 * contentSuite("LocalStore", async () => {
 *   const root = await mkdtemp(join(tmpdir(), "content-"));
 *   const store = await LocalStore.open(root);
 *   return { store, cleanup: () => rm(root, { recursive: true, force: true }) };
 * });
 * ```
 *
 * @module
 */
export { type ContentSuiteInstance, contentSuite } from "./content_suite.ts";
