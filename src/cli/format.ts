// Plain-text output of the command line: aligned tables and times an operator reads at a glance.
import { formatDuration } from '../config/duration.js';

/** Columns padded to their widest cell; the header is the first row. */
export function table(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '));
}

/** "2026-05-01 12:00:05Z": UTC, to the second. */
export function timestamp(date: Date): string {
  return `${date.toISOString().slice(0, 19).replace('T', ' ')}Z`;
}

/** "3m20s ago", "now" or "in 27m", to the second. */
export function relative(date: Date, now: number): string {
  const seconds = Math.round((date.getTime() - now) / 1000);
  if (seconds === 0) return 'now';
  const text = formatDuration(Math.abs(seconds) * 1000);
  return seconds < 0 ? `${text} ago` : `in ${text}`;
}

export function milliseconds(ms: number): string {
  return ms < 10_000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** Session ids are bearer secrets for anonymous sessions: operators see this much of them, as in logs. */
export const ID_PREFIX_LENGTH = 8;

export function idPrefix(id: string): string {
  return `${id.slice(0, ID_PREFIX_LENGTH)}…`;
}
