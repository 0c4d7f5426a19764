import { isFailedPrecondition, isUnavailable } from "@strata/errdefs";
import { describe, expect, it } from "vitest";
import { readBlob } from "./read_blob.ts";
import { sha256, tempStore } from "./testdata/temp_store.ts";
import { writeBlob } from "./write_blob.ts";

async function* stream(...parts: string[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) yield new TextEncoder().encode(part);
}

describe("writeBlob", () => {
  it("writes a stream and commits it with labels", async () => {
    await using t = await tempStore();
    const digest = sha256("hello world");
    await writeBlob(
      t.store,
      "w",
      stream("hello", " ", "world"),
      { digest, size: 11 },
      {
        labels: { a: "b" },
      },
    );
    expect(new TextDecoder().decode(await readBlob(t.store, { digest }))).toBe("hello world");
    expect((await t.store.info(digest)).labels).toEqual({ a: "b" });
  });

  it("treats an existing blob as success without reading the source", async () => {
    await using t = await tempStore();
    const data = new TextEncoder().encode("twice");
    const desc = { digest: sha256(data), size: data.length };
    await writeBlob(t.store, "one", data, desc);
    let pulled = false;
    async function* untouched(): AsyncGenerator<Uint8Array> {
      pulled = true;
      yield data;
    }
    await writeBlob(t.store, "two", untouched(), desc);
    expect(pulled).toBe(false);
  });

  it("resumes an interrupted ingest by skipping what it already has", async () => {
    await using t = await tempStore();
    const w = await t.store.writer({ ref: "resume" });
    await w.write(new TextEncoder().encode("hel"));
    await w.close();
    const digest = sha256("hello world");
    await writeBlob(t.store, "resume", stream("hello", " world"), { digest, size: 11 });
    expect(new TextDecoder().decode(await readBlob(t.store, { digest }))).toBe("hello world");
  });

  it("fails with FailedPrecondition on wrong bytes and keeps the ingest", async () => {
    await using t = await tempStore();
    const wrong = writeBlob(t.store, "bad", stream("hello"), { digest: sha256("jello"), size: 5 });
    await expect(wrong).rejects.toSatisfy(isFailedPrecondition);
    expect((await t.store.status("bad")).offset).toBe(5);
    const short = writeBlob(t.store, "short", stream("hel"), { digest: sha256("hello"), size: 5 });
    await expect(short).rejects.toThrow(/source ended at 3 of 5 bytes/);
    // The writer was released.
    await (await t.store.writer({ ref: "short" })).close();
  });

  it("fails with Unavailable while another writer holds the ref", async () => {
    await using t = await tempStore();
    const held = await t.store.writer({ ref: "held" });
    const busy = writeBlob(t.store, "held", stream("x"), { digest: sha256("x"), size: 1 });
    await expect(busy).rejects.toSatisfy(isUnavailable);
    await held.close();
  });
});
