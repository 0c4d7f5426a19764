import { readdir, readFile } from "node:fs/promises";
import { dirname, isAbsolute, join, posix, relative, resolve, sep } from "node:path";
import { fromSystemError, isSystemError } from "@strata/errdefs";
import { LAYERS, type PackageRole, roleOf } from "./layers.ts";
import { scanImports } from "./scan_imports.ts";
import { readWorkspace, type WorkspacePackage } from "./workspace.ts";

/** The kinds of violation {@link checkDeps} reports. */
export type ProblemKind =
  /** A package imports or depends on a package of a higher layer. */
  | "upward"
  /** A package imports or depends on another package of its own layer. */
  | "sideways"
  /** Something imports or depends on an app (apps may not import each other either). */
  | "app"
  /** A package or app imports or depends on a private tool. */
  | "tool"
  /** A file imports a `@strata/*` package its package.json does not declare. */
  | "undeclared"
  /** A `@strata/*` import names no workspace package. */
  | "unknown"
  /** A relative (or absolute) import leaves the importing package's directory. */
  | "escape"
  /** The package.json dependency graph has a cycle. */
  | "cycle"
  /** A package under packages/ or apps/ is missing from the layer table. */
  | "unlisted";

/** One violation of the dependency rules. */
export interface Problem {
  kind: ProblemKind;
  /** The file at fault, relative to the root, `/`-separated. */
  file: string;
  /** The 1-based line in `file`, when the problem is an import. */
  line?: number;
  /** What is wrong, e.g. `imports @strata/cache (layer 4) from layer 2`. */
  message: string;
}

/** Options of {@link checkDeps}. */
export interface CheckDepsOptions {
  signal?: AbortSignal;
}

/** Formats a problem as one `file:line: message` line. */
export function formatProblem(problem: Problem): string {
  const where = problem.line === undefined ? problem.file : `${problem.file}:${problem.line}`;
  return `${where}: ${problem.message}`;
}

const SOURCE_EXTENSIONS = [".ts", ".mts", ".cts"];
const TEST_FILE = /\.test\.[cm]?ts$/;

/** `@strata/x/sub` → `@strata/x`; undefined for other specifiers. */
function strataPackageOf(specifier: string): string | undefined {
  const m = /^(@strata\/[^/]+)/.exec(specifier);
  return m?.[1];
}

function describeRole(role: PackageRole): string {
  switch (role.kind) {
    case "package":
      return `layer ${role.layer}`;
    case "app":
      return "an app";
    case "tool":
      return "a tool";
    case "unlisted":
      return "an unlisted package";
  }
}

// The rule for one edge `from → to`, or nothing when the edge is allowed.
// `verb` is "imports" or "declares a dependency on".
function edgeProblem(
  from: PackageRole,
  fromName: string,
  to: WorkspacePackage,
  toRole: PackageRole,
  verb: string,
): { kind: ProblemKind; message: string } | undefined {
  if (to.name === fromName) return undefined;
  if (toRole.kind === "app") {
    const who =
      from.kind === "app" ? "apps may not import each other" : "nothing may import an app";
    return { kind: "app", message: `${verb} the app ${to.name}: ${who}` };
  }
  if (toRole.kind === "tool") {
    if (from.kind === "tool") return undefined;
    return {
      kind: "tool",
      message: `${verb} the tool ${to.name} from ${describeRole(from)}: only tools may use tools`,
    };
  }
  if (from.kind !== "package" || toRole.kind !== "package") return undefined;
  if (toRole.layer > from.layer) {
    return {
      kind: "upward",
      message: `${verb} ${to.name} (layer ${toRole.layer}) from layer ${from.layer}: dependencies must point down`,
    };
  }
  if (toRole.layer === from.layer) {
    return {
      kind: "sideways",
      message: `${verb} ${to.name} (layer ${toRole.layer}) from the same layer ${from.layer}: dependencies must point down`,
    };
  }
  return undefined;
}

async function listSources(dir: string, signal: AbortSignal | undefined): Promise<string[]> {
  let entries: import("node:fs").Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (isSystemError(err, "ENOENT")) return [];
    throw fromSystemError(err, `cannot list "${dir}"`);
  }
  const files: string[] = [];
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    signal?.throwIfAborted();
    const path = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== "node_modules") files.push(...(await listSources(path, signal)));
    } else if (e.isFile() && SOURCE_EXTENSIONS.some((x) => e.name.endsWith(x))) {
      files.push(path);
    }
  }
  return files;
}

