import { isInvalidArgument } from "@strata/errdefs";
import { describe, expect, it } from "vitest";
import { formatImageLocation, parseImageLocation } from "./image_location.ts";

describe("parseImageLocation", () => {
  it("splits an OCI directory and its tag at the last colon", () => {
    expect(parseImageLocation("oci:/tmp/img:v1.2")).toEqual({
      kind: "oci",
      dir: "/tmp/img",
      tag: "v1.2",
    });
    expect(parseImageLocation("oci:/tmp/img")).toEqual({
      kind: "oci",
      dir: "/tmp/img",
      tag: undefined,
    });
  });

  it("keeps a colon in the directory when what follows is not a tag", () => {
    expect(parseImageLocation("oci:/tmp/a:b/c")).toMatchObject({
      dir: "/tmp/a:b/c",
      tag: undefined,
    });
  });

  it("parses registry references with docker's defaults", () => {
    const loc = parseImageLocation("registry:127.0.0.1:5000/team/app:v1");
    expect(loc).toEqual({
      kind: "registry",
      reference: { registry: "127.0.0.1:5000", repository: "team/app", tag: "v1" },
    });
    expect(formatImageLocation(loc)).toBe("registry:127.0.0.1:5000/team/app:v1");
    expect(formatImageLocation(parseImageLocation("registry:alpine"))).toBe(
      "registry:docker.io/library/alpine:latest",
    );
  });

  it("rejects other schemes, an empty directory and malformed references", () => {
    for (const bad of [
      "docker://alpine",
      "/tmp/img",
      "oci:",
      "oci::v1",
      "registry:",
      "registry:x.io/UP",
    ]) {
      let err: unknown;
      try {
        parseImageLocation(bad);
      } catch (e) {
        err = e;
      }
      expect(isInvalidArgument(err), bad).toBe(true);
    }
  });
});
