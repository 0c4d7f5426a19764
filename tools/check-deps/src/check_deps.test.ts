import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { promisify } from "node:util";
import { isInvalidArgument, isNotFound } from "@strata/errdefs";
import { afterEach, describe, expect, it } from "vitest";
import { checkDeps, formatProblem, type Problem } from "./check_deps.ts";

const run = promisify(execFile);
const REPO_ROOT = resolve(import.meta.dirname, "../../..");
const MAIN = join(import.meta.dirname, "main.ts");

const roots: string[] = [];
afterEach(async () => {
  for (const r of roots.splice(0)) await rm(r, { recursive: true, force: true });
});

function manifest(name: string, deps: string[] = [], devDeps: string[] = []): string {
  const record = (names: string[]) => Object.fromEntries(names.map((n) => [n, "workspace:*"]));
  return JSON.stringify({
    name,
    dependencies: record(deps),
    ...(devDeps.length > 0 ? { devDependencies: record(devDeps) } : {}),
  });
}

// A small workspace that follows every rule; tests add or override files.
const CLEAN: Record<string, string> = {
  "pnpm-workspace.yaml": "packages:\n  - packages/*\n  - apps/*\n  - 'tools/*'\n  - test-e2e\n",
  "packages/errdefs/package.json": manifest("@strata/errdefs"),
  "packages/errdefs/src/mod.ts": 'export * from "./errors.ts";\n',
  "packages/errdefs/src/errors.ts": "export class NotFoundError extends Error {}\n",
  "packages/oci/package.json": manifest("@strata/oci", ["@strata/errdefs"]),
  "packages/oci/src/mod.ts": [
    'import { NotFoundError } from "@strata/errdefs";',
    'import { createHash } from "node:crypto";',
    '// import { x } from "@strata/core"; comments don\'t count',
    "const s = \"import y from '@strata/cache'\";",
    'export { digest } from "./digest/sha.ts";',
    "export { NotFoundError, createHash, s };",
  ].join("\n"),
  "packages/oci/src/digest/sha.ts":
    'import type {} from "../mod.ts";\nimport data from "../../package.json" with { type: "json" };\nexport const digest = data;\n',
  "packages/content/package.json": manifest("@strata/content", ["@strata/oci", "@strata/errdefs"]),
  "packages/content/src/mod.ts":
    'export type { Digest } from "@strata/oci/types";\nexport const m = () => import("@strata/errdefs");\n',
  "packages/content/src/store.test.ts":
    'import { describe } from "vitest";\ndescribe("x", () => {});\n',
  "packages/core/package.json": manifest("@strata/core", ["@strata/content", "@strata/oci"]),
  "packages/core/src/mod.ts": 'import "@strata/content";\nimport * as oci from "@strata/oci";\n',
  "apps/cli/package.json": manifest("@strata/cli", ["@strata/core", "@strata/errdefs"]),
  "apps/cli/src/main.ts": 'import "@strata/core";\nimport "@strata/errdefs";\n',
  "apps/daemon/package.json": manifest("@strata/daemon", ["@strata/core"]),
  "apps/daemon/src/main.ts": 'import "@strata/core";\n',
  "tools/bench/package.json": manifest("@strata/bench", ["@strata/core", "@strata/check-deps"]),
  "tools/bench/src/main.ts": 'import "@strata/core";\nimport "@strata/check-deps";\n',
  "tools/check-deps/package.json": manifest("@strata/check-deps", ["@strata/errdefs"]),
  "tools/check-deps/src/main.ts": 'import "@strata/errdefs";\n',
  "tools/bootstrap/bootstrap.sh": "#!/bin/sh\n",
  "test-e2e/package.json": manifest("@strata/test-e2e", ["@strata/core", "@strata/oci"]),
  "test-e2e/src/cli.test.ts": 'import "@strata/core";\nimport "@strata/oci";\n',
};

async function workspace(overrides: Record<string, string | null> = {}): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), "check-deps-"));
  roots.push(root);
  const files: Record<string, string | null> = { ...CLEAN, ...overrides };
  for (const [path, text] of Object.entries(files)) {
    if (text === null) continue;
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), text);
  }
  return root;
}

const kinds = (problems: Problem[]) => problems.map((p) => p.kind);

