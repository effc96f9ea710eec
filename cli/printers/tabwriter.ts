// Elastic tabstops as kubectl's output uses them (Go's text/tabwriter rules):
// cells are tab-terminated; a column is aligned over a run of consecutive lines
// that all have a cell in it; its width is the widest cell plus padding, at
// least minWidth; the last cell of a line is never padded.

export interface TabOptions {
  minWidth: number;
  padding: number;
}

/** kubectl get: columns 3 spaces apart, at least 6 wide. */
export const TABLE_TABS: TabOptions = { minWidth: 6, padding: 3 };
/** kubectl describe: 2 spaces of padding, no minimum. */
export const DESCRIBE_TABS: TabOptions = { minWidth: 0, padding: 2 };

/** Aligns tab-separated lines (without trailing newlines); returns the lines padded. */
export function tabwrite(lines: string[], opts: TabOptions): string[] {
  const cells = lines.map((l) => l.split('\t'));
  const out = cells.map(() => '');
  const widthOf = (s: string) => [...s].length;

  // format(column, from, to): lines [from, to) have been aligned up to `column`.
  const format = (column: number, from: number, to: number): void => {
    let i = from;
    while (i < to) {
      const line = cells[i]!;
      // a line whose last cell is at or before `column` ends here: write its remainder
      if (column >= line.length - 1) {
        out[i] += line.slice(column).join('\t');
        i++;
        continue;
      }
      // a block of lines that all have a tab-terminated cell in `column`
      let end = i;
      let width = opts.minWidth;
      while (end < to && column < cells[end]!.length - 1) {
        width = Math.max(width, widthOf(cells[end]![column]!) + opts.padding);
        end++;
      }
      for (let j = i; j < end; j++) {
        const cell = cells[j]![column]!;
        out[j] += cell + ' '.repeat(width - widthOf(cell));
      }
      format(column + 1, i, end);
      i = end;
    }
  };
  format(0, 0, cells.length);
  return out;
}

/** A table (header + rows) printed as kubectl get prints it, ending with a newline. */
export function formatTable(header: string[] | undefined, rows: string[][], opts: TabOptions = TABLE_TABS): string {
  const all = header ? [header, ...rows] : rows;
  if (all.length === 0) return '';
  return tabwrite(all.map((r) => r.join('\t')), opts).join('\n') + '\n';
}