// Every elementary cycle is not needed: one cycle per strongly connected
// component says where the loop is (Tarjan's algorithm).
function findCycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const indices = new Map<string, number>();
  const lowlinks = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];

  const connect = (v: string): void => {
    indices.set(v, index);
    lowlinks.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!indices.has(w)) {
        connect(w);
        lowlinks.set(v, Math.min(lowlinks.get(v) as number, lowlinks.get(w) as number));
      } else if (onStack.has(w)) {
        lowlinks.set(v, Math.min(lowlinks.get(v) as number, indices.get(w) as number));
      }
    }
    if (lowlinks.get(v) === indices.get(v)) {
      const component: string[] = [];
      let w: string | undefined;
      do {
        w = stack.pop() as string;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      components.push(component);
    }
  };
  for (const v of [...graph.keys()].sort()) if (!indices.has(v)) connect(v);

  const cycles: string[][] = [];
  for (const component of components) {
    const members = new Set(component);
    const start = [...component].sort()[0] as string;
    if (component.length === 1 && !(graph.get(start) ?? []).includes(start)) continue;
    // Walk inside the component from its smallest name back to it.
    const path = [start];
    const seen = new Set([start]);
    const walk = (v: string): boolean => {
      for (const w of [...(graph.get(v) ?? [])].sort()) {
        if (w === start) return true;
        if (!members.has(w) || seen.has(w)) continue;
        seen.add(w);
        path.push(w);
        if (walk(w)) return true;
        path.pop();
      }
      return false;
    };
    walk(start);
    cycles.push([...path, start]);
  }
  return cycles;
}

/**
 * Checks the workspace at `rootDir` against the layer rules of DESIGN.md and
 * returns the violations, sorted by file and line (empty when all is well):
 * imports that point up or sideways, imports of apps (or of tools from
 * packages and apps), `@strata/*` imports not declared in package.json,
 * relative imports that leave their package, package.json dependencies that
 * break the same layer rules, cycles in the package.json dependency graph,
 * and packages missing from the layer table ({@link LAYERS}).
 *
 * Imports are read from the `.ts` files under each package's `src/`.
 * Test files (`*.test.ts`) may also use `devDependencies`.
 *
 * @throws {NotFoundError} when `rootDir` has no `pnpm-workspace.yaml`.
 * @throws {InvalidArgumentError} when a package.json cannot be parsed.
 */
export async function checkDeps(rootDir: string, options?: CheckDepsOptions): Promise<Problem[]> {
  const signal = options?.signal;
  const root = resolve(rootDir);
  const packages = await readWorkspace(root, signal === undefined ? {} : { signal });
  const byName = new Map(packages.map((p) => [p.name, p]));
  const roles = new Map(packages.map((p) => [p.name, roleOf(p.name, p.dir, LAYERS)]));
  const problems: Problem[] = [];

  for (const pkg of packages) {
    const role = roles.get(pkg.name) as PackageRole;
    const manifest = `${pkg.dir}/package.json`;
    if (role.kind === "unlisted") {
      problems.push({
        kind: "unlisted",
        file: manifest,
        message: `${pkg.name} is not in the layer table (tools/check-deps/src/layers.ts); place it in a layer on purpose`,
      });
    }

    for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.devDependencies }).sort()) {
      const to = byName.get(dep);
      if (to === undefined) continue;
      const p = edgeProblem(
        role,
        pkg.name,
        to,
        roles.get(dep) as PackageRole,
        "declares a dependency on",
      );
      if (p !== undefined) problems.push({ ...p, file: manifest });
    }

    const pkgRoot = join(root, pkg.dir);
    for (const path of await listSources(join(pkgRoot, "src"), signal)) {
      signal?.throwIfAborted();
      const file = relative(root, path).split(sep).join(posix.sep);
      let source: string;
      try {
        source = await readFile(path, "utf8");
      } catch (err) {
        throw fromSystemError(err, `cannot read ${file}`);
      }
      const isTest = TEST_FILE.test(path);
      for (const ref of scanImports(source)) {
        const at = { file, line: ref.line };
        const spec = ref.specifier;
        if (spec.startsWith(".") || isAbsolute(spec)) {
          const target = resolve(dirname(path), spec);
          const rel = relative(pkgRoot, target);
          if (rel === ".." || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
            problems.push({
              kind: "escape",
              ...at,
              message: `relative import "${spec}" leaves ${pkg.dir}: import other packages by name`,
            });
          }
          continue;
        }
        const name = strataPackageOf(spec);
        if (name === undefined || name === pkg.name) continue;
        const to = byName.get(name);
        if (to === undefined) {
          problems.push({
            kind: "unknown",
            ...at,
            message: `imports ${name}, which is not a workspace package`,
          });
          continue;
        }
        const edge = edgeProblem(role, pkg.name, to, roles.get(name) as PackageRole, "imports");
        if (edge !== undefined) problems.push({ ...edge, ...at });
        const declared =
          pkg.dependencies[name] !== undefined ||
          (isTest && pkg.devDependencies[name] !== undefined);
        if (!declared) {
          problems.push({
            kind: "undeclared",
            ...at,
            message: `imports ${name}, which ${manifest} does not declare in ${isTest ? "dependencies or devDependencies" : "dependencies"}`,
          });
        }
      }
    }
  }

  const graph = new Map<string, string[]>();
  for (const pkg of packages) {
    const deps = Object.keys({ ...pkg.dependencies, ...pkg.devDependencies });
    graph.set(
      pkg.name,
      deps.filter((d) => byName.has(d)),
    );
  }
  for (const cycle of findCycles(graph)) {
    const first = byName.get(cycle[0] as string) as WorkspacePackage;
    problems.push({
      kind: "cycle",
      file: `${first.dir}/package.json`,
      message: `package.json dependency cycle: ${cycle.join(" -> ")}`,
    });
  }

  return problems.sort(
    (a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) || (a.line ?? 0) - (b.line ?? 0),
  );
}
