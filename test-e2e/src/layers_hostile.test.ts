// Hostile layers against Strata's applier, crafted with Strata's own tar
// writer and with GNU tar (-P, --transform, -r appends, head -c): each must
// be refused with the documented error class and a message naming the
// entry, or (where containerd's rules say so) be confined to the target;
// nothing outside the target may change. Needs root.
import { lstatSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compress } from "@strata/compression";
import { applyLayer, type TarHeader, type TarWriteEntry, writeTar } from "@strata/diff";
import { isDataLoss, isInvalidArgument, isResourceExhausted } from "@strata/errdefs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireProgram } from "./_daemons.ts";
import { fileStream, mustRun, requireRoot, Sentinel, writeStream } from "./_layer_fixture.ts";

let work: string;
let targets: string;
let craft: string;
let sentinel: Sentinel;
let etcPasswd: string;
let n = 0;

// What must not change on the host: the sentinel beside the targets, the
// directory holding the targets, and the real /etc/passwd (a hardlink to it
// would raise its link count; a chmod through one, its mode).
function passwdState(): string {
  const st = lstatSync("/etc/passwd");
  return JSON.stringify([st.mode, st.uid, st.gid, st.nlink, st.size, st.mtimeMs, st.ctimeMs]);
}

function outsideChanges(): string[] {
  const changes = sentinel.changes();
  for (const name of readdirSync(targets)) {
    if (!name.startsWith("t-")) changes.push(`${targets}/${name}: appeared`);
  }
  for (const name of readdirSync(work)) {
    if (!["sentinel", "targets", "craft"].includes(name)) changes.push(`${work}/${name}: appeared`);
  }
  if (passwdState() !== etcPasswd) changes.push("/etc/passwd changed");
  return changes;
}

