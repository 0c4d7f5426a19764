// Run by the snapshot crash tests: prepares, fills and commits snapshots
// through the namespaced layer in three chains (leased, rooted by label,
// held by nothing), printing one line per step, until the parent kills it
// with SIGKILL. Usage: snapshot_crash_child.ts <root> <native|overlayfs>
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { LocalStore } from "@strata/content";
import { LABEL_GC_ROOT } from "@strata/leases";
import { type Mount, NativeSnapshotter, OverlaySnapshotter } from "@strata/snapshots";
import { MetadataDB } from "../metadata_db.ts";

const root = process.argv[2] as string;
const kind = process.argv[3] === "overlayfs" ? "overlayfs" : "native";
const snRoot = join(root, "snapshots", kind);
const backend =
  kind === "native" ? await NativeSnapshotter.open(snRoot) : await OverlaySnapshotter.open(snRoot);
const blobs = await LocalStore.open(join(root, "content"), { labels: false });
const db = await MetadataDB.open(join(root, "metadata.db"), {
  contentStore: blobs,
  snapshotters: { [kind]: backend },
  gc: false,
});
await db.leases("crash").create({ id: "hold" });

// Where a process writes into a snapshot without mounting it: the bind
// source, or the overlay's upper directory.
function writableDir(mounts: Mount[]): string {
  const [m] = mounts;
  if (m === undefined) throw new Error("no mounts");
  if (m.type === "bind") return m.source;
  const upper = m.options.find((o) => o.startsWith("upperdir="));
  if (upper === undefined) throw new Error(`no upperdir in ${JSON.stringify(m)}`);
  return upper.slice("upperdir=".length);
}

const modes = ["leased", "rooted", "loose"] as const;
const parents: Record<string, string> = { leased: "", rooted: "", loose: "" };
for (let i = 0; ; i++) {
  const mode = modes[i % 3] as (typeof modes)[number];
  const sn = db.snapshotter("crash", kind, mode === "leased" ? { lease: "hold" } : {});
  const labels: Record<string, string> = mode === "rooted" ? { [LABEL_GC_ROOT]: "x" } : {};
  const key = `${mode}-active-${i}`;
  const name = `${mode}-${i}`;
  const mounts = await sn.prepare(key, parents[mode] as string, { labels });
  process.stdout.write(`prepared ${key}\n`);
  await writeFile(join(writableDir(mounts), `file-${i}`), name);
  await sn.commit(name, key, { labels });
  parents[mode] = name;
  process.stdout.write(`committed ${name}\n`);
}
