import type { Command } from "../command.ts";
import { parseCommandArgs } from "../command.ts";

/** `strata info`: where the CLI works and with what. */
export const infoCommand: Command = {
  name: "info",
  summary: "show the root (or daemon), namespace and runtime",
  usage: "usage: strata info",
  async run(ctx, args) {
    parseCommandArgs(args, {});
    const backend = await ctx.backend();
    ctx.io.stdout.write(
      `root:      ${backend.location}\nnamespace: ${backend.namespace}\nnode:      ${process.version}\n`,
    );
    return 0;
  },
};
