/** A program to spawn; its run is timed from spawn to exit. */
export interface SpawnCommand {
  /** The program and its arguments, e.g. `["sha256sum", file]`. */
  argv: readonly [string, ...string[]];
  /** Extra environment variables for the program. */
  env?: Readonly<Record<string, string>>;
  /**
   * Text the program's standard output must contain, so that a benchmark
   * times correct work only (e.g. the expected digest). A run whose output
   * lacks it fails the benchmark.
   */
  expectOutput?: string;
}

/** An in-process function to time; it should honour the signal. */
export type FunctionCommand = (signal: AbortSignal | undefined) => Promise<void>;

/** What one side of a benchmark runs each round. */
export type Command = SpawnCommand | FunctionCommand;

/** One side of a benchmark: Strata or a peer program. */
export interface Side {
  /** `strata`, or the peer's name (`sha256sum`). */
  name: string;
  command: Command;
}

/** What a benchmark's setup prepares: the commands and how to clean up. */
export interface Prepared {
  /** Bytes each run processes; the table then shows throughput. */
  bytes?: number;
  /** Strata's side. */
  strata: Command;
  /** The peers (at least one); setup leaves out those not installed. */
  peers: Side[];
  /**
   * Runs before each timed run of a side, untimed: resets state so every run
   * does the same work (e.g. removes the blob the previous ingest stored).
   */
  beforeRun?: (side: string, options: { signal?: AbortSignal }) => Promise<void>;
  /** Removes what setup made; called even when a run fails. */
  teardown?: () => Promise<void>;
}

/** A registered benchmark. See the README for how to add one. */
export interface Benchmark {
  /** A short unique name to select it on the command line (`digest`). */
  name: string;
  /** One line on what it measures. */
  description: string;
  /** Prepares inputs (temp files, ...) and says what to run. */
  setup: (options: { signal?: AbortSignal }) => Promise<Prepared>;
}
