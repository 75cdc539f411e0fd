// Parses the command line, reads the same configuration as the server (baton.yaml, BATON_CONFIG,
// BATON_CONFIG_YAML, environment overrides), opens the session database and runs one command.
// Everything the arguments can get wrong is refused here, before the database is opened.
import { parseArgs } from 'node:util';
import { ConfigError } from '../config/errors.js';
import { parseDuration } from '../config/duration.js';
import { StoreUnavailableError } from '../store/errors.js';
import { createLogger } from '../log.js';
import { type Admin, createAdmin } from '../api/node.js';
import {
  EXIT,
  NOTIFICATIONS,
  cleanupCommand,
  listCommand,
  migrateCommand,
  notifyCommand,
  revokeCommand,
  type Io,
  type Notification,
} from './commands.js';
import { ID_PREFIX_LENGTH } from './format.js';
import { tasksCancelCommand, tasksListCommand, tasksShowCommand } from './tasks.js';
import type { TaskStatus } from '../store/tasks/types.js';

export const USAGE = `Usage: baton <command> [options]

Commands:
  migrate                      Apply the bundled database migrations; prints what was applied.
  sessions list [--limit N]    Live sessions, most recently active first (default limit 50).
  sessions revoke <id>         Remove a session by its full id (the Mcp-Session-Id value);
                               an id that starts with "-" goes after "--".
  sessions revoke --prefix <p> Remove the one session whose id starts with p (as 'sessions list' shows it).
  tasks list [--status S[,S...]] [--tool NAME] [--limit N] [--after <p>] [--json]
                               Tasks of every credential, newest first (default limit 50). Statuses:
                               working, input_required, completed, failed, cancelled; open = the
                               first two. --after continues after the task a page ended with.
  tasks show <id> | --prefix <p> [--json]
                               Everything about one task: status, tool, times, lease, attempts,
                               input asked and given, its result or error summarised.
  tasks cancel <id> | --prefix <p>
                               Cancel a task that has not ended; the instance running it stops it.
                               A task id that starts with "-" goes after "--", as a session id.
  cleanup [--budget D] [--batch-size N]
                               Remove expired and idle sessions once; prints what it removed.
  notify tools-changed | prompts-changed | resources-changed
                               Tell every session's event stream, on every instance, that a list changed.
  notify resource-updated <uri>
                               Tell the streams of the sessions subscribed to <uri> that it changed.
  help                         This text.

Configuration is read as by the server: baton.yaml in the working directory or the file in
BATON_CONFIG (or BATON_CONFIG_YAML), then environment overrides such as DATABASE_URL and
SESSIONS_STORE. The commands work on the database store (sessions.store: database).

Exit codes: 0 done; 1 failed (not found, database error); 2 usage or configuration error.`;

