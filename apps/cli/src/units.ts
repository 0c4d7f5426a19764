/**
 * Human-readable sizes and durations in the style of the docker/go-units
 * package, so that `strata` tables read like `ctr`'s.
 *
 * @module
 */

const DECIMAL_UNITS = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"] as const;

/**
 * A size in decimal units with four significant digits, as go-units'
 * HumanSize prints it: `"999B"`, `"1.234kB"`, `"10.49MB"`.
 */
export function humanSize(bytes: number): string {
  let size = bytes;
  let unit = 0;
  while (size >= 1000 && unit < DECIMAL_UNITS.length - 1) {
    size /= 1000;
    unit++;
  }
  return `${formatG4(size)}${DECIMAL_UNITS[unit]}`;
}

// Go's %.4g: four significant digits, trailing zeros removed.
function formatG4(value: number): string {
  if (value === 0) return "0";
  return String(Number(value.toPrecision(4)));
}

/**
 * A duration as go-units' HumanDuration words it: `"Less than a second"`,
 * `"5 seconds"`, `"About a minute"`, `"3 hours"`, `"2 weeks"`.
 */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 1) return "Less than a second";
  if (seconds === 1) return "1 second";
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(seconds / 60);
  if (minutes === 1) return "About a minute";
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(seconds / 3600);
  if (hours === 1) return "About an hour";
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(hours / 24 / 365)} years`;
}

/**
 * Parses a Go-style duration (`"24h"`, `"1h30m"`, `"90s"`, `"500ms"`) into
 * milliseconds; `undefined` when the text is not one.
 */
export function parseDuration(text: string): number | undefined {
  const factor: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let end = 0;
  for (const match of text.matchAll(re)) {
    total += Number(match[1]) * (factor[match[2] as string] as number);
    end = (match.index ?? 0) + match[0].length;
  }
  return end === text.length && text.length > 0 ? total : undefined;
}

const BINARY_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"] as const;

/**
 * A size in binary units with one decimal, as containerd's `progress.Bytes`
 * prints it in `ctr snapshots usage`: `"0.0 B"`, `"4.0 KiB"`, `"1.5 GiB"`.
 */
export function binarySize(bytes: number): string {
  let size = bytes;
  let unit = 0;
  while (size >= 1024 && unit < BINARY_UNITS.length - 1) {
    size /= 1024;
    unit++;
  }
  return `${size.toFixed(1)} ${BINARY_UNITS[unit]}`;
}