async function target(): Promise<string> {
  const dir = join(targets, `t-${++n}`);
  await mkdir(dir);
  return dir;
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
function h(name: string, over: Partial<TarHeader> = {}): TarHeader {
  return {
    name,
    type: "file",
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: 0,
    mtime: 1_600_000_000,
    ...over,
  };
}
function file(name: string, data: string): TarWriteEntry {
  return { header: h(name, { size: text(data).length }), body: text(data) };
}
const symlink = (name: string, to: string): TarWriteEntry => ({
  header: h(name, { type: "symlink", linkname: to, mode: 0o777 }),
});
const hardlink = (name: string, to: string): TarWriteEntry => ({
  header: h(name, { type: "link", linkname: to }),
});

/** Applies a layer into a fresh target; returns the error (or undefined) and the target. */
async function apply(
  layer: AsyncIterable<Uint8Array> | TarWriteEntry[],
  options: { maxBytes?: number } = {},
): Promise<{ err: unknown; root: string }> {
  const root = await target();
  const source = Array.isArray(layer) ? writeTar(layer) : layer;
  const err = await applyLayer(root, source, options).then(
    () => undefined,
    (e: unknown) => e,
  );
  return { err, root };
}

function expectRefused(err: unknown, guard: (e: unknown) => boolean, message: RegExp): void {
  expect(err, "the layer was applied").toBeInstanceOf(Error);
  expect(guard(err), String(err)).toBe(true);
  expect(String(err)).toMatch(message);
}

beforeAll(async () => {
  requireRoot();
  for (const p of ["tar", "gzip", "zstd", "truncate", "head"]) await requireProgram(p);
  work = await mkdtemp(join(tmpdir(), "e2e-hostile-"));
  targets = join(work, "targets");
  craft = join(work, "craft");
  await mkdir(targets);
  await mkdir(craft);
  sentinel = new Sentinel(join(work, "sentinel"));
  sentinel.create();
  etcPasswd = passwdState();
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe("hostile layers written with Strata's writeTar", () => {
  const refused: Array<[string, () => TarWriteEntry[], RegExp]> = [
    ["a ../ escape in a name", () => [file("../../sentinel/evil", "x")], /has a "\.\." component/],
    [
      "a ../ escape in the middle of a name",
      () => [file("a/b/../../../../sentinel/evil", "x")],
      /has a "\.\." component/,
    ],
    ["an absolute name", () => [file(`${sentinel.dir}/evil`, "x")], /is an absolute path/],
    [
      "a symlink pointing out, then a file written through it",
      () => [symlink("esc", "../../sentinel"), file("esc/unbroken", "overwritten")],
      /leads outside the root/,
    ],
    [
      "a symlinked parent directory climbing out by a chain",
      () => [
        symlink("a", "b/.."),
        { header: h("b/", { type: "directory", mode: 0o755 }) },
        symlink("etc", "a/../../sentinel/etc"),
        file("etc/passwd", "evil::0:0::/:/bin/sh\n"),
      ],
      /leads outside the root/,
    ],
    ["a hardlink to /etc/passwd", () => [hardlink("passwd", "/etc/passwd")], /absolute path/],
    [
      "a hardlink to a file outside the target",
      () => [hardlink("hl", "../../sentinel/etc/passwd")],
      /has a "\.\." component/,
    ],
    [
      "a hardlink through a symlink pointing out",
      () => [symlink("esc", "../../sentinel/etc"), hardlink("hl", "esc/passwd")],
      /leads outside the root/,
    ],
    ["a whiteout of ..", () => [{ header: h(".wh..") }], /bad whiteout/],
    ["a whiteout of .. in a directory", () => [{ header: h("sub/.wh..") }], /bad whiteout/],
    [
      "a whiteout through a symlink pointing out",
      () => [symlink("esc", "../../sentinel"), { header: h("esc/.wh.unbroken") }],
      /leads outside the root/,
    ],
    [
      "a symlink loop as a parent",
      () => [symlink("x", "y"), symlink("y", "x"), file("x/evil", "1")],
      /too many levels of symlinks/,
    ],
  ];
  for (const [what, entries, message] of refused) {
    it(`refuses ${what} with InvalidArgument, touching nothing outside`, async () => {
      const { err } = await apply(entries());
      expectRefused(err, isInvalidArgument, message);
      expect(String(err)).toMatch(/invalid layer/);
      expect(outsideChanges()).toEqual([]);
    });
  }

  it("re-roots an absolute symlinked parent inside the target (containerd's rule)", async () => {
    const { err, root } = await apply([
      symlink("etc", `${sentinel.dir}/etc`),
      file("etc/passwd", "evil::0:0::/:/bin/sh\n"),
    ]);
    expect(err).toBeUndefined();
    expect(readFileSync(join(root, sentinel.dir, "etc/passwd"), "utf8")).toMatch(/^evil/);
    expect(outsideChanges()).toEqual([]);
  });

  it("replaces a symlink named like a later file instead of writing through it", async () => {
    const { err, root } = await apply([
      symlink("pw", `${sentinel.dir}/etc/passwd`),
      symlink("rel", "../../sentinel/unbroken"),
      file("pw", "replaced"),
      file("rel", "replaced"),
    ]);
    expect(err).toBeUndefined();
    expect(lstatSync(join(root, "pw")).isFile()).toBe(true);
    expect(readFileSync(join(root, "rel"), "utf8")).toBe("replaced");
    expect(outsideChanges()).toEqual([]);
  });

  it("applies an opaque marker in the root to the target only", async () => {
    const root = await target();
    await writeFile(join(root, "from-lower"), "lower");
    await applyLayer(root, writeTar([file("new", "upper"), { header: h(".wh..wh..opq") }]));
    expect(readdirSync(root)).toEqual(["new"]);
    expect(outsideChanges()).toEqual([]);
  });

  it("creates device nodes (as root) inside the target only", async () => {
    const { err, root } = await apply([
      { header: h("dev/", { type: "directory", mode: 0o755 }) },
      { header: h("dev/null", { type: "char", devmajor: 1, devminor: 3, mode: 0o666 }) },
      { header: h("dev/sda", { type: "block", devmajor: 8, devminor: 0, mode: 0o660 }) },
    ]);
    expect(err).toBeUndefined();
    expect(lstatSync(join(root, "dev/null")).isCharacterDevice()).toBe(true);
    expect(lstatSync(join(root, "dev/sda")).isBlockDevice()).toBe(true);
    expect(outsideChanges()).toEqual([]);
  });

  it("refuses a 2 MiB PAX header with InvalidArgument before reading it", async () => {
    const big = new Uint8Array(2 << 20).fill(0x61);
    const { err } = await apply([{ header: h("f", { xattrs: new Map([["user.huge", big]]) }) }]);
    expectRefused(err, isInvalidArgument, /x header of \d+ bytes exceeds 1048576/);
    expect(outsideChanges()).toEqual([]);
  });

  it("refuses a stream cut inside a body with DataLoss", async () => {
    const { err } = await apply(
      (async function* () {
        let sent = 0;
        for await (const chunk of writeTar([file("a", "x".repeat(10_000))])) {
          yield chunk.subarray(0, Math.max(0, 5000 - sent));
          sent += chunk.length;
        }
      })(),
    );
    expectRefused(err, isDataLoss, /truncated tar archive: body of "a" ends \d+ bytes early/);
    expect(outsideChanges()).toEqual([]);
  });
});

describe("hostile layers crafted with GNU tar", () => {
  async function craftTar(name: string, script: string): Promise<string> {
    const tar = join(craft, name);
    await mustRun("sh", ["-ec", script, "sh", tar, sentinel.dir], { cwd: craft });
    return tar;
  }

  it("refuses a ../ name kept by tar -P", async () => {
    const tar = await craftTar(
      "dotdot.tar",
      `echo evil > evil; tar -cPf "$1" --transform='s,^,../../sentinel/,' evil`,
    );
    expect(await mustRun("tar", ["-tPf", tar])).toBe("../../sentinel/evil\n");
    const { err } = await apply(fileStream(tar));
    expectRefused(err, isInvalidArgument, /"\.\.\/\.\.\/sentinel\/evil" has a "\.\." component/);
    expect(outsideChanges()).toEqual([]);
  });

  it("refuses an absolute name kept by tar -P", async () => {
    const tar = await craftTar(
      "absolute.tar",
      `echo evil > evil2; tar -cPf "$1" --transform="s,^,$2/," evil2`,
    );
    const { err } = await apply(fileStream(tar));
    expectRefused(err, isInvalidArgument, /is an absolute path/);
    expect(outsideChanges()).toEqual([]);
  });

  it("refuses a symlink pointing out followed by a file through it (tar -r append)", async () => {
    const tar = await craftTar(
      "through.tar",
      [
        "mkdir -p one two/esc",
        "ln -s ../../sentinel one/esc",
        "echo overwritten > two/esc/unbroken",
        'tar -cf "$1" -C one esc',
        'tar -rf "$1" -C two esc/unbroken',
      ].join("; "),
    );
    expect(await mustRun("tar", ["-tf", tar])).toBe("esc\nesc/unbroken\n");
    const { err } = await apply(fileStream(tar));
    expectRefused(err, isInvalidArgument, /"esc\/unbroken" leads outside the root/);
    expect(outsideChanges()).toEqual([]);
  });

  it("refuses a hardlink to /etc/passwd (tar --transform on link targets)", async () => {
    const tar = await craftTar(
      "passwd.tar",
      `mkdir -p hl; echo a > hl/a; ln -f hl/a hl/b; tar -cPf "$1" -C hl --transform='s,^a$,/etc/passwd,RS' a b`,
    );
    expect(await mustRun("tar", ["-tvPf", tar])).toMatch(/b link to \/etc\/passwd/);
    const { err } = await apply(fileStream(tar));
    expectRefused(
      err,
      isInvalidArgument,
      /hardlink target of "b" "\/etc\/passwd" is an absolute path/,
    );
    expect(outsideChanges()).toEqual([]);
  });

  it("refuses a truncated GNU tar stream (head -c) with DataLoss", async () => {
    const tar = await craftTar(
      "truncated.tar",
      `head -c 100000 /dev/urandom > big; tar -cf - big | head -c 30000 > "$1"`,
    );
    const { err } = await apply(fileStream(tar));
    expectRefused(err, isDataLoss, /truncated tar archive/);
    expect(outsideChanges()).toEqual([]);
  });

  for (const [tool, args] of [
    ["gzip", ["-c"]],
    ["zstd", ["-q", "-c"]],
  ] as const) {
    it(`refuses a truncated ${tool} layer with DataLoss`, async () => {
      const tar = await craftTar(
        `truncated.tar.${tool}`,
        `head -c 300000 /dev/urandom > rnd; tar -cf - rnd | ${tool} ${args.join(" ")} | head -c 150000 > "$1"`,
      );
      const { err } = await apply(fileStream(tar));
      expectRefused(err, isDataLoss, new RegExp(`${tool} stream`));
      expect(outsideChanges()).toEqual([]);
    });

    it(`stops a ${tool} bomb (256 MiB of zeros) at maxBytes with ResourceExhausted`, async () => {
      const tar = await craftTar(
        `bomb.tar.${tool}`,
        `truncate -s 256M zeros; tar -cf - zeros | ${tool} -1 ${args.join(" ")} > "$1"; rm zeros`,
      );
      expect(lstatSync(tar).size).toBeLessThan(2 << 20);
      const started = Date.now();
      const { err, root } = await apply(fileStream(tar), { maxBytes: 16 << 20 });
      expectRefused(err, isResourceExhausted, /limit of 16777216 bytes|more than 16777216/);
      expect(Date.now() - started).toBeLessThan(5000);
      // At most the bound was written, inside the target.
      const written = lstatSync(join(root, "zeros"), { throwIfNoEntry: false })?.size ?? 0;
      expect(written).toBeLessThanOrEqual(16 << 20);
      expect(outsideChanges()).toEqual([]);
    }, 30_000);
  }
});

describe("compressed hostile layers from Strata's compress", () => {
  it("refuses a gzip-compressed ../ escape the same way", async () => {
    const tar = join(craft, "escape.tar.gz");
    await writeStream(tar, compress(writeTar([file("../../sentinel/evil", "x")]), "gzip"));
    const { err } = await apply(fileStream(tar));
    expectRefused(err, isInvalidArgument, /has a "\.\." component/);
    expect(outsideChanges()).toEqual([]);
  });
});
