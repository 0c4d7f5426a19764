import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { promisify } from "node:util";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { afterAll, describe, expect, it } from "vitest";
import { ReadContentResponseSchema, WriteAction, WriteContentRequestSchema } from "./content.ts";
import { DiffResponseSchema } from "./diff.ts";
import { DescriptorSchema } from "./mod.ts";

const run = promisify(execFile);
const pkg = join(import.meta.dirname, "..");

async function files(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    out.set(relative(dir, path), await readFile(path, "utf8"));
  }
  return out;
}

describe("generated code", () => {
  const tmp = mkdtemp(join(tmpdir(), "strata-api-"));
  afterAll(async () => rm(await tmp, { recursive: true, force: true }));

  it("matches what `pnpm generate` makes from proto/ (no drift)", async () => {
    const out = await tmp;
    // buf finds the protoc-gen-es plugin on PATH, as `pnpm generate` puts it there.
    const bin = join(pkg, "node_modules/.bin");
    await run(join(bin, "buf"), ["generate", "--output", out], {
      cwd: pkg,
      env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}` },
    });
    const fresh = await files(join(out, "src/gen"));
    const committed = await files(join(pkg, "src/gen"));
    expect([...committed.keys()].sort()).toEqual([...fresh.keys()].sort());
    for (const [path, text] of fresh) expect(committed.get(path), path).toBe(text);
  }, 60_000);
});

describe("wire format", () => {
  it("numbers fields as containerd does", () => {
    // DiffResponse.diff is field 3: tag (3 << 3 | 2) = 0x1a.
    const bytes = toBinary(
      DiffResponseSchema,
      create(DiffResponseSchema, { diff: { digest: "sha256:00", size: 1n } }),
    );
    expect(bytes[0]).toBe(0x1a);
    // Descriptor.annotations is field 5 (field 4 unused): tag (5 << 3 | 2) = 0x2a.
    const desc = toBinary(DescriptorSchema, create(DescriptorSchema, { annotations: { a: "b" } }));
    expect(desc[0]).toBe(0x2a);
  });

  it("round-trips a write request with labels", () => {
    const msg = create(WriteContentRequestSchema, {
      action: WriteAction.COMMIT,
      ref: "layer-1",
      total: 5n,
      offset: 0n,
      data: new Uint8Array([1, 2, 3, 4, 5]),
      labels: { "containerd.io/gc.root": "x" },
    });
    const back = fromBinary(WriteContentRequestSchema, toBinary(WriteContentRequestSchema, msg));
    expect(back.action).toBe(WriteAction.COMMIT);
    expect(back.labels).toEqual({ "containerd.io/gc.root": "x" });
    expect(back.data).toEqual(new Uint8Array([1, 2, 3, 4, 5]));
  });

  it("rejects truncated messages", () => {
    const bytes = toBinary(
      ReadContentResponseSchema,
      create(ReadContentResponseSchema, { offset: 7n, data: new Uint8Array(100) }),
    );
    expect(() => fromBinary(ReadContentResponseSchema, bytes.subarray(0, 50))).toThrow();
  });
});
