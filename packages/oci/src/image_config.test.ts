import { isInvalidArgument, isResourceExhausted } from "@strata/errdefs";
import { describe, expect, it } from "vitest";
import { parseImageConfig } from "./image_config.ts";

// The example image config of the OCI image spec (config.md).
const SPEC_EXAMPLE = {
  created: "2015-10-31T22:22:56.015925234Z",
  author: "Alyssa P. Hacker <alyspdev@example.com>",
  architecture: "amd64",
  os: "linux",
  config: {
    User: "alice",
    Memory: 2048,
    MemorySwap: 4096,
    CpuShares: 8,
    ExposedPorts: { "8080/tcp": {} },
    Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "FOO=oci_is_a"],
    Entrypoint: ["/bin/my-app-binary"],
    Cmd: ["--foreground", "--config", "/etc/my-app.d/default.cfg"],
    Volumes: { "/var/job-result-data": {}, "/var/log/my-app-logs": {} },
    WorkingDir: "/home/alice",
  },
  rootfs: {
    diff_ids: [
      "sha256:c6f988f4874bb0add23a778f753c65efe992244e148a1d2ec2a8b664fb66bbd1",
      "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef",
    ],
    type: "layers",
  },
  history: [
    { created: "2015-10-31T22:22:54.690851953Z", created_by: "/bin/sh -c #(nop) ADD file in /" },
    {
      created: "2015-10-31T22:22:55.613815829Z",
      created_by: '/bin/sh -c #(nop) CMD ["sh"]',
      empty_layer: true,
    },
  ],
};

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a throw");
}

describe("parseImageConfig", () => {
  it("parses the spec's example config", () => {
    const c = parseImageConfig(JSON.stringify(SPEC_EXAMPLE));
    expect(c).toEqual(SPEC_EXAMPLE);
  });

  it("treats null optional fields as absent", () => {
    const c = parseImageConfig(
      JSON.stringify({ ...SPEC_EXAMPLE, config: { Cmd: null, Env: ["A=1"] }, history: null }),
    );
    expect(c.config).toEqual({ Env: ["A=1"] });
    expect("history" in c).toBe(false);
  });

  const invalid: Array<[string, unknown, RegExp]> = [
    ["a missing os", { ...SPEC_EXAMPLE, os: undefined }, /^config.os: must be a string/],
    [
      "a missing rootfs",
      { ...SPEC_EXAMPLE, rootfs: undefined },
      /^config.rootfs: must be an object/,
    ],
    [
      "a rootfs type other than layers",
      { ...SPEC_EXAMPLE, rootfs: { type: "tar", diff_ids: [] } },
      /^config.rootfs.type: must be "layers"/,
    ],
    [
      "a malformed diff ID",
      { ...SPEC_EXAMPLE, rootfs: { type: "layers", diff_ids: ["sha256:00"] } },
      /^config.rootfs.diff_ids\[0\]: invalid digest/,
    ],
    [
      "a Cmd that is a string",
      { ...SPEC_EXAMPLE, config: { Cmd: "sh" } },
      /^config.config.Cmd: must be an array of strings/,
    ],
    [
      "an ExposedPorts entry that is not an object",
      { ...SPEC_EXAMPLE, config: { ExposedPorts: { "80/tcp": true } } },
      /^config.config.ExposedPorts\["80\/tcp"\]: must be an object/,
    ],
    [
      "a history entry with a non-boolean empty_layer",
      { ...SPEC_EXAMPLE, history: [{ empty_layer: "yes" }] },
      /^config.history\[0\].empty_layer: must be a boolean/,
    ],
    [
      "a created that is no date",
      { ...SPEC_EXAMPLE, created: "yesterday" },
      /^config.created: not a date-time/,
    ],
  ];
  for (const [name, value, message] of invalid) {
    it(`rejects ${name}`, () => {
      const err = errorOf(() => parseImageConfig(JSON.stringify(value)));
      expect(isInvalidArgument(err)).toBe(true);
      expect(err.message).toMatch(message);
    });
  }

  it("rejects a config over maxBytes with ResourceExhausted", () => {
    expect(
      isResourceExhausted(
        errorOf(() => parseImageConfig(JSON.stringify(SPEC_EXAMPLE), { maxBytes: 100 })),
      ),
    ).toBe(true);
  });
});
