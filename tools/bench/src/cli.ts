import { parseArgs } from "node:util";
import { InvalidArgumentError } from "@strata/errdefs";

/** The command line of `node tools/bench/src/main.ts`. */
export interface CliOptions {
  /** Benchmarks to run; empty: all. */
  names: string[];
  rounds: number;
  warmup: number;
  json: boolean;
  list: boolean;
  help: boolean;
}

/** The usage text of the bench command. */
export const USAGE: string = `usage: node tools/bench/src/main.ts [name...] [--rounds N] [--warmup N] [--json] [--list]

Runs the registered benchmarks (all when no name is given), Strata and its peers
alternately, and prints min/median/max wall times and the ratio strata/peer of medians.

  --rounds N   measured rounds (default 5)
  --warmup N   discarded rounds before them (default 1)
  --json       print a JSON report instead of the table
  --list       list the benchmarks and exit
`;

function count(name: string, text: string | undefined, fallback: number, min: number): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text) || Number(text) < min) {
    throw new InvalidArgumentError(`invalid --${name} "${text}": expected an integer ≥ ${min}`);
  }
  return Number(text);
}

/**
 * Parses the bench command's arguments.
 *
 * @throws {InvalidArgumentError} for an unknown option, a missing value, or
 *   a count that is not an integer (rounds ≥ 1, warmup ≥ 0).
 */
export function parseCliArgs(args: readonly string[]): CliOptions {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(args);
  } catch (err) {
    throw new InvalidArgumentError(`invalid arguments: ${(err as Error).message}`, { cause: err });
  }
  const { values, positionals } = parsed;
  return {
    names: positionals,
    rounds: count("rounds", values.rounds, 5, 1),
    warmup: count("warmup", values.warmup, 1, 0),
    json: values.json ?? false,
    list: values.list ?? false,
    help: values.help ?? false,
  };
}

function parse(args: readonly string[]) {
  return parseArgs({
    args: [...args],
    allowPositionals: true,
    strict: true,
    options: {
      rounds: { type: "string" },
      warmup: { type: "string" },
      json: { type: "boolean" },
      list: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
}
