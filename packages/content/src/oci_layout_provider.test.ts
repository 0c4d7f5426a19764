import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isInvalidArgument, isNotFound } from "@strata/errdefs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { OciLayoutProvider } from "./oci_layout_provider.ts";
import { readBlob } from "./read_blob.ts";
import { sha256 } from "./testdata/temp_store.ts";

describe("OciLayoutProvider", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "strata-layout-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("reads blobs/<alg>/<hex> of a layout directory", async () => {
    const data = "layer bytes";
    await writeFile(join(dir, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
    await mkdir(join(dir, "blobs", "sha256"), { recursive: true });
    await writeFile(join(dir, "blobs", "sha256", sha256(data).slice(7)), data);
    const layout = new OciLayoutProvider(dir);
    expect(new TextDecoder().decode(await readBlob(layout, { digest: sha256(data) }))).toBe(data);
  });

  it("fails with NotFound for a missing blob and InvalidArgument for a bad digest", async () => {
    const layout = new OciLayoutProvider(dir);
    await expect(layout.readerAt({ digest: sha256("x") })).rejects.toSatisfy(isNotFound);
    await expect(layout.readerAt({ digest: "sha256:../../oci-layout" })).rejects.toSatisfy(
      isInvalidArgument,
    );
  });
});
