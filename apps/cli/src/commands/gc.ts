import type { Command } from "../command.ts";
import { parseCommandArgs } from "../command.ts";
import { humanSize } from "../units.ts";

/** `strata gc`: runs the garbage collector now. */
export const gcCommand: Command = {
  name: "gc",
  summary: "collect garbage: remove what no lease or root label holds",
  usage: "usage: strata gc",
  async run(ctx, args) {
    parseCommandArgs(args, {});
    const backend = await ctx.backend();
    const report = await backend.gc({ signal: ctx.signal });
    ctx.io.stdout.write(
      `removed ${report.removedContent} blobs (${humanSize(report.removedBytes)}), ` +
        `${report.removedLeases} expired leases in ${report.durationMs.toFixed(1)}ms\n`,
    );
    return 0;
  },
};
