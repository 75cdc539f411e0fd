// A real OTLP/HTTP receiver for tests: a small HTTP server that decodes what an OpenTelemetry
// exporter posts to /v1/traces (OTLP's JSON encoding) and keeps every span, so that a test waits
// for the span it expects. Used for the Node server (test/telemetry.test.ts) and the Worker
// (test/worker-otel.test.ts).
import { createServer, type Server } from 'node:http';

export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: { key: string; value: Record<string, unknown> }[];
  links?: { traceId: string; spanId: string }[];
  /** The attributes of the resource that sent it (which process). */
  resource: { key: string; value: Record<string, unknown> }[];
}

export const SERVER_KIND = 2;

/** An OTLP/HTTP receiver: keeps every span posted to /v1/traces and wakes whoever waits for one. */
export class Receiver {
  readonly spans: OtlpSpan[] = [];
  readonly server: Server;
  #waiters: (() => void)[] = [];

  constructor() {
    this.server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        if (request.url === '/v1/traces') {
          const decoded = JSON.parse(body) as {
            resourceSpans: { resource?: { attributes: OtlpSpan['resource'] }; scopeSpans: { spans: Omit<OtlpSpan, 'resource'>[] }[] }[];
          };
          for (const { resource, scopeSpans } of decoded.resourceSpans) {
            for (const scope of scopeSpans)
              this.spans.push(...scope.spans.map((span) => ({ ...span, resource: resource?.attributes ?? [] })));
          }
          for (const wake of this.#waiters.splice(0)) wake();
        }
        response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  }

  /** Resolves with the spans that match once one has arrived (the test's timeout bounds the wait). */
  async waitFor(match: (span: OtlpSpan) => boolean): Promise<OtlpSpan> {
    for (;;) {
      const found = this.spans.find(match);
      if (found) return found;
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }
}

export const attribute = (span: OtlpSpan, key: string) => {
  const value = span.attributes.find((a) => a.key === key)?.value;
  return value?.stringValue ?? value?.intValue;
};
