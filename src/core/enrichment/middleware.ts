// The enrichment middleware: after a tool answers, it appends a semantic_context block for each
// thing the result references (ToolOutput.references), asking the provider registered for that
// kind. Per session, the full context goes once; within enrichment.session_dedup.entry_ttl later
// results carry a short reference, a one-line summary or nothing (mode), then the full context
// again. When dedup is off, every result carries the full context.
//
// What was sent is session state (see ./dedup.ts), written back by the session layer before the
// response leaves, never later. So there is nothing to flush when the Node server shuts down: a
// response that went out has its state stored, one that did not has nothing to keep.
import type { ToolMiddleware } from '../registry.js';
import { isInputRequired } from '../define.js';
import type { ResultReference } from './context.js';
import type { Logger } from '../../log.js';
import type { ContextProviders, SemanticContext } from './context.js';
import { decide, markSent, type DedupSettings, type Delivery } from './dedup.js';
import { renderFull, renderReference, renderSummary } from './render.js';

export interface EnrichmentOptions {
  dedup: DedupSettings;
  providers: ContextProviders;
  logger: Logger;
  /** The clock, in ms (tests move it). */
  now?: () => number;
}

export function enrichmentMiddleware(options: EnrichmentOptions): ToolMiddleware {
  const now = options.now ?? Date.now;
  return async (call, ctx, next) => {
    const result = await next();
    if (isInputRequired(result) || result.isError || !result.references?.length) return result;
    const at = now();

    const unique = new Map<string, ResultReference>();
    for (const ref of result.references) unique.set(`${ref.kind}\u0000${ref.name}`, ref);
    const plan = [...unique.values()].map((ref) => ({ ref, delivery: decide(ctx.session, ref, at, options.dedup) }));

    // Only full and summary deliveries need the context itself.
    const contexts = new Map<string, SemanticContext>();
    const byKind = new Map<ResultReference['kind'], string[]>();
    for (const { ref, delivery } of plan) {
      if (delivery === 'full' || delivery === 'summary') byKind.set(ref.kind, [...(byKind.get(ref.kind) ?? []), ref.name]);
    }
    for (const [kind, names] of byKind) {
      const provider = options.providers.get(kind);
      if (!provider) continue;
      try {
        for (const [name, context] of await provider.describe(names)) contexts.set(`${kind}\u0000${name}`, context);
      } catch (error) {
        // The tool's answer stands without its context; the next result tries again, since
        // nothing is marked as sent.
        options.logger.warn('enrichment: context unavailable', {
          tool: call.tool.name,
          kind,
          error: error instanceof Error ? error.message : String(error),
        });
      }
    }

    const blocks: string[] = [];
    for (const { ref, delivery } of plan) {
      const context = contexts.get(`${ref.kind}\u0000${ref.name}`);
      const block = render(ref, delivery, context);
      if (block === undefined) continue;
      blocks.push(block);
      if (delivery === 'full' && ctx.session) markSent(ctx.session, ref, at);
    }
    if (blocks.length === 0) return result;
    return { ...result, content: [...result.content, ...blocks.map((text) => ({ type: 'text' as const, text }))] };
  };
}

function render(ref: ResultReference, delivery: Delivery, context: SemanticContext | undefined): string | undefined {
  switch (delivery) {
    case 'full':
      return context && renderFull(context);
    case 'summary':
      // Without the context (its provider failed) a summary has nothing to say; a reference does.
      return context ? renderSummary(context) : renderReference(ref.name);
    case 'reference':
      return renderReference(ref.name);
    case 'none':
      return undefined;
  }
}
