// The rules a statement must pass before `query` runs it, beyond what Postgres enforces by itself.
//
// Layers, each catching what the one before cannot:
// 1. The text (tokenized, never matched as a whole): one statement, starting as a query does.
// 2. The READ ONLY transaction every statement runs in: Postgres refuses writes, DDL,
//    SELECT ... FOR UPDATE/SHARE and nextval/setval on ordinary sequences.
// 3. The plan and the names (this file): what READ ONLY lets through. Advisory locks outlive the
//    transaction on a pooled connection, dblink writes through a connection of its own,
//    query_to_xml runs SQL given as text, pg_notify signals other sessions, and the platform's
//    schema is readable to any role with the grant. So: relations come from the plan (EXPLAIN
//    VERBOSE; views appear as the tables they read) and from the names the statement writes,
//    resolved by Postgres itself (to_regclass; this also catches what the planner drops, such
//    as an unused CTE or a scan under `where false`). Functions come from the same two places
//    and are judged by volatility: volatile ones change something by definition, apart from a
//    few built-ins that only produce values.
//
// Not seen: calls inside other functions' bodies, and functions reached through operators or
// casts. Such functions exist only if the database's owner created them; a datasource role that
// cannot write and has no grant on the platform's schema is the backstop (docs/toolsets.md).
import { hiddenKind, hiddenReason } from './hidden.js';
import type { NamedRelation } from './metadata.js';
import { calledNames, nameChains, quoteIdent, SqlSyntaxError, tokenize, type Token } from './sql/lexer.js';
import type { PlanFacts } from './sql/plan.js';

export interface Refusal {
  refused: string;
}

export interface InspectedStatement {
  /** The statement as given, without a trailing semicolon. */
  text: string;
  /** Every dotted name not written as a call, quoted for to_regclass. */
  relationNames: string[];
  /** Names written as calls. */
  calls: Set<string>;
}

const QUERY_STARTS = new Set(['select', 'with', 'values', 'table']);

/** At most this many distinct names are resolved (a statement rarely mentions a hundred). */
const MAX_NAMES = 1_000;

// Volatile built-ins that only produce values: refusing them would refuse ordinary queries
// (`order by random()`), and the statement timeout bounds pg_sleep.
const HARMLESS_VOLATILE = new Set([
  'random',
  'random_normal',
  'clock_timestamp',
  'timeofday',
  'gen_random_uuid',
  'uuidv4',
  'uuidv7',
  'pg_sleep',
  'pg_sleep_for',
  'pg_sleep_until',
]);

// Refused whatever their volatility says: they run SQL given as text (which no check sees), or
// reach outside the datasource.
const FORBIDDEN: [RegExp, string][] = [
  [/^(query|table|cursor|schema|database)_to_xml(schema|_and_xmlschema)?$/, "runs SQL passed as text, out of the checks' sight"],
  [/^ts_stat$/, "runs SQL passed as text, out of the checks' sight"],
  [/^dblink/, 'opens connections to other databases'],
  [/^pg_(read_file|read_binary_file|ls_dir|stat_file)$|^lo_/, 'reads files or large objects on the database server'],
];

export function isRefusal(value: unknown): value is Refusal {
  return typeof value === 'object' && value !== null && 'refused' in value;
}

