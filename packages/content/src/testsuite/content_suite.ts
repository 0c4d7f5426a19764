import { createHash, randomBytes, randomFillSync } from "node:crypto";
import {
  isAlreadyExists,
  isFailedPrecondition,
  isInvalidArgument,
  isNotFound,
  isUnavailable,
} from "@strata/errdefs";
import { describe, expect, it } from "vitest";
import type { Digest } from "../_oci.ts";
import type { Info, Status, Store, Writer } from "../content.ts";
import { copy } from "../copy.ts";
import { readBlob } from "../read_blob.ts";

/** What the factory of {@link contentSuite} returns for one test. */
export interface ContentSuiteInstance {
  /** A fresh, empty store. */
  store: Store;
  /** Removes everything the store left behind. */
  cleanup(): Promise<void>;
  /**
   * Optional: abandons `store` as a crashed process would (its writers are
   * dropped without close) and opens a new store on the same storage. With
   * it the suite also checks resuming after a crash.
   */
  reopen?(): Promise<Store>;
  /**
   * Optional: the blob size of the flat-memory test (default 64 MiB) and the
   * growth of the process's RSS it allows (default 32 MiB). A client whose
   * transport allocates a buffer per message (gRPC) leaves garbage V8
   * collects late; give it a larger blob and more slack, still well under
   * the blob's size, so buffering the blob whole still fails the test.
   */
  largeBlob?: { bytes: number; slackBytes: number };
}

const EMPTY_SHA256: Digest = `sha256:${createHash("sha256").digest("hex")}`;

