// `strata commit`, `ref`, `image export|import`, `du` and `prune` on an
// embedded root, as root (the root's default snapshotter is then overlayfs).
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { StrataRoot } from "@strata/core";
import { withMounts } from "@strata/snapshots";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "./cli.ts";
import { openBackend } from "./embedded.ts";

let tmp: string;

async function strata(
  root: string,
  args: string[],
  stdin = "",
): Promise<{ code: number; stdout: string; stderr: string; last: string }> {
  let stdout = "";
  let stderr = "";
  const sink = (add: (s: string) => void) => ({
    write: (s: string | Uint8Array, ...rest: unknown[]) => {
      add(Buffer.from(s).toString());
      // The write callback, last when given, as a Writable calls it.
      const done = rest.at(-1);
      if (typeof done === "function") done();
      return true;
    },
  });
  const code = await run(
    ["--root", root, ...args],
    {
      stdin: Readable.from(stdin === "" ? [] : [Buffer.from(stdin)]),
      stdout: sink((s) => {
        stdout += s;
      }),
      stderr: sink((s) => {
        stderr += s;
      }),
      env: {},
    },
    openBackend,
  );
  const lines = stdout.trimEnd().split("\n");
  return { code, stdout, stderr, last: lines.at(-1) ?? "" };
}

