import { PassThrough } from "node:stream";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { isInvalidArgument, isResourceExhausted } from "@strata/errdefs";
import { describe, expect, it } from "vitest";
import { WriteAction, type WriteContentRequest, WriteContentRequestSchema } from "./content.ts";
import {
  chunkBatches,
  ENVELOPE_HEADER_BYTES,
  envelope,
  type MessagePart,
  StreamedMessageDecoder,
  streamedMessageHead,
} from "./grpc_wire.ts";

const DATA_FIELD = 6;

function bytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) % 251;
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** Every part the decoder gives for `wire` pushed in pieces of `step` bytes, data copied. */
function decode(wire: Uint8Array, step: number, field = DATA_FIELD): MessagePart[] {
  const decoder = new StreamedMessageDecoder({ field, maxMessageBytes: 1 << 20 });
  const parts: MessagePart[] = [];
  for (let at = 0; at < wire.byteLength; at += step) {
    for (const part of decoder.push(wire.subarray(at, at + step))) {
      parts.push(part.kind === "data" ? { kind: "data", bytes: part.bytes.slice() } : part);
    }
  }
  decoder.finish();
  return parts;
}

/** The messages rebuilt from the parts: head and end fields merged, data joined. */
function rebuild(parts: readonly MessagePart[]): WriteContentRequest[] {
  const out: WriteContentRequest[] = [];
  let fields: Uint8Array[] = [];
  let data: Uint8Array[] = [];
  for (const part of parts) {
    if (part.kind === "head") fields.push(part.fields);
    else if (part.kind === "data") data.push(part.bytes);
    else {
      const msg = fromBinary(WriteContentRequestSchema, concat([...fields, part.fields]));
      if (part.streamed) msg.data = concat(data);
      out.push(msg);
      fields = [];
      data = [];
    }
  }
  return out;
}

const messages = [
  create(WriteContentRequestSchema, {
    action: WriteAction.STAT,
    ref: "ingest-1",
    total: 300_000n,
    expected: `sha256:${"a".repeat(64)}`,
  }),
  create(WriteContentRequestSchema, {
    action: WriteAction.WRITE,
    offset: 0n,
    data: bytes(200_000),
  }),
  create(WriteContentRequestSchema, {
    action: WriteAction.COMMIT,
    offset: 200_000n,
    data: bytes(100_000, 7),
    labels: { "containerd.io/gc.root": "x", a: "b" },
  }),
  create(WriteContentRequestSchema, {}),
];
const wire = concat(messages.map((m) => envelope(toBinary(WriteContentRequestSchema, m))));

