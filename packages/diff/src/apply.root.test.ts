import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getxattr, mount, unmount } from "@strata/sys";
import { afterAll, describe, expect, it } from "vitest";
import { chunks, collect, run, snapshotTree } from "./_testing.ts";
import { applyLayer } from "./apply.ts";
import type { TarHeader } from "./tar/header.ts";
import { type TarWriteEntry, writeTar } from "./tar/write_tar.ts";
import { diffDirectories } from "./walking_differ.ts";

// Needs root (chown, mknod, trusted.* xattrs, overlay mounts); fails otherwise.
const tmp = mkdtempSync(join(tmpdir(), "strata-apply-root-"));
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
const layer = (entries: TarWriteEntry[]): Promise<Uint8Array> => collect(writeTar(entries));

describe("applyLayer (root)", () => {
  it("restores owners and creates device nodes", async () => {
    const root = fresh();
    await applyLayer(
      root,
      chunks(
        await layer([
          { header: h("owned", { uid: 1234, gid: 5678, size: 1 }), body: text("x") },
          { header: h("dir/", { type: "directory", mode: 0o755, uid: 42, gid: 43 }) },
          { header: h("null", { type: "char", devmajor: 1, devminor: 3, mode: 0o666 }) },
          { header: h("sda", { type: "block", devmajor: 8, devminor: 0, mode: 0o660 }) },
          { header: h("sym", { type: "symlink", linkname: "owned", uid: 7, gid: 8 }) },
        ]),
      ),
    );
    expect(lstatSync(join(root, "owned"))).toMatchObject({ uid: 1234, gid: 5678 });
    expect(lstatSync(join(root, "dir"))).toMatchObject({ uid: 42, gid: 43 });
    expect(lstatSync(join(root, "sym"))).toMatchObject({ uid: 7, gid: 8 });
    const dev = lstatSync(join(root, "null"));
    expect(dev.isCharacterDevice()).toBe(true);
    expect(dev.rdev).toBe(lstatSync("/dev/null").rdev);
    expect(lstatSync(join(root, "sda")).isBlockDevice()).toBe(true);
  });

  it("round-trips owners, devices and security xattrs through diff and apply", async () => {
    const upper = fresh();
    run("mkdir", ["-p", join(upper, "bin"), join(upper, "dev")]);
    run("sh", ["-c", `echo hi > ${upper}/bin/ping && chown 100:200 ${upper}/bin/ping`]);
    run("setfattr", [
      "-n",
      "security.capability",
      "-v",
      "0x0100000200200000000000000000000000000000",
      join(upper, "bin/ping"),
    ]);
    run("mknod", [join(upper, "dev/null"), "c", "1", "3"]);
    const target = fresh();
    await applyLayer(target, diffDirectories(undefined, upper));
    expect(snapshotTree(target)).toEqual(snapshotTree(upper));
  });

  it("skips trusted.* xattrs a layer carries", async () => {
    const root = fresh();
    await applyLayer(
      root,
      chunks(
        await layer([
          {
            header: h("d/", {
              type: "directory",
              xattrs: new Map([["trusted.overlay.opaque", text("y")]]),
            }),
          },
        ]),
      ),
    );
    expect(getxattr(join(root, "d"), "trusted.overlay.opaque")).toBeUndefined();
  });
});

describe("applyLayer in overlay mode (root)", () => {
  it("writes whiteouts and opaque xattrs that overlayfs honours", async () => {
    const [lower, upper, work, merged] = [fresh(), fresh(), fresh(), fresh()];
    run("mkdir", ["-p", join(lower, "keep"), join(lower, "opq/sub"), join(lower, "del")]);
    run("sh", [
      "-c",
      `echo k > ${lower}/keep/k; echo o > ${lower}/opq/old; echo s > ${lower}/opq/sub/s; echo d > ${lower}/del/d; echo f > ${lower}/file`,
    ]);
    await applyLayer(
      upper,
      chunks(
        await layer([
          { header: h(".wh.del") },
          { header: h(".wh.file") },
          { header: h("opq/", { type: "directory", mode: 0o755 }) },
          { header: h("opq/.wh..wh..opq") },
          { header: h("opq/new", { size: 3 }), body: text("new") },
        ]),
      ),
      { overlay: true },
    );
    const wh = lstatSync(join(upper, "del"));
    expect(wh.isCharacterDevice() && wh.rdev === 0).toBe(true);
    expect(getxattr(join(upper, "opq"), "trusted.overlay.opaque")).toEqual(text("y"));
    await mount({
      type: "overlay",
      source: "overlay",
      target: merged,
      options: [`lowerdir=${lower}`, `upperdir=${upper}`, `workdir=${work}`],
    });
    try {
      expect(readdirSync(merged).sort()).toEqual(["keep", "opq"]);
      expect(readdirSync(join(merged, "opq"))).toEqual(["new"]);
      expect(readFileSync(join(merged, "keep/k"), "utf8")).toBe("k\n");
    } finally {
      await unmount(merged);
    }
  });
});
