import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { applyLayer, diffDirectories } from "@strata/diff";
import { FailedPreconditionError } from "@strata/errdefs";
import { type Descriptor, Digester, MediaType, OciLayout } from "@strata/oci";
import type { Benchmark, Side } from "../benchmark.ts";
import { findProgram } from "../find_program.ts";
import { benchDir, benchFiles, generateTree } from "./diff_walk.ts";

/** The default number of files in the applied layer (the figure). */
export const DEFAULT_APPLY_FILES = 10_000;

function fileStream(path: string, signal?: AbortSignal): AsyncIterable<Uint8Array> {
  return createReadStream(path, {
    highWaterMark: 256 << 10,
    ...(signal === undefined ? {} : { signal }),
  });
}

function bytesOf(value: unknown): AsyncIterable<Uint8Array> {
  const bytes = new TextEncoder().encode(JSON.stringify(value));
  return (async function* () {
    yield bytes;
  })();
}

/** An OCI layout at `dir` whose tag `v1` is an image of one uncompressed layer. */
async function writeImage(dir: string, layer: string, diffID: string): Promise<void> {
  const layout = await OciLayout.create(dir);
  const put = async (mediaType: string, source: AsyncIterable<Uint8Array>): Promise<Descriptor> => {
    const { digest, size } = await layout.putBlob(source);
    return { mediaType, digest, size };
  };
  const layerDesc = await put(MediaType.OCI_LAYER, fileStream(layer));
  const config = await put(
    MediaType.OCI_CONFIG,
    bytesOf({
      architecture: "amd64",
      os: "linux",
      config: {},
      rootfs: { type: "layers", diff_ids: [diffID] },
    }),
  );
  const manifest = await put(
    MediaType.OCI_MANIFEST,
    bytesOf({
      schemaVersion: 2,
      mediaType: MediaType.OCI_MANIFEST,
      config,
      layers: [layerDesc],
    }),
  );
  await layout.tag("v1", manifest);
}

/**
 * `apply`: unpacking an uncompressed layer of `STRATA_BENCH_FILES` files
 * (default 10,000, 0-4 KiB each, written by Strata's walking differ) into an
 * empty directory: `applyLayer` in-process (which also hashes the stream for
 * the diffID, checked) against `tar -xpf`, `umoci raw unpack` (rootfs only;
 * umoci verifies the blob's digest too) and `umoci unpack` (which also
 * writes config.json and an mtree manifest of the rootfs, hashing every
 * file). The target is removed before each run, untimed. Put the trees on
 * tmpfs with `STRATA_BENCH_DIR=/dev/shm` to take the disk out of it.
 */
export const applyBenchmark: Benchmark = {
  name: "apply",
  description: "apply a layer of small files to an empty dir: strata vs tar -xpf / umoci",
  async setup(options) {
    const files = benchFiles(DEFAULT_APPLY_FILES);
    const work = await mkdtemp(join(benchDir(), "strata-bench-apply-"));
    const teardown = () => rm(work, { recursive: true, force: true });
    try {
      const tree = join(work, "tree");
      generateTree(tree, files, options);
      const layer = join(work, "layer.tar");
      const digester = new Digester();
      await pipeline(
        diffDirectories(undefined, tree),
        async function* (source: AsyncIterable<Uint8Array>) {
          for await (const chunk of source) {
            digester.update(chunk);
            yield chunk;
          }
        },
        createWriteStream(layer),
      );
      const diffID = digester.digest();
      const size = digester.size;
      await rm(tree, { recursive: true });
      const target = join(work, "target");
      const peers: Side[] = [];
      if (await findProgram("tar")) {
        peers.push({ name: "tar-xpf", command: { argv: ["tar", "-xpf", layer, "-C", target] } });
      }
      if (await findProgram("umoci")) {
        const image = join(work, "image");
        await writeImage(image, layer, diffID);
        peers.push(
          {
            name: "umoci-raw",
            command: { argv: ["umoci", "raw", "unpack", "--image", `${image}:v1`, target] },
          },
          {
            name: "umoci-unpack",
            command: { argv: ["umoci", "unpack", "--image", `${image}:v1`, target] },
          },
        );
      }
      return {
        bytes: size,
        strata: async (signal) => {
          const result = await applyLayer(
            target,
            fileStream(layer, signal),
            signal ? { signal } : {},
          );
          if (result.diffID !== diffID) {
            throw new FailedPreconditionError(
              `applyLayer gave diffID ${result.diffID}, expected ${diffID}`,
            );
          }
        },
        peers,
        async beforeRun(side) {
          await rm(target, { recursive: true, force: true });
          // umoci makes its target; Strata and tar unpack into an existing directory.
          if (!side.startsWith("umoci")) await mkdir(target);
        },
        teardown,
      };
    } catch (err) {
      await teardown();
      throw err;
    }
  },
};
