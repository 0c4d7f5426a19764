import { NotFoundError } from "@strata/errdefs";
import { type Descriptor, type ImageIndex, isManifestMediaType } from "@strata/oci";

/** An OCI platform: what an index entry runs on. */
export interface ImagePlatform {
  os: string;
  architecture: string;
  variant?: string;
}

const GO_ARCH: Record<string, string> = {
  x64: "amd64",
  arm64: "arm64",
  arm: "arm",
  ia32: "386",
  ppc64: "ppc64le",
  s390x: "s390x",
  riscv64: "riscv64",
  loong64: "loong64",
  mips: "mips",
  mipsel: "mipsle",
};

/** This process's platform in OCI (Go) terms: `linux/amd64`, `linux/arm64/v8`. */
export function hostPlatform(): ImagePlatform {
  const architecture = GO_ARCH[process.arch] ?? process.arch;
  const os = process.platform === "win32" ? "windows" : process.platform;
  if (architecture === "arm64") return { os, architecture, variant: "v8" };
  return { os, architecture };
}

function normalVariant(p: ImagePlatform): string | undefined {
  if (p.architecture === "arm64" && (p.variant === undefined || p.variant === "v8")) return "v8";
  return p.variant;
}

/**
 * The manifest of `index` for `platform`, as containerd's platform matcher
 * picks it: same OS and architecture, the same variant when the wanted one
 * has a variant (arm64's "v8" is the default); entries without a platform
 * are taken only when no entry matches and there is exactly one manifest.
 *
 * @throws {NotFoundError} when no manifest matches.
 */
export function selectManifest(
  index: ImageIndex,
  platform: ImagePlatform,
  what = "index",
): Descriptor {
  const manifests = index.manifests.filter((d) => isManifestMediaType(d.mediaType));
  const want = normalVariant(platform);
  const match = manifests.find((d) => {
    const p = d.platform;
    if (p === undefined) return false;
    if (p.os !== platform.os || p.architecture !== platform.architecture) return false;
    return want === undefined || normalVariant(p) === want;
  });
  if (match !== undefined) return match;
  const only = manifests.length === 1 ? manifests[0] : undefined;
  if (only !== undefined && only.platform === undefined) return only;
  const have = manifests
    .map((d) =>
      d.platform === undefined
        ? "unknown"
        : [d.platform.os, d.platform.architecture, d.platform.variant]
            .filter((s) => s !== undefined)
            .join("/"),
    )
    .join(", ");
  throw new NotFoundError(
    `${what}: no manifest for ${[platform.os, platform.architecture, platform.variant].filter((s) => s !== undefined).join("/")} (has: ${have || "none"})`,
  );
}
