import { createHash } from "node:crypto";
import { isCanceled, isDataLoss, isInvalidArgument } from "@strata/errdefs";
import { describe, expect, it } from "vitest";
import {
  type Digest,
  Digester,
  digestOf,
  digestStream,
  isDigest,
  parseDigest,
  validateDigest,
  verifyStream,
} from "./digest.ts";

const EMPTY_SHA256 = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const EMPTY_SHA512 =
  "sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e";
const HELLO_SHA256 = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

const enc = new TextEncoder();

async function* chunks(...parts: string[]): AsyncIterable<Uint8Array> {
  for (const p of parts) yield enc.encode(p);
}

async function collect(source: AsyncIterable<Uint8Array>): Promise<string> {
  let out = "";
  const dec = new TextDecoder();
  for await (const c of source) out += dec.decode(c, { stream: true });
  return out + dec.decode();
}

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected a throw");
}

describe("parseDigest", () => {
  it("splits a valid sha256 digest", () => {
    const p = parseDigest(EMPTY_SHA256);
    expect(p.algorithm).toBe("sha256");
    expect(p.encoded).toBe(EMPTY_SHA256.slice(7));
    expect(p.digest).toBe(EMPTY_SHA256);
  });

  it("splits a valid sha512 digest", () => {
    expect(parseDigest(EMPTY_SHA512).algorithm).toBe("sha512");
  });

  const bad: Array<[string, string, RegExp]> = [
    ["empty", "", /empty/],
    ["missing colon", EMPTY_SHA256.replace(":", ""), /missing ":"/],
    ["unknown algorithm", `md5:${"a".repeat(32)}`, /unsupported algorithm "md5"/],
    ["uppercase hex", EMPTY_SHA256.toUpperCase().replace("SHA256", "sha256"), /lowercase/],
    ["short hex", EMPTY_SHA256.slice(0, -1), /64 characters, got 63/],
    ["long hex", `${EMPTY_SHA256}0`, /64 characters, got 65/],
    ["sha512 with sha256 length", `sha512:${EMPTY_SHA256.slice(7)}`, /128 characters, got 64/],
    ["non-hex", `sha256:${"g".repeat(64)}`, /lowercase/],
    ["empty algorithm", `:${"a".repeat(64)}`, /unsupported algorithm ""/],
    ["uppercase algorithm", `SHA256:${"a".repeat(64)}`, /unsupported algorithm "SHA256"/],
  ];
  for (const [name, value, message] of bad) {
    it(`rejects a digest with ${name}`, () => {
      const err = catchError(() => parseDigest(value));
      expect(isInvalidArgument(err)).toBe(true);
      expect((err as Error).message).toMatch(message);
    });
  }
});

describe("validateDigest", () => {
  it("returns a valid digest unchanged", () => {
    expect(validateDigest(HELLO_SHA256)).toBe(HELLO_SHA256);
  });

  it("throws InvalidArgument on a malformed digest", () => {
    expect(isInvalidArgument(catchError(() => validateDigest("sha256:abc")))).toBe(true);
  });
});

describe("isDigest", () => {
  it("accepts valid digests and rejects everything else", () => {
    expect(isDigest(EMPTY_SHA256)).toBe(true);
    expect(isDigest(EMPTY_SHA512)).toBe(true);
    expect(isDigest(EMPTY_SHA256.toUpperCase())).toBe(false);
    expect(isDigest("sha256:")).toBe(false);
    expect(isDigest("")).toBe(false);
    expect(isDigest(42)).toBe(false);
    expect(isDigest(undefined)).toBe(false);
  });
});

describe("Digester", () => {
  it("digests chunks and counts bytes", () => {
    const d = new Digester();
    d.update(enc.encode("hel")).update(enc.encode("lo"));
    expect(d.size).toBe(5);
    expect(d.digest()).toBe(HELLO_SHA256);
  });

  it("can be asked for the digest repeatedly and between updates", () => {
    const d = new Digester("sha256");
    expect(d.digest()).toBe(EMPTY_SHA256);
    expect(d.digest()).toBe(EMPTY_SHA256);
    d.update(enc.encode("hello"));
    expect(d.digest()).toBe(HELLO_SHA256);
    expect(d.digest()).toBe(HELLO_SHA256);
  });

  it("supports sha512", () => {
    expect(new Digester("sha512").digest()).toBe(EMPTY_SHA512);
  });

  it("rejects an unknown algorithm", () => {
    const err = catchError(() => new Digester("md5" as "sha256"));
    expect(isInvalidArgument(err)).toBe(true);
  });
});

