import { readerStream } from "@strata/content";
import { isNotFound } from "@strata/errdefs";
import { validateDigest } from "@strata/oci";
import { type Command, group, parseCommandArgs, UsageError } from "../command.ts";
import { formatTable } from "../table.ts";
import { humanDuration, humanSize } from "../units.ts";

function formatLabels(labels: Record<string, string>): string {
  const entries = Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return entries.length === 0 ? "-" : entries.map(([k, v]) => `${k}=${v}`).join(",");
}

const list: Command = {
  name: "ls",
  aliases: ["list"],
  summary: "list blobs in the content store",
  usage: `usage: strata content ls [--quiet] [filter...]

Lists blobs as DIGEST SIZE AGE LABELS; filters use containerd's syntax
(digest==sha256:..., size>..., labels."key"==value).
  -q, --quiet   print only the digests`,
  async run(ctx, args) {
    const { values, positionals } = parseCommandArgs(args, {
      quiet: { type: "boolean", short: "q" },
    });
    const backend = await ctx.backend();
    const rows: string[][] = [["DIGEST", "SIZE", "AGE", "LABELS"]];
    const now = Date.now();
    await backend.content().walk(
      (info) => {
        if (values.quiet) ctx.io.stdout.write(`${info.digest}\n`);
        else
          rows.push([
            info.digest,
            humanSize(info.size),
            humanDuration(now - info.createdAt.getTime()),
            formatLabels(info.labels),
          ]);
      },
      { filters: positionals, signal: ctx.signal },
    );
    if (!values.quiet) ctx.io.stdout.write(formatTable(rows));
    return 0;
  },
};

const ingest: Command = {
  name: "ingest",
  summary: "write standard input into the content store under an ingest ref",
  usage: `usage: strata content ingest [options] REF < DATA

Streams standard input into the content store. A failed or interrupted ingest
resumes where it stopped when run again with the same REF.
  --expected-size N        fail unless exactly N bytes arrive
  --expected-digest DGST   fail unless the data has this digest
  --lease ID               hold the blob (and the ingest) with this lease
  --label KEY=VALUE        label the committed blob (repeatable)`,
  async run(ctx, args) {
    const { values, positionals } = parseCommandArgs(args, {
      "expected-size": { type: "string" },
      "expected-digest": { type: "string" },
      lease: { type: "string" },
      label: { type: "string", multiple: true },
    });
    const ref = positionals[0];
    if (ref === undefined || positionals.length > 1) throw new UsageError("expected one REF");
    const size =
      values["expected-size"] === undefined ? undefined : Number(values["expected-size"]);
    if (size !== undefined && !(Number.isSafeInteger(size) && size >= 0)) {
      throw new UsageError(`--expected-size: "${values["expected-size"]}" is not a size in bytes`);
    }
    const expected =
      values["expected-digest"] === undefined
        ? undefined
        : validateDigest(values["expected-digest"]);
    const labels = parseLabels(values.label ?? []);
    const backend = await ctx.backend();
    const writer = await backend
      .content(values.lease !== undefined ? { lease: values.lease } : {})
      .writer({
        ref,
        ...(expected !== undefined && size !== undefined
          ? { desc: { digest: expected, size } }
          : {}),
        signal: ctx.signal,
      });
    try {
      // A resumed ingest: skip what the store already has.
      let skip = (await writer.status()).offset;
      for await (const chunk of ctx.io.stdin) {
        if (skip >= chunk.byteLength) {
          skip -= chunk.byteLength;
          continue;
        }
        await writer.write(skip > 0 ? chunk.subarray(skip) : chunk, { signal: ctx.signal });
        skip = 0;
      }
      const total = (await writer.status()).offset;
      await writer.commit(size ?? total, expected, { labels, signal: ctx.signal });
      ctx.io.stdout.write(`${writer.digest()}\n`);
    } finally {
      await writer.close();
    }
    return 0;
  },
};

const get: Command = {
  name: "get",
  summary: "write a blob to standard output",
  usage: "usage: strata content get DIGEST",
  async run(ctx, args) {
    const { positionals } = parseCommandArgs(args, {});
    if (positionals.length !== 1) throw new UsageError("expected one DIGEST");
    const digest = validateDigest(positionals[0] as string);
    const backend = await ctx.backend();
    const reader = await backend.content().readerAt({ digest }, { signal: ctx.signal });
    try {
      for await (const chunk of readerStream(reader, { signal: ctx.signal })) {
        if (!ctx.io.stdout.write(chunk)) await drained(ctx.io.stdout);
      }
    } finally {
      await reader.close();
    }
    return 0;
  },
};