function sha256(data: Uint8Array): Digest {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

async function expectCode(
  promise: Promise<unknown>,
  guard: (err: unknown) => boolean,
  code: string,
): Promise<unknown> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected a ${code} error`).toBeDefined();
  expect(guard(caught), `expected ${code}, got ${String(caught)}`).toBe(true);
  return caught;
}

function expectWithin(date: Date, before: Date, after: Date, what: string): void {
  expect(
    date.getTime(),
    `${what} ${date.toISOString()} before ${before.toISOString()}`,
  ).toBeGreaterThanOrEqual(before.getTime());
  expect(
    date.getTime(),
    `${what} ${date.toISOString()} after ${after.toISOString()}`,
  ).toBeLessThanOrEqual(after.getTime());
}

async function writeInChunks(writer: Writer, data: Uint8Array, chunk: number): Promise<void> {
  for (let i = 0; i < data.length; i += chunk) await writer.write(data.subarray(i, i + chunk));
}

async function readAll(store: Store, digest: Digest): Promise<Uint8Array> {
  return readBlob(store, { digest });
}

async function commitBlob(
  store: Store,
  ref: string,
  data: Uint8Array,
  labels?: Record<string, string>,
): Promise<Digest> {
  const digest = sha256(data);
  const writer = await store.writer({ ref });
  await writer.write(data);
  await writer.commit(data.length, digest, labels === undefined ? undefined : { labels });
  return digest;
}

/**
 * Registers the content store conformance tests under `describe(name)`.
 * `factory` is called once per test and must give an empty store.
 */
export function contentSuite(name: string, factory: () => Promise<ContentSuiteInstance>): void {
  async function withStore(fn: (store: Store, instance: ContentSuiteInstance) => Promise<void>) {
    const instance = await factory();
    try {
      await fn(instance.store, instance);
    } finally {
      await instance.cleanup();
    }
  }

  describe(name, () => {
    describe("writer", () => {
      it("writes, commits with labels and reads back through four writers open at once", () =>
        withStore(async (store) => {
          const blobs = [0, 1, 2, 3].map(() => randomBytes(256));
          const digests = blobs.map(sha256);
          const writers = await Promise.all(
            blobs.map((data, i) => {
              const digest = digests[i] as Digest;
              const desc =
                i === 0
                  ? undefined
                  : i === 1
                    ? { size: data.length }
                    : i === 2
                      ? { digest, size: 0 }
                      : { digest, size: data.length };
              return store.writer({ ref: `writer-${i}`, ...(desc === undefined ? {} : { desc }) });
            }),
          );
          for (const [i, writer] of writers.entries()) {
            expect(writer.ref).toBe(`writer-${i}`);
            await writeInChunks(writer, blobs[i] as Uint8Array, 32);
            expect(writer.digest()).toBe(digests[i]);
          }
          for (const [i, writer] of writers.entries()) {
            const labels = { "containerd.io/gc.root": new Date().toISOString() };
            const before = new Date();
            await writer.commit(0, undefined, { labels });
            const after = new Date();
            const info = await store.info(digests[i] as Digest);
            expect(info.digest).toBe(digests[i]);
            expect(info.size).toBe(256);
            expect(info.labels).toEqual(labels);
            expectWithin(info.createdAt, before, after, "createdAt");
            expectWithin(info.updatedAt, before, after, "updatedAt");
            expect(await readAll(store, digests[i] as Digest)).toEqual(
              new Uint8Array(blobs[i] as Uint8Array),
            );
          }
        }));

      it("reports the expected digest and total given when opening", () =>
        withStore(async (store) => {
          const data = randomBytes(100);
          const writer = await store.writer({
            ref: "expected",
            desc: { digest: sha256(data), size: data.length },
          });
          const status = await writer.status();
          expect(status.total).toBe(100);
          expect(status.expected).toBe(sha256(data));
          await writer.close();
        }));

      it("fails with AlreadyExists when opened for a digest that is stored", () =>
        withStore(async (store) => {
          const data = randomBytes(64);
          const digest = await commitBlob(store, "first", data);
          await expectCode(
            store.writer({ ref: "second", desc: { digest, size: data.length } }),
            isAlreadyExists,
            "AlreadyExists",
          );
          await expectCode(store.status("second"), isNotFound, "NotFound");
          // The ref is not left locked.
          const again = await store.writer({ ref: "second" });
          await again.close();
        }));

      it("rejects an empty ref and a malformed digest", () =>
        withStore(async (store) => {
          await expectCode(store.writer({ ref: "" }), isInvalidArgument, "InvalidArgument");
          await expectCode(
            store.writer({ ref: "bad-digest", desc: { digest: "sha256:xyz", size: 1 } }),
            isInvalidArgument,
            "InvalidArgument",
          );
        }));

      it("keeps hostile refs apart and returns them intact", () =>
        withStore(async (store) => {
          const refs = ["../../../../etc/passwd", "a\0b", "x".repeat(10_000), "/abs/path", "."];
          for (const ref of refs) {
            const writer = await store.writer({ ref });
            await writer.write(new TextEncoder().encode(ref.slice(0, 50)));
            await writer.close();
          }
          const statuses = await store.listStatuses();
          expect(statuses.map((s) => s.ref).sort()).toEqual([...refs].sort());
          for (const ref of refs) {
            expect((await store.status(ref)).ref).toBe(ref);
            await store.abort(ref);
          }
          expect(await store.listStatuses()).toEqual([]);
        }));
    });

    describe("status", () => {
      it("tracks offset, total, digest and times while writing", () =>
        withStore(async (store) => {
          const data = randomBytes(256);
          const preStart = new Date();
          const writer = await store.writer({ ref: "status", desc: { size: 256 } });
          const postStart = new Date();
          let status = await writer.status();
          expect(status).toMatchObject({ ref: "status", offset: 0, total: 256 });
          expect(writer.digest()).toBe(EMPTY_SHA256);
          expectWithin(status.startedAt, preStart, postStart, "startedAt");
          let written = 0;
          for (const upto of [64, 192, 256]) {
            const preUpdate = new Date();
            await writer.write(data.subarray(written, upto));
            const postUpdate = new Date();
            written = upto;
            status = await writer.status();
            expect(status).toMatchObject({ ref: "status", offset: upto, total: 256 });
            expect(writer.digest()).toBe(sha256(data.subarray(0, upto)));
            expectWithin(status.startedAt, preStart, postStart, "startedAt");
            expectWithin(status.updatedAt, preUpdate, postUpdate, "updatedAt");
            const stored = await store.status("status");
            expect(stored).toMatchObject({ ref: "status", offset: upto, total: 256 });
          }
          await writer.commit(256, sha256(data));
          await expectCode(store.status("status"), isNotFound, "NotFound");
        }));

      it("lists ingests filtered by ref", () =>
        withStore(async (store) => {
          for (const ref of ["pull-1", "pull-2", "push-1"]) {
            const writer = await store.writer({ ref });
            await writer.write(new Uint8Array([1, 2, 3]));
            await writer.close();
          }
          const refs = async (filters?: string[]) =>
            (await store.listStatuses(filters === undefined ? undefined : { filters }))
              .map((s: Status) => s.ref)
              .sort();
          expect(await refs()).toEqual(["pull-1", "pull-2", "push-1"]);
          expect(await refs(["ref~=^pull-"])).toEqual(["pull-1", "pull-2"]);
          expect(await refs(["ref==push-1"])).toEqual(["push-1"]);
          expect(await refs(["ref==pull-1", "ref==push-1"])).toEqual(["pull-1", "push-1"]);
          expect(await refs(["ref!=pull-1,ref!=push-1"])).toEqual(["pull-2"]);
          expect(await refs(["ref==nope"])).toEqual([]);
          await expectCode(
            store.listStatuses({ filters: ["ref=="] }),
            isInvalidArgument,
            "InvalidArgument",
          );
          const one = (await store.listStatuses({ filters: ["ref==pull-2"] }))[0];
          expect(one?.offset).toBe(3);
        }));

      it("fails with NotFound for an unknown ref", () =>
        withStore(async (store) => {
          await expectCode(store.status("nope"), isNotFound, "NotFound");
        }));
    });

    describe("resume", () => {
      const sizes = [500, 5000, 50_000];
      const cuts = [0, 0.1, 0.5, 0.9, 1];

      async function startAndClose(store: Store, ref: string, data: Uint8Array, cut: number) {
        const writer = await store.writer({
          ref,
          desc: { digest: sha256(data), size: data.length },
        });
        const n = Math.floor(data.length * cut);
        await writeInChunks(writer, data.subarray(0, n), 1000);
        const before = await writer.status();
        const digestBefore = writer.digest();
        await writer.close();
        await writer.close(); // closing twice is not an error
        return { n, before, digestBefore };
      }

      it("continues at the stored offset after close, with the same status and digest", () =>
        withStore(async (store) => {
          for (const size of sizes) {
            for (const cut of cuts) {
              const data = randomBytes(size);
              const ref = `resume-${size}-${cut}`;
              const { n, before, digestBefore } = await startAndClose(store, ref, data, cut);
              const writer = await store.writer({ ref, desc: { digest: sha256(data), size } });
              const status = await writer.status();
              expect(status.offset).toBe(n);
              expect(status.total).toBe(size);
              expect(status.startedAt.getTime()).toBe(before.startedAt.getTime());
              expect(status.updatedAt.getTime()).toBeGreaterThanOrEqual(before.startedAt.getTime());
              expect(writer.digest()).toBe(digestBefore);
              await writer.write(data.subarray(n));
              await writer.commit(size, sha256(data));
              expect(await readAll(store, sha256(data))).toEqual(new Uint8Array(data));
            }
          }
        }));

      it("continues after a writer was dropped without close and the store reopened", async () => {
        const instance = await factory();
        try {
          if (instance.reopen === undefined) {
            // Without reopen a dropped writer keeps its ref locked: check that instead.
            const dropped = await instance.store.writer({ ref: "dropped" });
            await dropped.write(new Uint8Array(5));
            await expectCode(
              instance.store.writer({ ref: "dropped" }),
              isUnavailable,
              "Unavailable",
            );
            return;
          }
          const data = randomBytes(20_000);
          const dropped = await instance.store.writer({ ref: "dropped" });
          await dropped.write(data.subarray(0, 12_345));
          const store = await instance.reopen();
          const writer = await store.writer({ ref: "dropped" });
          expect((await writer.status()).offset).toBe(12_345);
          expect(writer.digest()).toBe(sha256(data.subarray(0, 12_345)));
          await writer.write(data.subarray(12_345));
          await writer.commit(data.length, sha256(data));
          expect(await readAll(store, sha256(data))).toEqual(new Uint8Array(data));
        } finally {
          await instance.cleanup();
        }
      });

      it("restarts cleanly after truncate(0)", () =>
        withStore(async (store) => {
          for (const size of sizes) {
            for (const cut of cuts) {
              const data = randomBytes(size);
              const ref = `truncate-${size}-${cut}`;
              await startAndClose(store, ref, data, cut);
              const writer = await store.writer({ ref });
              await writer.truncate(0);
              expect((await writer.status()).offset).toBe(0);
              expect(writer.digest()).toBe(EMPTY_SHA256);
              await writer.write(data);
              await writer.commit(size, sha256(data));
            }
          }
        }));

      it("resumes with copy() from a ReaderAt, a Provider, a stream and an array", () =>
        withStore(async (store) => {
          const source = randomBytes(50_000);
          const sourceDigest = await commitBlob(store, "source", source);
          const kinds = ["readerAt", "provider", "stream", "array"] as const;
          for (const kind of kinds) {
            for (const cut of cuts) {
              // Same bytes, different blob each time: prefix a tag.
              const tag = new TextEncoder().encode(`${kind}-${cut}:`);
              const data = new Uint8Array(tag.length + source.length);
              data.set(tag);
              data.set(source, tag.length);
              const desc = { digest: sha256(data), size: data.length };
              const ref = `copy-${kind}-${cut}`;
              await startAndClose(store, ref, data, cut);
              const writer = await store.writer({ ref, desc });
              if (kind === "array") {
                await copy(writer, data, desc);
              } else if (kind === "stream") {
                await copy(writer, chunked(data, 777), desc);
              } else {
                const dataDigest = await commitBlob(store, `${ref}-src`, data).catch(
                  () => desc.digest,
                );
                expect(dataDigest).toBe(desc.digest);
                // The blob now exists, so the resumed copy ends in AlreadyExists = success.
                const ra = await store.readerAt(desc);
                try {
                  await copy(writer, kind === "readerAt" ? ra : store, desc, { chunkSize: 4096 });
                } finally {
                  await ra.close();
                }
              }
              expect(await readAll(store, desc.digest)).toEqual(data);
            }
          }
          expect((await store.info(sourceDigest)).size).toBe(source.length);
        }));
    });

    describe("commit", () => {
      it("fails with AlreadyExists when the blob exists, with or without expected digest", () =>
        withStore(async (store) => {
          const data = randomBytes(128);
          const digest = await commitBlob(store, "exists-1", data);
          for (const expected of [digest, undefined]) {
            const writer = await store.writer({ ref: "exists-2" });
            await writer.write(data);
            await expectCode(
              writer.commit(data.length, expected),
              isAlreadyExists,
              "AlreadyExists",
            );
            // The ingest is gone and the ref is free again.
            await expectCode(store.status("exists-2"), isNotFound, "NotFound");
          }
        }));

      it("keeps the ingest on a wrong size or digest, and releases the writer", () =>
        withStore(async (store) => {
          const data = randomBytes(300);
          const digest = sha256(data);
          const writer = await store.writer({ ref: "errors" });
          await expectCode(store.writer({ ref: "errors" }), isUnavailable, "Unavailable");
          await writer.write(data);
          await expectCode(
            writer.commit(data.length, sha256(randomBytes(8))),
            isFailedPrecondition,
            "FailedPrecondition",
          );
          // Commit always releases the writer: it is closed now.
          await expect(writer.write(new Uint8Array(1))).rejects.toThrow();
          expect((await store.status("errors")).offset).toBe(300);

          const w2 = await store.writer({ ref: "errors" });
          expect((await w2.status()).offset).toBe(300);
          expect(w2.digest()).toBe(digest);
          await expectCode(w2.commit(301, digest), isFailedPrecondition, "FailedPrecondition");
          expect((await store.status("errors")).offset).toBe(300);

          const w3 = await store.writer({ ref: "errors" });
          await w3.commit(300, digest);
          expect((await store.info(digest)).size).toBe(300);
          await expectCode(store.status("errors"), isNotFound, "NotFound");
        }));

      it("rejects a second writer on a ref while the first is open", () =>
        withStore(async (store) => {
          const first = await store.writer({ ref: "busy" });
          const err = await expectCode(store.writer({ ref: "busy" }), isUnavailable, "Unavailable");
          expect(String((err as Error).message)).toContain('ref "busy" locked');
          await first.close();
          const second = await store.writer({ ref: "busy" });
          await second.close();
        }));

      it("lets only one of two racing writers on a ref open", () =>
        withStore(async (store) => {
          const results = await Promise.allSettled([
            store.writer({ ref: "race" }),
            store.writer({ ref: "race" }),
          ]);
          const opened = results.filter((r) => r.status === "fulfilled");
          const refused = results.filter((r) => r.status === "rejected");
          expect(opened).toHaveLength(1);
          expect(refused).toHaveLength(1);
          expect(isUnavailable((refused[0] as PromiseRejectedResult).reason)).toBe(true);
          await (opened[0] as PromiseFulfilledResult<Writer>).value.close();
        }));

      it("rejects labels over 4096 bytes and keeps the ingest", () =>
        withStore(async (store) => {
          const writer = await store.writer({ ref: "big-label" });
          await writer.write(new Uint8Array([1]));
          await expectCode(
            writer.commit(1, undefined, { labels: { k: "v".repeat(4096) } }),
            isInvalidArgument,
            "InvalidArgument",
          );
          expect((await store.status("big-label")).offset).toBe(1);
        }));
    });

    describe("truncate", () => {
      it("recovers from bad partial data", () =>
        withStore(async (store) => {
          const data = randomBytes(1000);
          const writer = await store.writer({ ref: "bad-partial" });
          await writer.write(randomBytes(600));
          await writer.truncate(0);
          await writer.write(data.subarray(0, 400));
          await writer.truncate(200);
          expect((await writer.status()).offset).toBe(200);
          expect(writer.digest()).toBe(sha256(data.subarray(0, 200)));
          await writer.write(data.subarray(200));
          await writer.commit(1000, sha256(data));
          expect(await readAll(store, sha256(data))).toEqual(new Uint8Array(data));
        }));

      it("rejects a size past the offset", () =>
        withStore(async (store) => {
          const writer = await store.writer({ ref: "past" });
          await writer.write(new Uint8Array(10));
          await expectCode(writer.truncate(11), isInvalidArgument, "InvalidArgument");
          await writer.close();
        }));
    });

    describe("abort", () => {
      it("removes an ingest and fails with NotFound the second time", () =>
        withStore(async (store) => {
          const writer = await store.writer({ ref: "gone" });
          await writer.write(new Uint8Array(10));
          await writer.close();
          await store.abort("gone");
          await expectCode(store.status("gone"), isNotFound, "NotFound");
          await expectCode(store.abort("gone"), isNotFound, "NotFound");
          const fresh = await store.writer({ ref: "gone" });
          expect((await fresh.status()).offset).toBe(0);
          await fresh.close();
        }));

      it("cancels an open writer", () =>
        withStore(async (store) => {
          const writer = await store.writer({ ref: "open-abort" });
          await writer.write(new Uint8Array(10));
          await store.abort("open-abort");
          await expect(writer.commit(0, undefined)).rejects.toThrow();
          await expectCode(store.status("open-abort"), isNotFound, "NotFound");
          const again = await store.writer({ ref: "open-abort" });
          expect((await again.status()).offset).toBe(0);
          await again.close();
        }));
    });

    describe("readerAt", () => {
      it("reads ranges and stops short at the end", () =>
        withStore(async (store) => {
          const data = new TextEncoder().encode("small!");
          const digest = await commitBlob(store, "small", data);
          const ra = await store.readerAt({ digest });
          try {
            expect(ra.size).toBe(6);
            const buffer = new Uint8Array(7);
            expect(await ra.readAt(buffer, 0)).toBe(6);
            expect(buffer.subarray(0, 6)).toEqual(data);
            const mid = new Uint8Array(3);
            expect(await ra.readAt(mid, 2)).toBe(3);
            expect(new TextDecoder().decode(mid)).toBe("all");
            expect(await ra.readAt(new Uint8Array(4), 4)).toBe(2);
            expect(await ra.readAt(new Uint8Array(4), 6)).toBe(0);
            expect(await ra.readAt(new Uint8Array(4), 100)).toBe(0);
            await expectCode(
              ra.readAt(new Uint8Array(1), -1),
              isInvalidArgument,
              "InvalidArgument",
            );
          } finally {
            await ra.close();
            await ra.close();
          }
        }));

      it("fails with NotFound for a missing blob and InvalidArgument for a bad digest", () =>
        withStore(async (store) => {
          await expectCode(
            store.readerAt({ digest: sha256(randomBytes(4)) }),
            isNotFound,
            "NotFound",
          );
          await expectCode(store.info(sha256(randomBytes(4))), isNotFound, "NotFound");
          await expectCode(
            store.readerAt({ digest: "sha256:../../x" }),
            isInvalidArgument,
            "InvalidArgument",
          );
          await expectCode(store.info("md5:abc" as Digest), isInvalidArgument, "InvalidArgument");
        }));
    });

    describe("labels", () => {
      it("replaces all labels without fieldpaths and single keys with labels.<key>", () =>
        withStore(async (store) => {
          const digest = await commitBlob(store, "labels", randomBytes(32), { k1: "v1", k2: "v2" });
          const created = await store.info(digest);
          expect(created.labels).toEqual({ k1: "v1", k2: "v2" });

          await sleep(5);
          const before = new Date();
          let info = await store.update({ digest, labels: { k2: "v2b", k3: "v3" } });
          const after = new Date();
          expect(info.labels).toEqual({ k2: "v2b", k3: "v3" });
          expectWithin(info.updatedAt, before, after, "updatedAt");
          expect(info.createdAt.getTime()).toBe(created.createdAt.getTime());

          info = await store.update(
            { digest, labels: { k1: "v1c", k3: "ignored?" } },
            { fieldpaths: ["labels.k1"] },
          );
          expect(info.labels).toEqual({ k1: "v1c", k2: "v2b", k3: "v3" });

          info = await store.update(
            { digest, labels: { k1: "v1d" } },
            { fieldpaths: ["labels.k3", "labels.k1"] },
          );
          expect(info.labels).toEqual({ k1: "v1d", k2: "v2b" });

          info = await store.update({ digest, labels: { k2: "" } }, { fieldpaths: ["labels.k2"] });
          expect(info.labels).toEqual({ k1: "v1d" });

          info = await store.update({ digest, labels: { a: "1" } }, { fieldpaths: ["labels"] });
          expect(info.labels).toEqual({ a: "1" });
          expect((await store.info(digest)).labels).toEqual({ a: "1" });

          info = await store.update({ digest });
          expect(info.labels).toEqual({});
        }));

      it("rejects other fieldpaths, oversized labels and missing blobs", () =>
        withStore(async (store) => {
          const digest = await commitBlob(store, "labels-bad", randomBytes(32));
          await expectCode(
            store.update({ digest, labels: {} }, { fieldpaths: ["size"] }),
            isInvalidArgument,
            "InvalidArgument",
          );
          await expectCode(
            store.update({ digest, labels: { k: "x".repeat(4096) } }),
            isInvalidArgument,
            "InvalidArgument",
          );
          await expectCode(
            store.update({ digest: sha256(randomBytes(3)), labels: { a: "b" } }),
            isNotFound,
            "NotFound",
          );
        }));
    });

    describe("walk", () => {
      it("visits blobs that pass the filters", () =>
        withStore(async (store) => {
          const a = await commitBlob(store, "a", randomBytes(10), {
            kind: "config",
            "com.example/x": "1",
          });
          const b = await commitBlob(store, "b", randomBytes(20), { kind: "layer" });
          const c = await commitBlob(store, "c", randomBytes(30));
          const seen = async (filters?: string[]) => {
            const out: Info[] = [];
            await store.walk(
              (info) => {
                out.push(info);
              },
              filters === undefined ? undefined : { filters },
            );
            return out.map((i) => i.digest).sort();
          };
          expect(await seen()).toEqual([a, b, c].sort());
          expect(await seen(["labels.kind==layer"])).toEqual([b]);
          expect(await seen(["labels.kind"])).toEqual([a, b].sort());
          expect(await seen(['labels."com.example/x"==1'])).toEqual([a]);
          expect(await seen([`digest==${c}`])).toEqual([c]);
          expect(await seen(["size==20"])).toEqual([b]);
          expect(await seen(["labels.kind==config", `digest==${c}`])).toEqual([a, c].sort());
          expect(await seen(["labels.kind!=layer,labels.kind"])).toEqual([a]);
          await expectCode(
            store.walk(() => {}, { filters: ["labels.kind=="] }),
            isInvalidArgument,
            "InvalidArgument",
          );
          const infos: Info[] = [];
          await store.walk(
            async (info) => {
              infos.push(info);
            },
            { filters: [`digest==${a}`] },
          );
          expect(infos[0]).toMatchObject({ digest: a, size: 10, labels: { kind: "config" } });
        }));

      it("stops when the callback throws", () =>
        withStore(async (store) => {
          await commitBlob(store, "x", randomBytes(10));
          await commitBlob(store, "y", randomBytes(10));
          let calls = 0;
          await expect(
            store.walk(() => {
              calls++;
              throw new Error("stop");
            }),
          ).rejects.toThrow("stop");
          expect(calls).toBe(1);
        }));
    });

    describe("delete", () => {
      it("removes a blob, then fails with NotFound", () =>
        withStore(async (store) => {
          const data = randomBytes(10);
          const digest = await commitBlob(store, "del", data, { a: "b" });
          await store.delete(digest);
          await expectCode(store.info(digest), isNotFound, "NotFound");
          await expectCode(store.readerAt({ digest }), isNotFound, "NotFound");
          await expectCode(store.delete(digest), isNotFound, "NotFound");
          // Committing it again starts without the old labels.
          await commitBlob(store, "del-again", data);
          expect((await store.info(digest)).labels).toEqual({});
        }));
    });

    describe("large blobs", () => {
      it(
        "streams a large blob in and out with flat memory",
        () =>
          withStore(async (store, instance) => {
            const size = instance.largeBlob?.bytes ?? 64 << 20;
            const chunk = new Uint8Array(1 << 20);
            const hash = createHash("sha256");
            const baseline = process.memoryUsage().rss;
            let peak = baseline;
            const writer = await store.writer({ ref: "large", desc: { size } });
            for (let off = 0; off < size; off += chunk.length) {
              randomFillSync(chunk);
              hash.update(chunk);
              await writer.write(chunk);
              peak = Math.max(peak, process.memoryUsage().rss);
            }
            const digest: Digest = `sha256:${hash.digest("hex")}`;
            await writer.commit(size, digest);
            const ra = await store.readerAt({ digest });
            const check = createHash("sha256");
            let read = 0;
            try {
              expect(ra.size).toBe(size);
              while (read < size) {
                const n = await ra.readAt(chunk, read);
                expect(n).toBeGreaterThan(0);
                check.update(chunk.subarray(0, n));
                read += n;
                peak = Math.max(peak, process.memoryUsage().rss);
              }
            } finally {
              await ra.close();
            }
            expect(read).toBe(size);
            expect(`sha256:${check.digest("hex")}`).toBe(digest);
            // Loose: buffering the blob anywhere would add its whole size.
            expect(peak - baseline).toBeLessThan(instance.largeBlob?.slackBytes ?? 32 << 20);
          }),
        120_000,
      );
    });
  });
}

async function* chunked(data: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < data.length; i += size) yield data.slice(i, i + size);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
