// `strata image import` from registries that answer badly on purpose (a
// Node server we own speaking the distribution API): a layer with the wrong
// digest, a truncated layer, a manifest over 4 MiB, a redirect to another
// host. Each must end in a clear error naming what failed, with nothing
// wrong stored (no ref, no blob whose bytes differ from its digest), and the
// other host of a redirect must never receive the registry's credentials. A
// failed import removes the records it made and keeps those that were there
// before it (an earlier good import whose layer it shares).
// Needs root (the image's tree has owners other than root).
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireProgram } from "./_daemons.ts";
import { buildBaseTree, imageOfDirectory, imageWithLayerOn, strata, strataOk } from "./_images.ts";
import { requireRoot } from "./_layer_fixture.ts";
import { type HostileRegistry, type ServedImage, startHostileRegistry } from "./_registry.ts";

const alice = { username: "alice", password: "hunter2-e2e" };

let work: string;
let image: ServedImage;
/** `image` with a second layer: the layer below is `image`'s own blob. */
let layered: ServedImage;
let open: HostileRegistry;
let guarded: HostileRegistry;
let dockerConfig: string;
let n = 0;

/** A fresh, empty embedded root. */
function freshRoot(): string {
  return join(work, `root-${++n}`);
}

/** What the root holds: its refs and its blobs (after checking every blob against its digest). */
async function stored(root: string): Promise<{ refs: string; blobs: string[] }> {
  const ls = await strata(root, ["ref", "ls"]);
  expect(ls.code, ls.stderr).toBe(0);
  const content = await strata(root, ["content", "ls", "-q"]);
  expect(content.code, content.stderr).toBe(0);
  const fsck = await strata(root, ["content", "fsck"]);
  expect(fsck.code, `${fsck.stdout}${fsck.stderr}`).toBe(0);
  return { refs: ls.stdout, blobs: content.stdout.split("\n").filter((l) => l !== "") };
}

/** Refs listed by `ref ls` output (its id column), header left out. */
function refIds(lsOutput: string, which: "all" | "unpacked" = "all"): string[] {
  return lsOutput
    .split("\n")
    .slice(1)
    .filter((l) => which === "all" || !/\(lazy\)/.test(l))
    .map((l) => l.trim().split(/\s+/)[0] ?? "")
    .filter((id) => id !== "");
}

beforeAll(async () => {
  requireRoot();
  await requireProgram("tar");
  work = await mkdtemp(join(tmpdir(), "e2e-images-hostile-"));
  const tree = join(work, "tree");
  await mkdir(tree);
  await buildBaseTree(tree, "hostile");
  image = imageOfDirectory(tree);
  const top = join(work, "top");
  await mkdir(join(top, "etc"), { recursive: true });
  await writeFile(join(top, "etc", "top.txt"), "the second layer\n".repeat(5000));
  layered = imageWithLayerOn(image, top);
  open = await startHostileRegistry();
  guarded = await startHostileRegistry({ users: [alice] });
  for (const fault of [
    "none",
    "wrong-digest",
    "truncated",
    "oversized-manifest",
    "oversized-manifest-unannounced",
  ] as const) {
    open.serve(`e2e/${fault}`, "v1", image, fault);
  }
  open.serve("e2e/layered-wrong-digest", "v1", layered, "wrong-digest");
  open.serve("e2e/layered-truncated", "v1", layered, "truncated");
  guarded.serve("e2e/redirect", "v1", image, "redirect");
  guarded.serve("e2e/redirect-unsigned", "v1", image, "redirect-unsigned");
  dockerConfig = join(work, "docker-config");
  await mkdir(dockerConfig);
  const auth = Buffer.from(`${alice.username}:${alice.password}`).toString("base64");
  await writeFile(
    join(dockerConfig, "config.json"),
    JSON.stringify({ auths: { [guarded.host]: { auth } } }),
  );
}, 60_000);

