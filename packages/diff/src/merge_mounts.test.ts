import { describe, expect, it } from "vitest";
import { layersOf, resolverOf, upperdirBetween } from "./merge_mounts.ts";

const bind = (source: string) => [{ type: "bind", source, options: ["rbind", "ro"] }];
const overlay = (...options: string[]) => [{ type: "overlay", source: "overlay", options }];

describe("layersOf", () => {
  it("lists a bind's source and an overlay's layers nearest first", () => {
    expect(layersOf(bind("/a"))).toEqual(["/a"]);
    expect(layersOf(overlay("index=off", "upperdir=/u", "workdir=/w", "lowerdir=/b:/a"))).toEqual([
      "/u",
      "/b",
      "/a",
    ]);
  });

  it("gives nothing for options it does not understand or several mounts", () => {
    expect(layersOf(overlay("metacopy=on", "lowerdir=/b:/a"))).toBeUndefined();
    expect(layersOf([...bind("/a"), ...bind("/b")])).toBeUndefined();
    expect(layersOf(undefined)).toBeUndefined();
  });
});

describe("upperdirBetween", () => {
  it("finds the top layer when the upper is the lower plus one layer", () => {
    expect(upperdirBetween(bind("/a"), overlay("lowerdir=/b:/a"))).toBe("/b");
    expect(upperdirBetween(overlay("lowerdir=/b:/a"), overlay("lowerdir=/c:/b:/a"))).toBe("/c");
  });

  it("gives nothing for non-adjacent or unrelated snapshots", () => {
    expect(upperdirBetween(bind("/a"), overlay("lowerdir=/c:/b:/a"))).toBeUndefined();
    expect(upperdirBetween(bind("/x"), overlay("lowerdir=/b:/a"))).toBeUndefined();
    expect(upperdirBetween(bind("/a"), bind("/b"))).toBeUndefined();
    expect(upperdirBetween(bind("/a"), overlay("volatile", "lowerdir=/b:/a"))).toBeUndefined();
  });
});

describe("resolverOf", () => {
  it("maps a path into a bind's source, or keeps it under the mount point", () => {
    expect(resolverOf(bind("/src"), "/mnt")("a/b")).toBe("/src/a/b");
    expect(resolverOf([{ type: "fuse", source: "x", options: [] }], "/mnt")("a")).toBe("/mnt/a");
    // No layer has the path: the mounted tree it is.
    expect(resolverOf(overlay("lowerdir=/nonexistent-1:/nonexistent-2"), "/mnt")("a")).toBe(
      "/mnt/a",
    );
  });
});
