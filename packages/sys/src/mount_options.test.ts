import { isInvalidArgument, isNotImplemented } from "@strata/errdefs";
import { describe, expect, it } from "vitest";
import { MS, parseMountOptions } from "./mount.ts";

describe("parseMountOptions", () => {
  it("turns flag words into flags and keeps the rest as comma-joined data", () => {
    expect(parseMountOptions(["ro", "nosuid", "lowerdir=/a:/b", "upperdir=/u"])).toEqual({
      flags: MS.RDONLY | MS.NOSUID,
      propagation: 0,
      data: "lowerdir=/a:/b,upperdir=/u",
    });
  });

  it("clears a flag set earlier when a later word says so", () => {
    expect(parseMountOptions(["ro", "rw"]).flags).toBe(0);
    expect(parseMountOptions(["noexec", "exec", "nodev"]).flags).toBe(MS.NODEV);
  });

  it("makes rbind a recursive bind and keeps propagation apart", () => {
    const parsed = parseMountOptions(["rbind", "ro", "rprivate"]);
    expect(parsed.flags).toBe(MS.BIND | MS.REC | MS.RDONLY);
    expect(parsed.propagation).toBe(MS.PRIVATE | MS.REC);
    expect(parsed.data).toBe("");
  });

  it("rejects an option containing a comma", () => {
    expect(() => parseMountOptions(["lowerdir=/a,upperdir=/b"])).toThrow(/comma/);
    try {
      parseMountOptions(["a,b"]);
    } catch (err) {
      expect(isInvalidArgument(err)).toBe(true);
    }
  });

  it("refuses loop mounts as not implemented", () => {
    let caught: unknown;
    try {
      parseMountOptions(["loop"]);
    } catch (err) {
      caught = err;
    }
    expect(isNotImplemented(caught)).toBe(true);
  });

  it("does not treat inherited object keys as options", () => {
    expect(parseMountOptions(["constructor", "toString"]).data).toBe("constructor,toString");
  });
});