/** Layer 1: checks the text and collects what layer 3 will resolve. */
export function inspectStatement(sql: string): InspectedStatement | Refusal {
  let tokens: Token[];
  try {
    tokens = tokenize(sql);
  } catch (error) {
    if (error instanceof SqlSyntaxError)
      return { refused: `the statement cannot be read: ${error.message} (at character ${error.position + 1})` };
    throw error;
  }
  let end = tokens.length;
  while (end > 0 && tokens[end - 1]!.kind === 'punct' && tokens[end - 1]!.value === ';') end--;
  tokens = tokens.slice(0, end);
  if (tokens.length === 0) return { refused: 'the statement is empty' };
  const semicolons = tokens.filter((t) => t.kind === 'punct' && t.value === ';').length;
  if (semicolons > 0) return { refused: `one statement at a time: the text holds ${semicolons + 1} statements` };

  const first = tokens[0]!;
  const startsAsQuery = (first.kind === 'word' && QUERY_STARTS.has(first.value)) || (first.kind === 'punct' && first.value === '(');
  if (!startsAsQuery) {
    const what = first.kind === 'word' ? first.value.toUpperCase() : JSON.stringify(sql.slice(first.start, first.end));
    return { refused: `only read-only queries run here (SELECT, WITH ... SELECT, VALUES, TABLE); this statement starts with ${what}` };
  }
  let depth = 0;
  for (const token of tokens) {
    if (token.kind === 'punct' && token.value === '(') depth++;
    else if (token.kind === 'punct' && token.value === ')') depth--;
    else if (depth === 0 && token.kind === 'word' && token.value === 'into') {
      return { refused: 'SELECT ... INTO creates a table; only read-only queries run here' };
    }
    if (depth < 0) return { refused: 'the statement has an unbalanced ")"' };
  }
  if (depth !== 0) return { refused: 'the statement has an unbalanced "("' };

  const names = new Set<string>();
  for (const chain of nameChains(tokens)) {
    if (chain.next?.kind === 'punct' && chain.next.value === '(') continue;
    // After `::` or AS comes a type or an alias, never a relation.
    if (chain.previous?.kind === 'punct' && chain.previous.value === '::') continue;
    if (chain.previous?.kind === 'word' && chain.previous.value === 'as') continue;
    // A longer chain is database.schema.relation (or a column reference, which resolves to nothing).
    names.add(chain.parts.slice(-2).map(quoteIdent).join('.'));
    if (chain.parts.length >= 3) names.add(chain.parts.slice(-3, -1).map(quoteIdent).join('.'));
  }
  if (names.size > MAX_NAMES) return { refused: `the statement mentions more than ${MAX_NAMES} names; split it` };
  const text = sql.slice(0, tokens[tokens.length - 1]!.end);
  return { text, relationNames: [...names], calls: calledNames(tokens) };
}

export interface Verdict {
  /** What the statement reads, views by their own name (see `references`). */
  references: string[];
}

/**
 * Layer 3: judges a statement by its plan, the relations its names resolve to and the volatile
 * functions of the datasource (name -> true when all of that name are built-in).
 */
export function judgeStatement(
  statement: InspectedStatement,
  plan: PlanFacts,
  named: NamedRelation[],
  volatile: ReadonlyMap<string, boolean>,
): Verdict | Refusal {
  if (plan.unreadable.length > 0) return { refused: `the plan holds an expression the checks cannot read: ${plan.unreadable[0]}` };
  if (plan.nodeTypes.has('ModifyTable'))
    return { refused: 'the statement writes data (INSERT, UPDATE, DELETE or MERGE); only read-only queries run here' };
  if (plan.nodeTypes.has('LockRows'))
    return { refused: 'the statement locks rows (SELECT ... FOR UPDATE/SHARE); only read-only queries run here' };

  const touched = new Set<string>([...plan.relations, ...named.flatMap((n) => [`${n.schema}.${n.name}`, ...n.reads])]);
  for (const relation of touched) {
    const kind = hiddenKind(relation.slice(0, relation.indexOf('.')));
    if (kind) return { refused: `the statement reads ${relation}; ${hiddenReason(kind)}` };
  }

  for (const fn of new Set([...statement.calls, ...plan.functions])) {
    const forbidden = FORBIDDEN.find(([pattern]) => pattern.test(fn));
    if (forbidden) return { refused: `the statement calls ${fn}(), which ${forbidden[1]}` };
    const builtinOnly = volatile.get(fn);
    if (builtinOnly === undefined || (builtinOnly && HARMLESS_VOLATILE.has(fn))) continue;
    return {
      refused: `the statement calls ${fn}(), a volatile function (one that may change state, e.g. nextval, setval, pg_advisory_lock, pg_notify); only read-only functions are allowed`,
    };
  }
  return { references: references(plan, named) };
}

/**
 * Views are referenced by their own name rather than as the tables the plan shows: the view is
 * what the statement asked for, and what its catalog entry describes. A planned relation is
 * referenced too unless it is there only because a named view reads it. A named table the plan
 * does not scan (a CTE or alias of the same name, or a scan the planner dropped) is not.
 */
function references(plan: PlanFacts, named: NamedRelation[]): string[] {
  // A view counts when the plan reads what it reads (a CTE may share its name), or when it reads
  // no table at all (a view over VALUES).
  const views = named.filter((n) => n.kind === 'v' && (n.reads.length === 0 || n.reads.some((r) => plan.relations.has(r))));
  const underViews = new Set(views.flatMap((v) => v.reads));
  const namedTables = new Set(named.filter((n) => n.kind !== 'v').map((n) => `${n.schema}.${n.name}`));
  const out = new Set<string>(views.map((v) => `${v.schema}.${v.name}`));
  for (const relation of plan.relations) {
    if (!underViews.has(relation) || namedTables.has(relation)) out.add(relation);
  }
  return [...out].sort();
}
