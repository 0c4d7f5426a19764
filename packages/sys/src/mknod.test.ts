import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isAlreadyExists, isInvalidArgument } from "@strata/errdefs";
import { afterAll, describe, expect, it } from "vitest";
import { mknod } from "./mknod.ts";

const dir = mkdtempSync(join(tmpdir(), "strata-mknod-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function caught(fn: () => void): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

describe("mknod", () => {
  it("creates a fifo with the given mode", () => {
    const p = join(dir, "fifo");
    mknod(p, { type: "fifo", mode: 0o640 });
    const st = statSync(p);
    expect(st.isFIFO()).toBe(true);
    expect(st.mode & 0o777).toBe(0o640 & ~process.umask());
  });

  it("throws AlreadyExists when the path exists", () => {
    const p = join(dir, "twice");
    mknod(p, { type: "fifo" });
    expect(isAlreadyExists(caught(() => mknod(p, { type: "fifo" })))).toBe(true);
  });

  it("rejects an unknown type", () => {
    const err = caught(() => mknod(join(dir, "x"), { type: "socket" as "fifo" }));
    expect(isInvalidArgument(err)).toBe(true);
  });

  it("rejects out-of-range numbers", () => {
    expect(
      isInvalidArgument(caught(() => mknod(join(dir, "y"), { type: "char", major: -1 }))),
    ).toBe(true);
    expect(
      isInvalidArgument(caught(() => mknod(join(dir, "z"), { type: "fifo", mode: 0o10000 }))),
    ).toBe(true);
  });
});
