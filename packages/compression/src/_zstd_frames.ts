/**
 * Walks a zstd stream frame by frame (RFC 8878), so that each frame can go to
 * its own decoder: node:zlib's zstd decoder stops after the first frame of a
 * multi-frame input and drops the rest (nodejs/node#64741). Skippable frames
 * are consumed and dropped. Only headers are parsed; block contents pass
 * through untouched.
 *
 * @module
 */
import { DataLossError } from "@strata/errdefs";
import type { ByteReader } from "./_bytes.ts";

const ZSTD_MAGIC = 0xfd2fb528;
const BLOCK_MAX = 128 * 1024;
const DICT_ID_SIZES = [0, 1, 2, 4] as const;
const FCS_SIZES = [0, 2, 4, 8] as const;

function le32(b: Uint8Array, at = 0): number {
  return (
    ((b[at] ?? 0) |
      ((b[at + 1] ?? 0) << 8) |
      ((b[at + 2] ?? 0) << 16) |
      ((b[at + 3] ?? 0) << 24)) >>>
    0
  );
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
}

/** Whether a 32-bit little-endian magic number is a skippable frame's. */
export function isSkippableMagic(magic: number): boolean {
  return (magic & 0xfffffff0) >>> 0 === 0x184d2a50;
}

async function* frameBytes(
  reader: ByteReader,
  magic: Uint8Array,
  index: number,
  start: number,
): AsyncGenerator<Uint8Array> {
  const truncated = (part: string): DataLossError =>
    new DataLossError(
      `zstd stream truncated: frame ${index} (at offset ${start}) ends inside its ${part}`,
    );
  const descriptor = await reader.readFull(1);
  const fhd = descriptor[0];
  if (fhd === undefined) throw truncated("frame header");
  if ((fhd & 0x08) !== 0) {
    throw new DataLossError(
      `corrupt zstd stream: frame ${index} (at offset ${start}) sets the reserved header bit`,
    );
  }
  const singleSegment = (fhd & 0x20) !== 0;
  const fcsFlag = fhd >> 6;
  const headerRest =
    (singleSegment ? 0 : 1) +
    (DICT_ID_SIZES[fhd & 0x03] ?? 0) +
    (fcsFlag === 0 ? (singleSegment ? 1 : 0) : (FCS_SIZES[fcsFlag] ?? 0));
  const rest = await reader.readFull(headerRest);
  if (rest.length < headerRest) throw truncated("frame header");
  const header = new Uint8Array(4 + 1 + headerRest);
  header.set(magic, 0);
  header[4] = fhd;
  header.set(rest, 5);
  yield header;

  for (let block = 0; ; block++) {
    const bh = await reader.readFull(3);
    if (bh.length < 3) throw truncated(`block ${block} header`);
    yield bh;
    const word = (bh[0] ?? 0) | ((bh[1] ?? 0) << 8) | ((bh[2] ?? 0) << 16);
    const last = (word & 1) === 1;
    const type = (word >> 1) & 3;
    const size = word >>> 3;
    if (type === 3 || size > BLOCK_MAX) {
      throw new DataLossError(
        `corrupt zstd stream: frame ${index} (at offset ${start}) has an invalid block ${block} (type ${type}, size ${size})`,
      );
    }
    let left = type === 1 ? 1 : size;
    while (left > 0) {
      const piece = await reader.read(left);
      if (piece === null) throw truncated(`block ${block}`);
      left -= piece.length;
      yield piece;
    }
    if (last) break;
  }
  if ((fhd & 0x04) !== 0) {
    const checksum = await reader.readFull(4);
    if (checksum.length < 4) throw truncated("checksum");
    yield checksum;
  }
}

/**
 * The data frames of a zstd stream, each as a stream of its own bytes. Consume
 * (or abandon) each frame before asking for the next.
 *
 * @throws {DataLossError} when the input is truncated inside a frame, holds
 *   bytes that are not a frame, or has a malformed frame or block header.
 */
export async function* zstdFrames(reader: ByteReader): AsyncGenerator<AsyncIterable<Uint8Array>> {
  for (let index = 0; ; index++) {
    const start = reader.position;
    const magic = await reader.readFull(4);
    if (magic.length === 0) return;
    if (magic.length < 4) {
      throw new DataLossError(
        `zstd stream truncated: ${magic.length} stray bytes at offset ${start} where frame ${index} should start`,
      );
    }
    const m = le32(magic);
    if (isSkippableMagic(m)) {
      const sizeBytes = await reader.readFull(4);
      const size = le32(sizeBytes);
      if (sizeBytes.length < 4 || (await reader.skip(size)) < size) {
        throw new DataLossError(
          `zstd stream truncated: skippable frame ${index} (at offset ${start}) is incomplete`,
        );
      }
      continue;
    }
    if (m !== ZSTD_MAGIC) {
      throw new DataLossError(
        `corrupt zstd stream: no frame magic at offset ${start} (found ${hex(magic)})`,
      );
    }
    const frame = frameBytes(reader, magic, index, start);
    yield frame;
    // Drain whatever the consumer left of this frame.
    for await (const _ of frame) {
      // discard
    }
  }
}
