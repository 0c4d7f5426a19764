import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isNotFound } from "@strata/errdefs";
import { afterAll, describe, expect, it } from "vitest";
import { mount, unmount } from "./mount.ts";

// Needs root (CAP_SYS_ADMIN); fails, not skips, without it.
const dir = mkdtempSync(join(tmpdir(), "strata-mount-root-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("mount (root)", () => {
  it("makes a read-only bind mount (bind, then read-only remount)", async () => {
    const src = join(dir, "src");
    const dst = join(dir, "dst");
    mkdirSync(src);
    mkdirSync(dst);
    writeFileSync(join(src, "f"), "data");
    await mount({ type: "bind", source: src, target: dst, options: ["rbind", "ro"] });
    try {
      expect(readFileSync(join(dst, "f"), "utf8")).toBe("data");
      expect(() => writeFileSync(join(dst, "g"), "x")).toThrow(/EROFS/);
    } finally {
      await unmount(dst);
    }
    writeFileSync(join(dst, "g"), "x"); // the plain directory again
  });

  it("mounts a tmpfs with data options and unmounts it lazily", async () => {
    const t = join(dir, "tmpfs");
    mkdirSync(t);
    await mount({ type: "tmpfs", source: "tmpfs", target: t, options: ["size=1m", "mode=0700"] });
    writeFileSync(join(t, "x"), "in tmpfs");
    await unmount(t, { detach: true });
    expect(() => readFileSync(join(t, "x"))).toThrow(/ENOENT/);
    const err = await unmount(t).catch((e: unknown) => e);
    expect(isNotFound(err)).toBe(true);
  });
});