describe("digestOf", () => {
  it("digests strings and bytes alike", () => {
    expect(digestOf("hello")).toBe(HELLO_SHA256);
    expect(digestOf(enc.encode("hello"))).toBe(HELLO_SHA256);
    expect(digestOf("", "sha512")).toBe(EMPTY_SHA512);
  });

  it("matches node:crypto on binary data", () => {
    const data = new Uint8Array(1000).map((_, i) => (i * 7) & 0xff);
    expect(digestOf(data)).toBe(`sha256:${createHash("sha256").update(data).digest("hex")}`);
  });
});

describe("digestStream", () => {
  it("returns digest and size of a stream", async () => {
    expect(await digestStream(chunks("he", "l", "lo"))).toEqual({
      digest: HELLO_SHA256,
      size: 5,
    });
  });

  it("digests an empty stream", async () => {
    expect(await digestStream(chunks(), { algorithm: "sha512" })).toEqual({
      digest: EMPTY_SHA512,
      size: 0,
    });
  });

  it("stops with the AbortError when the signal aborts", async () => {
    const ac = new AbortController();
    ac.abort();
    const err = await digestStream(chunks("x"), { signal: ac.signal }).catch((e: unknown) => e);
    expect(isCanceled(err)).toBe(true);
  });
});

describe("verifyStream", () => {
  it("passes a matching stream through", async () => {
    expect(
      await collect(verifyStream(chunks("hel", "lo"), { digest: HELLO_SHA256, size: 5 })),
    ).toBe("hello");
  });

  it("passes a matching stream through without a size", async () => {
    expect(await collect(verifyStream(chunks("hello"), { digest: HELLO_SHA256 }))).toBe("hello");
  });

  it("fails with DataLoss on a digest mismatch", async () => {
    const err = await collect(
      verifyStream(chunks("hellO"), { digest: HELLO_SHA256, size: 5 }),
    ).catch((e: unknown) => e);
    expect(isDataLoss(err)).toBe(true);
    expect((err as Error).message).toMatch(/digest mismatch/);
  });

  it("fails with DataLoss at the end of a short stream", async () => {
    const err = await collect(
      verifyStream(chunks("hell"), { digest: HELLO_SHA256, size: 5 }),
    ).catch((e: unknown) => e);
    expect(isDataLoss(err)).toBe(true);
    expect((err as Error).message).toMatch(/expected size 5, got 4/);
  });

  it("fails with DataLoss as soon as the stream is longer than the size", async () => {
    const seen: string[] = [];
    let pulled = 0;
    async function* long(): AsyncIterable<Uint8Array> {
      for (const p of ["hel", "lo!", "never"]) {
        pulled++;
        yield enc.encode(p);
      }
    }
    let err: unknown;
    try {
      for await (const c of verifyStream(long(), { digest: HELLO_SHA256, size: 5 })) {
        seen.push(new TextDecoder().decode(c));
      }
    } catch (e) {
      err = e;
    }
    expect(isDataLoss(err)).toBe(true);
    expect((err as Error).message).toMatch(/expected size 5, got more/);
    expect(seen).toEqual(["hel"]);
    expect(pulled).toBe(2);
  });

  it("rejects a malformed expected digest up front", () => {
    const err = catchError(() => verifyStream(chunks(), { digest: "sha256:nope" as Digest }));
    expect(isInvalidArgument(err)).toBe(true);
  });

  it("rejects a negative expected size", () => {
    const err = catchError(() => verifyStream(chunks(), { digest: HELLO_SHA256, size: -1 }));
    expect(isInvalidArgument(err)).toBe(true);
  });

  it("stops with the AbortError when the signal aborts", async () => {
    const ac = new AbortController();
    ac.abort();
    const err = await collect(
      verifyStream(chunks("hello"), { digest: HELLO_SHA256 }, { signal: ac.signal }),
    ).catch((e: unknown) => e);
    expect(isCanceled(err)).toBe(true);
  });
});
