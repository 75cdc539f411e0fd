// The catalog queries behind the data tools. Each is one statement that answers with one JSON
// text value, so that every driver returns the same thing (and neon-http can batch them).
import { visibleSchemaSql } from './hidden.js';
import type { RawResult, Statement } from './datasource.js';

const RELATION_KINDS = `('r', 'p', 'v', 'm', 'f')`;
const KIND_NAME = `case c.relkind when 'v' then 'view' when 'm' then 'materialized view' when 'f' then 'foreign table' else 'table' end`;
const ESTIMATED_ROWS = `case when c.relkind in ('r', 'p', 'm') and c.reltuples >= 0 then c.reltuples::bigint end`;

/** Column names of a constraint's key, in key order. */
const keyColumns = (relation: string, keys: string) =>
  `(select json_agg(a.attname order by u.ord) from unnest(${keys}) with ordinality u(num, ord) join pg_attribute a on a.attrelid = ${relation} and a.attnum = u.num)`;

/** `schema.name` of the relations a view's (or materialized view's) rule reads directly. */
const directReads = (oid: string) => `
  select dn.nspname || '.' || dc.relname
  from pg_rewrite r
  join pg_depend d on d.classid = 'pg_rewrite'::regclass and d.objid = r.oid and d.refclassid = 'pg_class'::regclass and d.refobjid <> r.ev_class
  join pg_class dc on dc.oid = d.refobjid
  join pg_namespace dn on dn.oid = dc.relnamespace
  where r.ev_class = ${oid}`;

export function readJson<T>(result: RawResult | undefined): T {
  const value = result?.rows[0]?.[0];
  if (typeof value !== 'string') throw new Error('the datasource answered a catalog query without a value');
  return JSON.parse(value) as T;
}

export interface ListedRelation {
  schema: string;
  name: string;
  kind: string;
  description: string | null;
  estimated_rows: number | null;
}

/** Tables, views, materialized views and foreign tables the role may read, partitions left out. */
export function listRelationsStatement(): Statement {
  return {
    text: `
      select coalesce(json_agg(t order by t.schema, t.name), '[]')::text from (
        select n.nspname as schema, c.relname as name, ${KIND_NAME} as kind,
               obj_description(c.oid, 'pg_class') as description, ${ESTIMATED_ROWS} as estimated_rows
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where c.relkind in ${RELATION_KINDS} and not c.relispartition and ${visibleSchemaSql('n.nspname')}
          and has_schema_privilege(n.oid, 'USAGE') and has_table_privilege(c.oid, 'SELECT')
      ) t`,
  };
}

export interface DescribedColumn {
  name: string;
  type: string;
  not_null: boolean;
  default: string | null;
  /** 'a' (always) or 'd' (by default) for identity columns. */
  identity: string | null;
  /** 's' for stored generated columns. */
  generated: string | null;
  description: string | null;
}

export interface DescribedConstraint {
  /** p primary key, u unique, f foreign key, c check. */
  type: 'p' | 'u' | 'f' | 'c';
  name: string;
  columns: string[] | null;
  references: { table: string; columns: string[] } | null;
  definition: string | null;
}

export interface DescribedRelation {
  schema: string;
  name: string;
  /** Absent for relations in hidden schemas: their details are never read. */
  detail: {
    kind: string;
    description: string | null;
    estimated_rows: number | null;
    columns: DescribedColumn[];
    constraints: DescribedConstraint[];
    referenced_by: { table: string; columns: string[]; references_columns: string[] }[];
    reads: string[] | null;
  } | null;
}

/**
 * The relation a name means: `schema` + `name` exactly; a bare name as the search path finds it,
 * else in any visible schema (several answers mean the name is ambiguous).
 */
