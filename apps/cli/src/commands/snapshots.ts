import { mergeIn, parseMergeDiff } from "@strata/core";
import type { Mount, SnapshotInfo, SnapshotKind, Snapshotter } from "@strata/snapshots";
import {
  type Command,
  type CommandContext,
  group,
  parseCommandArgs,
  UsageError,
} from "../command.ts";
import { formatTable } from "../table.ts";
import { binarySize } from "../units.ts";
import { parseLabels } from "./content.ts";

const GC_ROOT = "containerd.io/gc.root";

const KIND_TEXT: Record<SnapshotKind, string> = {
  active: "Active",
  view: "View",
  committed: "Committed",
};

// The snapshotter chosen by `strata snapshot --snapshotter NAME ...` (or
// $STRATA_SNAPSHOTTER), else the root's default.
async function snapshotterOf(ctx: SnapshotContext): Promise<Snapshotter> {
  const backend = await ctx.backend();
  return backend.snapshotter(ctx.snapshotter);
}

interface SnapshotContext extends CommandContext {
  snapshotter: string | undefined;
}

// Seconds precision, as ctr stamps its gc.root labels.
const gcRootNow = () => new Date().toISOString().replace(/\.\d+Z$/, "Z");

function mountCommand(m: Mount, target: string): string {
  return `mount -t ${m.type} ${m.source} ${target} -o ${m.options.join(",")}`;
}

function printMounts(ctx: CommandContext, mounts: readonly Mount[], target: string): void {
  for (const m of mounts) ctx.io.stdout.write(`${mountCommand(m, target)}\n`);
}

function printMountsJSON(ctx: CommandContext, mounts: readonly Mount[]): void {
  const json = mounts.map((m) => ({ Type: m.type, Source: m.source, Options: m.options }));
  ctx.io.stdout.write(`${JSON.stringify(json, null, 4)}\n`);
}

function snapshotCommand(
  spec: Omit<Command, "run"> & {
    run(ctx: SnapshotContext, args: readonly string[]): Promise<number>;
  },
): Command & { run(ctx: CommandContext, args: readonly string[]): Promise<number> } {
  return spec as Command;
}

const list = snapshotCommand({
  name: "ls",
  aliases: ["list"],
  summary: "list snapshots",
  usage: `usage: strata snapshot ls [filter...]

Filters as containerd's: name==KEY, parent==KEY, kind==active|view|committed, labels.KEY==VALUE.`,
  async run(ctx, args) {
    const { positionals } = parseCommandArgs(args, {});
    const sn = await snapshotterOf(ctx);
    const rows = [["KEY", "PARENT", "KIND"]];
    await sn.walk((info) => void rows.push([info.name, info.parent, KIND_TEXT[info.kind]]), {
      filters: positionals,
      signal: ctx.signal,
    });
    ctx.io.stdout.write(formatTable(rows));
    return 0;
  },
});

function createCommand(kind: "prepare" | "view"): Command {
  return snapshotCommand({
    name: kind,
    summary:
      kind === "prepare"
        ? "create an active snapshot from a committed one"
        : "create a read-only view of a committed snapshot",
    usage: `usage: strata snapshot ${kind} [--target DIR] [--mounts] [--label K=V...] KEY [PARENT]

  -t, --target DIR   print the mount command for DIR
  --mounts           print the mounts as JSON${kind === "prepare" ? "\n\nThe snapshot is labelled containerd.io/gc.root, as ctr does, so the GC keeps it." : ""}`,
    async run(ctx, args) {
      const { values, positionals } = parseCommandArgs(args, {
        target: { type: "string", short: "t" },
        mounts: { type: "boolean" },
        label: { type: "string", multiple: true },
      });
      const [key, parent = ""] = positionals;
      if (key === undefined || positionals.length > 2) {
        throw new UsageError("expected KEY and an optional PARENT");
      }
      const labels = parseLabels(values.label ?? []);
      if (kind === "prepare") labels[GC_ROOT] ??= gcRootNow();
      const sn = await snapshotterOf(ctx);
      const mounts = await sn[kind](key, parent, { labels, signal: ctx.signal });
      if (values.target !== undefined) printMounts(ctx, mounts, values.target);
      if (values.mounts === true) printMountsJSON(ctx, mounts);
      return 0;
    },
  });
}

