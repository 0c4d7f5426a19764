import {
  type CacheProgress,
  type ImageCompression,
  insecureRegistriesFromEnv,
  type RegistryAccess,
} from "@strata/core";
import {
  type Command,
  type CommandContext,
  group,
  parseCommandArgs,
  UsageError,
} from "../command.ts";

const COMPRESSIONS: readonly ImageCompression[] = ["uncompressed", "gzip", "zstd", "estargz"];

const REGISTRY_OPTIONS = {
  "insecure-registry": { type: "string", multiple: true },
  username: { type: "string", short: "u" },
  "password-stdin": { type: "boolean" },
} as const;

const REGISTRY_USAGE = `  --insecure-registry HOST  plain HTTP for HOST (repeatable; also $STRATA_INSECURE_REGISTRIES;
                            localhost and 127.0.0.1 always)
  -u, --username USER       registry user (with --password-stdin); else docker's config.json
                            ($DOCKER_CONFIG)
  --password-stdin          read the registry password from standard input`;

async function readStdin(ctx: CommandContext): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.io.stdin) {
    size += chunk.byteLength;
    if (size > 64 * 1024) throw new UsageError("password on standard input is longer than 64 KiB");
    parts.push(Buffer.from(chunk));
  }
  return Buffer.concat(parts)
    .toString("utf8")
    .replace(/\r?\n$/, "");
}

/** The registry settings of the flags and environment of a command. */
export async function registryAccessOf(
  ctx: CommandContext,
  values: { "insecure-registry"?: string[]; username?: string; "password-stdin"?: boolean },
): Promise<RegistryAccess> {
  const access: RegistryAccess = {
    insecureHosts: [
      ...(values["insecure-registry"] ?? []),
      ...insecureRegistriesFromEnv(ctx.io.env),
    ],
  };
  const dockerConfig = ctx.io.env.DOCKER_CONFIG;
  if (dockerConfig !== undefined && dockerConfig !== "") access.dockerConfig = dockerConfig;
  if (values["password-stdin"] === true) {
    if (values.username === undefined) throw new UsageError("--password-stdin needs --username");
    access.username = values.username;
    access.password = await readStdin(ctx);
  } else if (values.username !== undefined) {
    throw new UsageError("--username needs --password-stdin");
  }
  return access;
}

/** Prints finished steps to standard error, so standard output ends with the result. */
function progressPrinter(ctx: CommandContext): (e: CacheProgress) => void {
  return (e) => {
    if (!e.done) return;
    ctx.io.stderr.write(`${e.action} ${e.id}\n`);
  };
}

const exportCommand: Command = {
  name: "export",
  summary: "write an image of a ref to an OCI layout or a registry",
  usage: `usage: strata image export REF --to oci:DIR[:TAG] | registry:HOST/REPO:TAG [options]

  --to TARGET               where to write: an OCI image layout (tag default "latest")
                            or a registry repository
  --compression C           compression of new layers: gzip (default), zstd, estargz,
                            uncompressed
  --force-compression       convert every layer to --compression (reusing variants)
${REGISTRY_USAGE}

Blobs the target already has are not sent again. Prints the manifest digest last.`,
  async run(ctx, args) {
    const { values, positionals } = parseCommandArgs(args, {
      to: { type: "string" },
      compression: { type: "string" },
      "force-compression": { type: "boolean" },
      ...REGISTRY_OPTIONS,
    });
    const [ref] = positionals;
    if (ref === undefined || positionals.length > 1) throw new UsageError("expected one REF");
    if (values.to === undefined) throw new UsageError("--to is required");
    const compression = values.compression;
    if (compression !== undefined && !(COMPRESSIONS as readonly string[]).includes(compression)) {
      throw new UsageError(
        `invalid --compression ${JSON.stringify(compression)}: want ${COMPRESSIONS.join(", ")}`,
      );
    }
    const registry = await registryAccessOf(ctx, values);
    const backend = await ctx.backend();
    const result = await backend.cache.exportImage(ref, values.to, {
      ...(compression === undefined ? {} : { compression: compression as ImageCompression }),
      ...(values["force-compression"] === true ? { forceCompression: true } : {}),
      registry,
      onProgress: progressPrinter(ctx),
      signal: ctx.signal,
    });
    ctx.io.stdout.write(
      `exported ${result.layers.length} layers to ${result.target} (${result.blobsSent} blobs sent)\n${result.manifest.digest}\n`,
    );
    return 0;
  },
};

function parsePlatform(text: string): { os: string; architecture: string; variant?: string } {
  const [os, architecture, variant, extra] = text.split("/");
  if (
    os === undefined ||
    os === "" ||
    architecture === undefined ||
    architecture === "" ||
    extra !== undefined
  ) {
    throw new UsageError(`invalid --platform ${JSON.stringify(text)}: want OS/ARCH[/VARIANT]`);
  }
  return { os, architecture, ...(variant === undefined || variant === "" ? {} : { variant }) };
}

const importCommand: Command = {
  name: "import",
  summary: "create refs for the layers of an image in an OCI layout or a registry",
  usage: `usage: strata image import oci:DIR[:TAG] | registry:HOST/REPO[:TAG|@DIGEST] [options]

  --lazy                    leave layers in the source until their contents are needed
                            (default for registries)
  --no-lazy                 fetch and unpack every layer now (default for OCI layouts)
  --platform OS/ARCH[/V]    the manifest to take from an index (default: this machine's)
  --description TEXT        description of the refs
${REGISTRY_USAGE}

Prints the top layer's ref id last.`,
  async run(ctx, args) {
    const { values, positionals } = parseCommandArgs(args, {
      lazy: { type: "boolean" },
      "no-lazy": { type: "boolean" },
      platform: { type: "string" },
      description: { type: "string" },
      ...REGISTRY_OPTIONS,
    });
    const [source] = positionals;
    if (source === undefined || positionals.length > 1) throw new UsageError("expected one SOURCE");
    if (values.lazy === true && values["no-lazy"] === true) {
      throw new UsageError("--lazy and --no-lazy exclude each other");
    }
    const registry = await registryAccessOf(ctx, values);
    const backend = await ctx.backend();
    const lazy = values.lazy === true ? true : values["no-lazy"] === true ? false : undefined;
    const result = await backend.cache.importImage(source, {
      ...(lazy === undefined ? {} : { lazy }),
      ...(values.platform === undefined ? {} : { platform: parsePlatform(values.platform) }),
      ...(values.description === undefined ? {} : { description: values.description }),
      registry,
      onProgress: progressPrinter(ctx),
      signal: ctx.signal,
    });
    ctx.io.stdout.write(
      `imported ${result.manifest.digest} (${result.refs.length} layers, chain ${result.chainID})\n${result.ref}\n`,
    );
    return 0;
  },
};

/** `strata image export|import`. */
export const imageCommand: Command = group("image", "export and import images", [
  exportCommand,
  importCommand,
]);
