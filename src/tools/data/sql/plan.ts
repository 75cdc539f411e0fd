// What a statement's plan (EXPLAIN (FORMAT JSON, VERBOSE)) says it does: the relations it scans,
// the functions it calls, the kinds of nodes it runs. Every node counts, wherever it hangs: join
// inputs, subqueries, CTEs, InitPlans and SubPlans all appear as children in "Plans".
import { calledNames, tokenize } from './lexer.js';

export interface PlanFacts {
  /** `schema.relation` of every scanned relation (views appear as the relations they read). */
  relations: Set<string>;
  /** Functions called anywhere in the plan's expressions (and function scans), unqualified. */
  functions: Set<string>;
  /** "Node Type" of every node, e.g. "Seq Scan", "LockRows", "ModifyTable". */
  nodeTypes: Set<string>;
  /** Plan texts that could not be tokenized: calls in them would go unseen. */
  unreadable: string[];
}

type PlanNode = Record<string, unknown> & { Plans?: PlanNode[] };

// Keys whose values are names, not expressions: their text could hold anything a quoted
// identifier may, so they are not read as expressions.
const NAME_KEYS = new Set([
  'Node Type',
  'Relation Name',
  'Schema',
  'Alias',
  'Index Name',
  'CTE Name',
  'Function Name',
  'Subplan Name',
  'Parent Relationship',
  'Trigger Name',
  'Constraint Name',
]);

/** Reads the JSON text EXPLAIN (FORMAT JSON) returns. */
export function planFacts(explainJson: string): PlanFacts {
  const facts: PlanFacts = { relations: new Set(), functions: new Set(), nodeTypes: new Set(), unreadable: [] };
  const parsed = JSON.parse(explainJson) as { Plan: PlanNode }[];
  for (const entry of parsed) walk(entry.Plan, facts);
  return facts;
}

function walk(node: PlanNode, facts: PlanFacts): void {
  const type = node['Node Type'];
  if (typeof type === 'string') facts.nodeTypes.add(type);
  const relation = node['Relation Name'];
  if (typeof relation === 'string') facts.relations.add(`${String(node.Schema ?? '')}.${relation}`);
  const fn = node['Function Name'];
  if (typeof fn === 'string') facts.functions.add(fn);
  for (const [key, value] of Object.entries(node)) {
    if (key === 'Plans' || NAME_KEYS.has(key)) continue;
    for (const text of typeof value === 'string'
      ? [value]
      : Array.isArray(value)
        ? value.filter((v): v is string => typeof v === 'string')
        : []) {
      // Deparsed expressions tokenize like any SQL (labels such as "InitPlan 1 (returns $0)" do
      // too); one that does not is reported rather than skipped, since a call in it would be missed.
      let tokens;
      try {
        tokens = tokenize(text);
      } catch {
        facts.unreadable.push(text);
        continue;
      }
      for (const name of calledNames(tokens)) facts.functions.add(name);
    }
  }
  for (const child of node.Plans ?? []) walk(child, facts);
}
