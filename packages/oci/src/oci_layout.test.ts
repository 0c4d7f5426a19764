import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import {
  isCanceled,
  isDataLoss,
  isFailedPrecondition,
  isInvalidArgument,
  isNotFound,
} from "@strata/errdefs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ANNOTATION_REF_NAME, type Descriptor } from "./descriptor.ts";
import { type Digest, digestOf } from "./digest.ts";
import { MediaType } from "./media_types.ts";
import { OciLayout } from "./oci_layout.ts";

const enc = new TextEncoder();

async function* chunks(...parts: string[]): AsyncIterable<Uint8Array> {
  for (const p of parts) yield enc.encode(p);
}

async function text(source: AsyncIterable<Uint8Array>): Promise<string> {
  const parts: Uint8Array[] = [];
  for await (const c of source) parts.push(c);
  return Buffer.concat(parts).toString("utf8");
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a rejection");
}

let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "strata-oci-layout-"));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

async function leftovers(layout: OciLayout): Promise<string[]> {
  const names = await fs.readdir(path.join(layout.root, "blobs", "sha256"));
  return names.filter((n) => n.startsWith("."));
}

function manifestDesc(digest: Digest, size: number): Descriptor {
  return { mediaType: MediaType.OCI_MANIFEST, digest, size };
}

describe("OciLayout.create", () => {
  it("writes oci-layout, an empty index.json and blobs/sha256", async () => {
    const layout = await OciLayout.create(dir);
    expect(JSON.parse(await fs.readFile(path.join(dir, "oci-layout"), "utf8"))).toEqual({
      imageLayoutVersion: "1.0.0",
    });
    expect(JSON.parse(await fs.readFile(path.join(dir, "index.json"), "utf8"))).toEqual({
      schemaVersion: 2,
      mediaType: MediaType.OCI_INDEX,
      manifests: [],
    });
    expect((await fs.stat(path.join(dir, "blobs", "sha256"))).isDirectory()).toBe(true);
    expect(await layout.list()).toEqual([]);
  });

  it("keeps an existing layout's index", async () => {
    const a = await OciLayout.create(dir);
    await a.tag("v1", manifestDesc(digestOf("m"), 1));
    const b = await OciLayout.create(dir);
    expect((await b.resolve("v1")).digest).toBe(digestOf("m"));
  });

  it("refuses a layout of another version", async () => {
    await fs.writeFile(path.join(dir, "oci-layout"), '{"imageLayoutVersion":"2.0.0"}');
    expect(isFailedPrecondition(await rejection(OciLayout.create(dir)))).toBe(true);
  });
});

