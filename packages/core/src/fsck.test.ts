import { chmod, mkdtemp, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeBlob } from "@strata/content";
import { digestOf } from "@strata/oci";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fsck } from "./fsck.ts";
import { StrataRoot } from "./strata_root.ts";

let dir: string;
let root: StrataRoot;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "strata-fsck-"));
  root = await StrataRoot.open(dir);
});
afterEach(async () => {
  await root.close();
  await rm(dir, { recursive: true, force: true });
});

async function put(ns: string, text: string) {
  const bytes = new TextEncoder().encode(text);
  const desc = { digest: digestOf(bytes), size: bytes.byteLength };
  await writeBlob(root.db.contentStore(ns), `ref-${text}`, bytes, desc, {
    labels: { "containerd.io/gc.root": "x" },
  });
  return desc;
}

describe("fsck", () => {
  it("finds nothing wrong in a consistent root", async () => {
    await put("a", "one");
    await put("b", "one");
    await put("b", "two");
    const report = await fsck(root);
    expect(report).toMatchObject({ blobs: 2, records: 3, unreferenced: 0, problems: [] });
  });

  it("reports a blob whose bytes were changed on disk", async () => {
    const desc = await put("a", "payload");
    const path = root.blobs.blobPath(desc.digest);
    await chmod(path, 0o644);
    await writeFile(path, "PAYLOAD");
    const report = await fsck(root);
    expect(report.problems.map((p) => p.kind)).toEqual(["corrupt-blob"]);
  });

  it("reports a truncated blob against its record", async () => {
    const desc = await put("a", "longer payload");
    const path = root.blobs.blobPath(desc.digest);
    await chmod(path, 0o644);
    await truncate(path, 3);
    const kinds = (await fsck(root)).problems.map((p) => p.kind).sort();
    expect(kinds).toEqual(["corrupt-blob", "size-mismatch"]);
  });

  it("reports a record whose blob is gone", async () => {
    const desc = await put("a", "gone");
    await rm(root.blobs.blobPath(desc.digest));
    const report = await fsck(root);
    expect(report.problems).toMatchObject([{ kind: "missing-blob", namespace: "a" }]);
  });
});
