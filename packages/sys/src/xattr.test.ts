import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isNotFound } from "@strata/errdefs";
import { afterAll, describe, expect, it } from "vitest";
import { getxattr, lgetxattrs, listxattr, removexattr, setxattr } from "./xattr.ts";

const dir = mkdtempSync(join(tmpdir(), "strata-sys-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string): string {
  const p = join(dir, name);
  writeFileSync(p, "x");
  return p;
}

describe("setxattr/getxattr", () => {
  it("round-trips binary values including NUL and 0xff", () => {
    const p = file("bin");
    const value = new Uint8Array([0, 1, 2, 0xff, 0, 10]);
    setxattr(p, "user.bin", value);
    expect(getxattr(p, "user.bin")).toEqual(value);
  });

  it("returns undefined for an absent attribute", () => {
    expect(getxattr(file("absent"), "user.nothing")).toBeUndefined();
  });

  it("reads values larger than the stack buffer", () => {
    const p = file("big");
    const value = new Uint8Array(3000).map((_, i) => i % 251);
    setxattr(p, "user.big", value);
    expect(getxattr(p, "user.big")).toEqual(value);
    expect(lgetxattrs(p).get("user.big")).toEqual(value);
  });

  it("throws NotFound for a missing path", () => {
    expect(() => getxattr(join(dir, "missing"), "user.a")).toThrow(
      expect.objectContaining({ message: expect.stringContaining("missing") }),
    );
    try {
      getxattr(join(dir, "missing"), "user.a");
    } catch (err) {
      expect(isNotFound(err)).toBe(true);
    }
  });

  it("acts on the symlink itself with noFollow", () => {
    const target = file("target");
    const link = join(dir, "link");
    symlinkSync(target, link);
    setxattr(link, "user.via", new Uint8Array([1]));
    expect(getxattr(target, "user.via")).toEqual(new Uint8Array([1]));
    expect(getxattr(link, "user.via", { noFollow: true })).toBeUndefined();
  });
});

describe("listxattr", () => {
  it("lists names set on a file", () => {
    const p = file("list");
    setxattr(p, "user.a", new Uint8Array([1]));
    setxattr(p, "user.b", new Uint8Array());
    expect(
      listxattr(p)
        .filter((n) => n.startsWith("user."))
        .sort(),
    ).toEqual(["user.a", "user.b"]);
  });

  it("returns an empty list when there are none", () => {
    expect(listxattr(file("none")).filter((n) => n.startsWith("user."))).toEqual([]);
  });
});

describe("removexattr", () => {
  it("removes an attribute", () => {
    const p = file("rm");
    setxattr(p, "user.a", new Uint8Array([1]));
    removexattr(p, "user.a");
    expect(getxattr(p, "user.a")).toBeUndefined();
  });

  it("throws when the attribute is absent", () => {
    expect(() => removexattr(file("rm2"), "user.none")).toThrow(/user\.none/);
  });
});

describe("lgetxattrs", () => {
  it("maps every name to its value", () => {
    const p = file("all");
    setxattr(p, "user.one", new TextEncoder().encode("1"));
    setxattr(p, "user.two", new TextEncoder().encode("22"));
    const all = lgetxattrs(p);
    expect(new TextDecoder().decode(all.get("user.one"))).toBe("1");
    expect(new TextDecoder().decode(all.get("user.two"))).toBe("22");
  });

  it("throws NotFound for a missing path", () => {
    let caught: unknown;
    try {
      lgetxattrs(join(dir, "nope"));
    } catch (err) {
      caught = err;
    }
    expect(isNotFound(caught)).toBe(true);
  });
});
