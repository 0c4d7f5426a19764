import { describe, expect, it } from "vitest";
import { copy } from "./copy.ts";
import { readBlob } from "./read_blob.ts";
import { sha256, tempStore } from "./testdata/temp_store.ts";

describe("copy", () => {
  it("copies from another store's Provider, resuming at the writer's offset", async () => {
    await using src = await tempStore();
    await using dst = await tempStore();
    const data = new Uint8Array(300_000).map((_, i) => (i * 7) & 0xff);
    const desc = { digest: sha256(data), size: data.length };
    const w = await src.store.writer({ ref: "src" });
    await w.write(data);
    await w.commit(data.length, desc.digest);

    const partial = await dst.store.writer({ ref: "dst" });
    await partial.write(data.subarray(0, 123_457));
    await partial.close();
    const writer = await dst.store.writer({ ref: "dst", desc });
    await copy(writer, src.store, desc, { chunkSize: 10_000, labels: { from: "src" } });
    expect(await readBlob(dst.store, desc)).toEqual(data);
    expect((await dst.store.info(desc.digest)).labels).toEqual({ from: "src" });
  });

  it("fails when the ingest already holds more than the blob", async () => {
    await using t = await tempStore();
    const w = await t.store.writer({ ref: "over" });
    await w.write(new Uint8Array(10));
    await expect(
      copy(w, new Uint8Array(5), { digest: sha256(new Uint8Array(5)), size: 5 }),
    ).rejects.toThrow(/already has 10 bytes/);
    // Released: a new writer opens.
    await (await t.store.writer({ ref: "over" })).close();
  });
});
