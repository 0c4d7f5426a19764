// Run by metadata_db.test.ts: writes leases and content in a loop, printing
// one line per iteration, until the parent kills it with SIGKILL.
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { LocalStore } from "@strata/content";
import { MetadataDB } from "../metadata_db.ts";

const root = process.argv[2] as string;
const blobs = await LocalStore.open(join(root, "content"), { labels: false });
const db = await MetadataDB.open(join(root, "metadata.db"), { contentStore: blobs, gc: false });
for (let i = 0; ; i++) {
  const leases = db.leases("crash");
  const lease = await leases.create({ id: `l-${process.pid}-${i}` });
  const store = db.contentStore("crash", { lease: lease.id });
  const writer = await store.writer({ ref: `r-${i}` });
  for (let j = 0; j < 8; j++) await writer.write(randomBytes(4096));
  await writer.commit(0, undefined, { labels: { i: String(i) } });
  if (i % 3 === 0) await leases.delete(lease);
  if (i % 5 === 0) await db.gc();
  process.stdout.write(`${i}\n`);
}