const OPTIONS = {
  limit: { type: 'string' },
  prefix: { type: 'boolean' },
  budget: { type: 'string' },
  'batch-size': { type: 'string' },
  status: { type: 'string' },
  tool: { type: 'string' },
  after: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type OptionName = keyof typeof OPTIONS;

class UsageError extends Error {}

interface Parsed {
  command: 'migrate' | 'sessions list' | 'sessions revoke' | 'tasks list' | 'tasks show' | 'tasks cancel' | 'cleanup' | 'notify' | 'help';
  values: Partial<Record<OptionName, string | boolean>>;
  id?: string;
  notification?: Notification;
  uri?: string;
}

const ALLOWED: Record<Parsed['command'], OptionName[]> = {
  migrate: [],
  'sessions list': ['limit'],
  'sessions revoke': ['prefix'],
  'tasks list': ['limit', 'status', 'tool', 'after', 'json'],
  'tasks show': ['prefix', 'json'],
  'tasks cancel': ['prefix'],
  cleanup: ['budget', 'batch-size'],
  notify: [],
  help: [],
};

function parse(argv: string[]): Parsed {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    // Session and task ids are base64url: one in 32 starts with "-" and reads as an option.
    const dashed = argv.find((arg) => /^-[A-Za-z0-9_-]{20,}$/.test(arg));
    const [noun, verb] = argv[0] === 'tasks' ? ['task', `tasks ${argv[1] ?? 'cancel'}`] : ['session', 'sessions revoke'];
    const hint = dashed ? `; a ${noun} id that starts with "-" goes after "--": baton ${verb} -- ${dashed.slice(0, 8)}…` : '';
    throw new UsageError(`${(error as Error).message}${hint}`);
  }
  const { values, positionals } = parsed;
  if (values.help || positionals[0] === 'help') return { command: 'help', values: {} };
  const [first, second, ...rest] = positionals;
  let result: Parsed;
  if (first === undefined) throw new UsageError('no command given');
  if (first === 'migrate' || first === 'cleanup') {
    if (second !== undefined) throw new UsageError(`"${first}" takes no arguments, got "${second}"`);
    result = { command: first, values };
  } else if (first === 'sessions') {
    if (second === 'list') {
      if (rest.length > 0) throw new UsageError(`"sessions list" takes no arguments, got "${rest[0]}"`);
      result = { command: 'sessions list', values };
    } else if (second === 'revoke') {
      if (rest.length !== 1) throw new UsageError('"sessions revoke" takes exactly one session id');
      result = { command: 'sessions revoke', values, id: rest[0]! };
    } else {
      throw new UsageError(
        second === undefined
          ? '"sessions" needs a subcommand: list or revoke'
          : `unknown subcommand "sessions ${second}" (known: list, revoke)`,
      );
    }
  } else if (first === 'tasks') {
    if (second === 'list') {
      if (rest.length > 0) throw new UsageError(`"tasks list" takes no arguments, got "${rest[0]}"`);
      result = { command: 'tasks list', values };
    } else if (second === 'show' || second === 'cancel') {
      if (rest.length !== 1) throw new UsageError(`"tasks ${second}" takes exactly one task id`);
      result = { command: `tasks ${second}`, values, id: rest[0]! };
    } else {
      throw new UsageError(
        second === undefined
          ? '"tasks" needs a subcommand: list, show or cancel'
          : `unknown subcommand "tasks ${second}" (known: list, show, cancel)`,
      );
    }
  } else if (first === 'notify') {
    const known = Object.keys(NOTIFICATIONS).join(', ');
    if (second === undefined) throw new UsageError(`"notify" needs what changed: ${known}`);
    if (!Object.hasOwn(NOTIFICATIONS, second)) throw new UsageError(`unknown notification "notify ${second}" (known: ${known})`);
    const notification = second as Notification;
    if (notification === 'resource-updated') {
      if (rest.length !== 1 || rest[0] === '') throw new UsageError('"notify resource-updated" takes exactly one resource URI');
      result = { command: 'notify', values, notification, uri: rest[0]! };
    } else {
      if (rest.length > 0) throw new UsageError(`"notify ${notification}" takes no arguments, got "${rest[0]}"`);
      result = { command: 'notify', values, notification };
    }
  } else {
    throw new UsageError(`unknown command "${first}"`);
  }
  for (const name of Object.keys(values) as OptionName[]) {
    if (!ALLOWED[result.command].includes(name)) throw new UsageError(`option --${name} does not apply to "${result.command}"`);
  }
  return result;
}

function positiveInteger(value: string | boolean | undefined, name: string, max: number): number | undefined {
  if (value === undefined) return undefined;
  const number = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(number) || number < 1 || number > max)
    throw new UsageError(`--${name}: expected a whole number from 1 to ${max}, got "${value}"`);
  return number;
}

const STATUSES: readonly TaskStatus[] = ['working', 'input_required', 'completed', 'failed', 'cancelled'];

/** `--status working,failed`; `open` stands for the statuses of a task that has not ended. */
function statuses(value: string | boolean | undefined): TaskStatus[] | undefined {
  if (value === undefined) return undefined;
  const picked = new Set<TaskStatus>();
  for (const name of String(value).split(',')) {
    if (name === 'open') {
      picked.add('working').add('input_required');
    } else if ((STATUSES as readonly string[]).includes(name)) {
      picked.add(name as TaskStatus);
    } else {
      throw new UsageError(`--status: unknown status "${name}" (known: ${[...STATUSES, 'open'].join(', ')})`);
    }
  }
  return STATUSES.filter((status) => picked.has(status));
}

