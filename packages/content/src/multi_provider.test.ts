import { isNotFound } from "@strata/errdefs";
import { describe, expect, it } from "vitest";
import type { Provider } from "./content.ts";
import { MultiProvider } from "./multi_provider.ts";
import { readBlob } from "./read_blob.ts";
import { sha256, tempStore } from "./testdata/temp_store.ts";
import { writeBlob } from "./write_blob.ts";

describe("MultiProvider", () => {
  it("serves added digests from their provider and others from the first fallback that has them", async () => {
    await using a = await tempStore();
    await using b = await tempStore();
    const inA = new TextEncoder().encode("in a");
    const inB = new TextEncoder().encode("in b");
    await writeBlob(a.store, "x", inA, { digest: sha256(inA), size: inA.length });
    await writeBlob(b.store, "y", inB, { digest: sha256(inB), size: inB.length });

    const multi = new MultiProvider([a.store, b.store]);
    expect(await readBlob(multi, { digest: sha256(inA) })).toEqual(inA);
    expect(await readBlob(multi, { digest: sha256(inB) })).toEqual(inB);
    await expect(readBlob(multi, { digest: sha256("none") })).rejects.toSatisfy(isNotFound);

    const only = new MultiProvider();
    only.add(sha256(inB), b.store);
    expect(await readBlob(only, { digest: sha256(inB) })).toEqual(inB);
    await expect(readBlob(only, { digest: sha256(inA) })).rejects.toSatisfy(isNotFound);
  });

  it("stops at an error other than NotFound", async () => {
    await using a = await tempStore();
    const broken: Provider = {
      readerAt: async () => {
        throw new Error("connection reset");
      },
    };
    const multi = new MultiProvider([broken, a.store]);
    await expect(readBlob(multi, { digest: sha256("x") })).rejects.toThrow("connection reset");
  });
});
