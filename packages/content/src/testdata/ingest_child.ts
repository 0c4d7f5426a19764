// Child process for local_store_crash.test.ts: writes into a LocalStore until
// the parent kills it with SIGKILL. Bytes are a pure function of their
// position, so the parent can resume and check without sharing state.
//
//   node ingest_child.ts ingest <root> <ref> <total>   write one ingest slowly, never commit
//   node ingest_child.ts commits <root> <size>         commit blob after blob, forever
//   node ingest_child.ts limited <root> <ref> <total>  write and commit under a file size
//                                                      limit (ulimit -f): prints what failed
import { isAlreadyExists } from "@strata/errdefs";
import { LocalStore } from "../local_store.ts";
import { patternBytes, patternDigest } from "./pattern.ts";

const [mode, root, ...args] = process.argv.slice(2);
if (root === undefined) throw new Error("usage: ingest_child.ts <mode> <root> ...");
const store = await LocalStore.open(root);
const chunk = 64 << 10;

if (mode === "ingest") {
  const ref = args[0] ?? "crash";
  const total = Number(args[1]);
  const writer = await store.writer({
    ref,
    desc: { digest: patternDigest(0, total), size: total },
  });
  let offset = (await writer.status()).offset;
  let announced = false;
  while (offset < total) {
    const n = Math.min(chunk, total - offset);
    await writer.write(patternBytes(0, offset, n));
    offset += n;
    // Late enough that more than the writer's two batches were accepted.
    if (!announced && offset >= (total * 3) / 4) {
      announced = true;
      process.stdout.write(`written ${offset}\n`);
    }
  }
  process.stdout.write("done\n");
  // Wait to be killed, holding the writer open.
  setInterval(() => {}, 1000);
} else if (mode === "commits") {
  const size = Number(args[0]);
  for (let seed = 1; ; seed++) {
    const digest = patternDigest(seed, size);
    try {
      const writer = await store.writer({ ref: `blob-${seed}`, desc: { digest, size } });
      // An earlier, killed run may have left part of this ingest: continue it.
      for (let offset = (await writer.status()).offset; offset < size; offset += chunk) {
        await writer.write(patternBytes(seed, offset, Math.min(chunk, size - offset)));
      }
      await writer.commit(size, digest);
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
    process.stdout.write(`committed ${seed}\n`);
  }
} else if (mode === "limited") {
  const ref = args[0] ?? "limited";
  const total = Number(args[1]);
  const writer = await store.writer({ ref });
  const failures: { at: number; message: string }[] = [];
  for (let offset = 0; offset < total; offset += chunk) {
    try {
      await writer.write(patternBytes(0, offset, Math.min(chunk, total - offset)));
    } catch (err) {
      failures.push({ at: offset, message: String(err) });
    }
  }
  let commit = "committed";
  try {
    await writer.commit(total, patternDigest(0, total));
  } catch (err) {
    commit = String(err);
  }
  process.stdout.write(`${JSON.stringify({ failures, commit, chunk })}\n`);
  await store.close();
} else {
  throw new Error(`unknown mode ${mode}`);
}
