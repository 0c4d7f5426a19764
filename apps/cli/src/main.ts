#!/usr/bin/env node
// The `strata` executable: wires the real process and the embedded root into `run`.
import process from "node:process";
import { run } from "./cli.ts";
import { openBackend } from "./embedded.ts";

const code = await run(
  process.argv.slice(2),
  { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env },
  openBackend,
);
process.exitCode = code;
