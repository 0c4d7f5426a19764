/**
 * The conformance suite of `@strata/leases`: vitest tests every
 * {@link LeaseManager} implementation runs.
 *
 * @example
 * ```ts
 * import { leaseSuite } from "@strata/leases/testsuite";
 *
 * leaseSuite("MemoryLeaseManager", async () => ({
 *   manager: new MemoryLeaseManager(),
 *   cleanup: async () => {},
 * }));
 * ```
 *
 * @module
 */
export { type LeaseSuiteInstance, leaseSuite } from "./lease_suite.ts";
