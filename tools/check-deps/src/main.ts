// `node tools/check-deps/src/main.ts [rootDir]`: checks the workspace at
// rootDir (default: the current directory) and exits 1 on any problem.
import { resolve } from "node:path";
import { checkDeps, formatProblem } from "./check_deps.ts";

const args = process.argv.slice(2);
if (args.length > 1 || args[0] === "--help" || args[0] === "-h") {
  console.error("usage: node tools/check-deps/src/main.ts [rootDir]");
  process.exit(2);
}
const root = resolve(args[0] ?? ".");
try {
  const problems = await checkDeps(root);
  for (const p of problems) console.log(formatProblem(p));
  if (problems.length > 0) {
    console.error(`check-deps: ${problems.length} problem(s) in ${root}`);
    process.exit(1);
  }
  console.log(`check-deps: no problems in ${root}`);
} catch (err) {
  console.error(`check-deps: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(2);
}