async function drained(stream: {
  once?: (event: "drain", fn: () => void) => unknown;
}): Promise<void> {
  if (stream.once === undefined) return;
  await new Promise<void>((resolve) => stream.once?.("drain", resolve));
}

const label: Command = {
  name: "label",
  summary: "set or clear labels of a blob",
  usage: `usage: strata content label DIGEST [KEY=VALUE|KEY=]...

Sets each KEY to VALUE; KEY= removes the label. Other labels are kept.`,
  async run(ctx, args) {
    const { positionals } = parseCommandArgs(args, {});
    const [first, ...pairs] = positionals;
    if (first === undefined) throw new UsageError("expected a DIGEST");
    const digest = validateDigest(first);
    const labels: Record<string, string> = {};
    const fieldpaths: string[] = [];
    for (const pair of pairs) {
      const eq = pair.indexOf("=");
      if (eq <= 0) throw new UsageError(`label "${pair}" is not KEY=VALUE`);
      const key = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      if (value !== "") labels[key] = value;
      fieldpaths.push(`labels.${key}`);
    }
    const backend = await ctx.backend();
    // Without pairs, show the labels (an update with no field paths would replace them all).
    const info =
      pairs.length === 0
        ? await backend.content().info(digest, { signal: ctx.signal })
        : await backend.content().update({ digest, labels }, { fieldpaths, signal: ctx.signal });
    ctx.io.stdout.write(`${info.digest} ${formatLabels(info.labels)}\n`);
    return 0;
  },
};

const remove: Command = {
  name: "rm",
  aliases: ["delete", "del", "remove"],
  summary: "remove blobs (the bytes go at the next garbage collection)",
  usage:
    "usage: strata content rm DIGEST...\n\nPrints each digest removed; digests not present are skipped.",
  async run(ctx, args) {
    const { positionals } = parseCommandArgs(args, {});
    if (positionals.length === 0) throw new UsageError("expected at least one DIGEST");
    const digests = positionals.map((p) => validateDigest(p));
    const backend = await ctx.backend();
    for (const digest of digests) {
      try {
        await backend.content().delete(digest, { signal: ctx.signal });
      } catch (err) {
        // As ctr: removing what is not there is not an error.
        if (isNotFound(err)) continue;
        throw err;
      }
      ctx.io.stdout.write(`${digest}\n`);
    }
    return 0;
  },
};

const active: Command = {
  name: "active",
  summary: "list ingests in progress",
  usage: `usage: strata content active [filter...]

Lists ingests as REF SIZE AGE (SIZE is what was written so far).`,
  async run(ctx, args) {
    const { positionals } = parseCommandArgs(args, {});
    const backend = await ctx.backend();
    const statuses = await backend
      .content()
      .listStatuses({ filters: positionals, signal: ctx.signal });
    const now = Date.now();
    const rows = [["REF", "SIZE", "AGE"]];
    for (const s of statuses) {
      rows.push([s.ref, humanSize(s.offset), humanDuration(now - s.startedAt.getTime())]);
    }
    ctx.io.stdout.write(formatTable(rows));
    return 0;
  },
};

const abort: Command = {
  name: "abort",
  summary: "abandon ingests and remove their data",
  usage: "usage: strata content abort REF...",
  async run(ctx, args) {
    const { positionals } = parseCommandArgs(args, {});
    if (positionals.length === 0) throw new UsageError("expected at least one REF");
    const backend = await ctx.backend();
    for (const ref of positionals) await backend.content().abort(ref, { signal: ctx.signal });
    return 0;
  },
};

function parseLabels(pairs: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new UsageError(`label "${pair}" is not KEY=VALUE`);
    labels[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return labels;
}

/** `strata content`: the content store, as `ctr content`. */
export const contentCommand: Command = group(
  "content",
  "the content store: ingest, list, read, label and remove blobs",
  [list, ingest, get, active, abort, label, remove],
);

export { parseLabels };
