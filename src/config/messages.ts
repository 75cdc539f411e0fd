/**
 * How configuration problems are worded: "expected <what>, got <the value>". `configErrorMap` is
 * the one error map, passed to each parse of the configuration rather than set globally (the MCP
 * SDKs validate with the same zod in this process and keep their own words). A value kind whose
 * expectation needs words of its own passes them as its zod `error` through `expected`.
 */
import type { z } from 'zod';
import { describeValue } from './errors.js';

/** An issue's message in the house form, for a schema's `error` param. */
export function expected(what: string): (issue: { readonly input?: unknown }) => string {
  return (issue) => `expected ${what}, got ${describeValue(issue.input)}`;
}

/** zod's own issues in the configuration's words; undefined keeps zod's (unknown keys are worded with their hints later). */
export const configErrorMap: z.core.$ZodErrorMap = (issue) => {
  if (issue.code === 'invalid_type' && issue.expected === 'object') return expected('a mapping of settings')(issue);
  if (issue.code === 'invalid_type' && issue.expected === 'string') return expected('text')(issue);
  if (issue.code === 'invalid_value') return expected(`one of ${issue.values.map((v) => `"${String(v)}"`).join(', ')}`)(issue);
  return undefined;
};