describe("OciLayout.open", () => {
  it("opens a created layout", async () => {
    await OciLayout.create(dir);
    expect((await OciLayout.open(dir)).root).toBe(path.resolve(dir));
  });

  it("throws NotFound on a directory without oci-layout", async () => {
    const err = await rejection(OciLayout.open(dir));
    expect(isNotFound(err)).toBe(true);
    expect(err.message).toMatch(/oci-layout/);
  });

  it("throws NotFound when index.json is missing", async () => {
    await fs.writeFile(path.join(dir, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
    expect(isNotFound(await rejection(OciLayout.open(dir)))).toBe(true);
  });

  it("throws InvalidArgument on a malformed oci-layout", async () => {
    await fs.writeFile(path.join(dir, "oci-layout"), "{}");
    expect(isInvalidArgument(await rejection(OciLayout.open(dir)))).toBe(true);
  });
});

describe("OciLayout.putBlob", () => {
  it("writes a blob under blobs/sha256/<hex> and returns digest and size", async () => {
    const layout = await OciLayout.create(dir);
    const d = await layout.putBlob(chunks("hel", "lo"));
    expect(d).toEqual({ digest: digestOf("hello"), size: 5 });
    expect(await fs.readFile(path.join(dir, "blobs", "sha256", d.digest.slice(7)), "utf8")).toBe(
      "hello",
    );
    expect(await leftovers(layout)).toEqual([]);
  });

  it("verifies against the expected digest and size", async () => {
    const layout = await OciLayout.create(dir);
    const expected = { digest: digestOf("hello"), size: 5 };
    expect(await layout.putBlob(chunks("hello"), expected)).toEqual(expected);
  });

  it("writes sha512 blobs under blobs/sha512", async () => {
    const layout = await OciLayout.create(dir);
    const d = await layout.putBlob(chunks("x"), undefined, { algorithm: "sha512" });
    expect(d.digest).toBe(digestOf("x", "sha512"));
    expect(await layout.hasBlob(d.digest)).toBe(true);
    expect(layout.blobPath(d.digest)).toBe(
      path.join(layout.root, "blobs", "sha512", d.digest.slice(7)),
    );
  });

  const bad: Array<[string, string[], { digest: Digest; size?: number }, RegExp]> = [
    ["a mismatched digest", ["hellO"], { digest: digestOf("hello"), size: 5 }, /digest mismatch/],
    ["a short stream", ["hell"], { digest: digestOf("hello"), size: 5 }, /expected size 5, got 4/],
    ["an overlong stream", ["hello", "!"], { digest: digestOf("hello"), size: 5 }, /got more/],
  ];
  for (const [name, parts, expected, message] of bad) {
    it(`rejects ${name} with DataLoss and leaves nothing behind`, async () => {
      const layout = await OciLayout.create(dir);
      const err = await rejection(layout.putBlob(chunks(...parts), expected));
      expect(isDataLoss(err)).toBe(true);
      expect(err.message).toMatch(message);
      expect(await layout.hasBlob(expected.digest)).toBe(false);
      expect(await leftovers(layout)).toEqual([]);
    });
  }

  it("does not read the source when the expected blob exists", async () => {
    const layout = await OciLayout.create(dir);
    await layout.putBlob(chunks("hello"));
    let pulled = false;
    async function* never(): AsyncIterable<Uint8Array> {
      pulled = true;
      yield enc.encode("other");
    }
    expect(await layout.putBlob(never(), { digest: digestOf("hello"), size: 5 })).toEqual({
      digest: digestOf("hello"),
      size: 5,
    });
    expect(pulled).toBe(false);
  });

  it("rejects a malformed expected digest", async () => {
    const layout = await OciLayout.create(dir);
    const err = await rejection(layout.putBlob(chunks("x"), { digest: "sha256:x" as Digest }));
    expect(isInvalidArgument(err)).toBe(true);
  });

  it("stops with the AbortError and removes the temp file when the signal aborts", async () => {
    const layout = await OciLayout.create(dir);
    const ac = new AbortController();
    async function* slow(): AsyncIterable<Uint8Array> {
      yield enc.encode("a");
      ac.abort();
      yield enc.encode("b");
    }
    const err = await rejection(layout.putBlob(slow(), undefined, { signal: ac.signal }));
    expect(isCanceled(err)).toBe(true);
    expect(await leftovers(layout)).toEqual([]);
  });

  it("writes the same blob concurrently without corrupting it", async () => {
    const layout = await OciLayout.create(dir);
    const data = "x".repeat(100_000);
    const results = await Promise.all(
      Array.from({ length: 4 }, () =>
        layout.putBlob(chunks(data.slice(0, 50_000), data.slice(50_000))),
      ),
    );
    for (const r of results) expect(r.digest).toBe(digestOf(data));
    expect(await text(layout.readBlobStream(digestOf(data), { verify: true }))).toBe(data);
  });
});

describe("OciLayout.openBlob", () => {
  it("reads at offsets and returns short counts at the end", async () => {
    const layout = await OciLayout.create(dir);
    const { digest } = await layout.putBlob(chunks("0123456789"));
    const r = await layout.openBlob(digest);
    try {
      expect(r.size).toBe(10);
      const buf = new Uint8Array(4);
      expect(await r.readAt(buf, 3)).toBe(4);
      expect(Buffer.from(buf).toString()).toBe("3456");
      expect(await r.readAt(buf, 8)).toBe(2);
      expect(await r.readAt(buf, 10)).toBe(0);
    } finally {
      await r.close();
      await r.close();
    }
  });

  it("throws NotFound for a missing blob", async () => {
    const layout = await OciLayout.create(dir);
    expect(isNotFound(await rejection(layout.openBlob(digestOf("nope"))))).toBe(true);
  });

  it("refuses reads after close with FailedPrecondition", async () => {
    const layout = await OciLayout.create(dir);
    const { digest } = await layout.putBlob(chunks("abc"));
    const r = await layout.openBlob(digest);
    await r.close();
    expect(isFailedPrecondition(await rejection(r.readAt(new Uint8Array(1), 0)))).toBe(true);
  });
});

describe("OciLayout.readBlobStream", () => {
  it("streams a blob from an offset", async () => {
    const layout = await OciLayout.create(dir);
    const { digest } = await layout.putBlob(chunks("hello world"));
    expect(await text(layout.readBlobStream(digest))).toBe("hello world");
    expect(await text(layout.readBlobStream(digest, { offset: 6 }))).toBe("world");
  });

  it("throws NotFound on iteration for a missing blob", async () => {
    const layout = await OciLayout.create(dir);
    expect(isNotFound(await rejection(text(layout.readBlobStream(digestOf("nope")))))).toBe(true);
  });

  it("fails with DataLoss when verifying a blob corrupted on disk", async () => {
    const layout = await OciLayout.create(dir);
    const { digest } = await layout.putBlob(chunks("hello"));
    await fs.writeFile(layout.blobPath(digest), "jello");
    expect(isDataLoss(await rejection(text(layout.readBlobStream(digest, { verify: true }))))).toBe(
      true,
    );
  });
});

describe("OciLayout tags", () => {
  it("tags, resolves and lists descriptors with the ref.name annotation", async () => {
    const layout = await OciLayout.create(dir);
    const m = await layout.putBlob(chunks('{"schemaVersion":2}'));
    const entry = await layout.tag("v1.0", manifestDesc(m.digest, m.size));
    expect(entry.annotations).toEqual({ [ANNOTATION_REF_NAME]: "v1.0" });
    expect(await layout.resolve("v1.0")).toEqual(entry);
    expect(await layout.list()).toEqual([entry]);
    const onDisk = JSON.parse(await fs.readFile(path.join(dir, "index.json"), "utf8"));
    expect(onDisk.manifests[0].annotations[ANNOTATION_REF_NAME]).toBe("v1.0");
  });

  it("replaces an older entry of the same tag and keeps others", async () => {
    const layout = await OciLayout.create(dir);
    await layout.tag("latest", manifestDesc(digestOf("a"), 1));
    await layout.tag("other", manifestDesc(digestOf("b"), 1));
    await layout.tag("latest", manifestDesc(digestOf("c"), 1));
    const list = await layout.list();
    expect(list.map((d) => d.annotations?.[ANNOTATION_REF_NAME])).toEqual(["other", "latest"]);
    expect((await layout.resolve("latest")).digest).toBe(digestOf("c"));
  });

  it("keeps every tag when tagging concurrently", async () => {
    const layout = await OciLayout.create(dir);
    await Promise.all(
      Array.from({ length: 10 }, (_, i) => layout.tag(`t${i}`, manifestDesc(digestOf(`${i}`), 1))),
    );
    expect(await layout.list()).toHaveLength(10);
  });

  it("untags, then resolve throws NotFound", async () => {
    const layout = await OciLayout.create(dir);
    await layout.tag("gone", manifestDesc(digestOf("a"), 1));
    await layout.untag("gone");
    expect(isNotFound(await rejection(layout.resolve("gone")))).toBe(true);
    expect(isNotFound(await rejection(layout.untag("gone")))).toBe(true);
  });

  it("throws NotFound resolving an absent tag", async () => {
    const layout = await OciLayout.create(dir);
    const err = await rejection(layout.resolve("missing"));
    expect(isNotFound(err)).toBe(true);
    expect(err.message).toMatch(/"missing"/);
  });

  it("rejects malformed tags and descriptors", async () => {
    const layout = await OciLayout.create(dir);
    for (const tag of ["", "a b", "-x", "x/", "a..b"]) {
      expect(
        isInvalidArgument(await rejection(layout.tag(tag, manifestDesc(digestOf("a"), 1)))),
        tag,
      ).toBe(true);
    }
    const bad = { mediaType: MediaType.OCI_MANIFEST, digest: "sha256:00" as Digest, size: 1 };
    expect(isInvalidArgument(await rejection(layout.tag("ok", bad)))).toBe(true);
  });

  it("reports a malformed index.json with its field path", async () => {
    const layout = await OciLayout.create(dir);
    await fs.writeFile(
      path.join(dir, "index.json"),
      JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: "a/b", digest: "x", size: 1 }] }),
    );
    const err = await rejection(layout.list());
    expect(isInvalidArgument(err)).toBe(true);
    expect(err.message).toMatch(/^index\.json\.manifests\[0\]\.digest:/);
  });

  it("leaves no temp files beside index.json", async () => {
    const layout = await OciLayout.create(dir);
    await layout.tag("a", manifestDesc(digestOf("a"), 1));
    expect((await fs.readdir(dir)).sort()).toEqual(["blobs", "index.json", "oci-layout"]);
  });
});
