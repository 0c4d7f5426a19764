import { describe, expect, it } from "vitest";
import { readonlyMounts } from "./mount.ts";
import type { Mount } from "./snapshotter.ts";

describe("readonlyMounts", () => {
  it("turns a rw bind into a ro bind", () => {
    expect(readonlyMounts([{ type: "bind", source: "/s", options: ["rbind", "rw"] }])).toEqual([
      { type: "bind", source: "/s", options: ["rbind", "ro"] },
    ]);
  });

  it("keeps a single ro on a bind that already has one", () => {
    expect(readonlyMounts([{ type: "bind", source: "/s", options: ["ro", "rbind"] }])).toEqual([
      { type: "bind", source: "/s", options: ["rbind", "ro"] },
    ]);
  });

  it("puts the upperdir on top of the lowerdirs and drops the workdir of an overlay", () => {
    const m: Mount = {
      type: "overlay",
      source: "overlay",
      options: ["index=off", "workdir=/w", "upperdir=/u", "lowerdir=/l1:/l2", "rw"],
    };
    expect(readonlyMounts([m])).toEqual([
      { type: "overlay", source: "overlay", options: ["index=off", "lowerdir=/u:/l1:/l2"] },
    ]);
  });

  it("keeps an overlay that has only lowerdirs as it is", () => {
    const m: Mount = { type: "overlay", source: "overlay", options: ["lowerdir=/a:/b"] };
    expect(readonlyMounts([m])).toEqual([m]);
  });

  it("turns an overlay left with one layer into a ro bind of it", () => {
    expect(
      readonlyMounts([
        { type: "overlay", source: "overlay", options: ["workdir=/w", "upperdir=/u"] },
      ]),
    ).toEqual([{ type: "bind", source: "/u", options: ["ro", "rbind"] }]);
    expect(
      readonlyMounts([{ type: "overlay", source: "overlay", options: ["lowerdir=/l"] }]),
    ).toEqual([{ type: "bind", source: "/l", options: ["ro", "rbind"] }]);
  });

  it("adds ro to other file systems and to binds given as an option", () => {
    expect(
      readonlyMounts([
        { type: "tmpfs", source: "tmpfs", options: ["size=1m", "rw"] },
        { type: "none", source: "/x", options: ["bind"] },
      ]),
    ).toEqual([
      { type: "tmpfs", source: "tmpfs", options: ["size=1m", "ro"] },
      { type: "none", source: "/x", options: ["bind", "ro"] },
    ]);
  });

  it("does not change its input and maps an empty list to an empty list", () => {
    const m: Mount = { type: "bind", source: "/s", options: ["rbind", "rw"] };
    readonlyMounts([m]);
    expect(m.options).toEqual(["rbind", "rw"]);
    expect(readonlyMounts([])).toEqual([]);
  });
});
