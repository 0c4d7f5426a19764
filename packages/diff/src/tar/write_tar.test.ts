import { mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isInvalidArgument } from "@strata/errdefs";
import { getxattr } from "@strata/sys";
import { afterAll, describe, expect, it } from "vitest";
import { collect, run } from "../_testing.ts";
import type { TarHeader } from "./header.ts";
import { readTar } from "./read_tar.ts";
import { encodeHeader, writeTar } from "./write_tar.ts";

const dir = mkdtempSync(join(tmpdir(), "strata-tar-write-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const base: TarHeader = { name: "f", type: "file", mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 0 };
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

describe("writeTar", () => {
  it("writes what GNU tar extracts: files, dirs, links, long names, binary xattrs", async () => {
    const long = `${"d".repeat(120)}/${"f".repeat(110)}.txt`;
    const bin = new Uint8Array([0, 1, 0xff, 0x0a, 0x3d]);
    const tar = await collect(
      writeTar([
        { header: { ...base, name: "dir/", type: "directory", mode: 0o750, mtime: 1600000000 } },
        {
          header: {
            ...base,
            name: "dir/a",
            size: 5,
            mtime: 1600000001,
            xattrs: new Map([["user.bin", bin]]),
          },
          body: text("hello"),
        },
        { header: { ...base, name: "dir/hard", type: "link", linkname: "dir/a" } },
        { header: { ...base, name: "sym", type: "symlink", linkname: "dir/a", mode: 0o777 } },
        { header: { ...base, name: `${"d".repeat(120)}/`, type: "directory", mode: 0o755 } },
        { header: { ...base, name: long, size: 4 }, body: text("long") },
        { header: { ...base, name: "fifo", type: "fifo" } },
      ]),
    );
    const out = join(dir, "x1");
    run("mkdir", [out]);
    writeFileSync(join(dir, "x1.tar"), tar);
    run("tar", ["--xattrs", "--xattrs-include=*", "-xf", join(dir, "x1.tar"), "-C", out]);
    expect(readFileSync(join(out, "dir/a"), "utf8")).toBe("hello");
    expect(statSync(join(out, "dir/a")).ino).toBe(statSync(join(out, "dir/hard")).ino);
    expect(readlinkSync(join(out, "sym"))).toBe("dir/a");
    expect(readFileSync(join(out, long), "utf8")).toBe("long");
    expect(statSync(join(out, "dir")).mode & 0o7777).toBe(0o750);
    expect(statSync(join(out, "dir/a")).mtimeMs).toBe(1600000001000);
    expect(statSync(join(out, "fifo")).isFIFO()).toBe(true);
    expect(getxattr(join(out, "dir/a"), "user.bin")).toEqual(bin);
    // GNU tar lists it back the same way
    expect(run("tar", ["-tf", join(dir, "x1.tar")]).toString()).toContain(long);
  });

  it("ends with exactly two zero blocks and pads nothing more", async () => {
    const tar = await collect(writeTar([{ header: { ...base, size: 1 }, body: text("x") }]));
    expect(tar.length).toBe(512 + 512 + 1024);
    expect(tar.subarray(1024).every((b) => b === 0)).toBe(true);
  });

  it("writes a plain ustar block, Go style, when everything fits", async () => {
    const [block, ...rest] = encodeHeader({
      ...base,
      name: "a/b",
      mode: 0o755,
      uid: 1000,
      size: 9,
      mtime: 1,
    });
    expect(rest).toEqual([]);
    const b = block as Uint8Array;
    const field = (o: number, n: number): string =>
      Buffer.from(b.subarray(o, o + n)).toString("latin1");
    expect(field(100, 8)).toBe("0000755\u0000");
    expect(field(108, 8)).toBe("0001750\u0000");
    expect(field(124, 12)).toBe("00000000011\u0000");
    expect(field(257, 8)).toBe("ustar\u000000");
    expect(field(154, 2)).toBe("\u0000 ");
  });

  it("uses a ustar prefix for long ASCII paths and PAX only when needed", async () => {
    const split = `${"p".repeat(120)}/name`;
    expect(encodeHeader({ ...base, name: split })).toHaveLength(1);
    expect(encodeHeader({ ...base, name: "é" })).toHaveLength(3);
    expect(encodeHeader({ ...base, mtime: 1.5 })).toHaveLength(3);
    expect(encodeHeader({ ...base, uid: 2 ** 21 })).toHaveLength(3);
    const [, data] = encodeHeader({
      ...base,
      name: "x".repeat(300),
      xattrs: new Map([
        ["user.z", text("1")],
        ["security.capability", text("c")],
      ]),
    });
    const records = Buffer.from(data as Uint8Array)
      .toString("latin1")
      .split("\u0000")[0] as string;
    // sorted by key, as Go writes them
    expect(records.split("\n").map((r) => r.split("=")[0]?.split(" ")[1])).toEqual([
      "SCHILY.xattr.security.capability",
      "SCHILY.xattr.user.z",
      "path",
      undefined,
    ]);
  });

  it("round-trips every header field through readTar", async () => {
    const headers: TarHeader[] = [
      {
        ...base,
        name: "n".repeat(400),
        uid: 5,
        gid: 6,
        uname: "u",
        gname: "g",
        mtime: 1700000000.123,
      },
      { ...base, name: "dev", type: "char", devmajor: 1, devminor: 3, mode: 0o666 },
      { ...base, name: "blk", type: "block", devmajor: 8, devminor: 300 },
      { ...base, name: "l", type: "symlink", linkname: "t".repeat(300) },
      { ...base, name: "big-ids", uid: 2 ** 40, gid: 2 ** 33 },
      { ...base, name: "x", xattrs: new Map([["user.v", new Uint8Array([0, 10, 61, 255])]]) },
    ];
    const back: TarHeader[] = [];
    for await (const e of readTar(writeTar(headers.map((header) => ({ header })))))
      back.push(e.header);
    expect(back).toEqual(headers);
  });

  it("throws InvalidArgument when the body length differs from the size", async () => {
    const short = collect(writeTar([{ header: { ...base, size: 5 }, body: text("abc") }]));
    await expect(short).rejects.toThrow(/header size 5, body 3 bytes/);
    const long = await collect(
      writeTar([{ header: { ...base, size: 1 }, body: text("abc") }]),
    ).catch((e: unknown) => e);
    expect(isInvalidArgument(long)).toBe(true);
  });

  it("throws InvalidArgument for invalid headers", () => {
    for (const bad of [
      { ...base, name: "" },
      { ...base, size: -1 },
      { ...base, mode: 1.5 },
      { ...base, type: "symlink" as const },
      { ...base, xattrs: new Map([["a=b", new Uint8Array()]]) },
    ]) {
      let caught: unknown;
      try {
        encodeHeader(bad);
      } catch (err) {
        caught = err;
      }
      expect(isInvalidArgument(caught)).toBe(true);
    }
  });
});
