/**
 * Writes rows as columns padded with spaces, like Go's text/tabwriter with
 * the settings `ctr` uses (minwidth 10, tabwidth 1, padding 3).
 *
 * @example
 * ```ts
 * formatTable([["DIGEST", "SIZE"], ["sha256:ab..", "12B"]]);
 * ```
 */
export function formatTable(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      // The last cell of a row is not padded, so it does not widen its column.
      if (i < row.length - 1) widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows
    .map((row) =>
      row
        .map((cell, i) =>
          i < row.length - 1 ? cell.padEnd(Math.max((widths[i] ?? 0) + 3, 10)) : cell,
        )
        .join(""),
    )
    .map((line) => `${line.trimEnd()}\n`)
    .join("");
}
