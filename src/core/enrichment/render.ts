// The semantic_context blocks appended to tool results: one text block per referenced thing,
// starting with `semantic_context:` so that a model (and a test) can tell it from the result.
// The full form is YAML; the others are one line.
import { stringify } from 'yaml';
import type { SemanticContext } from './context.js';

const SUMMARY_DESCRIPTION_CHARS = 160;

export function renderFull(context: SemanticContext): string {
  const doc: Record<string, unknown> = { semantic_context: context.name };
  if (context.description) doc.description = context.description;
  if (context.owner) doc.owner = context.owner;
  if (context.tags?.length) doc.tags = context.tags.join(', ');
  if (context.deprecated) doc.deprecated = context.deprecated;
  if (context.glossary?.length) doc.glossary = Object.fromEntries(context.glossary.map((g) => [g.term, g.definition]));
  if (context.columns?.length) {
    // A column with a description only is one line; one with more is a small mapping.
    doc.columns = Object.fromEntries(
      context.columns.map((c) => {
        const more: Record<string, string> = {};
        if (c.tags?.length) more.tags = c.tags.join(', ');
        if (c.glossary?.length) more.glossary = c.glossary.join(', ');
        if (c.deprecated) more.deprecated = c.deprecated;
        if (Object.keys(more).length === 0) return [c.name, c.description ?? ''];
        return [c.name, { ...(c.description && { description: c.description }), ...more }];
      }),
    );
  }
  return stringify(doc, { lineWidth: 0 }).trimEnd();
}

export function renderSummary(context: SemanticContext): string {
  const description =
    context.description && context.description.length > SUMMARY_DESCRIPTION_CHARS
      ? `${context.description.slice(0, SUMMARY_DESCRIPTION_CHARS - 1)}…`
      : context.description;
  const parts = [
    description,
    context.owner && `owner: ${context.owner}`,
    context.tags?.length && `tags: ${context.tags.join(', ')}`,
    context.deprecated && `DEPRECATED: ${context.deprecated}`,
  ].filter(Boolean);
  return `semantic_context: ${context.name} (summary; full context sent earlier in this session) ${parts.join(' | ')}`.trimEnd();
}

export function renderReference(name: string): string {
  return `semantic_context: ${name} (sent earlier in this session; not repeated)`;
}
