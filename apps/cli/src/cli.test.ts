import { createHash } from "node:crypto";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { run } from "./cli.ts";
import { openBackend } from "./embedded.ts";

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

let root: string;

async function strata(args: string[], stdin = ""): Promise<Result> {
  let stdout = "";
  let stderr = "";
  const code = await run(
    ["--root", root, ...args],
    {
      stdin: Readable.from([Buffer.from(stdin)]),
      stdout: {
        write: (s: string | Uint8Array, ...rest: unknown[]) => {
          stdout += Buffer.from(s).toString();
          // The write callback, last when given, as a Writable calls it.
          const done = rest.at(-1);
          if (typeof done === "function") done();
          return true;
        },
      },
      stderr: {
        write: (s: string | Uint8Array, ...rest: unknown[]) => {
          stderr += Buffer.from(s).toString();
          // The write callback, last when given, as a Writable calls it.
          const done = rest.at(-1);
          if (typeof done === "function") done();
          return true;
        },
      },
      env: {},
    },
    openBackend,
  );
  return { code, stdout, stderr };
}

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "strata-cli-"));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("strata content", () => {
  it("ingests standard input, lists it and reads it back", async () => {
    const ingest = await strata(["content", "ingest", "--ref", "ref-1"], "hello\n");
    expect(ingest.code).toBe(0);
    const digest = ingest.stdout.trim();
    expect(digest).toBe("sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03");
    const ls = await strata(["content", "ls"]);
    expect(ls.stdout).toMatch(/^DIGEST\s+SIZE\s+AGE\s+LABELS\n/);
    expect(ls.stdout).toContain(`${digest}   6B`);
    expect((await strata(["content", "ls", "-q"])).stdout).toBe(`${digest}\n`);
    expect((await strata(["content", "get", digest])).stdout).toBe("hello\n");
  });

  it("fails an ingest whose expected digest differs, and keeps nothing", async () => {
    const wrong = `sha256:${"0".repeat(64)}`;
    const res = await strata(
      ["content", "ingest", "--expected-size", "6", "--expected-digest", wrong, "--ref", "r"],
      "hello\n",
    );
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/failed_precondition/);
    expect((await strata(["content", "ls", "-q"])).stdout).toBe("");
  });

  it("labels a blob and removes a label with KEY=", async () => {
    const digest = (await strata(["content", "ingest", "--ref", "r"], "x")).stdout.trim();
    expect((await strata(["content", "label", digest, "a=1", "b=2"])).stdout).toBe(
      `${digest} a=1,b=2\n`,
    );
    expect((await strata(["content", "label", digest, "a="])).stdout).toBe(`${digest} b=2\n`);
  });

  it("rejects a malformed digest with invalid_argument", async () => {
    const res = await strata(["content", "get", "sha256:xyz"]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/invalid_argument/);
  });

  it("reports not_found for a missing blob", async () => {
    const res = await strata(["content", "get", `sha256:${"a".repeat(64)}`]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/not_found/);
  });
});

describe("strata content ingest FILE", () => {
  it("ingests a file, resuming a partial ingest of the same ref", async () => {
    const file = join(root, "data.bin");
    const data = Buffer.alloc(3 << 20, 7);
    await writeFile(file, data);
    // Leave a partial ingest behind, as a killed process would.
    const { openRoot } = await import("@strata/core");
    const session = await openRoot(root, { namespace: "default" });
    const writer = await session.content().writer({ ref: `file:${file}` });
    await writer.write(data.subarray(0, 1 << 20));
    await writer.close();
    await session.close();
    expect((await strata(["content", "active"])).stdout).toContain(`file:${file}`);
    const res = await strata(["content", "ingest", file]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout.trim()).toBe(`sha256:${createHash("sha256").update(data).digest("hex")}`);
    expect((await strata(["content", "active"])).stdout).not.toContain("file:");
  });

  it("shows a blob's info as JSON", async () => {
    const digest = (await strata(["content", "ingest", "--label", "k=v"], "abc")).stdout.trim();
    const info = JSON.parse((await strata(["content", "info", digest])).stdout);
    expect(info).toMatchObject({ Digest: digest, Size: 3, Labels: { k: "v" } });
  });

  it("fsck passes on a sound root and fails on a corrupted blob", async () => {
    const digest = (
      await strata(["content", "ingest", "--label", "containerd.io/gc.root=x"], "sound")
    ).stdout.trim();
    const ok = await strata(["content", "fsck"]);
    expect(ok.code, ok.stdout).toBe(0);
    expect(ok.stdout).toMatch(/checked 1 blobs .* 0 problems/);
    const path = join(root, "content", "blobs", "sha256", digest.slice("sha256:".length));
    await chmod(path, 0o644);
    await writeFile(path, "rotten");
    const bad = await strata(["content", "fsck"]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/^corrupt-blob: /);
  });

  it("fails clearly on a missing file", async () => {
    const res = await strata(["content", "ingest", join(root, "nope")]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/cannot ingest .*nope.*\(not_found\)/);
  });
});

describe("strata leases and gc", () => {
  it("keeps leased content through gc and reclaims it after leases rm --sync", async () => {
    expect((await strata(["leases", "create", "--id", "l1"])).stdout).toBe("l1\n");
    const held = (
      await strata(["content", "ingest", "--lease", "l1", "--ref", "a"], "held")
    ).stdout.trim();
    const loose = (await strata(["content", "ingest", "--ref", "b"], "loose")).stdout.trim();
    const gc = await strata(["gc"]);
    expect(gc.stdout).toMatch(/^removed 1 blobs \(5B\)/);
    expect((await strata(["content", "ls", "-q"])).stdout).toBe(`${held}\n`);
    expect(loose).not.toBe(held);
    const leases = await strata(["leases", "ls"]);
    expect(leases.stdout).toMatch(
      /^ID\s+CREATED AT\s+LABELS\nl1\s+\S+\s+containerd\.io\/gc\.expire=/,
    );
    expect((await strata(["leases", "rm", "--sync", "l1"])).code).toBe(0);
    expect((await strata(["content", "ls", "-q"])).stdout).toBe("");
  });

  it("keeps namespaces apart", async () => {
    const digest = (
      await strata(["-n", "one", "content", "ingest", "--ref", "r"], "ns")
    ).stdout.trim();
    expect((await strata(["-n", "one", "content", "ls", "-q"])).stdout).toBe(`${digest}\n`);
    expect((await strata(["-n", "two", "content", "ls", "-q"])).stdout).toBe("");
  });
});

describe("usage", () => {
  it("prints help without opening a root, and exits 2 on unknown commands", async () => {
    const help = await strata(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("content");
    expect((await strata(["frobnicate"])).code).toBe(2);
    expect((await strata(["content", "ls", "--bogus"])).code).toBe(2);
    expect((await strata(["leases", "create", "--expires", "soon"])).code).toBe(2);
  });
});
