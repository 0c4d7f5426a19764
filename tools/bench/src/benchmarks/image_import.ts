import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { startRegistry } from "../_registry.ts";
import type { Benchmark, Side } from "../benchmark.ts";
import { findProgram } from "../find_program.ts";
import { Teardown } from "../teardown.ts";
import { imageSize, makeBenchImage, STRATA_BIN } from "./_image_fixture.ts";
import { benchDir } from "./diff_walk.ts";

const run = promisify(execFile);

/**
 * `image-import`: pulling a five-layer image (500 MB of files, or
 * `STRATA_BENCH_SIZE`; gzip layers) from the reference registry on loopback
 * and unpacking it: `strata image import registry:... --no-lazy` into an
 * empty root (blobs fetched into the content store, verified, and applied
 * into snapshots) versus `skopeo copy docker://... oci:DIR` followed by
 * `umoci unpack` (which also writes an mtree manifest of the rootfs), and
 * versus `skopeo copy` alone (the fetch without the unpack). The targets are
 * removed before each run (untimed).
 */
export const imageImportBenchmark: Benchmark = {
  name: "image-import",
  description: "pull and unpack a 5-layer image from a local registry: strata vs skopeo + umoci",
  async setup(options) {
    const size = imageSize();
    const work = await mkdtemp(join(benchDir(), "strata-bench-image-import-"));
    const cleanups = new Teardown([() => rm(work, { recursive: true, force: true })]);
    const teardown = cleanups.run;
    try {
      const image = await makeBenchImage(work, size, options);
      const registry = await startRegistry(work);
      cleanups.add(() => registry.stop());
      const source = `${registry.host}/bench/image:v1`;
      const skopeo = await findProgram("skopeo");
      const umoci = await findProgram("umoci");
      // Pushed once with Strata (the same blobs skopeo would push).
      await run(STRATA_BIN, [
        "--root",
        image.root,
        "image",
        "export",
        image.top,
        "--to",
        `registry:${source}`,
      ]);
      const root = join(work, "import-root");
      const pulled = join(work, "pulled");
      const bundle = join(work, "bundle");
      const peers: Side[] = [];
      if (skopeo !== undefined && umoci !== undefined) {
        peers.push({
          name: "skopeo+umoci",
          command: {
            argv: [
              "sh",
              "-c",
              'skopeo copy --quiet --src-tls-verify=false "docker://$1" "oci:$2:v1" && umoci unpack --image "$2:v1" "$3"',
              "sh",
              source,
              pulled,
              bundle,
            ],
          },
        });
      }
      if (skopeo !== undefined) {
        peers.push({
          name: "skopeo-copy",
          command: {
            argv: [
              skopeo,
              "copy",
              "--quiet",
              "--src-tls-verify=false",
              `docker://${source}`,
              `oci:${pulled}:v1`,
            ],
          },
        });
      }
      return {
        bytes: image.bytes,
        strata: {
          argv: [STRATA_BIN, "--root", root, "image", "import", `registry:${source}`, "--no-lazy"],
          expectOutput: image.manifestDigest,
        },
        peers,
        async beforeRun() {
          for (const dir of [root, pulled, bundle]) await rm(dir, { recursive: true, force: true });
        },
        teardown,
      };
    } catch (err) {
      await teardown();
      throw err;
    }
  },
};
