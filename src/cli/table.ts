/** One column of a human table. */
export interface TableColumn<Row> {
  readonly header: string;
  readonly value: (row: Row) => string | number | boolean | null | undefined;
  /** Numbers read best right-aligned; everything else left. */
  readonly align?: 'left' | 'right';
}

/**
 * Render rows as a plain-text table: an upper-case header line, then one line per row, columns
 * separated by two spaces and padded to the widest cell. No borders and no trailing spaces, so the
 * output stays greppable and diffable (like `oc get`). null/undefined cells print as `-`.
 * Returns the table without a final newline; an empty row list yields the header alone.
 */
export function formatTable<Row>(columns: readonly TableColumn<Row>[], rows: readonly Row[]): string {
  const cells = rows.map((row) => columns.map((column) => cellText(column.value(row))));
  const headers = columns.map((column) => column.header.toUpperCase());
  const widths = headers.map((header, index) => Math.max(displayWidth(header), ...cells.map((line) => displayWidth(line[index] ?? ''))));

  const renderLine = (line: readonly string[]): string =>
    line
      .map((text, index) => {
        const pad = ' '.repeat((widths[index] ?? 0) - displayWidth(text));
        // The last left-aligned column is not padded: no trailing whitespace.
        if (columns[index]?.align === 'right') return pad + text;
        return index === line.length - 1 ? text : text + pad;
      })
      .join('  ');

  return [headers, ...cells].map(renderLine).join('\n');
}

function cellText(value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined || value === '') return '-';
  // A newline or tab inside a cell would break the grid; show it as a space.
  return String(value).replace(/[\t\r\n]+/g, ' ');
}

/** Code points, not UTF-16 units, so names with non-BMP characters line up. */
function displayWidth(text: string): number {
  return [...text].length;
}

/**
 * Render `label: value` detail lines (as `app show` / `admin node show` print them), labels
 * padded so the values line up. null/undefined values print as `-`.
 */
export function formatFields(fields: readonly (readonly [string, string | number | boolean | null | undefined])[]): string {
  const width = Math.max(0, ...fields.map(([label]) => displayWidth(label) + 1));
  return fields.map(([label, value]) => `${`${label}:`.padEnd(width)}  ${cellText(value)}`).join('\n');
}
