// The `query` tool's path: inspect the text, ask Postgres what the statement would read and call
// (a first read-only transaction), judge that, then run it (a second one) and read at most the row
// cap plus one row from a cursor. Two transactions because neon-http sends a transaction as one
// batch: the checks must be done before the statement runs, not after. The second transaction
// plans the statement again and the verdict must still hold, so a view redefined in between
// cannot slip anything past the checks; its rows are dropped otherwise.
import type { Datasource, RawResult } from './datasource.js';
import { inspectStatement, isRefusal, judgeStatement, type Refusal } from './guard.js';
import { readJson, resolveRelationsStatement, volatileFunctionsStatement, type NamedRelation } from './metadata.js';
import { planFacts } from './sql/plan.js';

export interface QueryResult {
  result: RawResult;
  /** More rows existed than the cap. */
  moreRows: boolean;
  /** `schema.relation` of what the statement read. */
  references: string[];
}

const CURSOR = 'baton_query';
/** How long the list of volatile functions is trusted before it is read again. */
const FUNCTIONS_TTL_MS = 5 * 60_000;

/** The datasource's volatile function names, read once and kept for a while. */
export class VolatileFunctions {
  #loaded: { at: number; names: Promise<Map<string, boolean>> } | undefined;
  constructor(private readonly now: () => number = Date.now) {}

  get(datasource: Datasource): Promise<Map<string, boolean>> {
    if (!this.#loaded || this.now() - this.#loaded.at > FUNCTIONS_TTL_MS) {
      const names = datasource
        .readOnly([volatileFunctionsStatement()])
        .then(([result]) => new Map(Object.entries(readJson<Record<string, boolean>>(result))));
      this.#loaded = { at: this.now(), names };
      names.catch(() => {
        // Not kept: the next statement asks again.
        if (this.#loaded?.names === names) this.#loaded = undefined;
      });
    }
    return this.#loaded.names;
  }
}

export async function runQuery(
  datasource: Datasource,
  functions: VolatileFunctions,
  sql: string,
  rowLimit: number,
): Promise<QueryResult | Refusal> {
  const statement = inspectStatement(sql);
  if (isRefusal(statement)) return statement;
  const volatile = await functions.get(datasource);
  const explain = { text: `explain (format json, verbose) ${statement.text}` };

  const [planned, resolved] = await datasource.readOnly([explain, resolveRelationsStatement(statement.relationNames)]);
  const named = readJson<NamedRelation[]>(resolved);
  const before = judgeStatement(statement, planFacts(planText(planned)), named, volatile);
  if (isRefusal(before)) return before;

  const [replanned, , fetched] = await datasource.readOnly([
    explain,
    { text: `declare ${CURSOR} no scroll cursor for ${statement.text}` },
    { text: `fetch forward ${rowLimit + 1} from ${CURSOR}` },
  ]);
  const after = judgeStatement(statement, planFacts(planText(replanned)), named, volatile);
  if (isRefusal(after)) return after;
  const result = fetched!;
  return { result, moreRows: result.rows.length > rowLimit, references: after.references };
}

function planText(result: RawResult | undefined): string {
  const text = result?.rows[0]?.[0];
  if (typeof text !== 'string') throw new Error('the datasource answered EXPLAIN without a plan');
  return text;
}
