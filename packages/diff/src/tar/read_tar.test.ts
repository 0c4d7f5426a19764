import { linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isDataLoss, isInvalidArgument } from "@strata/errdefs";
import { afterAll, describe, expect, it } from "vitest";
import { chunks, collect, run } from "../_testing.ts";
import type { TarHeader } from "./header.ts";
import { readTar } from "./read_tar.ts";
import { encodeHeader, writeTar } from "./write_tar.ts";

const dir = mkdtempSync(join(tmpdir(), "strata-tar-read-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function entries(bytes: Uint8Array): Promise<Array<{ header: TarHeader; data: string }>> {
  const out: Array<{ header: TarHeader; data: string }> = [];
  for await (const e of readTar(chunks(bytes, 333))) {
    out.push({ header: e.header, data: Buffer.from(await collect(e.body)).toString() });
  }
  return out;
}

async function failure(bytes: Uint8Array): Promise<unknown> {
  try {
    for await (const e of readTar(chunks(bytes, 512))) await collect(e.body);
  } catch (err) {
    return err;
  }
  return undefined;
}

const base: TarHeader = { name: "f", type: "file", mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 0 };

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

describe("readTar", () => {
  it("reads what GNU tar --format=pax --xattrs writes, binary xattrs intact", async () => {
    const src = join(dir, "gnu");
    mkdirSync(join(src, "d"), { recursive: true });
    writeFileSync(join(src, "d", "file"), "hello");
    const long = "n".repeat(120);
    writeFileSync(join(src, long), "long");
    symlinkSync("d/file", join(src, "sym"));
    linkSync(join(src, "d", "file"), join(src, "hard"));
    run("setfattr", ["-n", "user.bin", "-v", "0x00ff0a3d00", join(src, "d", "file")]);
    run("mkfifo", [join(src, "fifo")]);
    run("tar", [
      "--xattrs",
      "--xattrs-include=*",
      "--format=pax",
      "-C",
      src,
      "-cf",
      join(dir, "gnu.tar"),
      ".",
    ]);
    const got = await entries(new Uint8Array(await readFile(join(dir, "gnu.tar"))));
    const byName = new Map(got.map((e) => [e.header.name, e]));
    // GNU tar stores the data with whichever name of the inode comes first.
    const file = got.find((e) => e.header.name === "./d/file" || e.header.name === "./hard");
    const other = file?.header.name === "./hard" ? "./d/file" : "./hard";
    expect(file?.header.type).toBe("file");
    expect(file?.data).toBe("hello");
    expect(file?.header.xattrs?.get("user.bin")).toEqual(new Uint8Array([0, 0xff, 0x0a, 0x3d, 0]));
    expect(byName.get(other)?.header).toMatchObject({ type: "link", linkname: file?.header.name });
    expect(byName.get(`./${long}`)?.data).toBe("long");
    expect(byName.get("./sym")?.header).toMatchObject({ type: "symlink", linkname: "d/file" });
    expect(byName.get("./fifo")?.header.type).toBe("fifo");
    expect(byName.get("./d/")?.header.type).toBe("directory");
    expect(file?.header.mtime).toBeGreaterThan(1_600_000_000);
  });

  it("reads GNU long names and long links (gnu format)", async () => {
    const src = join(dir, "gnulong");
    const long = `${"a".repeat(150)}/${"b".repeat(120)}`;
    mkdirSync(join(src, "a".repeat(150)), { recursive: true });
    writeFileSync(join(src, long), "x");
    symlinkSync("t".repeat(200), join(src, "ln"));
    run("tar", ["--format=gnu", "-C", src, "-cf", join(dir, "gnulong.tar"), long, "ln"]);
    const got = await entries(new Uint8Array(await readFile(join(dir, "gnulong.tar"))));
    expect(got.map((e) => e.header.name)).toEqual([long, "ln"]);
    expect(got[1]?.header.linkname).toBe("t".repeat(200));
    expect(got[0]?.data).toBe("x");
  });

  it("skips a body the caller did not read", async () => {
    const tar = await collect(
      writeTar([
        { header: { ...base, name: "a", size: 1000 }, body: new Uint8Array(1000).fill(1) },
        { header: { ...base, name: "b", size: 3 }, body: new TextEncoder().encode("bbb") },
      ]),
    );
    const names: string[] = [];
    let last = "";
    for await (const e of readTar(chunks(tar, 100))) {
      names.push(e.header.name);
      if (e.header.name === "b") last = Buffer.from(await collect(e.body)).toString();
    }
    expect(names).toEqual(["a", "b"]);
    expect(last).toBe("bbb");
  });

  it("refuses to read a body after the next entry was requested", async () => {
    const tar = await collect(
      writeTar([
        { header: { ...base, name: "a", size: 2 }, body: new Uint8Array(2) },
        { header: { ...base, name: "b" } },
      ]),
    );
    const bodies: AsyncIterable<Uint8Array>[] = [];
    for await (const e of readTar(chunks(tar))) bodies.push(e.body);
    await expect(collect(bodies[0] as AsyncIterable<Uint8Array>)).rejects.toThrow(
      /already requested/,
    );
  });

  it("reads sub-second PAX times and large ids", async () => {
    const h: TarHeader = { ...base, uid: 2 ** 30, gid: 3 ** 20, mtime: 1700000000.25, atime: 5.5 };
    const [got] = await entries(await collect(writeTar([{ header: h }])));
    expect(got?.header).toMatchObject({
      uid: 2 ** 30,
      gid: 3 ** 20,
      mtime: 1700000000.25,
      atime: 5.5,
    });
  });

  it("ignores a global PAX header", async () => {
    const tar = await collect(writeTar([{ header: { ...base, name: "x" } }]));
    // A 'g' header with a comment record in front of the entry.
    const g = encodeHeader({
      ...base,
      name: "g",
      pax: new Map([["comment", new Uint8Array([1])]]),
    });
    const raw = g[0] as Uint8Array;
    raw[156] = 0x67;
    fixChecksum(raw);
    const both = concat([raw, g[1] as Uint8Array, tar]);
    expect((await entries(both)).map((e) => e.header.name)).toEqual(["x"]);
  });

  it("throws InvalidArgument on a bad checksum", async () => {
    const tar = await collect(writeTar([{ header: base }]));
    tar[0] = 0x41;
    const err = await failure(tar);
    expect(isInvalidArgument(err)).toBe(true);
    expect(String(err)).toMatch(/checksum/);
  });

  it("throws DataLoss on a truncated body, header and missing end marker", async () => {
    const tar = await collect(
      writeTar([{ header: { ...base, size: 1000 }, body: new Uint8Array(1000) }]),
    );
    expect(isDataLoss(await failure(tar.subarray(0, 700)))).toBe(true);
    expect(isDataLoss(await failure(tar.subarray(0, 300)))).toBe(true);
    expect(isDataLoss(await failure(tar.subarray(0, 1536)))).toBe(true);
    expect(isDataLoss(await failure(new Uint8Array(0)))).toBe(true);
  });

  it("ends without the end-of-archive marker or the last padding when allowMissingEnd", async () => {
    const tar = await collect(
      writeTar([
        { header: { ...base, name: "a", size: 3 }, body: text("abc") },
        { header: { ...base, name: "b", size: 2 }, body: text("xy") },
      ]),
    );
    const read = async (bytes: Uint8Array) => {
      const seen: string[] = [];
      let total = -1;
      const options = { allowMissingEnd: true, onEnd: (n: number) => (total = n) };
      for await (const e of readTar(chunks(bytes), options)) {
        seen.push(`${e.header.name}=${new TextDecoder().decode(await collect(e.body))}`);
      }
      return { seen, total };
    };
    // Cut after b's body (no padding, no end blocks), and between entries.
    expect(await read(tar.subarray(0, 512 * 3 + 2))).toEqual({
      seen: ["a=abc", "b=xy"],
      total: 512 * 3 + 2,
    });
    expect(await read(tar.subarray(0, 1024))).toEqual({ seen: ["a=abc"], total: 1024 });
    // Still DataLoss inside a body or a header, or after an extended header.
    expect(isDataLoss(await read(tar.subarray(0, 512 * 3 + 1)).catch((e: unknown) => e))).toBe(
      true,
    );
    expect(isDataLoss(await read(tar.subarray(0, 1100)).catch((e: unknown) => e))).toBe(true);
    const pax = await collect(writeTar([{ header: { ...base, name: "é", size: 0 } }]));
    expect(isDataLoss(await read(pax.subarray(0, 1024)).catch((e: unknown) => e))).toBe(true);
    // And without the option, a missing marker is DataLoss.
    expect(isDataLoss(await failure(tar.subarray(0, 512 * 4)))).toBe(true);
  });

  it("throws InvalidArgument on a negative base-256 size", async () => {
    const [block] = encodeHeader(base);
    const b = block as Uint8Array;
    b.fill(0xff, 124, 136);
    fixChecksum(b);
    const err = await failure(concat([b, new Uint8Array(1024)]));
    expect(isInvalidArgument(err)).toBe(true);
    expect(String(err)).toMatch(/negative/);
  });

  it("reads a base-256 size and reports DataLoss when that much is not there", async () => {
    const [block] = encodeHeader(base);
    const b = block as Uint8Array;
    b.fill(0, 124, 136);
    b[124] = 0x80;
    b[130] = 0x01; // 2^40 bytes
    fixChecksum(b);
    const err = await failure(concat([b, new Uint8Array(4096)]));
    expect(isDataLoss(err)).toBe(true);
  });

  it("throws InvalidArgument on a non-octal number and a huge PAX header", async () => {
    const [block] = encodeHeader(base);
    const b = block as Uint8Array;
    b.set(new TextEncoder().encode("9x"), 100);
    fixChecksum(b);
    expect(isInvalidArgument(await failure(concat([b, new Uint8Array(1024)])))).toBe(true);

    const [pax] = encodeHeader({ ...base, xattrs: new Map([["user.a", new Uint8Array(1)]]) });
    const p = pax as Uint8Array;
    p.fill(0, 124, 136);
    p.set(new TextEncoder().encode("77777777777"), 124);
    fixChecksum(p);
    const err = await failure(concat([p, new Uint8Array(1024)]));
    expect(isInvalidArgument(err)).toBe(true);
    expect(String(err)).toMatch(/exceeds/);
  });

  it("throws InvalidArgument on a malformed PAX record and an unsupported type", async () => {
    const blocks = encodeHeader({ ...base, xattrs: new Map([["user.a", new Uint8Array(1)]]) });
    const data = blocks[1] as Uint8Array;
    data[0] = 0x39; // the record length no longer matches
    expect(isInvalidArgument(await failure(concat([...blocks, new Uint8Array(1024)])))).toBe(true);

    const [sparse] = encodeHeader(base);
    const s = sparse as Uint8Array;
    s[156] = 0x53; // 'S'
    fixChecksum(s);
    const err = await failure(concat([s, new Uint8Array(1024)]));
    expect(isInvalidArgument(err)).toBe(true);
    expect(String(err)).toMatch(/unsupported/);
  });
});

function fixChecksum(b: Uint8Array): void {
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const x of b) sum += x;
  b.set(new TextEncoder().encode(`${sum.toString(8).padStart(6, "0")}\u0000 `), 148);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