export function describeStatement(schema: string | undefined, name: string): Statement {
  return {
    text: `
      with w as (select $1::text as schema, $2::text as name),
      target as (
        select c.oid
        from pg_class c join pg_namespace n on n.oid = c.relnamespace cross join w
        where c.relkind in ${RELATION_KINDS} and (
          (w.schema is not null and n.nspname = w.schema and c.relname = w.name)
          or (w.schema is null and c.oid = to_regclass(quote_ident(w.name)))
          or (w.schema is null and to_regclass(quote_ident(w.name)) is null and c.relname = w.name and ${visibleSchemaSql('n.nspname')})
        )
      )
      select coalesce(json_agg(d order by d.schema), '[]')::text from (
        select n.nspname as schema, c.relname as name,
          case when ${visibleSchemaSql('n.nspname')} then json_build_object(
            'kind', ${KIND_NAME},
            'description', obj_description(c.oid, 'pg_class'),
            'estimated_rows', ${ESTIMATED_ROWS},
            'columns', (
              select coalesce(json_agg(json_build_object(
                'name', a.attname, 'type', format_type(a.atttypid, a.atttypmod), 'not_null', a.attnotnull,
                'default', pg_get_expr(ad.adbin, ad.adrelid), 'identity', nullif(a.attidentity, ''),
                'generated', nullif(a.attgenerated, ''), 'description', col_description(c.oid, a.attnum)
              ) order by a.attnum), '[]')
              from pg_attribute a left join pg_attrdef ad on ad.adrelid = a.attrelid and ad.adnum = a.attnum
              where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped),
            'constraints', (
              select coalesce(json_agg(json_build_object(
                'type', k.contype, 'name', k.conname, 'columns', ${keyColumns('k.conrelid', 'k.conkey')},
                'references', case when k.contype = 'f' then json_build_object('table', fn.nspname || '.' || fc.relname, 'columns', ${keyColumns('k.confrelid', 'k.confkey')}) end,
                'definition', case when k.contype = 'c' then pg_get_constraintdef(k.oid) end
              ) order by k.contype desc, k.conname), '[]')
              from pg_constraint k
              left join pg_class fc on fc.oid = k.confrelid
              left join pg_namespace fn on fn.oid = fc.relnamespace
              where k.conrelid = c.oid and k.contype in ('p', 'u', 'f', 'c')),
            'referenced_by', (
              select coalesce(json_agg(json_build_object(
                'table', rn.nspname || '.' || rc.relname, 'columns', ${keyColumns('k.conrelid', 'k.conkey')},
                'references_columns', ${keyColumns('k.confrelid', 'k.confkey')}
              ) order by rn.nspname, rc.relname), '[]')
              from pg_constraint k join pg_class rc on rc.oid = k.conrelid join pg_namespace rn on rn.oid = rc.relnamespace
              where k.confrelid = c.oid and k.contype = 'f' and ${visibleSchemaSql('rn.nspname')}),
            'reads', case when c.relkind in ('v', 'm') then (select json_agg(distinct x.name) from (${directReads('c.oid')}) x(name)) end
          ) end as detail
        from target t join pg_class c on c.oid = t.oid join pg_namespace n on n.oid = c.relnamespace
      ) d`,
    params: [schema ?? null, name],
  };
}

export interface RelationComments {
  name: string;
  description: string | null;
  columns: { name: string; description: string | null }[];
}

/** Comments on the named relations (`schema.name`) and their columns; hidden schemas answer nothing. */
export function commentsStatement(names: [schema: string, name: string][]): Statement {
  return {
    text: `
      select coalesce(json_agg(json_build_object(
        'name', n.nspname || '.' || c.relname,
        'description', obj_description(c.oid, 'pg_class'),
        'columns', (
          select coalesce(json_agg(json_build_object('name', a.attname, 'description', col_description(c.oid, a.attnum)) order by a.attnum), '[]')
          from pg_attribute a where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped)
      )), '[]')::text
      from json_array_elements($1::json) r
      join pg_namespace n on n.nspname = r->>0
      join pg_class c on c.relnamespace = n.oid and c.relname = r->>1
      where c.relkind in ${RELATION_KINDS} and ${visibleSchemaSql('n.nspname')}`,
    params: [JSON.stringify(names)],
  };
}

export interface NamedRelation {
  schema: string;
  name: string;
  /** pg_class.relkind: r, p, v, m, f. */
  kind: string;
  /** For views and materialized views: every relation they read, through other views too. */
  reads: string[];
}

/**
 * The relations that names written in a statement resolve to, as Postgres resolves them (search
 * path included). Names that are not relations (columns, aliases, functions) resolve to nothing.
 */
export function resolveRelationsStatement(quotedNames: string[]): Statement {
  return {
    text: `
      with recursive named as (
        select distinct c.oid, n.nspname, c.relname, c.relkind
        from json_array_elements_text($1::json) x
        join pg_class c on c.oid = to_regclass(x)
        join pg_namespace n on n.oid = c.relnamespace
        where c.relkind in ${RELATION_KINDS}
      ), reads(root, oid) as (
        select r.ev_class, d.refobjid
        from named v
        join pg_rewrite r on r.ev_class = v.oid
        join pg_depend d on d.classid = 'pg_rewrite'::regclass and d.objid = r.oid and d.refclassid = 'pg_class'::regclass and d.refobjid <> r.ev_class
        union
        select reads.root, d.refobjid
        from reads
        join pg_rewrite r on r.ev_class = reads.oid
        join pg_depend d on d.classid = 'pg_rewrite'::regclass and d.objid = r.oid and d.refclassid = 'pg_class'::regclass and d.refobjid <> r.ev_class
      )
      select coalesce(json_agg(json_build_object(
        'schema', named.nspname, 'name', named.relname, 'kind', named.relkind,
        'reads', (
          select coalesce(json_agg(distinct rn.nspname || '.' || rc.relname), '[]')
          from reads join pg_class rc on rc.oid = reads.oid join pg_namespace rn on rn.oid = rc.relnamespace
          where reads.root = named.oid)
      )), '[]')::text
      from named`,
    params: [JSON.stringify(quotedNames)],
  };
}

/** Names of volatile functions, and whether every function of that name is a built-in one. */
export function volatileFunctionsStatement(): Statement {
  return {
    text: `
      select coalesce(json_object_agg(f.proname, f.builtin_only), '{}')::text from (
        select p.proname, bool_and(n.nspname = 'pg_catalog') as builtin_only
        from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where p.provolatile = 'v'
        group by p.proname
      ) f`,
  };
}
