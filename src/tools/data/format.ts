// Query results as a model reads them well: a compact Markdown table, values as Postgres prints
// them, NULL spelled out, long values and long results cut with a note that says so.
import type { RawResult } from './datasource.js';

/** A value longer than this is cut (its length is given). */
export const MAX_CELL_CHARS = 500;
/** Rows stop being added once the table is this long; the note says how many were left out. */
export const MAX_TABLE_CHARS = 60_000;

function cell(value: string | null): string {
  if (value === null) return 'NULL';
  let text = value;
  if (text.length > MAX_CELL_CHARS) text = `${text.slice(0, MAX_CELL_CHARS)}… (${value.length} characters)`;
  return text.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, '\\n');
}

export interface FormatOptions {
  /** The configured row cap (datasource.row_limit). */
  rowLimit: number;
  /** True when the datasource had more rows than the cap. */
  moreRows: boolean;
}

export function formatRows(result: RawResult, options: FormatOptions): string {
  const names = result.fields.map((f) => f.name);
  const rows = result.rows.slice(0, options.rowLimit);
  if (names.length === 0) return 'The statement returned no columns.';
  const lines = [`| ${names.map((n) => cell(n)).join(' | ')} |`, `|${names.map(() => ' --- ').join('|')}|`];
  let length = lines[0]!.length + lines[1]!.length;
  let shown = 0;
  for (const row of rows) {
    const line = `| ${row.map(cell).join(' | ')} |`;
    if (shown > 0 && length + line.length > MAX_TABLE_CHARS) break;
    lines.push(line);
    length += line.length + 1;
    shown++;
  }

  let head: string;
  if (rows.length === 0) head = 'No rows.';
  else if (options.moreRows) {
    head = `Showing the first ${shown} rows; the result has more (the row cap, datasource.row_limit, is ${options.rowLimit}). Narrow the query with WHERE, LIMIT or an aggregate to see the rest.`;
  } else if (shown < rows.length) {
    head = `Showing the first ${shown} of ${rows.length} rows, to keep the answer short. Select fewer columns or rows to see the rest.`;
  } else head = `${shown} ${shown === 1 ? 'row' : 'rows'}.`;
  if (options.moreRows && shown < rows.length)
    head += ` (${rows.length - shown} more of the first ${rows.length} were left out to keep the answer short.)`;
  return [head, '', ...lines].join('\n');
}
