import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";
import { isDataLoss, isInvalidArgument, isNotFound, isResourceExhausted } from "@strata/errdefs";
import { describe, expect, it } from "vitest";
import { concat, paddingOf, tarEnd, tarHeader } from "./_tar.ts";
import { collect, memReaderAt, once, run, sampleTar, semiRandom } from "./_testing.ts";
import { estargzFooter } from "./estargz_format.ts";
import { isEstargz, openEstargz } from "./estargz_reader.ts";
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

async function build(
  tar: Uint8Array,
  chunkSize = 100_000,
): Promise<{ blob: Buffer; tocDigest: string; tocOffset: number }> {
  const w = writeEstargz(once(tar), { chunkSize });
  const blob = await collect(w.stream);
  const r = await w.result;
  return { blob, tocDigest: r.tocDigest, tocOffset: r.tocOffset };
}

// The blob with its TOC member replaced by one holding `json`.
function withToc(blob: Uint8Array, tocOffset: number, json: Uint8Array): Buffer {
  const member = gzipSync(
    concat([
      tarHeader({ name: "stargz.index.json", typeflag: "0", size: json.length }),
      json,
      new Uint8Array(paddingOf(json.length)),
      tarEnd(),
    ]),
  );
  return Buffer.concat([blob.subarray(0, tocOffset), member, estargzFooter(tocOffset)]);
}

describe("isEstargz", () => {
  it("is true for eStargz and false for plain gzip, short or random blobs", async () => {
    const tar = sampleTar();
    const { blob } = await build(tar);
    expect(await isEstargz(memReaderAt(blob))).toBe(true);
    expect(await isEstargz(memReaderAt(gzipSync(tar)))).toBe(false);
    expect(await isEstargz(memReaderAt(new Uint8Array(10)))).toBe(false);
    expect(await isEstargz(memReaderAt(semiRandom(10_000, 3)))).toBe(false);
    // A footer pointing at something that is not a gzip member.
    expect(
      await isEstargz(memReaderAt(Buffer.concat([Buffer.alloc(100), estargzFooter(10)]))),
    ).toBe(false);
    expect(
      await isEstargz(memReaderAt(Buffer.concat([Buffer.alloc(100), estargzFooter(1000)]))),
    ).toBe(false);
  });

  it("reads only the footer and the TOC's first bytes", async () => {
    const { blob } = await build(sampleTar());
    const r = memReaderAt(blob);
    await isEstargz(r);
    expect(r.bytesRead).toBe(51 + 3);
  });
});

