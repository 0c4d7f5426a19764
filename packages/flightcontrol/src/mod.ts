/**
 * Run one computation per key at a time and share its result with every
 * caller that asks for that key meanwhile (BuildKit's flightcontrol).
 *
 * @example
 * ```ts
 * import { Group } from "@strata/flightcontrol";
 *
 * const sizes = new Group<number>();
 * const size = await sizes.do("ref-1", (signal) => computeSize("ref-1", { signal }));
 * ```
 *
 * @module
 */
export { type DoOptions, Group } from "./group.ts";
