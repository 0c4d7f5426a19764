import { InvalidArgumentError } from "@strata/errdefs";
import type { Command } from "../command.ts";
import { parseCommandArgs, UsageError } from "../command.ts";
import { formatTable } from "../table.ts";
import { humanSize, parseDuration } from "../units.ts";

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  m: 1e6,
  mb: 1e6,
  g: 1e9,
  gb: 1e9,
  t: 1e12,
  tb: 1e12,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};

/**
 * Parses a size as docker's flags take it: bytes (`1048576`) or a number
 * with a decimal (`10GB`, `512m`) or binary (`1.5GiB`) unit.
 *
 * @throws {InvalidArgumentError} for anything else.
 */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(text.trim());
  const factor = m === null ? undefined : SIZE_UNITS[(m[2] as string).toLowerCase()];
  if (m === null || factor === undefined) {
    throw new InvalidArgumentError(
      `invalid size ${JSON.stringify(text)}: want e.g. 512MB, 10GB, 1GiB`,
    );
  }
  return Math.floor(Number(m[1]) * factor);
}

function sizeOption(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  try {
    return parseSize(value);
  } catch (err) {
    throw new UsageError(`--${name}: ${(err as Error).message}`, { cause: err });
  }
}

/** `strata prune`: removes cache records as `buildctl prune`. */
export const pruneCommand: Command = {
  name: "prune",
  summary: "remove cache records (least recently used first) and collect garbage",
  usage: `usage: strata prune [--all] [--keep-storage SIZE] [--keep-duration DUR] [--filter F]...

  -a, --all               also internal and shared records
  --keep-storage SIZE     keep this much (e.g. 10GB); prune down to it
  --keep-duration DUR     keep records used within DUR (e.g. 24h, 90m)
  --max-used-space SIZE   prune until usage is at most SIZE
  --min-free-space SIZE   prune until the disk has SIZE free
  -f, --filter F          containerd filter (see strata du); repeatable, any matches
  -v, --verbose           one line per removed record with its description

Prints the removed records and the total freed.`,
  async run(ctx, args) {
    const { values, positionals } = parseCommandArgs(args, {
      all: { type: "boolean", short: "a" },
      "keep-storage": { type: "string" },
      "keep-duration": { type: "string" },
      "max-used-space": { type: "string" },
      "min-free-space": { type: "string" },
      filter: { type: "string", short: "f", multiple: true },
      verbose: { type: "boolean", short: "v" },
    });
    if (positionals.length > 0) throw new UsageError("prune takes no arguments");
    let keepDuration: number | undefined;
    if (values["keep-duration"] !== undefined) {
      keepDuration = parseDuration(values["keep-duration"]);
      if (keepDuration === undefined) {
        throw new UsageError(
          `invalid --keep-duration ${JSON.stringify(values["keep-duration"])}: want e.g. 24h, 90m`,
        );
      }
    }
    const reservedSpace = sizeOption("keep-storage", values["keep-storage"]);
    const maxUsedSpace = sizeOption("max-used-space", values["max-used-space"]);
    const minFreeSpace = sizeOption("min-free-space", values["min-free-space"]);
    const removed = await (await ctx.backend()).cache.prune({
      ...(values.all === true ? { all: true } : {}),
      ...(values.filter === undefined ? {} : { filters: values.filter }),
      ...(keepDuration === undefined ? {} : { keepDuration }),
      ...(reservedSpace === undefined ? {} : { reservedSpace }),
      ...(maxUsedSpace === undefined ? {} : { maxUsedSpace }),
      ...(minFreeSpace === undefined ? {} : { minFreeSpace }),
      signal: ctx.signal,
    });
    if (removed.length > 0) {
      const rows = [
        ["ID", "RECLAIMABLE", "SIZE", ...(values.verbose === true ? ["DESCRIPTION"] : [])],
      ];
      for (const r of removed) {
        rows.push([
          `${r.id}${r.mutable ? "*" : ""}`,
          "true",
          humanSize(r.size),
          ...(values.verbose === true ? [r.description] : []),
        ]);
      }
      ctx.io.stdout.write(formatTable(rows));
    }
    const total = removed.reduce((n, r) => n + r.size, 0);
    ctx.io.stdout.write(`Total:\t${humanSize(total)}\n`);
    return 0;
  },
};
