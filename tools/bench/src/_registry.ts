// The reference registry for benchmarks: Debian's `docker-registry` on a free
// loopback port (@strata/registry/testing starts it), its storage in a
// temporary directory that `wipe` empties between runs (so every push
// uploads everything again).
import { UnavailableError } from "@strata/errdefs";
import { startRegistry as startReferenceRegistry } from "@strata/registry/testing";
import { findProgram } from "./find_program.ts";

/** A registry started for a benchmark. */
export interface BenchRegistry {
  /** `127.0.0.1:<port>`. */
  host: string;
  /** Removes every repository and blob (the filesystem driver keeps nothing in memory). */
  wipe(): Promise<void>;
  /** Stops it and removes its directory. */
  stop(): Promise<void>;
}

/**
 * Starts `docker-registry` with its storage under `parent`; Unavailable when
 * it is not installed or does not answer within 15 seconds.
 */
export async function startRegistry(parent: string): Promise<BenchRegistry> {
  if ((await findProgram("docker-registry")) === undefined) {
    throw new UnavailableError(
      "docker-registry is not installed (apt-get install docker-registry)",
    );
  }
  const registry = await startReferenceRegistry({ parent });
  return { host: registry.host, wipe: registry.wipe, stop: registry.stop };
}
