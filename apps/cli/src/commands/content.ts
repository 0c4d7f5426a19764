import { stat } from "node:fs/promises";
import { resolve } from "node:path";
import { FileReaderAt, readChunks } from "@strata/content";
import { fromSystemError, isNotFound } from "@strata/errdefs";
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
  summary: "write a file (or standard input) into the content store",
  usage: `usage: strata content ingest [options] [FILE|-]

Streams FILE (or standard input) into the content store and prints its digest.
An interrupted ingest resumes where it stopped when run again with the same
ref. Progress goes to standard error: a live line on a terminal, a plain line
every few seconds otherwise.
  --ref REF                the ingest ref (default: "file:<absolute path>" for
                           a FILE, so a rerun resumes; a fresh one for stdin)
  --expected-size N        fail unless exactly N bytes arrive
  --expected-digest DGST   fail unless the data has this digest
  --lease ID               hold the blob (and the ingest) with this lease
  --label KEY=VALUE        label the committed blob (repeatable)`,
  async run(ctx, args) {
    const { values, positionals } = parseCommandArgs(args, {
      ref: { type: "string" },
      "expected-size": { type: "string" },
      "expected-digest": { type: "string" },
      lease: { type: "string" },
      label: { type: "string", multiple: true },
    });
    if (positionals.length > 1) throw new UsageError("expected at most one FILE");
    const file =
      positionals[0] === undefined || positionals[0] === "-" ? undefined : positionals[0];
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
    const ref =
      values.ref ??
      (file !== undefined ? `file:${resolve(file)}` : `stdin-${process.pid}-${Date.now()}`);
    let total = size;
    if (file !== undefined) {
      try {
        total ??= (await stat(file)).size;
      } catch (err) {
        throw fromSystemError(err, `cannot ingest ${file}`);
      }
    }
    const backend = await ctx.backend();
    const store = backend.content(values.lease !== undefined ? { lease: values.lease } : {});
    const writer = await store.writer({
      ref,
      ...(expected !== undefined && size !== undefined ? { desc: { digest: expected, size } } : {}),
      signal: ctx.signal,
    });
    const progress = new Progress(ctx.io.stderr, ref, total);
    try {
      // A resumed ingest continues at the stored offset: a file is read from
      // there; standard input has to be skipped up to it.
      const offset = (await writer.status()).offset;
      progress.update(offset);
      // A file is read through two reused buffers, the next chunk while
      // the writer hashes and writes the current one.
      const reader = file !== undefined ? await FileReaderAt.open(file, file) : undefined;
      let written = offset;
      try {
        const source =
          reader !== undefined
            ? readChunks(reader, { offset, signal: ctx.signal })
            : skip(ctx.io.stdin, offset);
        for await (const chunk of source as AsyncIterable<Uint8Array>) {
          await writer.write(chunk, { signal: ctx.signal });
          written += chunk.byteLength;
          progress.update(written);
        }
      } finally {
        await reader?.close();
      }
      await writer.commit(size ?? written, expected, { labels, signal: ctx.signal });
      progress.done(written);
      ctx.io.stdout.write(`${writer.digest()}\n`);
    } catch (err) {
      progress.clear();
      throw err;
    } finally {
      await writer.close();
    }
    return 0;
  },
};

async function* skip(source: AsyncIterable<Uint8Array>, bytes: number): AsyncGenerator<Uint8Array> {
  let left = bytes;
  for await (const chunk of source) {
    if (left >= chunk.byteLength) {
      left -= chunk.byteLength;
      continue;
    }
    yield left > 0 ? chunk.subarray(left) : chunk;
    left = 0;
  }
}

// Ingest progress on standard error: redrawn in place on a terminal (at most
// ten times a second), a plain line every few seconds when redirected.
class Progress {
  readonly #out: { write(s: string): unknown; isTTY?: boolean };
  readonly #ref: string;
  readonly #total: number | undefined;
  readonly #tty: boolean;
  readonly #started = Date.now();
  #last = Date.now();

  constructor(out: { write(s: string): unknown; isTTY?: boolean }, ref: string, total?: number) {
    this.#out = out;
    this.#ref = ref;
    this.#total = total;
    this.#tty = out.isTTY === true;
  }

  #line(done: number): string {
    const secs = (Date.now() - this.#started) / 1000;
    const rate = secs > 0 ? `${humanSize(done / secs)}/s` : "";
    const of = this.#total === undefined ? "" : ` / ${humanSize(this.#total)}`;
    return `${this.#ref}: ${humanSize(done)}${of} ${rate}`.trimEnd();
  }

  update(done: number): void {
    const now = Date.now();
    if (now - this.#last < (this.#tty ? 100 : 5000)) return;
    this.#last = now;
    this.#out.write(this.#tty ? `\r\x1b[K${this.#line(done)}` : `${this.#line(done)}\n`);
  }

  done(done: number): void {
    if (this.#tty) this.#out.write(`\r\x1b[K${this.#line(done)} done\n`);
    else if (Date.now() - this.#started >= 5000) this.#out.write(`${this.#line(done)} done\n`);
  }

  clear(): void {
    if (this.#tty) this.#out.write("\r\x1b[K");
  }
}

const infoCommand: Command = {
  name: "info",
  summary: "show one blob's size, times and labels (JSON)",
  usage: "usage: strata content info DIGEST",
  async run(ctx, args) {
    const { positionals } = parseCommandArgs(args, {});
    if (positionals.length !== 1) throw new UsageError("expected one DIGEST");
    const digest = validateDigest(positionals[0] as string);
    const backend = await ctx.backend();
    const info = await backend.content().info(digest, { signal: ctx.signal });
    ctx.io.stdout.write(
      `${JSON.stringify(
        {
          Digest: info.digest,
          Size: info.size,
          CreatedAt: info.createdAt.toISOString(),
          UpdatedAt: info.updatedAt.toISOString(),
          Labels: info.labels,
        },
        null,
        2,
      )}\n`,
    );
    return 0;
  },
};

const fsckCommand: Command = {
  name: "fsck",
  summary: "verify every blob's digest and the database against the disk",
  usage: `usage: strata content fsck

Hashes every blob and checks every namespace's records against the files.
Exits 1 when anything is wrong. Blobs no namespace records are counted: the
next garbage collection removes them.`,
  async run(ctx, args) {
    parseCommandArgs(args, {});
    const backend = await ctx.backend();
    const report = await backend.fsck({ signal: ctx.signal });
    for (const p of report.problems) ctx.io.stdout.write(`${p.kind}: ${p.message}\n`);
    ctx.io.stdout.write(
      `checked ${report.blobs} blobs (${humanSize(report.bytes)}) and ${report.records} records: ` +
        `${report.problems.length} problems, ${report.unreferenced} unreferenced blobs\n`,
    );
    return report.problems.length === 0 ? 0 : 1;
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
      // Two reused buffers, the next read while this one is written out;
      // a buffer goes back to the reader only once its write is done.
      for await (const chunk of readChunks(reader, { signal: ctx.signal })) {
        await new Promise<void>((resolve, reject) =>
          ctx.io.stdout.write(chunk, (err) => (err ? reject(err) : resolve())),
        );
      }
    } finally {
      await reader.close();
    }
    return 0;
  },
};

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
  [list, ingest, get, infoCommand, active, abort, label, remove, fsckCommand],
);

export { parseLabels };