/** `--after`: the prefix a page ended with, checked before anything is opened. */
function prefixOption(value: string | boolean | undefined, name: string): string | undefined {
  if (value === undefined) return undefined;
  const prefix = String(value).replace(/…$/, '');
  if (prefix.length < ID_PREFIX_LENGTH)
    throw new UsageError(`--${name}: a prefix needs at least ${ID_PREFIX_LENGTH} characters, got ${prefix.length}`);
  return prefix;
}

function duration(value: string | boolean | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  let ms: number;
  try {
    ms = parseDuration(String(value));
  } catch (error) {
    throw new UsageError(`--${name}: ${(error as Error).message}`);
  }
  if (ms <= 0) throw new UsageError(`--${name}: must be longer than zero`);
  return ms;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export async function runCli(argv: string[], io: Io, options: RunOptions = {}): Promise<number> {
  let parsed: Parsed;
  let limit: number | undefined;
  let budgetMs: number | undefined;
  let batchSize: number | undefined;
  let status: TaskStatus[] | undefined;
  let after: string | undefined;
  try {
    parsed = parse(argv);
    limit = positiveInteger(parsed.values.limit, 'limit', 10_000);
    status = statuses(parsed.values.status);
    after = prefixOption(parsed.values.after, 'after');
    budgetMs = duration(parsed.values.budget, 'budget');
    batchSize = positiveInteger(parsed.values['batch-size'], 'batch-size', 1_000_000);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.err(`error: ${error.message}\n`);
    io.err(USAGE);
    return EXIT.usage;
  }
  if (parsed.command === 'help') {
    io.out(USAGE);
    return EXIT.ok;
  }

  let admin: Admin;
  try {
    admin = createAdmin({
      env: options.env ?? process.env,
      cwd: options.cwd ?? process.cwd(),
      logger: createLogger('warn', (line) => io.err(line)),
    });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    io.err(error.message);
    return EXIT.usage;
  }
  const { config } = admin;
  if (parsed.command === 'notify' && admin.embedded) {
    io.err(
      [
        `error: no database URL is configured, so the database is the embedded one in ${config.database.pglite_dir}, which`,
        'serves one process: the server announces changes itself (platform.changes, or ctx.changes in a tool).',
        'With a Postgres database (DATABASE_URL), this command announces them to every instance.',
      ].join('\n'),
    );
    return EXIT.usage;
  }
  if (admin.embedded) {
    io.err(
      `note: no database URL is configured, so this is the embedded database in ${config.database.pglite_dir}, which one process uses at a time`,
    );
  }

  try {
    if (parsed.command === 'migrate') return await migrateCommand(admin, io);
    if (parsed.command === 'sessions list') return await listCommand(admin, limit ?? 50, io);
    if (parsed.command === 'sessions revoke') return await revokeCommand(admin, parsed.id!, parsed.values.prefix === true, io);
    const byPrefix = parsed.values.prefix === true;
    const json = parsed.values.json === true;
    if (parsed.command === 'tasks list') {
      const tool = parsed.values.tool === undefined ? undefined : String(parsed.values.tool);
      return await tasksListCommand(
        admin,
        { limit: limit ?? 50, json, ...(status && { status }), ...(tool !== undefined && { tool }), ...(after !== undefined && { after }) },
        io,
      );
    }
    if (parsed.command === 'tasks show') return await tasksShowCommand(admin, parsed.id!, byPrefix, json, io);
    if (parsed.command === 'tasks cancel') return await tasksCancelCommand(admin, parsed.id!, byPrefix, io);
    if (parsed.command === 'notify') return await notifyCommand(admin, parsed.notification!, parsed.uri, io);
    return await cleanupCommand(admin, { ...(budgetMs !== undefined && { budgetMs }), ...(batchSize !== undefined && { batchSize }) }, io);
  } catch (error) {
    io.err(`error: ${describeFailure(error)}`);
    return EXIT.failed;
  } finally {
    await admin.close();
  }
}

function describeFailure(error: unknown): string {
  // Its message says what is wrong and what to do.
  if (error instanceof StoreUnavailableError) return error.message;
  for (let e: any = error; e; e = e.cause) {
    // 42P01 undefined table, 3F000 undefined schema: nothing was migrated, and auto_migrate is off.
    if (e.code === '42P01' || e.code === '3F000')
      return 'the session table does not exist yet: run "baton migrate" (database.auto_migrate is false)';
  }
  return error instanceof Error ? error.message : String(error);
}
