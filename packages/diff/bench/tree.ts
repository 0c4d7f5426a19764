// Benchmark: diff and apply of a 10,000-file tree, against GNU tar -c / -x.
// Run: node packages/diff/bench/tree.ts   (N=files, default 10000; BENCH_DIR=/dev/shm for tmpfs)
import { execFileSync } from "node:child_process";
import { createReadStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { applyLayer, diffDirectories } from "../src/mod.ts";

const N = Number(process.env.N ?? 10000);
const PER_DIR = 100;
const dir = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), "strata-diff-bench-"));
const tree = join(dir, "tree");
let bytes = 0;
for (let i = 0; i < N; i++) {
  const d = join(tree, `d${Math.floor(i / PER_DIR)}`);
  if (i % PER_DIR === 0) mkdirSync(d, { recursive: true });
  const data = Buffer.alloc(512 + ((i * 977) % 8192), i % 251);
  writeFileSync(join(d, `f${i}`), data);
  bytes += data.length;
}

async function time(label: string, fn: () => Promise<unknown> | unknown): Promise<number> {
  const t = performance.now();
  await fn();
  const ms = performance.now() - t;
  console.log(`${label.padEnd(44)} ${ms.toFixed(0).padStart(6)} ms`);
  return ms;
}

async function toFile(stream: AsyncIterable<Uint8Array>, path: string): Promise<void> {
  const fh = await open(path, "w");
  for await (const chunk of stream) await fh.write(chunk);
  await fh.close();
}

const sh = (cmd: string): void => {
  execFileSync("sh", ["-c", cmd], { stdio: "inherit" });
};
execFileSync("sync");
console.log(`tree: ${N} files in ${N / PER_DIR} dirs, ${(bytes / 2 ** 20).toFixed(1)} MiB`);
const a = await time("diffDirectories(empty, tree) -> file", () =>
  toFile(diffDirectories(undefined, tree), join(dir, "strata.tar")),
);
const b = await time("tar -cf (GNU tar 1.34)", () => sh(`tar -C ${tree} -cf ${dir}/gnu.tar .`));
console.log(`  ratio strata/tar: ${(a / b).toFixed(2)}`);

const copy = join(dir, "copy");
sh(`cp -a ${tree} ${copy}`);
await time("diffDirectories(tree, identical copy)", async () => {
  for await (const _ of diffDirectories(tree, copy)) void _;
});
const whole = join(dir, "whole");
sh(
  `cp -a ${tree} ${whole} && find ${whole} -type f -exec touch -d @1600000000 {} + && find ${tree} -type f -exec touch -d @1600000000 {} +`,
);
await time("diffDirectories(tree, copy), whole-second mtimes", async () => {
  for await (const _ of diffDirectories(tree, whole)) void _;
});

const t1 = join(dir, "apply-strata");
const t2 = join(dir, "apply-tar");
mkdirSync(t1);
mkdirSync(t2);
execFileSync("sync");
const c = await time("applyLayer(tar file)", () =>
  applyLayer(t1, createReadStream(join(dir, "strata.tar"), { highWaterMark: 1 << 16 })),
);
const d = await time("tar -xf (GNU tar 1.34)", () => sh(`tar -C ${t2} -xf ${dir}/strata.tar`));
console.log(`  ratio strata/tar: ${(c / d).toFixed(2)}`);
rmSync(dir, { recursive: true, force: true });
