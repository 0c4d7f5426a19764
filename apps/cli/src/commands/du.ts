import type { CacheUsage } from "@strata/core";
import type { Command } from "../command.ts";
import { parseCommandArgs } from "../command.ts";
import { formatTable } from "../table.ts";
import { humanSize } from "../units.ts";
import { ago } from "./ref.ts";

/** The Shared/Private/Reclaimable/Total lines of `buildctl du`. */
export function usageSummary(records: readonly CacheUsage[]): string {
  let shared = 0;
  let priv = 0;
  let reclaimable = 0;
  for (const r of records) {
    if (r.shared) shared += r.size;
    else priv += r.size;
    if (!r.inUse) reclaimable += r.size;
  }
  const rows: string[][] = [];
  if (shared > 0) {
    rows.push(["Shared:", humanSize(shared)], ["Private:", humanSize(priv)]);
  }
  rows.push(["Reclaimable:", humanSize(reclaimable)], ["Total:", humanSize(shared + priv)]);
  return formatTable(rows);
}

function verbose(records: readonly CacheUsage[], now: number): string {
  return records
    .map((r) => {
      const rows: string[][] = [["ID:", r.id]];
      for (const p of r.parents) rows.push(["Parent:", p]);
      rows.push(
        ["Created at:", r.createdAt.toISOString()],
        ["Mutable:", String(r.mutable)],
        ["Reclaimable:", String(!r.inUse)],
        ["Shared:", String(r.shared)],
        ["Size:", humanSize(r.size)],
      );
      if (r.description !== "") rows.push(["Description:", r.description]);
      rows.push(["Usage count:", String(r.usageCount)]);
      if (r.lastUsedAt !== undefined) rows.push(["Last used:", ago(r.lastUsedAt, now)]);
      if (r.recordType !== "") rows.push(["Type:", r.recordType]);
      return `${formatTable(rows)}\n`;
    })
    .join("");
}

/** `strata du`: disk usage per cache record, as `buildctl du`. */
export const duCommand: Command = {
  name: "du",
  summary: "show disk usage of the cache records",
  usage: `usage: strata du [--verbose] [--filter F]...

  -v, --verbose    one block per record
  -f, --filter F   containerd filter over id, parents, description, inuse, mutable,
                   immutable, type, shared, private (repeatable: any matches)

Mutable records are marked with * after the id. A record is reclaimable
when neither it nor a record built on it is in use. A shared record (its
size marked with *) has data that something outside the cache keeps too,
so removing it would not free that space: a lease that is not a cache
record's (\`strata leases\`, ctr clients), a containerd.io/gc.root label,
what those reference through gc.ref labels, or the same blob in another
namespace; the parents of a shared record are shared too. Two records
holding the same data (one layer in two compressions) are not shared.
\`strata prune\` leaves shared records unless --all is given.`,
  async run(ctx, args) {
    const { values } = parseCommandArgs(args, {
      verbose: { type: "boolean", short: "v" },
      filter: { type: "string", short: "f", multiple: true },
    });
    const records = [
      ...(await (
        await ctx.backend()
      ).cache.diskUsage({
        ...(values.filter === undefined ? {} : { filters: values.filter }),
        signal: ctx.signal,
      })),
    ].sort((a, b) => b.size - a.size || a.id.localeCompare(b.id));
    const now = Date.now();
    if (values.verbose === true) {
      ctx.io.stdout.write(verbose(records, now));
    } else {
      const rows = [["ID", "RECLAIMABLE", "SIZE", "LAST ACCESSED"]];
      for (const r of records) {
        rows.push([
          `${r.id}${r.mutable ? "*" : ""}`,
          String(!r.inUse),
          `${humanSize(r.size)}${r.shared ? "*" : ""}`,
          ago(r.lastUsedAt, now),
        ]);
      }
      ctx.io.stdout.write(formatTable(rows));
    }
    ctx.io.stdout.write(usageSummary(records));
    return 0;
  },
};
