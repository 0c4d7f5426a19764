import { createHash } from "node:crypto";
import { gunzipSync } from "node:zlib";
import { isInvalidArgument } from "@strata/errdefs";
import { describe, expect, it } from "vitest";
import {
  collect,
  makeTar,
  memReaderAt,
  once,
  randomChunks,
  run,
  sampleTar,
  semiRandom,
} from "./_testing.ts";
import { compress } from "./compress.ts";
import {
  ESTARGZ_TOC_DIGEST_ANNOTATION,
  ESTARGZ_UNCOMPRESSED_SIZE_ANNOTATION,
} from "./estargz_format.ts";
import { openEstargz } from "./estargz_reader.ts";
import { writeEstargz } from "./estargz_writer.ts";

const sha = (b: Uint8Array): string => `sha256:${createHash("sha256").update(b).digest("hex")}`;

async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error("expected a failure");
}

describe("writeEstargz", () => {
  const tar = sampleTar();

  it("keeps the input tar as the prefix of its uncompressed bytes, then the TOC entry", async () => {
    const { stream, result } = writeEstargz(once(tar));
    const blob = await collect(stream);
    const r = await result;
    const plain = gunzipSync(blob);
    expect(Buffer.compare(plain.subarray(0, tar.length), tar)).toBe(0);
    expect(plain.subarray(tar.length, tar.length + 17).toString()).toBe("stargz.index.json");
    // GNU tar, told to read past the input's end blocks, finds the TOC last.
    const names = run("tar", ["-t", "--ignore-zeros", "-f", "-"], plain)
      .toString()
      .trim()
      .split("\n");
    expect(names.at(-1)).toBe("stargz.index.json");
    expect(r.diffID).toBe(sha(plain));
    expect(r.uncompressedSize).toBe(plain.length);
    expect(r.digest).toBe(sha(blob));
    expect(r.size).toBe(blob.length);
    expect(r.annotations).toEqual({
      [ESTARGZ_TOC_DIGEST_ANNOTATION]: r.tocDigest,
      [ESTARGZ_UNCOMPRESSED_SIZE_ANNOTATION]: String(plain.length),
      "containerd.io/uncompressed": r.diffID,
    });
  });

  it("starts a gzip member at each payload, chunk and the TOC, and ends with the footer", async () => {
    const { stream, result } = writeEstargz(once(tar), { chunkSize: 100_000 });
    const blob = await collect(stream);
    const r = await result;
    const reader = await openEstargz(memReaderAt(blob), { tocDigest: r.tocDigest });
    const withOffset = reader.toc.entries.filter((e) => e.offset !== undefined);
    expect(withOffset.length).toBeGreaterThan(4);
    for (const e of withOffset)
      expect([...blob.subarray(e.offset, (e.offset ?? 0) + 3)]).toEqual([0x1f, 0x8b, 0x08]);
    expect([...blob.subarray(r.tocOffset, r.tocOffset + 3)]).toEqual([0x1f, 0x8b, 0x08]);
    expect([...blob.subarray(0, 3)]).toEqual([0x1f, 0x8b, 0x08]);
    expect(
      Buffer.from(blob.subarray(blob.length - 51 + 32, blob.length - 51 + 38)).toString(),
    ).toBe("STARGZ");
  });

  it("records entries as the spec says: chunks, links, metadata, xattrs", async () => {
    const { stream, result } = writeEstargz(once(tar), { chunkSize: 100_000 });
    const blob = await collect(stream);
    const { toc } = await openEstargz(memReaderAt(blob), { tocDigest: (await result).tocDigest });
    const big = toc.entries.filter((e) => e.name === "usr/lib/big.bin");
    expect(big.map((e) => [e.type, e.chunkOffset, e.chunkSize])).toEqual(
      [
        ["reg", undefined, 100_000],
        ["chunk", 100_000, 100_000],
        ["chunk", 200_000, 100_000],
      ]
        .slice(0, 2)
        .concat([["chunk", 200_000, undefined]]),
    );
    expect(big[0]?.size).toBe(300_000);
    expect(big[0]?.mode).toBe(0o755);
    const body = semiRandom(300_000, 7);
    expect(big[0]?.digest).toBe(sha(body));
    expect(big[1]?.chunkDigest).toBe(sha(body.subarray(100_000, 200_000)));
    const byName = new Map(toc.entries.map((e) => [e.name, e]));
    expect(byName.get("etc/")).toMatchObject({
      type: "dir",
      mode: 0o755,
      modtime: "2023-11-14T22:13:20Z",
    });
    expect(byName.get("etc/hostname")).toMatchObject({
      type: "reg",
      size: 7,
      uid: 1000,
      gid: 1000,
      userName: "u",
      groupName: "g",
    });
    expect(byName.get("etc/empty")).toMatchObject({
      type: "reg",
      digest: sha(new Uint8Array(0)),
    });
    // As Go's writer does: no size, no offset for an empty file.
    expect(byName.get("etc/empty")?.size).toBeUndefined();
    expect(byName.get("etc/empty")?.offset).toBeUndefined();
    expect(byName.get("usr/bin/sh")).toMatchObject({ type: "symlink", linkName: "busybox" });
    expect(byName.get("usr/bin/hard")).toMatchObject({
      type: "hardlink",
      linkName: "usr/lib/big.bin",
    });
    expect(byName.get("etc/xattr")?.xattrs).toEqual({
      "user.k": Buffer.from("v").toString("base64"),
    });
    expect(byName.has(`usr/share/${"long-directory-name/".repeat(8)}file.txt`)).toBe(true);
    expect(toc.version).toBe(1);
  });

  it("gives the same blob whatever the chunking of the source", async () => {
    const reference = await collect(writeEstargz(once(tar)).stream);
    for (let seed = 1; seed <= 3; seed++) {
      expect(
        Buffer.compare(
          await collect(writeEstargz(randomChunks(tar, seed, 2000)).stream),
          reference,
        ),
      ).toBe(0);
    }
    expect(
      Buffer.compare(await collect(compress(randomChunks(tar, 9), "estargz")), reference),
    ).toBe(0);
  });

  it("handles an empty archive and an archive without end blocks", async () => {
    for (const [input, count] of [
      [makeTar([]), 0],
      [makeTar([{ name: "a", typeflag: "0", body: Uint8Array.of(1) }]).subarray(0, 1024), 1],
    ] as const) {
      const { stream, result } = writeEstargz(once(input));
      const blob = await collect(stream);
      const r = await result;
      const reader = await openEstargz(memReaderAt(blob), { tocDigest: r.tocDigest });
      expect(Buffer.compare(gunzipSync(blob).subarray(0, input.length), input)).toBe(0);
      expect(reader.toc.entries.length).toBe(count);
    }
  });

  it("refuses a tar that is eStargz already", async () => {
    const blob = await collect(writeEstargz(once(tar)).stream);
    const w = writeEstargz(once(gunzipSync(blob)));
    const err = await failure(collect(w.stream));
    expect(isInvalidArgument(err)).toBe(true);
    expect((err as Error).message).toMatch(/stargz.index.json/);
    await expect(w.result).rejects.toBe(err);
  });

  it("refuses input that is not a tar stream", async () => {
    const err = await failure(collect(writeEstargz(once(semiRandom(5000, 1))).stream));
    expect(isInvalidArgument(err)).toBe(true);
  });

  it("rejects bad options at once", () => {
    expect(() => writeEstargz(once(tar), { level: 10 })).toThrow(/level/);
    expect(() => writeEstargz(once(tar), { chunkSize: 0 })).toThrow(/chunk size/);
  });

  it("rejects its result when the stream is abandoned", async () => {
    const { stream, result } = writeEstargz(once(tar));
    for await (const _ of stream) break;
    await expect(result).rejects.toThrow(/not read to the end/);
  });
});
