import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isNotImplemented } from "@strata/errdefs";
import { setxattr } from "@strata/sys";
import { afterAll, describe, expect, it } from "vitest";
import { collect, run, snapshotTree } from "./_testing.ts";
import { applyLayer } from "./apply.ts";
import { diffOverlay, overlayChanges } from "./overlay_differ.ts";

const tmp = mkdtempSync(join(tmpdir(), "strata-ovl-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
function fresh(): string {
  const d = join(tmp, `t${n++}`);
  mkdirSync(d);
  return d;
}
const y = new TextEncoder().encode("y");

describe("overlayChanges", () => {
  it("reads adds and modifies from the upperdir alone", async () => {
    const lower = fresh();
    mkdirSync(join(lower, "d"));
    writeFileSync(join(lower, "d/keep"), "k");
    writeFileSync(join(lower, "f"), "old");
    const upper = fresh();
    mkdirSync(join(upper, "d"));
    writeFileSync(join(upper, "d/new"), "n");
    writeFileSync(join(upper, "f"), "new!");
    const got: string[] = [];
    for await (const c of overlayChanges(lower, upper)) got.push(`${c.kind} ${c.path}`);
    // d's own metadata did not change: only its new child is reported.
    expect(got).toEqual(["add d/new", "modify f"]);
  });

  it("compares an opaque directory (user.overlay.opaque) with the lower one", async () => {
    const lower = fresh();
    mkdirSync(join(lower, "o/sub"), { recursive: true });
    writeFileSync(join(lower, "o/a"), "a");
    writeFileSync(join(lower, "o/b"), "b");
    writeFileSync(join(lower, "o/sub/c"), "c");
    const upper = fresh();
    mkdirSync(join(upper, "o/sub"), { recursive: true });
    writeFileSync(join(upper, "o/b"), "B");
    // Same size, and maybe the same coarse mtime tick: give it another second.
    utimesSync(join(upper, "o/b"), 1600000001, 1600000001);
    setxattr(join(upper, "o"), "user.overlay.opaque", y);
    const got: string[] = [];
    for await (const c of overlayChanges(lower, upper)) got.push(`${c.kind} ${c.path}`);
    expect(got).toEqual(["delete o/a", "modify o/b", "delete o/sub/c"]);
    // Applied over the lower, it gives the merged view: o/b and an empty o/sub.
    const target = fresh();
    run("cp", ["-a", `${lower}/.`, target]);
    await applyLayer(target, diffOverlay(lower, upper));
    expect(snapshotTree(target).map((r) => r.path)).toEqual(["o", "o/b", "o/sub"]);
  });

  for (const name of ["user.overlay.redirect", "user.overlay.metacopy"]) {
    it(`refuses ${name} with NotImplemented`, async () => {
      const upper = fresh();
      mkdirSync(join(upper, "d"));
      setxattr(join(upper, "d"), name, new TextEncoder().encode("/x"));
      const err = await collect(diffOverlay(undefined, upper)).catch((e: unknown) => e);
      expect(isNotImplemented(err)).toBe(true);
      expect(String(err)).toMatch(/walking differ/);
    });
  }

  it("fails for a missing upperdir", async () => {
    await expect(collect(diffOverlay(undefined, join(tmp, "none")))).rejects.toThrow(/ENOENT/);
  });
});
