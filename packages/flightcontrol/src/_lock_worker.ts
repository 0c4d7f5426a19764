// A process that takes a file lock, for the tests of file_lock.ts:
//   node _lock_worker.ts DIR KEY LOG LABEL HOLD_MS hold|run
// It prints "ready" once started and waits for a line on stdin, then takes
// the lock. "run" appends "start LABEL" and "end LABEL" lines to LOG,
// HOLD_MS apart, releases and exits; "hold" prints "held" and keeps the lock
// until it is killed.
import { appendFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { acquireFileLock } from "./file_lock.ts";

const [dir, key, log, label, holdMs, mode] = process.argv.slice(2);
if (dir === undefined || key === undefined || log === undefined || label === undefined) {
  throw new Error("usage: _lock_worker.ts DIR KEY LOG LABEL HOLD_MS hold|run");
}
process.stdout.write("ready\n");
await new Promise<void>((resolve) => process.stdin.once("data", () => resolve()));
process.stdin.pause();
const lock = await acquireFileLock(dir, key);
if (mode === "hold") {
  process.stdout.write("held\n");
  await new Promise(() => setInterval(() => {}, 60_000));
}
appendFileSync(log, `start ${label}\n`);
await sleep(Number(holdMs));
appendFileSync(log, `end ${label}\n`);
await lock.release();