afterAll(async () => {
  await Promise.all([open?.stop(), guarded?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

const layer = () => image.layers[0]?.digest as string;

describe("the hostile registry itself", () => {
  it("serves a correct image when asked for no fault (import and unpack succeed)", async () => {
    const root = freshRoot();
    const ref = await strataOk(root, [
      "image",
      "import",
      `registry:${open.host}/e2e/none:v1`,
      "--no-lazy",
    ]);
    const { refs, blobs } = await stored(root);
    expect(refIds(refs)).toContain(ref);
    expect(blobs).toContain(layer());
  }, 60_000);
});

describe("a layer whose bytes do not match its digest", () => {
  it("fails the import with a digest error naming the layer, and stores nothing", async () => {
    const root = freshRoot();
    const r = await strata(root, [
      "image",
      "import",
      `registry:${open.host}/e2e/wrong-digest:v1`,
      "--no-lazy",
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(layer());
    expect(r.stderr).toMatch(/digest/i);
    const { refs, blobs } = await stored(root);
    // The failed import removed the layer records it had made.
    expect(refIds(refs)).toEqual([]);
    expect(blobs).not.toContain(layer());
  }, 60_000);

  it("imports lazily, then fails clearly when the contents are used, and keeps no wrong blob", async () => {
    const root = freshRoot();
    const ref = await strataOk(root, [
      "image",
      "import",
      `registry:${open.host}/e2e/wrong-digest:v1`,
      "--lazy",
    ]);
    const r = await strata(root, [
      "image",
      "export",
      ref,
      "--to",
      `oci:${join(work, `out-${n}`)}:v1`,
      "--compression",
      "zstd",
      "--force-compression",
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(layer());
    expect(r.stderr).toMatch(/digest/i);
    const { blobs } = await stored(root);
    expect(blobs).not.toContain(layer());
  }, 60_000);
});

describe("a truncated layer", () => {
  it("fails the import clearly after its retries, and stores nothing", async () => {
    const root = freshRoot();
    const before = open.requests.length;
    const r = await strata(root, [
      "image",
      "import",
      `registry:${open.host}/e2e/truncated:v1`,
      "--no-lazy",
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(layer());
    expect(r.stderr).toMatch(
      /truncat|short|unexpected end|closed|terminated|expected \d+ bytes|incomplete/i,
    );
    const gets = open.requests
      .slice(before)
      .filter((q) => q.method === "GET" && q.url.includes(layer()));
    expect(gets.length).toBeGreaterThanOrEqual(1);
    const { refs, blobs } = await stored(root);
    // The failed import removed the layer records it had made.
    expect(refIds(refs)).toEqual([]);
    expect(blobs).not.toContain(layer());
  }, 120_000);
});

describe("a failed import next to an earlier good one", () => {
  for (const fault of ["wrong-digest", "truncated"] as const) {
    it(`(${fault}) removes only what it made: the earlier refs and blobs stay as they were`, async () => {
      const root = freshRoot();
      const good = await strataOk(root, [
        "image",
        "import",
        `registry:${open.host}/e2e/none:v1`,
        "--no-lazy",
      ]);
      const before = await stored(root);
      expect(refIds(before.refs, "unpacked")).toEqual([good]);
      const topLayer = layered.layers[1]?.digest as string;
      const asked = open.requests.length;
      const r = await strata(root, [
        "image",
        "import",
        `registry:${open.host}/e2e/layered-${fault}:v1`,
        "--no-lazy",
      ]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(topLayer);
      // The shared lower layer was already there: never asked for again.
      const gets = open.requests.slice(asked).filter((q) => q.method === "GET");
      expect(gets.some((q) => q.url.includes(topLayer))).toBe(true);
      expect(gets.some((q) => q.url.includes(layer()))).toBe(false);
      const after = await stored(root);
      expect(refIds(after.refs)).toEqual(refIds(before.refs));
      expect(refIds(after.refs, "unpacked")).toEqual([good]);
      expect(after.blobs).toEqual(before.blobs);
      expect(after.blobs).not.toContain(topLayer);
      const info = JSON.parse(await strataOk(root, ["ref", "info", good], { all: true })) as {
        lazy?: boolean;
        chainID?: string;
      };
      expect(info.lazy).toBe(false);
      // And the earlier ref still works: it exports, from what is stored.
      await strataOk(root, ["image", "export", good, "--to", `oci:${join(work, `out-${++n}`)}:v1`]);
    }, 120_000);
  }
});

describe("a manifest over 4 MiB", () => {
  for (const fault of ["oversized-manifest", "oversized-manifest-unannounced"] as const) {
    it(`is refused (${fault === "oversized-manifest" ? "length announced" : "no length announced"}), nothing stored`, async () => {
      const root = freshRoot();
      const r = await strata(root, ["image", "import", `registry:${open.host}/e2e/${fault}:v1`]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/too large|exceeds|limit|resource.?exhausted/i);
      const { refs, blobs } = await stored(root);
      expect(refIds(refs)).toEqual([]);
      expect(blobs).toEqual([]);
    }, 60_000);
  }
});

describe("a redirect to another host", () => {
  it("follows a signed redirect without sending the registry's credentials there", async () => {
    const root = freshRoot();
    const before = guarded.other.requests.length;
    const ref = await strataOk(
      root,
      ["image", "import", `registry:${guarded.host}/e2e/redirect:v1`, "--no-lazy"],
      { env: { DOCKER_CONFIG: dockerConfig } },
    );
    const seen = guarded.other.requests.slice(before);
    expect(seen.length).toBeGreaterThan(0);
    for (const q of seen) expect(q.headers.authorization).toBeUndefined();
    // The registry itself did get them.
    expect(guarded.requests.some((q) => q.headers.authorization?.startsWith("Basic "))).toBe(true);
    const { refs, blobs } = await stored(root);
    expect(refIds(refs)).toContain(ref);
    expect(blobs).toContain(layer());
  }, 60_000);

  it("fails clearly when the other host wants credentials, never sending them, storing nothing", async () => {
    const root = freshRoot();
    const before = guarded.other.requests.length;
    const r = await strata(
      root,
      ["image", "import", `registry:${guarded.host}/e2e/redirect-unsigned:v1`, "--no-lazy"],
      { env: { DOCKER_CONFIG: dockerConfig } },
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/401|unauthenticated|unauthorized/i);
    expect(r.stderr).not.toContain(alice.password);
    const seen = guarded.other.requests.slice(before);
    expect(seen.length).toBeGreaterThan(0);
    for (const q of seen) expect(q.headers.authorization).toBeUndefined();
    const { refs, blobs } = await stored(root);
    // The failed import removed the layer records it had made.
    expect(refIds(refs)).toEqual([]);
    expect(blobs).not.toContain(layer());
  }, 60_000);
});
