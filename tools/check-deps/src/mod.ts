/**
 * Checks that Strata's workspace packages import along DESIGN.md's layers.
 *
 * @example
 * ```ts
 * import { checkDeps, formatProblem } from "@strata/check-deps";
 *
 * for (const p of await checkDeps("/work/main")) console.log(formatProblem(p));
 * ```
 *
 * @module
 */
export {
  type CheckDepsOptions,
  checkDeps,
  formatProblem,
  type Problem,
  type ProblemKind,
} from "./check_deps.ts";
export { APP_LAYER, LAYERS, type PackageRole, roleOf } from "./layers.ts";
export { type ImportKind, type ImportRef, scanImports } from "./scan_imports.ts";
export {
  parseWorkspaceGlobs,
  type ReadWorkspaceOptions,
  readWorkspace,
  type WorkspacePackage,
} from "./workspace.ts";