describe("checkDeps", () => {
  it("finds no problem in a workspace that follows the rules", async () => {
    expect(await checkDeps(await workspace())).toEqual([]);
  });

  it("reports an import of a higher layer with file, line and both layers", async () => {
    const root = await workspace({
      "packages/oci/src/bad.ts": '\n\nimport type { Ref } from "@strata/content";\n',
    });
    expect(await checkDeps(root)).toEqual([
      {
        kind: "upward",
        file: "packages/oci/src/bad.ts",
        line: 3,
        message: "imports @strata/content (layer 2) from layer 1: dependencies must point down",
      },
      {
        kind: "undeclared",
        file: "packages/oci/src/bad.ts",
        line: 3,
        message:
          "imports @strata/content, which packages/oci/package.json does not declare in dependencies",
      },
    ]);
  });

  it("reports dynamic imports and re-exports the same way as static ones", async () => {
    const root = await workspace({
      "packages/errdefs/src/lazy.ts":
        'export * from "@strata/oci";\nconst c = await import("@strata/core");\n',
    });
    const problems = (await checkDeps(root)).filter((p) => p.kind === "upward");
    expect(problems.map((p) => [p.line, p.message])).toEqual([
      [1, "imports @strata/oci (layer 1) from layer 0: dependencies must point down"],
      [2, "imports @strata/core (layer 6) from layer 0: dependencies must point down"],
    ]);
  });

  it("reports an import of a package of the same layer", async () => {
    const root = await workspace({
      "packages/leases/package.json": manifest("@strata/leases", ["@strata/errdefs"]),
      "packages/content/package.json": manifest("@strata/content", [
        "@strata/oci",
        "@strata/errdefs",
        "@strata/leases",
      ]),
      "packages/content/src/lease.ts": 'import { x } from "@strata/leases";\n',
    });
    const problems = await checkDeps(root);
    expect(problems).toContainEqual({
      kind: "sideways",
      file: "packages/content/src/lease.ts",
      line: 1,
      message:
        "imports @strata/leases (layer 2) from the same layer 2: dependencies must point down",
    });
    expect(problems).toContainEqual({
      kind: "sideways",
      file: "packages/content/package.json",
      message:
        "declares a dependency on @strata/leases (layer 2) from the same layer 2: dependencies must point down",
    });
    expect(problems).toHaveLength(2);
  });

  it("reports imports of apps from packages, tools, test-e2e and the other app", async () => {
    const root = await workspace({
      "packages/core/src/cli.ts": 'import "@strata/cli";\n',
      "apps/cli/src/daemon.ts": 'import "@strata/daemon";\n',
      "tools/bench/src/cli.ts": 'import "@strata/cli";\n',
      "test-e2e/src/daemon.test.ts": 'import "@strata/daemon/client";\n',
    });
    const apps = (await checkDeps(root)).filter((p) => p.kind === "app");
    expect(apps.map(formatProblem)).toEqual([
      "apps/cli/src/daemon.ts:1: imports the app @strata/daemon: apps may not import each other",
      "packages/core/src/cli.ts:1: imports the app @strata/cli: nothing may import an app",
      "test-e2e/src/daemon.test.ts:1: imports the app @strata/daemon: nothing may import an app",
      "tools/bench/src/cli.ts:1: imports the app @strata/cli: nothing may import an app",
    ]);
  });

  it("reports a package or app importing a tool, but lets tools import tools", async () => {
    const root = await workspace({
      "packages/core/src/bench.ts": 'import "@strata/bench";\n',
      "apps/daemon/src/check.ts": 'import "@strata/check-deps";\n',
    });
    const tools = (await checkDeps(root)).filter((p) => p.kind === "tool");
    expect(tools.map(formatProblem)).toEqual([
      "apps/daemon/src/check.ts:1: imports the tool @strata/check-deps from an app: only tools may use tools",
      "packages/core/src/bench.ts:1: imports the tool @strata/bench from layer 6: only tools may use tools",
    ]);
  });

  it("reports a @strata import missing from package.json, allowing devDependencies in tests only", async () => {
    const root = await workspace({
      "packages/core/package.json": manifest(
        "@strata/core",
        ["@strata/content", "@strata/oci"],
        ["@strata/errdefs"],
      ),
      "packages/core/src/errors.ts": 'import { E } from "@strata/errdefs";\n',
      "packages/core/src/errors.test.ts": 'import { E } from "@strata/errdefs";\n',
      "packages/core/src/leases.test.ts": 'import { E } from "@strata/filters";\n',
      "packages/filters/package.json": manifest("@strata/filters", ["@strata/errdefs"]),
    });
    expect((await checkDeps(root)).map(formatProblem)).toEqual([
      "packages/core/src/errors.ts:1: imports @strata/errdefs, which packages/core/package.json does not declare in dependencies",
      "packages/core/src/leases.test.ts:1: imports @strata/filters, which packages/core/package.json does not declare in dependencies or devDependencies",
    ]);
  });

  it("reports an import of a @strata name that no workspace package has", async () => {
    const root = await workspace({
      "packages/core/src/x.ts": 'import "@strata/nope";\n',
    });
    expect(await checkDeps(root)).toEqual([
      {
        kind: "unknown",
        file: "packages/core/src/x.ts",
        line: 1,
        message: "imports @strata/nope, which is not a workspace package",
      },
    ]);
  });

  it("reports relative and absolute imports that leave the package directory", async () => {
    const root = await workspace({
      "packages/content/src/deep/a.ts": [
        'import "../../../oci/src/mod.ts";',
        'import "../../package.json";',
        'import "./sibling.ts";',
        'import "/etc/passwd";',
        'import "../../../content-extra/x.ts";',
      ].join("\n"),
    });
    const problems = await checkDeps(root);
    expect(kinds(problems)).toEqual(["escape", "escape", "escape"]);
    expect(problems.map((p) => p.line)).toEqual([1, 4, 5]);
    expect(problems[0]?.message).toBe(
      'relative import "../../../oci/src/mod.ts" leaves packages/content: import other packages by name',
    );
  });

  it("reports a cycle in the package.json dependency graph once", async () => {
    const root = await workspace({
      "packages/errdefs/package.json": manifest("@strata/errdefs", [], ["@strata/content"]),
    });
    const cycles = (await checkDeps(root)).filter((p) => p.kind === "cycle");
    expect(cycles).toEqual([
      {
        kind: "cycle",
        file: "packages/content/package.json",
        message:
          "package.json dependency cycle: @strata/content -> @strata/errdefs -> @strata/content",
      },
    ]);
  });

  it("reports a package that depends on itself as a cycle", async () => {
    const root = await workspace({
      "tools/bench/package.json": manifest("@strata/bench", ["@strata/bench"]),
      "tools/bench/src/main.ts": "",
    });
    expect(await checkDeps(root)).toEqual([
      {
        kind: "cycle",
        file: "tools/bench/package.json",
        message: "package.json dependency cycle: @strata/bench -> @strata/bench",
      },
    ]);
  });

  it("reports a declared dependency that points up even when nothing imports it", async () => {
    const root = await workspace({
      "packages/oci/package.json": manifest("@strata/oci", ["@strata/errdefs", "@strata/core"]),
    });
    const problems = await checkDeps(root);
    expect(problems).toContainEqual({
      kind: "upward",
      file: "packages/oci/package.json",
      message:
        "declares a dependency on @strata/core (layer 6) from layer 1: dependencies must point down",
    });
    expect(kinds(problems)).toContain("cycle");
  });

  it("reports a package that is not in the layer table", async () => {
    const root = await workspace({
      "packages/widgets/package.json": manifest("@strata/widgets", ["@strata/errdefs"]),
      "packages/widgets/src/mod.ts": 'import "@strata/errdefs";\n',
    });
    expect(await checkDeps(root)).toEqual([
      {
        kind: "unlisted",
        file: "packages/widgets/package.json",
        message:
          "@strata/widgets is not in the layer table (tools/check-deps/src/layers.ts); place it in a layer on purpose",
      },
    ]);
  });

  it("throws NotFoundError for a directory without pnpm-workspace.yaml", async () => {
    const root = await workspace({ "pnpm-workspace.yaml": null });
    await expect(checkDeps(root)).rejects.toSatisfy(isNotFound);
    await expect(checkDeps(root)).rejects.toThrow("no pnpm-workspace.yaml");
  });

  it("throws InvalidArgumentError for a package.json that is not JSON", async () => {
    const root = await workspace({ "packages/oci/package.json": "{ nope" });
    await expect(checkDeps(root)).rejects.toSatisfy(isInvalidArgument);
    await expect(checkDeps(root)).rejects.toThrow("packages/oci/package.json");
  });

  it("rejects with the signal's reason when aborted", async () => {
    const root = await workspace();
    const reason = new Error("stop");
    await expect(checkDeps(root, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
  });

  it("finds no problem in this repository", async () => {
    const problems = await checkDeps(REPO_ROOT);
    expect(problems.map(formatProblem)).toEqual([]);
  });
});

describe("formatProblem", () => {
  it("puts the line after the file when there is one", () => {
    expect(formatProblem({ kind: "escape", file: "a/b.ts", line: 3, message: "m" })).toBe(
      "a/b.ts:3: m",
    );
    expect(formatProblem({ kind: "cycle", file: "a/package.json", message: "m" })).toBe(
      "a/package.json: m",
    );
  });
});

describe("main", () => {
  it("prints the problems and exits 1 when there are some", async () => {
    const root = await workspace({
      "packages/oci/src/bad.ts": 'import "@strata/content";\n',
    });
    const err = await run(process.execPath, [MAIN, root]).then(
      () => undefined,
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
    expect(err?.code).toBe(1);
    expect(err?.stdout.split("\n")).toContain(
      "packages/oci/src/bad.ts:1: imports @strata/content (layer 2) from layer 1: dependencies must point down",
    );
    expect(err?.stderr).toContain("check-deps: 2 problem(s)");
  });

  it("exits 0 on a clean workspace, using the current directory by default", async () => {
    const root = await workspace();
    const { stdout } = await run(process.execPath, [MAIN], { cwd: root });
    expect(stdout).toContain("check-deps: no problems in");
  });

  it("exits 2 with a message when the root is not a workspace", async () => {
    const root = await workspace({ "pnpm-workspace.yaml": null });
    const err = await run(process.execPath, [MAIN, root]).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err?.code).toBe(2);
    expect(err?.stderr).toContain("no pnpm-workspace.yaml");
  });
});
