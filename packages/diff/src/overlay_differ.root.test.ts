import { chmodSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isNotImplemented } from "@strata/errdefs";
import { mknod, mount, setxattr, unmount } from "@strata/sys";
import { afterAll, describe, expect, it } from "vitest";
import { collect, run, snapshotTree } from "./_testing.ts";
import { applyLayer } from "./apply.ts";
import { diffOverlay } from "./overlay_differ.ts";
import { readTar } from "./tar/read_tar.ts";
import { diffDirectories } from "./walking_differ.ts";

// Needs root and overlayfs; fails (not skips) without them.
const tmp = mkdtempSync(join(tmpdir(), "strata-ovl-root-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function entries(tar: AsyncIterable<Uint8Array>): Promise<string[]> {
  const out: string[] = [];
  for await (const e of readTar(tar)) {
    const h = e.header;
    const data = Buffer.from(await collect(e.body)).toString("base64");
    out.push(
      `${h.type} ${h.name} ${h.mode.toString(8)} ${h.uid} ${h.mtime} ${h.linkname ?? ""} ${data}`,
    );
  }
  return out;
}

describe("diffOverlay on a real overlay mount", () => {
  it("gives the walking differ's layer for the merged tree", async () => {
    const [lower, upper, work, merged] = ["lower", "upper", "work", "merged"].map((d) => {
      mkdirSync(join(tmp, d));
      return join(tmp, d);
    }) as [string, string, string, string];
    mkdirSync(join(lower, "etc/conf.d"), { recursive: true });
    mkdirSync(join(lower, "var/cache/deep"), { recursive: true });
    mkdirSync(join(lower, "opq/sub"), { recursive: true });
    writeFileSync(join(lower, "etc/passwd"), "root");
    writeFileSync(join(lower, "etc/conf.d/x"), "x");
    writeFileSync(join(lower, "var/cache/deep/blob"), "blob");
    writeFileSync(join(lower, "opq/a"), "a");
    writeFileSync(join(lower, "opq/sub/b"), "b");
    writeFileSync(join(lower, "mode"), "m");
    await mount({
      type: "overlay",
      source: "overlay",
      target: merged,
      options: [`lowerdir=${lower}`, `upperdir=${upper}`, `workdir=${work}`],
    });
    let walking: string[];
    let mergedTree: ReturnType<typeof snapshotTree>;
    try {
      writeFileSync(join(merged, "etc/passwd"), "root\nuser");
      rmSync(join(merged, "etc/conf.d/x"));
      rmSync(join(merged, "var/cache"), { recursive: true });
      rmSync(join(merged, "opq"), { recursive: true });
      mkdirSync(join(merged, "opq"));
      writeFileSync(join(merged, "opq/new"), "new");
      chmodSync(join(merged, "mode"), 0o600);
      mkdirSync(join(merged, "added/dir"), { recursive: true });
      writeFileSync(join(merged, "added/dir/f"), "f");
      renameSync(join(merged, "mode"), join(merged, "mode2"));
      walking = await entries(diffDirectories(lower, merged, { whiteoutTime: 9 }));
      mergedTree = snapshotTree(merged);
    } finally {
      await unmount(merged);
    }
    const overlay = await entries(diffOverlay(lower, upper, { whiteoutTime: 9 }));
    expect(overlay).toEqual(walking);
    const target = join(tmp, "target");
    mkdirSync(target);
    run("cp", ["-a", `${lower}/.`, target]);
    await applyLayer(target, diffOverlay(lower, upper));
    expect(snapshotTree(target)).toEqual(mergedTree);
  });

  it("turns char 0/0 whiteouts into deletes only where the lower has the path", async () => {
    const lower = join(tmp, "l2");
    const upper = join(tmp, "u2");
    mkdirSync(lower);
    mkdirSync(upper);
    writeFileSync(join(lower, "there"), "1");
    mknod(join(upper, "there"), { type: "char", major: 0, minor: 0 });
    mknod(join(upper, "never-was"), { type: "char", major: 0, minor: 0 });
    const names = (await entries(diffOverlay(lower, upper))).map((e) => e.split(" ")[1]);
    expect(names).toEqual([".wh.there"]);
  });

  it("refuses trusted.overlay.redirect and trusted.overlay.metacopy", async () => {
    for (const name of ["trusted.overlay.redirect", "trusted.overlay.metacopy"]) {
      const upper = join(tmp, name);
      mkdirSync(join(upper, "d"), { recursive: true });
      setxattr(join(upper, "d"), name, new TextEncoder().encode("/elsewhere"));
      const err = await collect(diffOverlay(undefined, upper)).catch((e: unknown) => e);
      expect(isNotImplemented(err)).toBe(true);
    }
  });
});