const commit = snapshotCommand({
  name: "commit",
  summary: "commit an active snapshot under a name",
  usage: `usage: strata snapshot commit [--label K=V...] NAME KEY

The committed snapshot is labelled containerd.io/gc.root, as ctr does.`,
  async run(ctx, args) {
    const { values, positionals } = parseCommandArgs(args, {
      label: { type: "string", multiple: true },
    });
    const [name, key] = positionals;
    if (name === undefined || key === undefined || positionals.length > 2) {
      throw new UsageError("expected NAME and KEY");
    }
    const labels = { [GC_ROOT]: gcRootNow(), ...parseLabels(values.label ?? []) };
    await (await snapshotterOf(ctx)).commit(name, key, { labels, signal: ctx.signal });
    return 0;
  },
});

const mounts = snapshotCommand({
  name: "mounts",
  aliases: ["m", "mount"],
  summary: "print the mount command of an active snapshot or a view",
  usage: "usage: strata snapshot mounts TARGET KEY",
  async run(ctx, args) {
    const { positionals } = parseCommandArgs(args, {});
    const [target, key] = positionals;
    if (target === undefined || key === undefined || positionals.length > 2) {
      throw new UsageError("expected TARGET and KEY");
    }
    printMounts(ctx, await (await snapshotterOf(ctx)).mounts(key, { signal: ctx.signal }), target);
    return 0;
  },
});

const remove = snapshotCommand({
  name: "rm",
  aliases: ["delete", "remove"],
  summary: "remove snapshots (children first)",
  usage: "usage: strata snapshot rm KEY...",
  async run(ctx, args) {
    const { positionals } = parseCommandArgs(args, {});
    if (positionals.length === 0) throw new UsageError("expected at least one KEY");
    const sn = await snapshotterOf(ctx);
    for (const key of positionals) await sn.remove(key, { signal: ctx.signal });
    return 0;
  },
});

const usage = snapshotCommand({
  name: "usage",
  summary: "show the disk usage of snapshots",
  usage: `usage: strata snapshot usage [-b] [KEY...]

  -b   sizes in bytes`,
  async run(ctx, args) {
    const { values, positionals } = parseCommandArgs(args, { b: { type: "boolean", short: "b" } });
    const sn = await snapshotterOf(ctx);
    const keys = [...positionals];
    if (keys.length === 0) {
      await sn.walk((info) => void keys.push(info.name), { signal: ctx.signal });
    }
    const rows = [["KEY", "SIZE", "INODES"]];
    for (const key of keys) {
      const u = await sn.usage(key, { signal: ctx.signal });
      rows.push([key, values.b === true ? String(u.size) : binarySize(u.size), String(u.inodes)]);
    }
    ctx.io.stdout.write(formatTable(rows));
    return 0;
  },
});

const tree = snapshotCommand({
  name: "tree",
  summary: "show the snapshots as a tree of parents and children",
  usage: "usage: strata snapshot tree",
  async run(ctx, args) {
    parseCommandArgs(args, {});
    const sn = await snapshotterOf(ctx);
    const all: SnapshotInfo[] = [];
    await sn.walk((info) => void all.push(info), { signal: ctx.signal });
    const children = new Map<string, string[]>();
    for (const info of all) {
      const list = children.get(info.parent) ?? [];
      list.push(info.name);
      children.set(info.parent, list);
    }
    const known = new Set(all.map((i) => i.name));
    const print = (name: string, depth: number): void => {
      ctx.io.stdout.write(depth === 0 ? ` ${name}\n` : `${"  ".repeat(depth)}\\_ ${name}\n`);
      for (const child of (children.get(name) ?? []).sort()) print(child, depth + 1);
    };
    const roots = all.filter((i) => i.parent === "" || !known.has(i.parent)).map((i) => i.name);
    for (const root of roots.sort()) print(root, 0);
    return 0;
  },
});

const info = snapshotCommand({
  name: "info",
  summary: "print a snapshot's record as JSON",
  usage: "usage: strata snapshot info KEY",
  async run(ctx, args) {
    const { positionals } = parseCommandArgs(args, {});
    const [key] = positionals;
    if (key === undefined || positionals.length > 1) throw new UsageError("expected KEY");
    const i = await (await snapshotterOf(ctx)).stat(key, { signal: ctx.signal });
    const json = {
      Kind: KIND_TEXT[i.kind],
      Name: i.name,
      ...(i.parent === "" ? {} : { Parent: i.parent }),
      ...(Object.keys(i.labels).length === 0 ? {} : { Labels: i.labels }),
      Created: i.created.toISOString(),
      Updated: i.updated.toISOString(),
    };
    ctx.io.stdout.write(`${JSON.stringify(json, null, 4)}\n`);
    return 0;
  },
});

