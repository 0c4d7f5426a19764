import type { Writable } from "node:stream";
import { type ParseArgsConfig, parseArgs } from "node:util";
import { InvalidArgumentError } from "@strata/errdefs";
import type { Backend } from "./backend.ts";

/** The process's standard streams and environment, passed in so tests can supply their own. */
export interface Io {
  /** Standard input. */
  stdin: AsyncIterable<Uint8Array>;
  /** Standard output. */
  stdout: Pick<Writable, "write"> & Partial<Pick<Writable, "once">>;
  /** Standard error. */
  stderr: Pick<Writable, "write"> & { isTTY?: boolean };
  /** The environment. */
  env: Readonly<Record<string, string | undefined>>;
}

/** What a command runs with. */
export interface CommandContext {
  /** Standard streams and environment. */
  io: Io;
  /** Aborts on SIGINT/SIGTERM. */
  signal: AbortSignal;
  /** Opens the backend on first use (so `--help` needs no root). */
  backend(): Promise<Backend>;
}

/** A command of the CLI. */
export interface Command {
  /** The name typed on the command line. */
  name: string;
  /** Other names (`ls` for `list`). */
  aliases?: readonly string[];
  /** One line for the command list. */
  summary: string;
  /** The full usage text. */
  usage: string;
  /** Runs with the arguments after the command's name; resolves to the exit code. */
  run(ctx: CommandContext, args: readonly string[]): Promise<number>;
}

/**
 * A command made of subcommands (`strata content ls`): dispatches on the
 * first argument and prints the list on `--help` or an unknown name.
 */
export function group(
  name: string,
  summary: string,
  subcommands: readonly Command[],
  aliases?: readonly string[],
): Command {
  const usage = `usage: strata ${name} <command> [options] [args]\n\nCommands:\n${subcommands
    .map((c) => `  ${[c.name, ...(c.aliases ?? [])].join(", ").padEnd(16)}${c.summary}`)
    .join("\n")}`;
  return {
    name,
    ...(aliases ? { aliases } : {}),
    summary,
    usage,
    async run(ctx, args) {
      const sub = args[0];
      if (sub === undefined || sub === "-h" || sub === "--help" || sub === "help") {
        (sub === undefined ? ctx.io.stderr : ctx.io.stdout).write(`${usage}\n`);
        return sub === undefined ? 2 : 0;
      }
      const command = subcommands.find((c) => c.name === sub || c.aliases?.includes(sub));
      if (command === undefined) {
        ctx.io.stderr.write(`strata ${name}: unknown command "${sub}"\n\n${usage}\n`);
        return 2;
      }
      const rest = args.slice(1);
      if (rest.includes("-h") || rest.includes("--help")) {
        ctx.io.stdout.write(`${command.usage}\n`);
        return 0;
      }
      return command.run(ctx, rest);
    },
  };
}

/** Options of {@link parseCommandArgs}: node:util's parseArgs options. */
export type OptionSpec = NonNullable<ParseArgsConfig["options"]>;

/**
 * Parses a command's own arguments strictly; throws a {@link UsageError}-like
 * InvalidArgument error with node's message on unknown options.
 */
export function parseCommandArgs<O extends OptionSpec>(
  args: readonly string[],
  options: O,
): {
  values: ReturnType<
    typeof parseArgs<{ options: O; allowPositionals: true; strict: true }>
  >["values"];
  positionals: string[];
} {
  try {
    const { values, positionals } = parseArgs({
      args: [...args],
      options,
      allowPositionals: true,
      strict: true,
    });
    return { values, positionals };
  } catch (err) {
    throw new UsageError((err as Error).message, { cause: err });
  }
}

/** A wrong use of a command: printed with the command's usage, exit code 2. */
export class UsageError extends InvalidArgumentError {
  override name: string = "UsageError";
}
