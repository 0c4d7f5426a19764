import { createHash } from "node:crypto";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { isDataLoss, isInvalidArgument } from "@strata/errdefs";
import { getxattr } from "@strata/sys";
import { afterAll, describe, expect, it } from "vitest";
import { chunks, collect, run } from "./_testing.ts";
import { applyLayer } from "./apply.ts";
import type { TarHeader } from "./tar/header.ts";
import { type TarWriteEntry, writeTar } from "./tar/write_tar.ts";

const tmp = mkdtempSync(join(tmpdir(), "strata-apply-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
function fresh(): string {
  const d = join(tmp, `t${n++}`);
  mkdirSync(d);
  return d;
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
function h(name: string, over: Partial<TarHeader> = {}): TarHeader {
  return { name, type: "file", mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 1600000000, ...over };
}
function file(name: string, data: string, over: Partial<TarHeader> = {}): TarWriteEntry {
  return { header: h(name, { size: text(data).length, ...over }), body: text(data) };
}
const dir = (name: string, over: Partial<TarHeader> = {}): TarWriteEntry => ({
  header: h(name, { type: "directory", mode: 0o755, ...over }),
});
async function layer(entries: TarWriteEntry[]): Promise<Uint8Array> {
  return collect(writeTar(entries));
}

describe("applyLayer", () => {
  it("unpacks files, directories, links, modes, xattrs and times", async () => {
    const root = fresh();
    const bin = new Uint8Array([0, 255, 10]);
    const tar = await layer([
      dir("etc/", { mode: 0o750, mtime: 1500000000 }),
      file("etc/conf", "a=1", {
        mode: 0o600,
        mtime: 1500000001,
        xattrs: new Map([["user.k", bin]]),
      }),
      { header: h("etc/hard", { type: "link", linkname: "etc/conf" }) },
      { header: h("link", { type: "symlink", linkname: "etc/conf", mode: 0o777 }) },
      { header: h("fifo", { type: "fifo", mode: 0o640 }) },
      file("suid", "x", { mode: 0o4755 }),
    ]);
    const result = await applyLayer(root, chunks(tar, 1000));
    expect(result.diffID).toBe(`sha256:${createHash("sha256").update(tar).digest("hex")}`);
    expect(result.size).toBe(tar.length);
    expect(readFileSync(join(root, "etc/conf"), "utf8")).toBe("a=1");
    expect(statSync(join(root, "etc/conf")).mode & 0o7777).toBe(0o600);
    expect(statSync(join(root, "etc")).mode & 0o7777).toBe(0o750);
    expect(statSync(join(root, "etc")).mtimeMs).toBe(1500000000000);
    expect(statSync(join(root, "etc/conf")).mtimeMs).toBe(1500000001000);
    expect(statSync(join(root, "etc/hard")).ino).toBe(statSync(join(root, "etc/conf")).ino);
    expect(readlinkSync(join(root, "link"))).toBe("etc/conf");
    expect(lstatSync(join(root, "fifo")).isFIFO()).toBe(true);
    expect(statSync(join(root, "suid")).mode & 0o7777).toBe(0o4755);
    expect(getxattr(join(root, "etc/conf"), "user.k")).toEqual(bin);
  });

  it("decompresses a gzip layer and reports the diffID of the tar inside", async () => {
    const root = fresh();
    const tar = await layer([file("a", "hello")]);
    const result = await applyLayer(root, chunks(gzipSync(tar), 100));
    expect(result.diffID).toBe(`sha256:${createHash("sha256").update(tar).digest("hex")}`);
    expect(readFileSync(join(root, "a"), "utf8")).toBe("hello");
  });

  it("deletes what whiteouts name and clears opaque directories", async () => {
    const root = fresh();
    await applyLayer(
      root,
      chunks(
        await layer([
          dir("d/"),
          file("d/old", "1"),
          dir("d/sub/"),
          file("d/sub/deep", "2"),
          dir("o/"),
          file("o/gone", "3"),
          file("o/gone2", "4"),
          file("keep", "5"),
        ]),
      ),
    );
    await applyLayer(
      root,
      chunks(
        await layer([
          { header: h("d/.wh.sub") },
          { header: h("d/.wh.old") },
          dir("o/"),
          file("o/new", "6"),
          { header: h("o/.wh..wh..opq") },
        ]),
      ),
    );
    expect(readdirSync(join(root, "d"))).toEqual([]);
    expect(readdirSync(join(root, "o"))).toEqual(["new"]);
    expect(readFileSync(join(root, "keep"), "utf8")).toBe("5");
  });

  it("replaces a file by a directory and a directory by a file", async () => {
    const root = fresh();
    await applyLayer(root, chunks(await layer([file("x", "file"), dir("y/"), file("y/in", "1")])));
    await applyLayer(
      root,
      chunks(await layer([dir("x/"), file("x/in", "2"), file("y", "now a file")])),
    );
    expect(readFileSync(join(root, "x/in"), "utf8")).toBe("2");
    expect(readFileSync(join(root, "y"), "utf8")).toBe("now a file");
  });

  it("follows a symlinked parent directory inside the root", async () => {
    const root = fresh();
    await applyLayer(
      root,
      chunks(
        await layer([
          dir("usr/"),
          dir("usr/lib/"),
          { header: h("lib", { type: "symlink", linkname: "usr/lib" }) },
          { header: h("abs", { type: "symlink", linkname: "/usr" }) },
          file("lib/libc.so", "elf"),
          file("abs/lib/other.so", "elf2"),
        ]),
      ),
    );
    expect(readFileSync(join(root, "usr/lib/libc.so"), "utf8")).toBe("elf");
    expect(readFileSync(join(root, "usr/lib/other.so"), "utf8")).toBe("elf2");
  });

  it("applies a layer GNU tar made", async () => {
    const src = fresh();
    mkdirSync(join(src, "a/b"), { recursive: true });
    writeFileSync(join(src, "a/b/c"), "gnu");
    run("setfattr", ["-n", "user.x", "-v", "0x0001", join(src, "a/b/c")]);
    const tarPath = join(tmp, "gnu.tar");
    run("tar", ["--xattrs", "--xattrs-include=*", "--format=pax", "-C", src, "-cf", tarPath, "."]);
    const root = fresh();
    await applyLayer(root, chunks(new Uint8Array(readFileSync(tarPath)), 4096));
    expect(readFileSync(join(root, "a/b/c"), "utf8")).toBe("gnu");
    expect(getxattr(join(root, "a/b/c"), "user.x")).toEqual(new Uint8Array([0, 1]));
  });

  it("throws DataLoss for a truncated layer", async () => {
    const tar = await layer([file("a", "x".repeat(2000))]);
    const err = await applyLayer(fresh(), chunks(tar.subarray(0, 1500))).catch((e: unknown) => e);
    expect(isDataLoss(err)).toBe(true);
  });

  it('skips a root entry named "/" (umoci insert writes one) and applies the rest', async () => {
    const root = fresh();
    const before = statSync(root).mode;
    await applyLayer(
      root,
      chunks(await layer([dir("/", { mode: 0o700 }), dir("a/"), file("a/f", "x")])),
    );
    expect(readFileSync(join(root, "a/f"), "utf8")).toBe("x");
    expect(statSync(root).mode).toBe(before);
  });

  it("throws NotFound when the target does not exist", async () => {
    await expect(applyLayer(join(tmp, "missing"), chunks(new Uint8Array(1024)))).rejects.toThrow(
      /missing/,
    );
  });
});

describe("applyLayer with hostile layers", () => {
  // Each case: entries to apply; the outside directory must stay as it was.
  const outside = join(tmp, "outside");
  mkdirSync(outside);
  writeFileSync(join(outside, "victim"), "untouched");
  const victimMode = statSync(join(outside, "victim")).mode;

  const cases: Array<[string, TarWriteEntry[]]> = [
    ["a name with ..", [file("../outside/evil", "x")]],
    ["a name with .. in the middle", [dir("a/"), file("a/../../outside/evil", "x")]],
    ["an absolute name", [file(`${outside}/evil`, "x")]],
    ["an absolute name under the root entry", [dir("/"), file("/etc/evil", "x")]],
    [
      "a symlinked parent climbing out",
      [{ header: h("up", { type: "symlink", linkname: "../outside" }) }, file("up/evil", "x")],
    ],
    [
      "a symlink chain climbing out",
      [
        { header: h("a", { type: "symlink", linkname: "b/.." }) },
        dir("b/"),
        { header: h("c", { type: "symlink", linkname: "a/../../outside" }) },
        file("c/evil", "x"),
      ],
    ],
    ["a hardlink to ..", [{ header: h("hl", { type: "link", linkname: "../outside/victim" }) }]],
    [
      "a hardlink to an absolute path",
      [{ header: h("hl", { type: "link", linkname: `${outside}/victim` }) }],
    ],
    [
      "a hardlink through a symlink climbing out",
      [
        { header: h("s", { type: "symlink", linkname: "../outside" }) },
        { header: h("hl", { type: "link", linkname: "s/victim" }) },
      ],
    ],
    ["a whiteout of ..", [{ header: h(".wh..") }]],
    [
      "a symlink loop",
      [
        { header: h("x", { type: "symlink", linkname: "y" }) },
        { header: h("y", { type: "symlink", linkname: "x" }) },
        file("x/evil", "1"),
      ],
    ],
    ["a whiteout reaching out", [{ header: h("../outside/.wh.victim") }]],
    ["a whiteout of .wh.", [{ header: h("d/.wh.") }]],
  ];

  for (const [what, entries] of cases) {
    it(`refuses ${what} with InvalidArgument and writes nothing outside`, async () => {
      const root = fresh();
      const err = await applyLayer(root, chunks(await layer(entries))).catch((e: unknown) => e);
      expect(isInvalidArgument(err)).toBe(true);
      expect(String(err)).toMatch(/invalid layer/);
      expect(readdirSync(outside)).toEqual(["victim"]);
      expect(readFileSync(join(outside, "victim"), "utf8")).toBe("untouched");
    });
  }

  it("re-roots an absolute symlinked parent instead of writing outside", async () => {
    const root = fresh();
    await applyLayer(
      root,
      chunks(
        await layer([
          { header: h("abs", { type: "symlink", linkname: outside }) },
          file("abs/evil", "x"),
        ]),
      ),
    );
    expect(readdirSync(outside)).toEqual(["victim"]);
    expect(readFileSync(join(root, outside, "evil"), "utf8")).toBe("x");
  });

  it("replaces a symlink by a file instead of writing through it", async () => {
    const root = fresh();
    await applyLayer(
      root,
      chunks(
        await layer([
          { header: h("f", { type: "symlink", linkname: `${outside}/victim` }) },
          file("f", "overwritten?"),
        ]),
      ),
    );
    expect(readFileSync(join(outside, "victim"), "utf8")).toBe("untouched");
    expect(lstatSync(join(root, "f")).isFile()).toBe(true);
  });

  it("replaces a symlink by a directory instead of following it", async () => {
    const root = fresh();
    await applyLayer(
      root,
      chunks(
        await layer([
          { header: h("d", { type: "symlink", linkname: outside }) },
          dir("d/"),
          file("d/evil", "x"),
        ]),
      ),
    );
    expect(readdirSync(outside)).toEqual(["victim"]);
    expect(lstatSync(join(root, "d")).isDirectory()).toBe(true);
  });

  it("does not chmod a file outside through a hardlinked symlink", async () => {
    const root = fresh();
    await applyLayer(
      root,
      chunks(
        await layer([
          { header: h("s", { type: "symlink", linkname: `${outside}/victim` }) },
          { header: h("hl", { type: "link", linkname: "s", mode: 0o777 }) },
        ]),
      ),
    );
    expect(statSync(join(outside, "victim")).mode).toBe(victimMode);
    expect(lstatSync(join(root, "hl")).isSymbolicLink()).toBe(true);
  });

  it("leaves the root alone for an entry naming it", async () => {
    const root = fresh();
    await applyLayer(root, chunks(await layer([dir("./", { mode: 0o700 }), file("./a", "1")])));
    expect(existsSync(join(root, "a"))).toBe(true);
  });
});
