import { createHash } from "node:crypto";
import { gunzipSync, gzipSync } from "node:zlib";
import { isDataLoss, isInvalidArgument, isResourceExhausted } from "@strata/errdefs";
import { describe, expect, it } from "vitest";
import { collect, memReaderAt, once, randomChunks, run, sampleTar } from "./_testing.ts";
import { compress } from "./compress.ts";
import { COMPRESSIONS } from "./compression.ts";
import { convert } from "./convert.ts";
import { decompress } from "./decompress.ts";
import { ESTARGZ_TOC_DIGEST_ANNOTATION } from "./estargz_format.ts";
import { openEstargz } from "./estargz_reader.ts";
import { mediaTypeFor } from "./media_types.ts";

const sha = (b: Uint8Array): string => `sha256:${createHash("sha256").update(b).digest("hex")}`;
const tar = sampleTar(400_000);

async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error("expected a failure");
}

describe("convert", () => {
  it("converts between every pair of compressions, keeping the diffID", async () => {
    const blobs = new Map<string, Buffer>();
    for (const c of COMPRESSIONS) blobs.set(c, await collect(compress(once(tar), c)));
    const estargzPlain = gunzipSync(blobs.get("estargz") ?? Buffer.alloc(0));
    for (const from of COMPRESSIONS) {
      const source = blobs.get(from) ?? Buffer.alloc(0);
      const sourcePlain = from === "estargz" ? estargzPlain : tar;
      for (const to of COMPRESSIONS) {
        const what = `${from} -> ${to}`;
        const { stream, result } = convert(randomChunks(source, 3), to, { from });
        const out = await collect(stream);
        const r = await result;
        const plain = await collect(decompress(once(out)));
        expect(r.descriptor.digest, what).toBe(sha(out));
        expect(r.descriptor.size, what).toBe(out.length);
        expect(r.descriptor.mediaType, what).toBe(mediaTypeFor(to));
        expect(r.diffID, what).toBe(sha(plain));
        expect(r.uncompressedSize, what).toBe(plain.length);
        expect(r.sourceDiffID, what).toBe(sha(sourcePlain));
        expect(r.descriptor.annotations?.["containerd.io/uncompressed"], what).toBe(r.diffID);
        if (to === "estargz" && from !== "estargz") {
          // The TOC entry is appended; the source tar is the prefix.
          expect(Buffer.compare(plain.subarray(0, sourcePlain.length), sourcePlain), what).toBe(0);
          const reader = await openEstargz(memReaderAt(out), {
            tocDigest: r.descriptor.annotations?.[ESTARGZ_TOC_DIGEST_ANNOTATION] ?? "",
          });
          expect(reader.lookup("etc/hostname")?.type, what).toBe("reg");
        } else {
          expect(r.diffID, what).toBe(r.sourceDiffID);
          expect(Buffer.compare(plain, sourcePlain), what).toBe(0);
        }
        if (from === to) expect(Buffer.compare(out, source), what).toBe(0);
      }
    }
  });

  it("detects the source compression when not told", async () => {
    const gz = gzipSync(tar);
    const { stream, result } = convert(once(gz), "zstd");
    const out = await collect(stream);
    expect(Buffer.compare(run("zstd", ["-dcq"], out), tar)).toBe(0);
    expect((await result).diffID).toBe(sha(tar));
    // Same compression detected: bytes pass through.
    const same = convert(once(gz), "gzip");
    expect(Buffer.compare(await collect(same.stream), gz)).toBe(0);
  });

  it("converts blobs from the zstd CLI, multi-frame ones included", async () => {
    const blob = Buffer.concat([
      run("zstd", ["-qc"], tar.subarray(0, 1000)),
      run("zstd", ["-qc", "-T2", "--long"], tar.subarray(1000)),
    ]);
    const { stream, result } = convert(randomChunks(blob, 2), "gzip", { from: "zstd" });
    expect(Buffer.compare(run("gzip", ["-dc"], await collect(stream)), tar)).toBe(0);
    expect((await result).diffID).toBe(sha(tar));
  });

  it("refuses a source whose bytes disagree with `from`", async () => {
    const { stream, result } = convert(once(gzipSync(tar)), "zstd", { from: "zstd" });
    const err = await failure(collect(stream));
    expect(isInvalidArgument(err)).toBe(true);
    expect((err as Error).message).toMatch(/first bytes say gzip/);
    await expect(result).rejects.toBe(err);
  });

  it("refuses decompression bombs, passing through or not", async () => {
    const bomb = gzipSync(new Uint8Array(32 * 1024 * 1024), { level: 9 });
    for (const to of ["zstd", "gzip", "uncompressed"] as const) {
      const { stream, result } = convert(once(bomb), to, { from: "gzip", maxBytes: 1024 * 1024 });
      const err = await failure(collect(stream));
      expect(isResourceExhausted(err), `${to}: ${String(err)}`).toBe(true);
      await expect(result).rejects.toBe(err);
    }
  });

  it("stops reading a bomb early when passing it through", async () => {
    // 16 members of 64 MiB of zeros each: 1 MiB in, 1 GiB out.
    const member = gzipSync(new Uint8Array(64 * 1024 * 1024), { level: 9 });
    const bomb = Buffer.concat(Array.from({ length: 16 }, () => member));
    let pulled = 0;
    async function* counted(): AsyncGenerator<Uint8Array> {
      for (let at = 0; at < bomb.length; at += 1024) {
        pulled += 1024;
        yield bomb.subarray(at, at + 1024);
      }
    }
    const { stream } = convert(counted(), "gzip", { from: "gzip", maxBytes: 1024 * 1024 });
    expect(isResourceExhausted(await failure(collect(stream)))).toBe(true);
    expect(pulled).toBeLessThan(bomb.length / 4);
  });

  it("fails with DataLossError on a truncated source, passing through or not", async () => {
    const blob = await collect(compress(once(tar), "zstd"));
    for (const to of ["gzip", "zstd"] as const) {
      const { stream } = convert(once(blob.subarray(0, blob.length - 10)), to, { from: "zstd" });
      expect(isDataLoss(await failure(collect(stream))), to).toBe(true);
    }
  });

  it("rejects impossible requests at once", () => {
    expect(() => convert(once(tar), "zstd", { docker: true })).toThrow(/Docker/);
    expect(() => convert(once(tar), "lz4" as "gzip")).toThrow(/unknown compression/);
    expect(() => convert(once(tar), "gzip", { from: "lz4" as "gzip" })).toThrow(
      /unknown compression/,
    );
    expect(() => convert(once(tar), "zstd", { level: 40 })).toThrow(/level/);
  });

  it("gives Docker media types when asked", async () => {
    const { stream, result } = convert(once(tar), "gzip", { docker: true });
    await collect(stream);
    expect((await result).descriptor.mediaType).toBe(
      "application/vnd.docker.image.rootfs.diff.tar.gzip",
    );
  });

  it("rejects its result when the stream is abandoned", async () => {
    const { stream, result } = convert(once(tar), "gzip");
    for await (const _ of stream) break;
    await expect(result).rejects.toThrow(/not read to the end/);
  });
});