async function fileOfRef(root: string, id: string, path: string): Promise<string> {
  const opened = await StrataRoot.open(root);
  try {
    const cm = await opened.cacheManager("default");
    const ref = await cm.get(id);
    try {
      return await withMounts(await ref.mount(), (dir) => readFile(join(dir, path), "utf8"), {
        readonly: true,
      });
    } finally {
      await ref.release();
    }
  } finally {
    await opened.close();
  }
}

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error("these tests need root (overlay mounts)");
  tmp = await mkdtemp(join(tmpdir(), "strata-cli-images-"));
  await mkdir(join(tmp, "d1", "etc"), { recursive: true });
  await writeFile(join(tmp, "d1", "etc", "os-release"), "ID=strata\n");
  await mkdir(join(tmp, "d2"), { recursive: true });
  await writeFile(join(tmp, "d2", "app.txt"), "app\n");
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe("strata commit, ref, image, du, prune", () => {
  const a = () => join(tmp, "root-a");
  const b = () => join(tmp, "root-b");
  let base = "";
  let top = "";

  it("commits directories into refs and prints their ids last", async () => {
    const c1 = await strata(a(), ["commit", join(tmp, "d1"), "--description", "base layer"]);
    expect(c1.code, c1.stderr).toBe(0);
    base = c1.last;
    expect(base).toMatch(/^\S+$/);
    const c2 = await strata(a(), ["commit", join(tmp, "d2"), "--parent", base]);
    expect(c2.code, c2.stderr).toBe(0);
    top = c2.last;
    expect(await fileOfRef(a(), top, "etc/os-release")).toBe("ID=strata\n");
    expect(await fileOfRef(a(), top, "app.txt")).toBe("app\n");
  });

  it("lists and describes refs", async () => {
    const ls = await strata(a(), ["ref", "ls"]);
    expect(ls.code, ls.stderr).toBe(0);
    const lines = ls.stdout.trimEnd().split("\n");
    expect(lines[0]?.split(/\s{2,}/)).toEqual(["ID", "KIND", "SIZE", "LAST USED", "DESCRIPTION"]);
    expect(lines.some((l) => l.startsWith(base) && l.includes("base layer"))).toBe(true);
    const q = await strata(a(), ["ref", "ls", "--quiet"]);
    expect(q.stdout.trim().split("\n").sort()).toEqual([base, top].sort());
    const info = await strata(a(), ["ref", "info", top]);
    expect(info.code, info.stderr).toBe(0);
    expect(JSON.parse(info.stdout)).toMatchObject({ id: top, kind: "layer", parent: base });
  });

  it("exports to an OCI layout and imports it into another root with the same chain", async () => {
    const layout = join(tmp, "layout");
    const ex = await strata(a(), ["image", "export", top, "--to", `oci:${layout}:v1`]);
    expect(ex.code, ex.stderr).toBe(0);
    expect(ex.last).toMatch(/^sha256:[0-9a-f]{64}$/);
    const index = JSON.parse(await readFile(join(layout, "index.json"), "utf8"));
    expect(index.manifests[0].digest).toBe(ex.last);
    expect(index.manifests[0].annotations["org.opencontainers.image.ref.name"]).toBe("v1");
    const again = await strata(a(), ["image", "export", top, "--to", `oci:${layout}:v1`]);
    expect(again.last).toBe(ex.last);
    expect(again.stdout).toContain("(0 blobs sent)");
    const im = await strata(b(), ["image", "import", `oci:${layout}:v1`]);
    expect(im.code, im.stderr).toBe(0);
    const want = JSON.parse((await strata(a(), ["ref", "info", top])).stdout);
    const got = JSON.parse((await strata(b(), ["ref", "info", im.last])).stdout);
    expect(got.chainID).toBe(want.chainID);
    expect(got.lazy).toBe(false);
    expect(await fileOfRef(b(), im.last, "app.txt")).toBe("app\n");
  });

  it("shows disk usage as buildctl du", async () => {
    const du = await strata(a(), ["du"]);
    expect(du.code, du.stderr).toBe(0);
    const lines = du.stdout.trimEnd().split("\n");
    expect(lines[0]?.split(/\s{2,}/)).toEqual(["ID", "RECLAIMABLE", "SIZE", "LAST ACCESSED"]);
    expect(lines.at(-2)).toMatch(/^Reclaimable:\s+\S+$/);
    expect(lines.at(-1)).toMatch(/^Total:\s+\S+$/);
    const v = await strata(a(), ["du", "--verbose", "--filter", `id==${base}`]);
    expect(v.stdout).toContain(`ID:`);
    expect(v.stdout).toContain(base);
    expect(v.stdout).toContain("Description:");
  });

  it("removes refs and prunes the rest", async () => {
    const rmParent = await strata(a(), ["ref", "rm", base]);
    expect(rmParent.code).toBe(1);
    expect(rmParent.stderr).toMatch(/parent of/);
    const rmBoth = await strata(a(), ["ref", "rm", top, base]);
    expect(rmBoth.code, rmBoth.stderr).toBe(0);
    expect(rmBoth.stdout.trim().split("\n").sort()).toEqual([base, top].sort());
    const pr = await strata(b(), ["prune", "--all"]);
    expect(pr.code, pr.stderr).toBe(0);
    expect(pr.last).toMatch(/^Total:\s+\S+/);
    expect((await strata(b(), ["ref", "ls", "-q"])).stdout).toBe("");
  });

  it("rejects bad arguments with usage errors and unknown refs with NotFound", async () => {
    expect((await strata(a(), ["image", "export", "x"])).code).toBe(2);
    expect(
      (await strata(a(), ["image", "export", "x", "--to", "oci:/tmp/x", "--compression", "lz4"]))
        .code,
    ).toBe(2);
    const nf = await strata(a(), ["image", "export", "nope", "--to", `oci:${join(tmp, "n")}`]);
    expect(nf.code).toBe(1);
    expect(nf.stderr).toMatch(/not.?found/i);
    expect((await strata(a(), ["prune", "--keep-storage", "lots"])).code).toBe(2);
    expect((await strata(a(), ["prune", "--keep-duration", "1 day"])).code).toBe(2);
    expect((await strata(a(), ["commit"])).code).toBe(2);
    expect((await strata(a(), ["ref", "info", "nope"])).code).toBe(1);
    expect((await strata(a(), ["image", "import", "docker://x"])).code).toBe(1);
    expect((await strata(a(), ["image", "import", "oci:/x", "--lazy", "--no-lazy"])).code).toBe(2);
    expect((await strata(a(), ["image", "export", "x", "--to", "oci:/x", "-u", "me"])).code).toBe(
      2,
    );
  });
});
