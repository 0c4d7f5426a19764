import { isNotFound, isResourceExhausted } from "@strata/errdefs";
import { describe, expect, it } from "vitest";
import { readBlob } from "./read_blob.ts";
import { sha256, tempStore } from "./testdata/temp_store.ts";
import { writeBlob } from "./write_blob.ts";

describe("readBlob", () => {
  it("reads a whole blob", async () => {
    await using t = await tempStore();
    const data = new TextEncoder().encode('{"schemaVersion":2}');
    await writeBlob(t.store, "m", data, { digest: sha256(data), size: data.length });
    expect(await readBlob(t.store, { digest: sha256(data) })).toEqual(data);
    expect(await readBlob(t.store, { digest: sha256(data) }, { maxSize: data.length })).toEqual(
      data,
    );
  });

  it("fails with ResourceExhausted past maxSize, from the descriptor or the blob", async () => {
    await using t = await tempStore();
    const data = new Uint8Array(100);
    await writeBlob(t.store, "big", data, { digest: sha256(data), size: 100 });
    const small = readBlob(t.store, { digest: sha256(data) }, { maxSize: 99 });
    await expect(small).rejects.toSatisfy(isResourceExhausted);
    const lying = readBlob(t.store, { digest: sha256(data), size: 1000 }, { maxSize: 500 });
    await expect(lying).rejects.toThrow(/size 1000 is over the limit of 500/);
  });

  it("fails with NotFound for a missing blob", async () => {
    await using t = await tempStore();
    await expect(readBlob(t.store, { digest: sha256("nope") })).rejects.toSatisfy(isNotFound);
  });
});
