/**
 * Go-style durations ("30m", "1h30m", "500ms", "1.5h") as used in the configuration file.
 * Units: ms, s, m, h, d. The result is whole milliseconds.
 */

const UNIT_MS = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
} as const;

type Unit = keyof typeof UNIT_MS;

const EXAMPLES = 'e.g. "30s", "1m", "1h30m", "500ms", "1.5h"';

// One number followed by whatever letters come after it; the letters are checked separately so
// the error can name an unknown unit instead of calling the whole text garbage.
const COMPONENT = /^(\d+(?:\.\d*)?|\.\d+)([A-Za-zµμ]*)/;

function isUnit(text: string): text is Unit {
  return Object.hasOwn(UNIT_MS, text);
}

function invalid(text: string): Error {
  return new Error(`invalid duration "${text}": expected a number followed by a unit (ms, s, m, h, d), ${EXAMPLES}`);
}

/** Parses a duration such as "1h30m" into milliseconds. Throws an Error saying what is wrong. */
export function parseDuration(text: string): number {
  if (typeof text !== 'string') {
    throw new Error(`expected a duration string, ${EXAMPLES}`);
  }
  const input = text.trim();
  if (input === '') {
    throw new Error(`empty duration: write a number with a unit, ${EXAMPLES}`);
  }
  if (input.startsWith('-')) {
    throw new Error(`negative duration "${text}": durations must be zero or more, ${EXAMPLES}`);
  }
  if (input === '0') return 0;

  let rest = input;
  let total = 0;
  while (rest !== '') {
    const match = COMPONENT.exec(rest);
    if (match === null) throw invalid(text);
    const whole = match[0];
    const number = match[1] ?? '';
    const unit = match[2] ?? '';
    if (unit === '') {
      if (whole !== rest) throw invalid(text);
      throw new Error(`missing unit in duration "${text}": write e.g. "${number}s" or "${number}m" (units: ms, s, m, h, d)`);
    }
    if (!isUnit(unit)) {
      throw new Error(`unknown unit "${unit}" in duration "${text}": use ms, s, m, h or d, ${EXAMPLES}`);
    }
    total += Number(number) * UNIT_MS[unit];
    rest = rest.slice(whole.length);
  }

  const ms = Math.round(total);
  if (!Number.isSafeInteger(ms)) {
    throw new Error(`duration "${text}" is too large`);
  }
  return ms;
}

const FORMAT_UNITS: readonly [Unit, number][] = [
  ['d', UNIT_MS.d],
  ['h', UNIT_MS.h],
  ['m', UNIT_MS.m],
  ['s', UNIT_MS.s],
  ['ms', UNIT_MS.ms],
];

/** Formats milliseconds the way parseDuration reads them: 5400000 -> "1h30m", 0 -> "0s". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  let rest = Math.round(Math.abs(ms));
  if (rest === 0) return '0s';
  let out = ms < 0 ? '-' : '';
  for (const [unit, size] of FORMAT_UNITS) {
    const count = Math.floor(rest / size);
    if (count > 0) {
      out += `${count}${unit}`;
      rest -= count * size;
    }
  }
  return out;
}
