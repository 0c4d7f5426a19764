import type { Command } from "../command.ts";
import { group, parseCommandArgs, UsageError } from "../command.ts";
import { formatTable } from "../table.ts";
import { humanDuration, humanSize } from "../units.ts";

/** "3 minutes ago", or "" when never used. */
export function ago(date: Date | undefined, now: number = Date.now()): string {
  return date === undefined ? "" : `${humanDuration(Math.max(0, now - date.getTime()))} ago`;
}

const list: Command = {
  name: "ls",
  aliases: ["list"],
  summary: "list refs",
  usage: `usage: strata ref ls [--quiet]

  -q, --quiet   print only the ids`,
  async run(ctx, args) {
    const { values } = parseCommandArgs(args, { quiet: { type: "boolean", short: "q" } });
    const refs = await (await ctx.backend()).cache.refs({ signal: ctx.signal });
    if (values.quiet === true) {
      ctx.io.stdout.write(refs.map((r) => `${r.id}\n`).join(""));
      return 0;
    }
    const now = Date.now();
    const rows = [["ID", "KIND", "SIZE", "LAST USED", "DESCRIPTION"]];
    for (const r of refs) {
      rows.push([
        r.id,
        r.lazy ? `${r.kind} (lazy)` : r.kind,
        r.size < 0 ? "-" : humanSize(r.size),
        ago(r.lastUsedAt, now) || "-",
        r.description,
      ]);
    }
    ctx.io.stdout.write(formatTable(rows));
    return 0;
  },
};

const info: Command = {
  name: "info",
  summary: "print a ref's record as JSON",
  usage: "usage: strata ref info ID",
  async run(ctx, args) {
    const { positionals } = parseCommandArgs(args, {});
    const [id] = positionals;
    if (id === undefined || positionals.length > 1) throw new UsageError("expected one ID");
    const record = await (await ctx.backend()).cache.refInfo(id, { signal: ctx.signal });
    ctx.io.stdout.write(`${JSON.stringify(record, null, 2)}\n`);
    return 0;
  },
};

const remove: Command = {
  name: "rm",
  aliases: ["remove", "delete"],
  summary: "remove refs (all or none)",
  usage: `usage: strata ref rm ID...

Removes the records and collects what they held. A ref in use, or with a
child not named too, is not removed (and neither is any other).`,
  async run(ctx, args) {
    const { positionals } = parseCommandArgs(args, {});
    if (positionals.length === 0) throw new UsageError("expected at least one ID");
    const removed = await (await ctx.backend()).cache.removeRefs(positionals, {
      signal: ctx.signal,
    });
    ctx.io.stdout.write(removed.map((u) => `${u.id}\n`).join(""));
    return 0;
  },
};

/** `strata ref ls|info|rm`. */
export const refCommand: Command = group("ref", "list, inspect and remove cache refs", [
  list,
  info,
  remove,
]);
