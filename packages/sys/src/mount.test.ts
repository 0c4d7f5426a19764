import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isInvalidArgument, isNotFound } from "@strata/errdefs";
import { afterAll, describe, expect, it } from "vitest";
import { mount, unmount } from "./mount.ts";

const dir = mkdtempSync(join(tmpdir(), "strata-mount-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("mount", () => {
  it("rejects an option containing a comma", async () => {
    const err = await mount({
      type: "tmpfs",
      source: "tmpfs",
      target: dir,
      options: ["a,b"],
    }).catch((e: unknown) => e);
    expect(isInvalidArgument(err)).toBe(true);
  });

  it("fails when the target does not exist", async () => {
    await expect(
      mount({ type: "tmpfs", source: "tmpfs", target: join(dir, "missing") }),
    ).rejects.toThrow(/missing/);
  });
});

describe("unmount", () => {
  it("throws NotFound when nothing is mounted at the target", async () => {
    const err = await unmount(dir).catch((e: unknown) => e);
    expect(isNotFound(err)).toBe(true);
  });
});
