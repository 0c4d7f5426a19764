// Benchmark: set + get one user xattr on 10,000 files, through the native
// binding vs setfattr/getfattr (batched: one spawn per 500 files, the best
// the tools allow). Run: node packages/sys/bench/xattr.ts
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getxattr, setxattr } from "../src/mod.ts";

const N = Number(process.env.N ?? 10000);
const BATCH = 500;
const dir = mkdtempSync(join(tmpdir(), "strata-xattr-bench-"));
const files: string[] = [];
for (let i = 0; i < N; i++) {
  const p = join(dir, `f${i}`);
  writeFileSync(p, "");
  files.push(p);
}
const value = new Uint8Array([1, 0, 0, 2, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

getxattr(files[0] as string, "user.warm"); // build/load outside the timing
let t = performance.now();
for (const f of files) setxattr(f, "user.bench", value);
let bytes = 0;
for (const f of files) bytes += getxattr(f, "user.bench")?.byteLength ?? 0;
const addon = performance.now() - t;
if (bytes !== N * value.length) throw new Error("addon read back wrong sizes");

const hex = `0x${Buffer.from(value).toString("hex")}`;
t = performance.now();
for (let i = 0; i < N; i += BATCH) {
  const batch = files.slice(i, i + BATCH);
  // setfattr takes one name/value for many files.
  execFileSync("setfattr", ["-n", "user.tool", "-v", hex, ...batch]);
}
let count = 0;
for (let i = 0; i < N; i += BATCH) {
  const batch = files.slice(i, i + BATCH);
  const out = execFileSync(
    "getfattr",
    ["--absolute-names", "-e", "hex", "-n", "user.tool", ...batch],
    {
      stdio: ["ignore", "pipe", "ignore"],
      maxBuffer: 64 << 20,
    },
  ).toString();
  count += out.split("user.tool=").length - 1;
}
const tools = performance.now() - t;
if (count !== N) throw new Error(`tools read back ${count} of ${N}`);

t = performance.now();
for (const f of files.slice(0, 200)) {
  execFileSync("setfattr", ["-n", "user.one", "-v", hex, f]);
  execFileSync("getfattr", ["--absolute-names", "-e", "hex", "-n", "user.one", f]);
}
const perFile = ((performance.now() - t) / 200) * N;

rmSync(dir, { recursive: true, force: true });
console.log(`files: ${N}`);
console.log(`addon set+get:               ${addon.toFixed(0)} ms`);
console.log(`setfattr/getfattr batched:   ${tools.toFixed(0)} ms (${(tools / addon).toFixed(1)}x)`);
console.log(
  `setfattr/getfattr per file:  ${perFile.toFixed(0)} ms (extrapolated from 200; ${(perFile / addon).toFixed(0)}x)`,
);
