import { codeOf, InvalidArgumentError } from "@strata/errdefs";
import type { Backend } from "./backend.ts";
import { type Command, type CommandContext, type Io, UsageError } from "./command.ts";
import { commitCommand } from "./commands/commit.ts";
import { contentCommand } from "./commands/content.ts";
import { duCommand } from "./commands/du.ts";
import { gcCommand } from "./commands/gc.ts";
import { imageCommand } from "./commands/image.ts";
import { infoCommand } from "./commands/info.ts";
import { leasesCommand } from "./commands/leases.ts";
import { pruneCommand } from "./commands/prune.ts";
import { refCommand } from "./commands/ref.ts";
import { snapshotsCommand } from "./commands/snapshots.ts";

/** Every top-level command, in the order `--help` lists them. */
export const COMMANDS: readonly Command[] = [
  infoCommand,
  contentCommand,
  leasesCommand,
  snapshotsCommand(),
  gcCommand,
  imageCommand,
  refCommand,
  commitCommand,
  duCommand,
  pruneCommand,
];

/** How `run` finds the backend for the global options. */
export type BackendOpener = (options: {
  root: string | undefined;
  namespace: string;
  address: string | undefined;
}) => Promise<Backend>;

const GLOBAL_USAGE = `usage: strata [global options] <command> [options] [args]

Global options:
  --root DIR          the embedded root (default: $STRATA_ROOT, else $XDG_DATA_HOME/strata)
  -n, --namespace NS  the namespace (default: $STRATA_NAMESPACE, else "default")
  --address ADDR      a daemon to use instead of the embedded root ($STRATA_ADDRESS)
  -h, --help          show help

Commands:
`;

/** The top-level help text. */
export function globalHelp(): string {
  const lines = COMMANDS.map((c) => `  ${c.name.padEnd(12)}${c.summary}`);
  return `${GLOBAL_USAGE}${lines.join("\n")}\n`;
}

/**
 * Runs the CLI on `argv` (without node and script) and returns the exit code.
 * Errors are printed as `strata: <message>` with the errdefs class; the exit
 * code is 1 for failures and 2 for usage errors.
 */
export async function run(argv: readonly string[], io: Io, open: BackendOpener): Promise<number> {
  let parsed: ReturnType<typeof parseGlobal>;
  try {
    parsed = parseGlobal(argv, io.env);
  } catch (err) {
    io.stderr.write(`strata: ${(err as Error).message}\n\n${globalHelp()}`);
    return 2;
  }
  const { rest, help } = parsed;
  const name = rest[0];
  if (name === undefined) {
    (help ? io.stdout : io.stderr).write(globalHelp());
    return help ? 0 : 2;
  }
  const command = COMMANDS.find((c) => c.name === name || c.aliases?.includes(name));
  if (command === undefined) {
    io.stderr.write(`strata: unknown command "${name}"\n\n${globalHelp()}`);
    return 2;
  }
  let backend: Backend | undefined;
  const ac = new AbortController();
  const ctx: CommandContext = {
    io,
    signal: ac.signal,
    backend: async () => {
      backend ??= await open({
        root: parsed.root,
        namespace: parsed.namespace,
        address: parsed.address,
      });
      return backend;
    },
  };
  try {
    return await command.run(ctx, rest.slice(1));
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`strata ${command.name}: ${err.message}\n\n${command.usage}\n`);
      return 2;
    }
    const code = codeOf(err);
    io.stderr.write(
      `strata: ${(err as Error).message ?? String(err)}${code ? ` (${code})` : ""}\n`,
    );
    return 1;
  } finally {
    await backend?.close();
  }
}

interface GlobalOptions {
  root: string | undefined;
  namespace: string;
  address: string | undefined;
  help: boolean;
  rest: readonly string[];
}

// Global options end at the first argument that is not one: the rest (the
// command and its own options) is the command's to parse.
function parseGlobal(argv: readonly string[], env: Io["env"]): GlobalOptions {
  const values: Record<string, string> = {};
  let help = false;
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "-h" || arg === "--help") {
      help = true;
      continue;
    }
    const match = /^(?:--(root|namespace|address)|-(n))(?:=(.*))?$/.exec(arg);
    if (match === null) {
      if (arg.startsWith("-")) throw new InvalidArgumentError(`unknown global option "${arg}"`);
      break;
    }
    const key = match[1] ?? "namespace";
    const value = match[3] ?? argv[++i];
    if (value === undefined) throw new InvalidArgumentError(`option "${arg}" needs a value`);
    values[key] = value;
  }
  return {
    root: values.root ?? env.STRATA_ROOT,
    namespace: values.namespace ?? env.STRATA_NAMESPACE ?? "default",
    address: values.address ?? env.STRATA_ADDRESS,
    help,
    rest: argv.slice(i),
  };
}