const label = snapshotCommand({
  name: "label",
  summary: "set, remove (KEY=) or show a snapshot's labels",
  usage: "usage: strata snapshot label KEY [LABEL=VALUE...]",
  async run(ctx, args) {
    const { positionals } = parseCommandArgs(args, {});
    const [key, ...pairs] = positionals;
    if (key === undefined) throw new UsageError("expected KEY");
    const sn = await snapshotterOf(ctx);
    let result: SnapshotInfo;
    if (pairs.length === 0) {
      result = await sn.stat(key, { signal: ctx.signal });
    } else {
      const labels = parseLabels(pairs);
      result = await sn.update(
        { name: key, labels },
        { fieldpaths: Object.keys(labels).map((k) => `labels.${k}`), signal: ctx.signal },
      );
    }
    const text = Object.entries(result.labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(",");
    ctx.io.stdout.write(`${text}\n`);
    return 0;
  },
});

const merge = snapshotCommand({
  name: "merge",
  summary: "merge snapshots, or the changes between two, into a new committed snapshot",
  usage: `usage: strata snapshot merge [--label K=V...] KEY INPUT...

Each INPUT is a snapshot (its whole tree) or LOWER..UPPER (the changes from
LOWER to UPPER); they apply in order, later ones over earlier ones, with
whiteouts for what an input deletes. Files are hardlinked from the inputs
where the snapshotter allows it. The result is labelled containerd.io/gc.root.`,
  async run(ctx, args) {
    const { values, positionals } = parseCommandArgs(args, {
      label: { type: "string", multiple: true },
    });
    const [key, ...inputs] = positionals;
    if (key === undefined || inputs.length === 0) {
      throw new UsageError("expected KEY and at least one INPUT");
    }
    const diffs = inputs.map(parseMergeDiff);
    const labels = { [GC_ROOT]: gcRootNow(), ...parseLabels(values.label ?? []) };
    const backend = await ctx.backend();
    const result = await mergeIn(backend, key, diffs, {
      ...(ctx.snapshotter === undefined ? {} : { snapshotter: ctx.snapshotter }),
      labels,
      signal: ctx.signal,
    });
    ctx.io.stdout.write(
      `${result.info.name}: ${binarySize(result.usage.size)}, ${result.usage.inodes} inodes` +
        (result.skipped > 0 ? `, ${result.skipped} input(s) reused as parent\n` : "\n"),
    );
    return 0;
  },
});

const SUBCOMMANDS: readonly Command[] = [
  list,
  createCommand("prepare"),
  createCommand("view"),
  commit,
  mounts,
  remove,
  usage,
  tree,
  info,
  label,
  merge,
];

/**
 * `strata snapshot`: the snapshotters, as `ctr snapshots`, with
 * `--snapshotter NAME` before the subcommand (default: $STRATA_SNAPSHOTTER,
 * else the root's default: overlayfs where the kernel allows it).
 */
export function snapshotsCommand(extra: readonly Command[] = []): Command {
  const inner = group(
    "snapshot",
    "snapshots: prepare, view, commit, mount, list and remove",
    [...SUBCOMMANDS, ...extra],
    ["snapshots"],
  );
  return {
    ...inner,
    usage: inner.usage.replace(
      "usage: strata snapshot <command>",
      "usage: strata snapshot [--snapshotter native|overlayfs] <command>",
    ),
    async run(ctx, args) {
      const rest = [...args];
      let snapshotter = ctx.io.env.STRATA_SNAPSHOTTER || undefined;
      while (rest[0]?.startsWith("--snapshotter") === true) {
        const flag = rest.shift() as string;
        const value = flag.includes("=") ? flag.slice(flag.indexOf("=") + 1) : rest.shift();
        if (value === undefined || value === "") throw new UsageError("--snapshotter needs a name");
        snapshotter = value;
      }
      const sctx: SnapshotContext = { ...ctx, snapshotter };
      return inner.run(sctx, rest);
    },
  };
}
