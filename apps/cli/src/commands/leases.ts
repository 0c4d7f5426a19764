import { type Command, group, parseCommandArgs, UsageError } from "../command.ts";
import { formatTable } from "../table.ts";
import { parseDuration } from "../units.ts";
import { parseLabels } from "./content.ts";

const create: Command = {
  name: "create",
  summary: "create a lease and print its id",
  usage: `usage: strata leases create [--id ID] [--expires DURATION] [KEY=VALUE...]

  --id ID              the lease's id (default: a random one)
  --expires DURATION   expire after this long (Go syntax: 24h, 90m); 0 for never (default 24h)`,
  async run(ctx, args) {
    const { values, positionals } = parseCommandArgs(args, {
      id: { type: "string" },
      expires: { type: "string", default: "24h" },
    });
    const expires = values.expires === "0" ? 0 : parseDuration(values.expires);
    if (expires === undefined)
      throw new UsageError(`--expires: "${values.expires}" is not a duration`);
    const backend = await ctx.backend();
    const lease = await backend.leases.create({
      ...(values.id !== undefined ? { id: values.id } : {}),
      ...(expires > 0 ? { expiresIn: expires } : {}),
      labels: parseLabels(positionals),
      signal: ctx.signal,
    });
    ctx.io.stdout.write(`${lease.id}\n`);
    return 0;
  },
};

const list: Command = {
  name: "ls",
  aliases: ["list"],
  summary: "list leases",
  usage: `usage: strata leases ls [--quiet] [filter...]

  -q, --quiet   print only the ids`,
  async run(ctx, args) {
    const { values, positionals } = parseCommandArgs(args, {
      quiet: { type: "boolean", short: "q" },
    });
    const backend = await ctx.backend();
    const leases = await backend.leases.list({ filters: positionals, signal: ctx.signal });
    if (values.quiet) {
      for (const l of leases) ctx.io.stdout.write(`${l.id}\n`);
      return 0;
    }
    const rows = [["ID", "CREATED AT", "LABELS"]];
    for (const l of leases) {
      const labels = Object.entries(l.labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(",");
      rows.push([l.id, l.createdAt.toISOString(), labels === "" ? "-" : labels]);
    }
    ctx.io.stdout.write(formatTable(rows));
    return 0;
  },
};

const remove: Command = {
  name: "rm",
  aliases: ["delete", "remove"],
  summary: "delete leases",
  usage: `usage: strata leases rm [--sync] ID...

  --sync   collect garbage before returning, so what only the lease held is gone`,
  async run(ctx, args) {
    const { values, positionals } = parseCommandArgs(args, { sync: { type: "boolean" } });
    if (positionals.length === 0) throw new UsageError("expected at least one ID");
    const backend = await ctx.backend();
    for (const id of positionals) {
      await backend.leases.delete({ id }, { sync: values.sync === true, signal: ctx.signal });
      ctx.io.stdout.write(`${id}\n`);
    }
    return 0;
  },
};

/** `strata leases`: leases, as `ctr leases`. */
export const leasesCommand: Command = group(
  "leases",
  "leases: hold content (and snapshots) from garbage collection",
  [create, list, remove],
  ["lease"],
);