describe("StreamedMessageDecoder", () => {
  for (const step of [1, 3, 7, 4096, wire.byteLength]) {
    it(`gives back every message and field when the stream comes in pieces of ${step} bytes`, () => {
      expect(rebuild(decode(wire, step))).toEqual(messages);
    });
  }

  it("streams the large field as it arrives, after the fields before it", () => {
    const parts = decode(wire, 16384);
    const kinds = parts.map((p) => p.kind);
    expect(kinds[0]).toBe("end");
    expect(kinds[1]).toBe("head");
    expect(parts.filter((p) => p.kind === "data").length).toBeGreaterThan(10);
    const head = parts[1] as Extract<MessagePart, { kind: "head" }>;
    expect(head.length).toBe(200_000);
    expect(fromBinary(WriteContentRequestSchema, head.fields).offset).toBe(0n);
    // The fields after the data (the commit's labels) come with its end.
    const ends = parts.filter((p) => p.kind === "end");
    expect(ends.map((e) => e.streamed)).toEqual([false, true, true, false]);
    expect(
      fromBinary(WriteContentRequestSchema, (ends[2] as { fields: Uint8Array }).fields).labels,
    ).toEqual({ "containerd.io/gc.root": "x", a: "b" });
  });

  it("streams a field whose tag takes two bytes", () => {
    // Field 20 (tag 162 = two varint bytes), after a string field 1.
    const body = concat([Uint8Array.of(0x0a, 2, 0x68, 0x69, 0xa2, 0x01, 3), bytes(3)]);
    const parts = decode(envelope(body), 1, 20);
    expect(parts[0]).toEqual({
      kind: "head",
      fields: Uint8Array.of(0x0a, 2, 0x68, 0x69),
      length: 3,
    });
    expect(concat(parts.filter((p) => p.kind === "data").map((p) => p.bytes))).toEqual(bytes(3));
  });

  it("refuses a compressed message", () => {
    const wire = envelope(Uint8Array.of(0x08, 1));
    wire[0] = 1;
    let caught: unknown;
    try {
      decode(wire, 64);
    } catch (err) {
      caught = err;
    }
    expect(isInvalidArgument(caught)).toBe(true);
    expect((caught as Error).message).toMatch(/compressed/);
  });

  it("refuses a message over the limit before reading it", () => {
    const decoder = new StreamedMessageDecoder({ field: DATA_FIELD, maxMessageBytes: 1024 });
    const header = Uint8Array.of(0, 0, 0, 0x04, 0x01);
    let caught: unknown;
    try {
      [...decoder.push(header)];
    } catch (err) {
      caught = err;
    }
    expect(isResourceExhausted(caught)).toBe(true);
  });

  const malformed: [string, Uint8Array, RegExp][] = [
    ["a group", Uint8Array.of(0x0b, 0x0c), /wire type 3/],
    ["a field number 0", Uint8Array.of(0x00, 0x01), /number 0/],
    ["a length past the end", Uint8Array.of(0x12, 0x05, 0x01), /past the end/],
    ["the streamed field twice", Uint8Array.of(0x32, 0x01, 0x01, 0x32, 0x01, 0x02), /twice/],
    ["a streamed field that is not bytes", Uint8Array.of(0x30, 0x01), /not length-delimited/],
    ["a varint cut by the end", Uint8Array.of(0x08, 0x80), /inside a varint/],
    ["a tag at the very end", Uint8Array.of(0x08), /after a field's tag/],
    [
      "a varint of eleven bytes",
      Uint8Array.of(0x08, ...new Array(10).fill(0xff), 0x01),
      /too long/,
    ],
    ["a fixed64 cut by the end", Uint8Array.of(0x09, 1, 2, 3), /past the end/],
  ];
  for (const [what, body, message] of malformed) {
    it(`refuses ${what}`, () => {
      let caught: unknown;
      try {
        decode(envelope(body), 1);
      } catch (err) {
        caught = err;
      }
      expect(isInvalidArgument(caught)).toBe(true);
      expect((caught as Error).message).toMatch(message);
    });
  }

  it("refuses a stream that ends inside a message", () => {
    const decoder = new StreamedMessageDecoder({ field: DATA_FIELD, maxMessageBytes: 1 << 20 });
    [...decoder.push(wire.subarray(0, wire.byteLength - 1))];
    expect(() => decoder.finish()).toThrow(/inside a gRPC message/);
  });
});

describe("streamedMessageHead", () => {
  it("with the field's bytes after it, is the envelope of the whole message", () => {
    const msg = messages[1] as WriteContentRequest;
    const fields = toBinary(
      WriteContentRequestSchema,
      create(WriteContentRequestSchema, { action: msg.action, offset: msg.offset }),
    );
    const head = streamedMessageHead(fields, { field: DATA_FIELD, length: msg.data.byteLength });
    expect(concat([head, msg.data])).toEqual(envelope(toBinary(WriteContentRequestSchema, msg)));
    expect(head.byteLength).toBeGreaterThan(ENVELOPE_HEADER_BYTES);
  });
});

describe("chunkBatches", () => {
  it("gives every chunk in order, in batches, and pauses the source above the mark", async () => {
    const source = new PassThrough();
    let pauses = 0;
    const pause = source.pause.bind(source);
    source.pause = () => {
      pauses++;
      return pause();
    };
    const batches = chunkBatches(source, { highWaterBytes: 1000 });
    const first = batches.next();
    for (let i = 0; i < 5; i++) source.write(Buffer.alloc(300, i));
    const got: number[] = [];
    const batch = await first;
    // The source flowed into the queue past the mark, then was paused.
    expect(batch.value?.length).toBeGreaterThanOrEqual(4);
    expect(pauses).toBeGreaterThan(0);
    for (const chunk of batch.value ?? []) got.push(chunk[0] as number);
    source.end(Buffer.alloc(300, 9));
    for await (const more of batches) for (const chunk of more) got.push(chunk[0] as number);
    expect(got).toEqual([0, 1, 2, 3, 4, 9]);
    expect(source.isPaused()).toBe(false);
  });

  it("rejects when the source closes before its end", async () => {
    const source = new PassThrough();
    const batches = chunkBatches(source, { highWaterBytes: 1000 });
    const next = batches.next();
    source.destroy();
    await expect(next).rejects.toThrow(/closed before its end/);
  });
});
