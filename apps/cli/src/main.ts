#!/usr/bin/env node
// The `strata` executable: wires the real process and the embedded root into `run`.
import { enableCompileCache } from "node:module";
import process from "node:process";

// Every call starts a process: keep the compiled (and, from sources,
// type-stripped) modules between runs. Loaded after this, hence the dynamic
// imports. NODE_DISABLE_COMPILE_CACHE=1 turns it off.
enableCompileCache();
const { run } = await import("./cli.ts");
const { openBackend } = await import("./embedded.ts");

const code = await run(
  process.argv.slice(2),
  { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env },
  openBackend,
);
process.exitCode = code;
