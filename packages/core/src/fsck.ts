import { createReadStream } from "node:fs";
import type { Info } from "@strata/content";
import { isNotFound } from "@strata/errdefs";
import { digestStream } from "@strata/oci";
import type { StrataRoot } from "./strata_root.ts";

/** One inconsistency {@link fsck} found. */
export interface FsckProblem {
  /** What is wrong. */
  kind: "corrupt-blob" | "missing-blob" | "size-mismatch";
  /** The blob concerned. */
  digest: string;
  /** The namespace whose record points at it, for record problems. */
  namespace?: string;
  /** A sentence for people. */
  message: string;
}

/** What {@link fsck} checked and found. */
export interface FsckReport {
  /** Blob files hashed. */
  blobs: number;
  /** Bytes hashed. */
  bytes: number;
  /** Content records checked, over all namespaces. */
  records: number;
  /** Blobs no namespace records: garbage the next collection reclaims, not an error. */
  unreferenced: number;
  /** Everything wrong; empty when the store is consistent. */
  problems: FsckProblem[];
}

/**
 * Verifies a root: every blob file's bytes hash to its name, and every
 * content record of every namespace has its blob on disk with the recorded
 * size. Reads every blob once (streamed).
 */
export async function fsck(
  root: StrataRoot,
  options: { signal?: AbortSignal } = {},
): Promise<FsckReport> {
  const report: FsckReport = { blobs: 0, bytes: 0, records: 0, unreferenced: 0, problems: [] };
  const onDisk = new Map<string, number>();
  await root.blobs.walk(
    async (info: Info) => {
      options.signal?.throwIfAborted();
      const path = root.blobs.blobPath(info.digest);
      const algorithm = info.digest.startsWith("sha512:") ? "sha512" : "sha256";
      const actual = await digestStream(createReadStream(path, { highWaterMark: 1 << 20 }), {
        algorithm,
        ...(options.signal !== undefined ? { signal: options.signal } : {}),
      });
      report.blobs++;
      report.bytes += actual.size;
      onDisk.set(info.digest, actual.size);
      if (actual.digest !== info.digest) {
        report.problems.push({
          kind: "corrupt-blob",
          digest: info.digest,
          message: `blob ${info.digest} hashes to ${actual.digest}`,
        });
      }
    },
    options.signal !== undefined ? { signal: options.signal } : {},
  );
  const referenced = new Set<string>();
  for (const ns of await root.db.namespaces.list()) {
    await root.db
      .contentStore(ns.name)
      .walk(
        (info) => {
          report.records++;
          referenced.add(info.digest);
          const size = onDisk.get(info.digest);
          if (size === undefined) {
            report.problems.push({
              kind: "missing-blob",
              digest: info.digest,
              namespace: ns.name,
              message: `namespace "${ns.name}" records ${info.digest}, which is not on disk`,
            });
          } else if (size !== info.size) {
            report.problems.push({
              kind: "size-mismatch",
              digest: info.digest,
              namespace: ns.name,
              message: `namespace "${ns.name}" records ${info.size} bytes for ${info.digest}, the file has ${size}`,
            });
          }
        },
        options.signal !== undefined ? { signal: options.signal } : {},
      )
      .catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
  }
  for (const digest of onDisk.keys()) if (!referenced.has(digest)) report.unreferenced++;
  return report;
}
