import { createHash } from "node:crypto";
import {
  chmodSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { LocalStore, readBlob } from "@strata/content";
import { isNotFound } from "@strata/errdefs";
import { setxattr } from "@strata/sys";
import { afterAll, describe, expect, it } from "vitest";
import { chunks, collect, run, snapshotTree } from "./_testing.ts";
import { applyLayer } from "./apply.ts";
import { walkChanges } from "./changes.ts";
import { readTar } from "./tar/read_tar.ts";
import { diffDirectories } from "./walking_differ.ts";
import { writeLayer } from "./write_layer.ts";

const tmp = mkdtempSync(join(tmpdir(), "strata-walk-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
function fresh(): string {
  const d = join(tmp, `t${n++}`);
  mkdirSync(d);
  return d;
}

/** A lower tree and an upper made from a copy of it with every kind of change. */
function fixture(): { lower: string; upper: string } {
  const lower = fresh();
  mkdirSync(join(lower, "etc/conf.d"), { recursive: true });
  writeFileSync(join(lower, "etc/passwd"), "root:x:0:0");
  writeFileSync(join(lower, "etc/conf.d/a"), "a");
  writeFileSync(join(lower, "etc/conf.d/b"), "b");
  writeFileSync(join(lower, "same"), "same");
  writeFileSync(join(lower, "touched"), "old");
  writeFileSync(join(lower, "becomes-dir"), "file");
  mkdirSync(join(lower, "becomes-file/child"), { recursive: true });
  mkdirSync(join(lower, "gone/deep"), { recursive: true });
  writeFileSync(join(lower, "gone/deep/x"), "x");
  symlinkSync("etc/passwd", join(lower, "sym"));
  for (const p of [
    "etc/passwd",
    "etc/conf.d/a",
    "etc/conf.d/b",
    "same",
    "touched",
    "becomes-dir",
  ]) {
    utimesSync(join(lower, p), 1600000000, 1600000000);
  }
  const upper = fresh();
  run("cp", ["-a", `${lower}/.`, upper]);
  writeFileSync(join(upper, "etc/passwd"), "root:x:0:0\nuser:x:1000:1000");
  rmSync(join(upper, "etc/conf.d/b"));
  writeFileSync(join(upper, "touched"), "new"); // same size, new mtime
  utimesSync(join(upper, "touched"), 1600000000, 1600000000); // ...then the same mtime: contents decide
  rmSync(join(upper, "becomes-dir"));
  mkdirSync(join(upper, "becomes-dir"));
  writeFileSync(join(upper, "becomes-dir/in"), "in");
  rmSync(join(upper, "becomes-file"), { recursive: true });
  writeFileSync(join(upper, "becomes-file"), "now a file");
  rmSync(join(upper, "gone"), { recursive: true });
  rmSync(join(upper, "sym"));
  symlinkSync("etc/conf.d/a", join(upper, "sym"));
  mkdirSync(join(upper, "new/dir"), { recursive: true });
  writeFileSync(join(upper, "new/dir/file"), "n".repeat(100_000));
  linkSync(join(upper, "new/dir/file"), join(upper, "new/hard"));
  writeFileSync(join(upper, "exec"), "#!/bin/sh");
  chmodSync(join(upper, "exec"), 0o755);
  setxattr(join(upper, "exec"), "user.bin", new Uint8Array([0, 1, 255]));
  run("mkfifo", [join(upper, "new/fifo")]);
  chmodSync(join(upper, "etc/conf.d"), 0o700);
  return { lower, upper };
}

describe("walkChanges", () => {
  it("reports adds, modifies and deletes in containerd's order", async () => {
    const { lower, upper } = fixture();
    const got: string[] = [];
    for await (const c of walkChanges(lower, upper)) got.push(`${c.kind} ${c.path}`);
    expect(got).toEqual([
      "modify becomes-dir",
      "add becomes-dir/in",
      "modify becomes-file",
      "modify etc/conf.d",
      "delete etc/conf.d/b",
      "modify etc/passwd",
      "add exec",
      "delete gone",
      "add new",
      "add new/dir",
      "add new/dir/file",
      "add new/fifo",
      "add new/hard",
      "modify sym",
      "modify touched",
    ]);
  });

  it("throws NotFound when a tree is missing", async () => {
    const err = await collect(diffDirectories(join(tmp, "no"), fresh())).catch((e: unknown) => e);
    expect(isNotFound(err)).toBe(true);
  });
});

describe("diffDirectories", () => {
  it("makes a layer that turns a copy of lower into upper", async () => {
    const { lower, upper } = fixture();
    const target = fresh();
    run("cp", ["-a", `${lower}/.`, target]);
    await applyLayer(target, diffDirectories(lower, upper));
    expect(snapshotTree(target)).toEqual(snapshotTree(upper));
  });

  it("writes whiteouts, parents first and hardlinks as links", async () => {
    const { lower, upper } = fixture();
    const names: string[] = [];
    const types: string[] = [];
    for await (const e of readTar(diffDirectories(lower, upper, { whiteoutTime: 7 }))) {
      names.push(e.header.name);
      types.push(e.header.type);
      if (e.header.name.includes(".wh."))
        expect(e.header).toMatchObject({ mode: 0, size: 0, mtime: 7 });
      if (e.header.name === "new/hard")
        expect(e.header).toMatchObject({ linkname: "new/dir/file" });
      if (e.header.name === "exec") {
        expect(e.header.xattrs?.get("user.bin")).toEqual(new Uint8Array([0, 1, 255]));
      }
    }
    expect(names).toEqual([
      "becomes-dir/",
      "becomes-dir/in",
      "becomes-file",
      "etc/",
      "etc/conf.d/",
      "etc/conf.d/.wh.b",
      "etc/passwd",
      "exec",
      ".wh.gone",
      "new/",
      "new/dir/",
      "new/dir/file",
      "new/fifo",
      "new/hard",
      "sym",
      "touched",
    ]);
    expect(types[names.indexOf("new/hard")]).toBe("link");
  });

  it("keeps a new hardlink to an unchanged file linked", async () => {
    const lower = fresh();
    writeFileSync(join(lower, "a"), "shared");
    writeFileSync(join(lower, "z"), "other");
    const upper = fresh();
    run("cp", ["-a", `${lower}/.`, upper]);
    mkdirSync(join(upper, "d"));
    linkSync(join(upper, "a"), join(upper, "d/b"));
    linkSync(join(upper, "z"), join(upper, "c"));
    const names: string[] = [];
    for await (const e of readTar(diffDirectories(lower, upper))) {
      names.push(`${e.header.type} ${e.header.name} ${e.header.linkname ?? ""}`);
    }
    // "a" comes before its new name: it waits and follows "d/b"; "z" comes after "c".
    expect(names).toEqual(["file c ", "directory d/ ", "file d/b ", "link a d/b", "link z c"]);
    const target = fresh();
    run("cp", ["-a", `${lower}/.`, target]);
    await applyLayer(target, diffDirectories(lower, upper));
    expect(snapshotTree(target)).toEqual(snapshotTree(upper));
  });

  it("is empty for identical trees (only the end blocks)", async () => {
    const a = fresh();
    writeFileSync(join(a, "f"), "x");
    const b = fresh();
    run("cp", ["-a", `${a}/.`, b]);
    expect((await collect(diffDirectories(a, b))).length).toBe(1024);
  });

  it("extracts with GNU tar", async () => {
    const { upper } = fixture();
    const tarPath = join(tmp, "full.tar");
    writeFileSync(tarPath, await collect(diffDirectories(undefined, upper)));
    const out = fresh();
    run("tar", ["--xattrs", "--xattrs-include=*", "-xpf", tarPath, "-C", out]);
    expect(snapshotTree(out)).toEqual(snapshotTree(upper));
  });
});

describe("writeLayer", () => {
  for (const compression of ["gzip", "zstd", "uncompressed"] as const) {
    it(`stores a ${compression} layer with its diffID label`, async () => {
      const { lower, upper } = fixture();
      const store = await LocalStore.open(fresh());
      const tar = await collect(diffDirectories(lower, upper, { whiteoutTime: 1 }));
      const diffID = `sha256:${createHash("sha256").update(tar).digest("hex")}`;
      const result = await writeLayer(store, diffDirectories(lower, upper, { whiteoutTime: 1 }), {
        compression,
      });
      expect(result.diffID).toBe(diffID);
      expect(result.descriptor.mediaType).toBe(
        compression === "uncompressed"
          ? "application/vnd.oci.image.layer.v1.tar"
          : `application/vnd.oci.image.layer.v1.tar+${compression}`,
      );
      const info = await store.info(result.descriptor.digest);
      expect(info.size).toBe(result.descriptor.size);
      expect(info.labels?.["containerd.io/uncompressed"]).toBe(diffID);
      const blob = await readBlob(store, result.descriptor, { maxSize: 1 << 24 });
      if (compression === "gzip") expect(gunzipSync(blob)).toEqual(Buffer.from(tar));
      const target = fresh();
      run("cp", ["-a", `${lower}/.`, target]);
      const applied = await applyLayer(target, chunks(blob, 65536));
      expect(applied.diffID).toBe(diffID);
      expect(snapshotTree(target)).toEqual(snapshotTree(upper));
    });
  }

  it("aborts its ingest when the layer stream fails", async () => {
    const store = await LocalStore.open(fresh());
    async function* broken(): AsyncGenerator<Uint8Array> {
      yield new Uint8Array(512);
      throw new Error("disk on fire");
    }
    await expect(writeLayer(store, broken(), { compression: "gzip" })).rejects.toThrow(
      /disk on fire/,
    );
    expect(await store.listStatuses()).toEqual([]);
  });

  it("succeeds when the blob exists already", async () => {
    const { lower, upper } = fixture();
    const store = await LocalStore.open(fresh());
    const a = await writeLayer(store, diffDirectories(lower, upper, { whiteoutTime: 1 }), {
      compression: "uncompressed",
    });
    const b = await writeLayer(store, diffDirectories(lower, upper, { whiteoutTime: 1 }), {
      compression: "uncompressed",
    });
    expect(b).toEqual(a);
  });
});
