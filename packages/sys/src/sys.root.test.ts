import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { mknod } from "./mknod.ts";
import { mount, unmount } from "./mount.ts";
import { getxattr, lgetxattrs, setxattr } from "./xattr.ts";

// These need root and an overlay-capable kernel; they fail (not skip) otherwise.
const dir = mkdtempSync(join(tmpdir(), "strata-sys-root-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("mknod (root)", () => {
  it("creates an overlay whiteout: char device 0/0", () => {
    const p = join(dir, "wh");
    mknod(p, { type: "char", major: 0, minor: 0 });
    const st = statSync(p);
    expect(st.isCharacterDevice()).toBe(true);
    expect(st.rdev).toBe(0);
  });

  it("creates a block device with major and minor", () => {
    const p = join(dir, "blk");
    mknod(p, { type: "block", major: 7, minor: 300 });
    const st = statSync(p);
    expect(st.isBlockDevice()).toBe(true);
    // glibc's makedev encoding
    expect(st.rdev).toBe((300 & 0xff) | (7 << 8) | ((300 & ~0xff) << 12));
  });
});

describe("trusted xattrs (root)", () => {
  it("sets and reads trusted.overlay.opaque", () => {
    const d = join(dir, "opaque");
    mkdirSync(d);
    setxattr(d, "trusted.overlay.opaque", new TextEncoder().encode("y"));
    expect(getxattr(d, "trusted.overlay.opaque")).toEqual(new TextEncoder().encode("y"));
    expect(lgetxattrs(d).has("trusted.overlay.opaque")).toBe(true);
  });
});

describe("mount (root)", () => {
  it("mounts an overlay whose upper hides a lower file and unmounts it", async () => {
    const [lower, upper, work, merged] = ["lower", "upper", "work", "merged"].map((n) => {
      const p = join(dir, n);
      mkdirSync(p);
      return p;
    }) as [string, string, string, string];
    writeFileSync(join(lower, "a"), "lower-a");
    writeFileSync(join(lower, "b"), "lower-b");
    writeFileSync(join(upper, "c"), "upper-c");
    mknod(join(upper, "b"), { type: "char", major: 0, minor: 0 });
    await mount({
      type: "overlay",
      source: "overlay",
      target: merged,
      options: [`lowerdir=${lower}`, `upperdir=${upper}`, `workdir=${work}`],
    });
    try {
      expect(readFileSync(join(merged, "a"), "utf8")).toBe("lower-a");
      expect(readFileSync(join(merged, "c"), "utf8")).toBe("upper-c");
      expect(() => statSync(join(merged, "b"))).toThrow(/ENOENT/);
    } finally {
      await unmount(merged);
    }
    expect(() => readFileSync(join(merged, "a"))).toThrow(/ENOENT/);
  });
});
