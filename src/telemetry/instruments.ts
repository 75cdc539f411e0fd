// The metrics mcp-baton records, by OpenTelemetry's MCP and database conventions where they name
// one, and in the same style (`baton.*`) where the platform has more to say. Without an SDK the
// API hands out no-op instruments, so recording costs a function call.
import { type Counter, type Histogram, type Meter, type MeterProvider, metrics } from '@opentelemetry/api';

export const SCOPE = 'mcp-baton';

/**
 * The instruments measured in seconds. A Prometheus exposition names them with the unit's suffix
 * (`mcp_server_operation_duration_seconds`, as other MCP servers expose it), which the Node
 * entry's views add.
 */
export const SECONDS_INSTRUMENTS = [
  'mcp.server.operation.duration',
  'mcp.server.session.duration',
  'db.client.operation.duration',
  'baton.channel.delivery.lag',
  'baton.drain.duration',
];

// The MCP conventions' advice for operation and session durations (seconds).
const OPERATION_BUCKETS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300];
const STATEMENT_BUCKETS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10];
const LAG_BUCKETS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30];
const DRAIN_BUCKETS = [0.1, 0.5, 1, 2, 5, 10, 15, 20, 30, 45, 60, 120];
const COUNT_BUCKETS = [0, 1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 50];

export interface Instruments {
  readonly meter: Meter;
  /** mcp.server.operation.duration: one MCP request, from its arrival to its answer's end. */
  readonly operation: Histogram;
  /** mcp.server.session.duration: a 2025 session, from its creation to its end. */
  readonly session: Histogram;
  /** baton.sessions.created / baton.sessions.ended (by reason: deleted, revoked, expired). */
  readonly sessionsCreated: Counter;
  readonly sessionsEnded: Counter;
  /** baton.request.statements: store statements one MCP request cost (the per-request budget: 1, or 2 when state changed). */
  readonly statements: Histogram;
  /** db.client.operation.duration: one store statement, by driver. */
  readonly statementDuration: Histogram;
  /** baton.requests.refused: /mcp answers 401, 403, 404, 413, 429 and 503, by status and cause. */
  readonly refused: Counter;
  /** baton.tasks.created / baton.tasks.finished (completed, failed) / baton.tasks.taken_over. */
  readonly tasksCreated: Counter;
  readonly tasksFinished: Counter;
  readonly takeovers: Counter;
  /** baton.channel.delivery.lag: a channel message from its publish to its delivery here. */
  readonly deliveryLag: Histogram;
  /** baton.drain.duration: a shutdown from its signal to the store closed. */
  readonly drain: Histogram;
}

// Keyed on the global provider: an SDK registered after this module loaded (the Node entry
// installs one before it serves) gets instruments of its own, not the no-op ones made before.
let cached: { provider: MeterProvider; instruments: Instruments } | undefined;

export function instruments(): Instruments {
  const provider = metrics.getMeterProvider();
  if (cached?.provider !== provider) cached = { provider, instruments: create(provider.getMeter(SCOPE)) };
  return cached.instruments;
}

function create(meter: Meter): Instruments {
  const seconds = (name: string, description: string, buckets: number[]) =>
    meter.createHistogram(name, { unit: 's', description, advice: { explicitBucketBoundaries: buckets } });
  return {
    meter,
    operation: seconds('mcp.server.operation.duration', 'Duration of an MCP request as the server observed it', OPERATION_BUCKETS),
    session: seconds('mcp.server.session.duration', 'Duration of an MCP session (2025 era) from creation to end', OPERATION_BUCKETS),
    sessionsCreated: meter.createCounter('baton.sessions.created', { unit: '{session}', description: 'Sessions created (2025 era)' }),
    sessionsEnded: meter.createCounter('baton.sessions.ended', { unit: '{session}', description: 'Sessions ended, by reason' }),
    statements: meter.createHistogram('baton.request.statements', {
      unit: '{statement}',
      description: 'Store statements one MCP request cost',
      advice: { explicitBucketBoundaries: COUNT_BUCKETS },
    }),
    statementDuration: seconds('db.client.operation.duration', 'Duration of one store statement', STATEMENT_BUCKETS),
    refused: meter.createCounter('baton.requests.refused', {
      unit: '{request}',
      description: 'MCP requests refused, by HTTP status and cause',
    }),
    tasksCreated: meter.createCounter('baton.tasks.created', { unit: '{task}', description: 'Tasks created' }),
    tasksFinished: meter.createCounter('baton.tasks.finished', {
      unit: '{task}',
      description: 'Task runs that wrote an outcome, by status',
    }),
    takeovers: meter.createCounter('baton.tasks.taken_over', {
      unit: '{task}',
      description: 'Tasks this instance took over from one that is gone',
    }),
    deliveryLag: seconds(
      'baton.channel.delivery.lag',
      'Time from a channel message being published to its delivery on this instance',
      LAG_BUCKETS,
    ),
    drain: seconds('baton.drain.duration', 'Duration of a shutdown drain, from the signal to the store closed', DRAIN_BUCKETS),
  };
}
