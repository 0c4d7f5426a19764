import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setxattr } from "@strata/sys";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type Applier,
  apply,
  chmod,
  chtimes,
  compareTrees,
  createDir,
  createFile,
  link,
  removeAll,
  rename,
  symlink,
} from "./fstest.ts";

let dir: string;
let a: string;
let b: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "strata-fstest-"));
  a = await mkdtemp(join(dir, "a-"));
  b = await mkdtemp(join(dir, "b-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const base = apply(
  createDir("/d", 0o750),
  createFile("/d/f", "hello", 0o640),
  createFile("/g", "x", 0o600),
  link("/g", "/d/g2"),
  symlink("d/f", "/s"),
);

async function diffAfter(extra: Applier): Promise<string[]> {
  await base(a);
  await base(b);
  await extra(b);
  return compareTrees(a, b);
}

describe("compareTrees", () => {
  it("finds no difference between trees built by the same appliers", async () => {
    expect(await diffAfter(apply())).toEqual([]);
  });

  it("reports content, mode, missing and unexpected paths", async () => {
    expect(
      await diffAfter(
        apply(
          createFile("/d/f", "HELLO", 0o640),
          chmod("/d", 0o755),
          removeAll("/s"),
          createFile("/new", "", 0o644),
        ),
      ),
    ).toEqual([
      "/d: mode 750 != 755",
      expect.stringMatching(/^\/d\/f: digest /),
      "/s: missing",
      "/new: unexpected",
    ]);
  });

  it("reports a broken hard link and a changed symlink target", async () => {
    const diffs = await diffAfter(
      apply(
        removeAll("/d/g2"),
        createFile("/d/g2", "x", 0o600),
        removeAll("/s"),
        symlink("d/g2", "/s"),
      ),
    );
    expect(diffs).toContain("/d/g2: hard links [/g] != []");
    expect(diffs).toContain("/s: target d/f != d/g2");
  });

  it("reports xattrs and, when asked, file mtimes", async () => {
    await base(a);
    await base(b);
    setxattr(join(b, "g"), "user.test", new TextEncoder().encode("1"));
    await chtimes("/d/f", new Date(0), new Date(5000))(b);
    expect(await compareTrees(a, b)).toEqual([
      expect.stringMatching(/^\/d\/g2: xattrs /),
      expect.stringMatching(/^\/g: xattrs /),
    ]);
    const withTimes = await compareTrees(a, b, { mtimes: true });
    expect(withTimes.some((d) => d.startsWith("/d/f: mtimeMs"))).toBe(true);
  });

  it("applies renames over existing files", async () => {
    await base(a);
    await apply(rename("/g", "/d/f"))(a);
    await apply(
      createDir("/d", 0o750),
      createFile("/d/f", "x", 0o600),
      link("/d/f", "/d/g2"),
      symlink("d/f", "/s"),
    )(b);
    expect(await compareTrees(a, b)).toEqual([]);
  });
});