describe("openEstargz", () => {
  const tar = sampleTar(1_000_000);

  it("opens one file without reading the whole blob", async () => {
    const { blob, tocDigest } = await build(tar);
    const r = memReaderAt(blob);
    const reader = await openEstargz(r, { tocDigest });
    const afterToc = r.bytesRead;
    expect(afterToc).toBeLessThan(blob.length / 10);
    expect((await collect(reader.openFile("etc/hostname"))).toString()).toBe("strata\n");
    expect(r.bytesRead - afterToc).toBeLessThan(blob.length / 10);
  });

  it("reads chunked files, hard links and empty files", async () => {
    const { blob, tocDigest } = await build(tar, 64 * 1024);
    const reader = await openEstargz(memReaderAt(blob), { tocDigest });
    const big = semiRandom(1_000_000, 7);
    expect(reader.toc.entries.filter((e) => e.name === "usr/lib/big.bin").length).toBe(16);
    expect(Buffer.compare(await collect(reader.openFile("/usr/lib/big.bin")), big)).toBe(0);
    expect(Buffer.compare(await collect(reader.openFile("./usr/bin/hard")), big)).toBe(0);
    expect((await collect(reader.openFile("etc/empty"))).length).toBe(0);
    expect(reader.lookup("etc")?.type).toBe("dir");
    expect(reader.tocDigest).toBe(tocDigest);
  });

  it("refuses missing entries and non-regular files", async () => {
    const { blob } = await build(tar);
    const reader = await openEstargz(memReaderAt(blob));
    expect(isNotFound(await failure(collect(reader.openFile("nope"))))).toBe(true);
    expect(isInvalidArgument(await failure(collect(reader.openFile("etc/"))))).toBe(true);
    expect(isInvalidArgument(await failure(collect(reader.openFile("usr/bin/sh"))))).toBe(true);
  });

  it("detects a tampered TOC against the announced digest", async () => {
    const { blob, tocDigest, tocOffset } = await build(tar);
    const reader = await openEstargz(memReaderAt(blob), { tocDigest });
    const toc = structuredClone(reader.toc);
    const entry = toc.entries.find((e) => e.name === "etc/hostname");
    if (entry === undefined) throw new Error("no entry");
    entry.mode = 0o4755; // setuid, say
    const json = new TextEncoder().encode(JSON.stringify(toc, null, "\t"));
    const tampered = withToc(blob, tocOffset, json);
    const err = await failure(openEstargz(memReaderAt(tampered), { tocDigest }));
    expect(isDataLoss(err)).toBe(true);
    expect((err as Error).message).toContain(`expected ${tocDigest}, got ${sha(json)}`);
    // Without the announced digest it opens, as found.
    expect((await openEstargz(memReaderAt(tampered))).lookup("etc/hostname")?.mode).toBe(0o4755);
  });

  it("detects tampered file content by its chunk digest", async () => {
    const { blob, tocDigest, tocOffset } = await build(tar);
    const reader = await openEstargz(memReaderAt(blob), { tocDigest });
    const offset = reader.lookup("etc/hostname")?.offset ?? 0;
    // Swap that file's member for one with other content of the same length.
    const member = gzipSync(concat([new TextEncoder().encode("hacked\n"), new Uint8Array(505)]));
    const next = reader.toc.entries.find((e) => (e.offset ?? 0) > offset)?.offset ?? tocOffset;
    const forged = Buffer.concat([blob.subarray(0, offset), member, blob.subarray(next)]);
    const shift = member.length - (next - offset);
    const toc = structuredClone(reader.toc);
    for (const e of toc.entries) if (e.offset !== undefined && e.offset > offset) e.offset += shift;
    const forgedBlob = withToc(
      forged,
      tocOffset + shift,
      new TextEncoder().encode(JSON.stringify(toc)),
    );
    const opened = await openEstargz(memReaderAt(forgedBlob));
    const err = await failure(collect(opened.openFile("etc/hostname")));
    expect(isDataLoss(err)).toBe(true);
    expect((err as Error).message).toMatch(/digest/);
    // Other files still read.
    expect(
      Buffer.compare(await collect(opened.openFile("usr/lib/big.bin")), semiRandom(1_000_000, 7)),
    ).toBe(0);
  });

  it("fails with DataLossError on a damaged member", async () => {
    const { blob, tocDigest } = await build(tar);
    const reader = await openEstargz(memReaderAt(blob), { tocDigest });
    const offset = reader.lookup("usr/lib/big.bin")?.offset ?? 0;
    const damaged = Buffer.from(blob);
    damaged[offset + 500] = (damaged[offset + 500] ?? 0) ^ 0x55;
    const opened = await openEstargz(memReaderAt(damaged), { tocDigest });
    expect(isDataLoss(await failure(collect(opened.openFile("usr/lib/big.bin"))))).toBe(true);
  });

  it("refuses blobs without a footer, and damaged or misplaced TOCs", async () => {
    const { blob, tocOffset } = await build(tar);
    expect(isInvalidArgument(await failure(openEstargz(memReaderAt(gzipSync(tar)))))).toBe(true);
    expect(isInvalidArgument(await failure(openEstargz(memReaderAt(new Uint8Array(20)))))).toBe(
      true,
    );
    const badJson = withToc(blob, tocOffset, new TextEncoder().encode("{not json"));
    expect(isDataLoss(await failure(openEstargz(memReaderAt(badJson))))).toBe(true);
    const wrongShape = withToc(
      blob,
      tocOffset,
      new TextEncoder().encode('{"version":2,"entries":[]}'),
    );
    expect(isDataLoss(await failure(openEstargz(memReaderAt(wrongShape))))).toBe(true);
    const pointsAtFile = Buffer.concat([blob.subarray(0, blob.length - 51), estargzFooter(0)]);
    expect(isDataLoss(await failure(openEstargz(memReaderAt(pointsAtFile))))).toBe(true);
    const truncated = Buffer.concat([blob.subarray(0, tocOffset + 20), estargzFooter(tocOffset)]);
    expect(isDataLoss(await failure(openEstargz(memReaderAt(truncated))))).toBe(true);
  });

  it("refuses a TOC larger than maxTocBytes", async () => {
    const { blob, tocDigest } = await build(tar);
    const err = await failure(openEstargz(memReaderAt(blob), { tocDigest, maxTocBytes: 100 }));
    expect(isResourceExhausted(err)).toBe(true);
  });

  it("reads blobs whose uncompressed form GNU tar extracts", async () => {
    const { blob } = await build(tar);
    const listing = run("tar", ["-tzf", "-"], blob).toString();
    expect(listing).toContain("usr/lib/big.bin");
  });
});
