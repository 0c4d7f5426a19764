import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findProgram } from "./find_program.ts";

describe("findProgram", () => {
  let dir = "";
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "find-program-"));
    await mkdir(join(dir, "a"));
    await mkdir(join(dir, "b"));
    await writeFile(join(dir, "a", "tool"), "#!/bin/sh\n");
    await chmod(join(dir, "a", "tool"), 0o644);
    await writeFile(join(dir, "b", "tool"), "#!/bin/sh\n");
    await chmod(join(dir, "b", "tool"), 0o755);
    await mkdir(join(dir, "b", "adir"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("finds the first executable file of that name on the path", async () => {
    const path = [join(dir, "a"), join(dir, "b")].join(delimiter);
    // a/tool is not executable for everyone, but root may execute it only
    // when some x bit is set: it has none, so b/tool wins.
    expect(await findProgram("tool", { path })).toBe(join(dir, "b", "tool"));
  });

  it("is undefined for a missing program, a directory, or a name with a slash", async () => {
    const path = join(dir, "b");
    expect(await findProgram("missing", { path })).toBeUndefined();
    expect(await findProgram("adir", { path })).toBeUndefined();
    expect(await findProgram("b/tool", { path: dir })).toBeUndefined();
    expect(await findProgram("", { path })).toBeUndefined();
  });

  it("uses PATH by default", async () => {
    expect(await findProgram("sh")).toMatch(/\/sh$/);
  });
});
