#!/usr/bin/env node
// The `stratad` executable: configuration, signals, and the daemon's lifetime.
import process from "node:process";
import { codeOf } from "@strata/errdefs";
import { loadConfig, USAGE } from "./config.ts";
import { startDaemon } from "./daemon.ts";
import { createLogger } from "./log.ts";

const config = await loadConfig(process.argv.slice(2), process.env).catch((err: unknown) => {
  process.stderr.write(`stratad: ${(err as Error).message}\n\n${USAGE}\n`);
  process.exit(2);
});
if (config === "help") {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const log = createLogger(config.logLevel, process.stderr);
try {
  const daemon = await startDaemon(config, log);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("shutting down", { signal });
    daemon.shutdown().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error("shutdown failed", { error: String(err) });
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
} catch (err) {
  log.error("cannot start", { error: (err as Error).message, code: codeOf(err) });
  process.exit(1);
}
