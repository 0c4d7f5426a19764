import type { Session } from "@strata/core";

/**
 * What the commands work on: a {@link Session} of `@strata/core`, on the
 * embedded root or on a daemon, so both modes behave the same.
 */
export type Backend = Session;
