import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fromSystemError, InternalError } from "@strata/errdefs";

// cp runs under `setpriv --pdeathsig KILL` where util-linux has it, so that
// it dies with this process: a cp orphaned by a crash would go on writing
// into the temporary directory that the next open's cleanup is deleting.
const SETPRIV = ["/usr/bin/setpriv", "/bin/setpriv"].find((p) => existsSync(p));

/**
 * Copies the tree `src` into the existing directory `dst` with everything
 * a layer can carry (modes, owners, times, xattrs, hardlinks, devices,
 * fifos, sockets) and reflink clones where the file system allows, plain
 * copies elsewhere: GNU `cp -a --reflink=auto`, whose copy loop (copy_file_range,
 * FICLONE) is what a native copier would do, without shipping one.
 *
 * @throws {InternalError} when cp fails, with its message.
 */
export function copyTree(
  src: string,
  dst: string,
  options: { signal?: AbortSignal } = {},
): Promise<void> {
  return new Promise((resolve, reject) => {
    const cp = ["cp", "-a", "--reflink=auto", "-T", "--", src, dst];
    const argv = SETPRIV === undefined ? cp : [SETPRIV, "--pdeathsig", "KILL", "--", ...cp];
    const child = spawn(argv[0] as string, argv.slice(1), {
      stdio: ["ignore", "ignore", "pipe"],
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      if (stderr.length < 4096) stderr += d;
    });
    child.on("error", (err) => {
      if (options.signal?.aborted) reject(options.signal.reason);
      else reject(fromSystemError(err, `cannot copy ${src} to ${dst}: cannot run cp`));
    });
    child.on("close", (code) => {
      if (code === 0) resolve();
      else if (!options.signal?.aborted)
        reject(
          new InternalError(
            `cannot copy ${src} to ${dst}: cp exited with ${code}: ${stderr.trim()}`,
          ),
        );
    });
  });
}
