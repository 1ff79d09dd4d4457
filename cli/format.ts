/**
 * Aligned plain-text tables for terminal output. Hand-written because it is ten lines; a
 * table library would add box drawing nobody greps through.
 */
export function table(
  rows: readonly Readonly<Record<string, unknown>>[],
  columns: readonly string[],
): string {
  const cells = rows.map((row) =>
    columns.map((c) => (row[c] === undefined || row[c] === null ? '' : String(row[c]))),
  );
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => (r[i] as string).length)));
  const line = (values: readonly string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...cells.map(line)].join('\n');
}
