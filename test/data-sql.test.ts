// The pieces of the query checks that need no database: the tokenizer, the plan reader and the
// text rules of the guard. What Postgres says about real statements is in data-query.test.ts.
import { describe, expect, it } from 'vitest';
import { calledNames, nameChains, splitStatements, SqlSyntaxError, tokenize } from '../src/tools/data/sql/lexer.js';
import { planFacts } from '../src/tools/data/sql/plan.js';
import { inspectStatement, isRefusal, judgeStatement, type InspectedStatement } from '../src/tools/data/guard.js';

describe('tokenizer', () => {
  it('never sees words inside strings, quoted identifiers, comments or dollar quotes', () => {
    const sql = `select 'nextval(1)', E'it\\'s setval(', $f$ pg_advisory_lock(1) $f$, $$x$$, "Odd ""Name""" -- delete(
      /* nested /* dblink( */ still comment */ from t`;
    const words = tokenize(sql)
      .filter((t) => t.kind === 'word')
      .map((t) => t.value);
    expect(words).toEqual(['select', 'from', 't']);
    expect(tokenize(sql).find((t) => t.kind === 'quoted')?.value).toBe('Odd "Name"');
  });

  it('folds unquoted words to lower case and keeps quoted ones', () => {
    const chains = nameChains(tokenize('SELECT * FROM Public.Orders JOIN "Sales"."Q1" ON true'));
    expect(chains.map((c) => c.parts)).toEqual([['select'], ['from'], ['public', 'orders'], ['join'], ['Sales', 'Q1'], ['on'], ['true']]);
  });

  it('names calls, qualified or not, with spaces before the parenthesis', () => {
    expect([...calledNames(tokenize("select pg_catalog.nextval ('s'), NOW(), x::numeric(10,2) from generate_series(1,2)"))].sort()).toEqual(
      ['generate_series', 'nextval', 'now', 'numeric'].sort(),
    );
  });

  it('reports what it cannot read', () => {
    expect(() => tokenize("select 'open")).toThrow(SqlSyntaxError);
    expect(() => tokenize('select /* open')).toThrow(/unterminated/);
    expect(() => tokenize('select $tag$ open')).toThrow(/dollar/);
  });

  it('splits a script at top-level semicolons only', () => {
    expect(splitStatements("create table t (a text default ';'); -- ;\ninsert into t values ($$;$$);\n\n")).toEqual([
      "create table t (a text default ';')",
      '-- ;\ninsert into t values ($$;$$)',
    ]);
  });
});

describe('plan reader', () => {
  const plan = JSON.stringify([
    {
      Plan: {
        'Node Type': 'Result',
        Output: ['$0', 'random()'],
        Plans: [
          {
            'Node Type': 'Aggregate',
            'Parent Relationship': 'InitPlan',
            'Subplan Name': 'InitPlan 1 (returns $0)',
            Output: ['count(*)'],
            Plans: [
              { 'Node Type': 'Seq Scan', 'Relation Name': 'orders', Schema: 'public', Alias: 'o', Filter: "(o.status = 'x(y'::text)" },
            ],
          },
          { 'Node Type': 'Function Scan', 'Function Name': 'generate_series', Schema: 'pg_catalog', Output: ['g.g'] },
          {
            'Node Type': 'CTE Scan',
            'CTE Name': 'weird(name',
            Plans: [{ 'Node Type': 'Index Scan', 'Relation Name': 'sessions', Schema: 'baton', 'Index Cond': '(id = lower($1))' }],
          },
        ],
      },
    },
  ]);

  it('collects relations, functions and node types from every node, subplans included', () => {
    const facts = planFacts(plan);
    expect([...facts.relations].sort()).toEqual(['baton.sessions', 'public.orders']);
    expect([...facts.functions].sort()).toEqual(['count', 'generate_series', 'lower', 'random']);
    expect(facts.nodeTypes.has('Index Scan')).toBe(true);
    expect(facts.unreadable).toEqual([]);
  });
});

