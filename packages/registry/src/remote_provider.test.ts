import { randomBytes } from "node:crypto";
import { isInvalidArgument, isNotFound } from "@strata/errdefs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chunksOf, descOf, startRegistry, type TestRegistry } from "./_test_registry.ts";
import { startHttpProxy } from "./_test_servers.ts";
import { RegistryClient } from "./registry_client.ts";
import { RemoteProvider } from "./remote_provider.ts";

let registry: TestRegistry;
const data = randomBytes(3 * 1024 * 1024 + 5);
const desc = descOf(data);
beforeAll(async () => {
  registry = await startRegistry();
  await new RegistryClient().repository(`${registry.host}/lazy/app`).pushBlob(desc, chunksOf(data));
});
afterAll(async () => {
  await registry?.stop();
});

describe("RemoteProvider", () => {
  it("reads ranges on demand, learning the size with one HEAD", async () => {
    const proxy = await startHttpProxy(registry.port);
    try {
      const repo = new RegistryClient().repository(`127.0.0.1:${proxy.port}/lazy/app`);
      const ra = await repo.provider().readerAt({ digest: desc.digest });
      expect(ra.size).toBe(data.length);
      expect(proxy.requests.map((r) => r.method)).toEqual(["HEAD"]);
      const buf = new Uint8Array(4096);
      expect(await ra.readAt(buf, 2_000_000)).toBe(4096);
      expect(Buffer.from(buf)).toEqual(data.subarray(2_000_000, 2_004_096));
      // Inside the 1 MiB read-ahead window: no new request.
      expect(await ra.readAt(buf, 2_500_000)).toBe(4096);
      expect(Buffer.from(buf)).toEqual(data.subarray(2_500_000, 2_504_096));
      expect(proxy.requests.filter((r) => r.method === "GET")).toHaveLength(1);
      expect(proxy.requests[1]?.headers.range).toBe(`bytes=2000000-${2_000_000 + (1 << 20) - 1}`);
      // A short read at the end, and 0 past it.
      expect(await ra.readAt(buf, data.length - 10)).toBe(10);
      expect(Buffer.from(buf.subarray(0, 10))).toEqual(data.subarray(data.length - 10));
      expect(await ra.readAt(buf, data.length)).toBe(0);
      await ra.close();
      await expect(ra.readAt(buf, 0)).rejects.toThrow(/closed/);
    } finally {
      await proxy.stop();
    }
  });

  it("fetches exactly what is asked when read-ahead is off", async () => {
    const proxy = await startHttpProxy(registry.port);
    try {
      const repo = new RegistryClient().repository(`127.0.0.1:${proxy.port}/lazy/app`);
      const ra = await new RemoteProvider(repo, { readAhead: 0 }).readerAt(desc);
      const buf = new Uint8Array(100);
      expect(await ra.readAt(buf, 7)).toBe(100);
      expect(Buffer.from(buf)).toEqual(data.subarray(7, 107));
      expect(proxy.requests.map((r) => [r.method, r.headers.range])).toEqual([
        ["GET", "bytes=7-106"],
      ]);
    } finally {
      await proxy.stop();
    }
  });

  it("fails with NotFound for a blob the repository lacks", async () => {
    const provider = new RegistryClient().repository(`${registry.host}/lazy/app`).provider();
    await expect(provider.readerAt({ digest: descOf(randomBytes(8)).digest })).rejects.toSatisfy(
      isNotFound,
    );
  });

  it("rejects a malformed digest or offset", async () => {
    const provider = new RegistryClient().repository(`${registry.host}/lazy/app`).provider();
    await expect(provider.readerAt({ digest: "sha256:nope" })).rejects.toSatisfy(isInvalidArgument);
    const ra = await provider.readerAt(desc);
    await expect(ra.readAt(new Uint8Array(1), -1)).rejects.toSatisfy(isInvalidArgument);
  });
});
