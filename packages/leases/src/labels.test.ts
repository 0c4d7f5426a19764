import { describe, expect, it } from "vitest";
import { gcReferences } from "./labels.ts";

describe("gcReferences", () => {
  it("reads content and snapshot references with their suffixes, and nothing else", () => {
    expect(
      gcReferences({
        "containerd.io/gc.ref.content": "sha256:a",
        "containerd.io/gc.ref.content.l.0": "sha256:b",
        "containerd.io/gc.ref.content/m": "sha256:c",
        "containerd.io/gc.ref.contentx": "sha256:not",
        "containerd.io/gc.ref.content.empty": "",
        "containerd.io/gc.ref.snapshot.overlayfs": "k1",
        "containerd.io/gc.ref.snapshot.native/extra": "k2",
        "containerd.io/gc.ref.snapshot.": "no-snapshotter",
        "containerd.io/gc.root": "x",
        other: "y",
      }),
    ).toEqual([
      { kind: "content", digest: "sha256:a" },
      { kind: "content", digest: "sha256:b" },
      { kind: "content", digest: "sha256:c" },
      { kind: "snapshot", snapshotter: "overlayfs", key: "k1" },
      { kind: "snapshot", snapshotter: "native", key: "k2" },
    ]);
  });
});