describe('statement rules', () => {
  const refused = (sql: string) => {
    const result = inspectStatement(sql);
    return isRefusal(result) ? result.refused : undefined;
  };

  it('takes one query, with or without a trailing semicolon', () => {
    const ok = inspectStatement('select * from orders;  ') as InspectedStatement;
    expect(ok.text).toBe('select * from orders');
    expect(ok.relationNames).toContain('"orders"');
    expect(inspectStatement('(select 1) union (select 2)')).not.toHaveProperty('refused');
    expect(inspectStatement('with x as (select 1) select * from x')).not.toHaveProperty('refused');
    expect(inspectStatement('values (1)')).not.toHaveProperty('refused');
    expect(inspectStatement('table orders')).not.toHaveProperty('refused');
  });

  it('refuses what is not a single query', () => {
    expect(refused('select 1; select 2')).toMatch(/one statement at a time/);
    expect(refused('select 1; delete from orders')).toMatch(/one statement at a time/);
    expect(refused('  ')).toMatch(/empty/);
    for (const sql of [
      'insert into t values (1)',
      'UPDATE t SET a = 1',
      'delete from t',
      'create table x (a int)',
      'drop table orders',
      'truncate orders',
      'set role postgres',
      'copy t to stdout',
      'explain select 1',
      'call p()',
      'do $$ begin end $$',
    ]) {
      expect(refused(sql), sql).toMatch(/only read-only queries/);
    }
    expect(refused('select * into copy_of_orders from orders')).toMatch(/INTO creates a table/);
    expect(refused("select 'unterminated")).toMatch(/cannot be read/);
    expect(refused('select (1')).toMatch(/unbalanced/);
  });

  it('skips aliases and types when naming relations, and keeps the last two parts of long names', () => {
    const s = inspectStatement('select o.id as pg_class, x::regclass from mydb.public.orders o') as InspectedStatement;
    expect(s.relationNames).not.toContain('"pg_class"');
    expect(s.relationNames).not.toContain('"regclass"');
    expect(s.relationNames).toContain('"public"."orders"');
  });

  it('judges by plan: writes, locks, hidden relations, forbidden and volatile functions', () => {
    const statement = inspectStatement('select 1') as InspectedStatement;
    const facts = (nodeTypes: string[], relations: string[] = [], functions: string[] = []) => ({
      nodeTypes: new Set(nodeTypes),
      relations: new Set(relations),
      functions: new Set(functions),
      unreadable: [],
    });
    const volatile = new Map([
      ['nextval', true],
      ['random', true],
      ['my_counter', false],
      ['pg_sleep', true],
    ]);
    const judge = (f: ReturnType<typeof facts>) => judgeStatement(statement, f, [], volatile);
    expect(judge(facts(['ModifyTable']))).toHaveProperty('refused', expect.stringMatching(/writes data/));
    expect(judge(facts(['LockRows']))).toHaveProperty('refused', expect.stringMatching(/locks rows/));
    expect(judge(facts(['Seq Scan'], ['baton.sessions']))).toHaveProperty(
      'refused',
      expect.stringMatching(/baton\.sessions; it belongs to the platform/),
    );
    expect(judge(facts(['Seq Scan'], ['drizzle.__drizzle_migrations']))).toHaveProperty('refused', expect.stringMatching(/platform/));
    expect(judge(facts(['Seq Scan'], ['pg_catalog.pg_statistic']))).toHaveProperty('refused', expect.stringMatching(/system catalog/));
    expect(judge(facts(['Result'], [], ['nextval']))).toHaveProperty('refused', expect.stringMatching(/nextval\(\), a volatile function/));
    expect(judge(facts(['Result'], [], ['my_counter']))).toHaveProperty('refused', expect.stringMatching(/volatile/));
    expect(judge(facts(['Result'], [], ['query_to_xml']))).toHaveProperty('refused', expect.stringMatching(/SQL passed as text/));
    expect(judge(facts(['Result'], [], ['dblink_exec']))).toHaveProperty('refused', expect.stringMatching(/other databases/));
    expect(judge(facts(['Result'], [], ['random', 'pg_sleep', 'now']))).toEqual({ references: [] });
  });

  it('refers to views by their name, and to tables the plan reads otherwise', () => {
    const statement = inspectStatement('select * from v join orders using (id)') as InspectedStatement;
    const plan = {
      nodeTypes: new Set(['Hash Join']),
      relations: new Set(['public.orders', 'public.customers']),
      functions: new Set<string>(),
      unreadable: [],
    };
    const named = [
      { schema: 'public', name: 'v', kind: 'v', reads: ['public.customers', 'public.orders'] },
      { schema: 'public', name: 'orders', kind: 'r', reads: [] },
    ];
    expect(judgeStatement(statement, plan, named, new Map())).toEqual({ references: ['public.orders', 'public.v'] });
    // A name that resolves to a table the plan does not read (a CTE of the same name) is no reference.
    const cte = [{ schema: 'public', name: 'orders', kind: 'r', reads: [] }];
    expect(judgeStatement(statement, { ...plan, relations: new Set<string>() }, cte, new Map())).toEqual({ references: [] });
  });
});
