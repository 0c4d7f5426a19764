import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { startRegistry } from "../_registry.ts";
import type { Benchmark, Side } from "../benchmark.ts";
import { findProgram } from "../find_program.ts";
import { Teardown } from "../teardown.ts";
import { imageSize, makeBenchImage, STRATA_BIN } from "./_image_fixture.ts";
import { benchDir } from "./diff_walk.ts";

/**
 * `image-export`: pushing a five-layer image (500 MB of files, or
 * `STRATA_BENCH_SIZE`; gzip layers) to the reference registry on loopback:
 * `strata image export REF --to registry:...` from a root whose blobs were
 * computed in setup (so both sides push the same compressed blobs) versus
 * `skopeo copy oci:LAYOUT docker://...` of the OCI layout Strata wrote of the
 * same ref. The registry's storage is emptied before each run (untimed), so
 * every run uploads every blob.
 */
export const imageExportBenchmark: Benchmark = {
  name: "image-export",
  description: "push a 5-layer image to a local registry: strata image export vs skopeo copy oci:",
  async setup(options) {
    const size = imageSize();
    const work = await mkdtemp(join(benchDir(), "strata-bench-image-export-"));
    const cleanups = new Teardown([() => rm(work, { recursive: true, force: true })]);
    const teardown = cleanups.run;
    try {
      const image = await makeBenchImage(work, size, options);
      const registry = await startRegistry(work);
      cleanups.add(() => registry.stop());
      const peers: Side[] = [];
      const skopeo = await findProgram("skopeo");
      if (skopeo !== undefined) {
        peers.push({
          name: "skopeo-copy",
          command: {
            argv: [
              skopeo,
              "copy",
              "--quiet",
              "--dest-tls-verify=false",
              `oci:${image.layout}:v1`,
              `docker://${registry.host}/bench/skopeo:v1`,
            ],
          },
        });
      }
      return {
        bytes: image.bytes,
        strata: {
          argv: [
            STRATA_BIN,
            "--root",
            image.root,
            "image",
            "export",
            image.top,
            "--to",
            `registry:${registry.host}/bench/strata:v1`,
          ],
          expectOutput: image.manifestDigest,
        },
        peers,
        beforeRun: () => registry.wipe(),
        teardown,
      };
    } catch (err) {
      await teardown();
      throw err;
    }
  },
};
