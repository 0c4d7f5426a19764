import type { Command } from "../command.ts";
import { parseCommandArgs, UsageError } from "../command.ts";

/** `strata commit DIR`: a directory into a new ref. */
export const commitCommand: Command = {
  name: "commit",
  summary: "copy a directory into a new ref (on a parent ref)",
  usage: `usage: strata commit DIR [--parent REF] [--description TEXT]

Copies DIR (ownership, modes, xattrs, links, times) into a new mutable ref on
REF, commits it and keeps it until it is removed or pruned. Prints the new
ref's id last.`,
  async run(ctx, args) {
    const { values, positionals } = parseCommandArgs(args, {
      parent: { type: "string", short: "p" },
      description: { type: "string", short: "d" },
    });
    const [dir] = positionals;
    if (dir === undefined || positionals.length > 1) throw new UsageError("expected one DIR");
    const backend = await ctx.backend();
    const info = await backend.cache.commitDirectory(dir, {
      ...(values.parent === undefined ? {} : { parent: values.parent }),
      ...(values.description === undefined ? {} : { description: values.description }),
      signal: ctx.signal,
    });
    ctx.io.stdout.write(`${info.id}\n`);
    return 0;
  },
};
