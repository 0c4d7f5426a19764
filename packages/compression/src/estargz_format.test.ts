import { gunzipSync } from "node:zlib";
import { isInvalidArgument } from "@strata/errdefs";
import { describe, expect, it } from "vitest";
import { ESTARGZ_FOOTER_SIZE, estargzFooter, parseEstargzFooter } from "./estargz_format.ts";

describe("estargzFooter", () => {
  it("is a 51-byte empty gzip member with the TOC offset in its extra field", () => {
    const footer = estargzFooter(0x1234abcd);
    expect(footer.length).toBe(ESTARGZ_FOOTER_SIZE);
    expect(gunzipSync(footer).length).toBe(0);
    expect(Buffer.from(footer.subarray(16, 38)).toString()).toBe("000000001234abcdSTARGZ");
    expect([...footer.subarray(10, 16)]).toEqual([26, 0, 0x53, 0x47, 22, 0]);
  });
});

describe("parseEstargzFooter", () => {
  it("reads back the offset written", () => {
    for (const offset of [0, 1, 4096, 2 ** 40 + 5])
      expect(parseEstargzFooter(estargzFooter(offset))).toBe(offset);
  });

  it("rejects footers that are not eStargz ones", () => {
    const good = estargzFooter(77);
    const cases: Uint8Array[] = [good.subarray(0, 50)];
    for (const [at, value] of [
      [0, 0],
      [3, 0],
      [10, 25],
      [12, 0x41],
      [14, 21],
      [37, 0x41],
      [16, 0x47],
    ] as const) {
      const bad = Uint8Array.from(good);
      bad[at] = value;
      cases.push(bad);
    }
    for (const bad of cases) {
      let err: unknown;
      try {
        parseEstargzFooter(bad);
      } catch (e) {
        err = e;
      }
      expect(isInvalidArgument(err)).toBe(true);
    }
  });
});
