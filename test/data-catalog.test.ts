// The semantic catalog: the file format and its errors, and how the file and the datasource's own
// comments combine in what describe_table and the enrichment blocks say (Node server, pg).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCatalog } from '../src/tools/data/catalog/file.js';
import { ConfigError, parseConfig } from '../src/config/index.js';
import { createLogger } from '../src/log.js';
import { createPlatform } from '../src/platform/platform.js';
import { demoCatalog } from '../src/tools/data/demo/index.js';
import type { TestDatabase } from './helpers/db.js';
import { RawSession } from './helpers/mcp.js';
import { createShopDatabase } from './data-fixtures.js';

const quiet = createLogger('error');

function issuesOf(run: () => unknown): { source: string; issues: string[] } {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return { source: error.source, issues: error.issues.map((i) => `${i.path}: ${i.message}`) };
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('catalog file', () => {
  it('the demo catalog is valid', () => {
    const catalog = parseCatalog(demoCatalog(), 'demo');
    expect(catalog.tables.get('public.legacy_orders')?.deprecated).toMatch(/use public\.orders/);
    expect(catalog.glossary.get('revenue')).toMatch(/paid or shipped/);
  });

  it('names every problem with its place in the file', () => {
    const yaml = [
      'glossary:',
      '  revenue: Money in.',
      'tables:',
      '  orders:',
      '    owner: x',
      '  public.orders:',
      '    tags: sales',
      '    glossary: [revenue, churn]',
      '    colour: blue',
      '    columns:',
      '      total: { glossary: [margin] }',
    ].join('\n');
    const { source, issues } = issuesOf(() => parseCatalog(yaml, 'catalog.yaml'));
    expect(source).toBe('datasource.catalog (catalog.yaml)');
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^tables\.orders: table names are schema-qualified/),
        expect.stringMatching(/^tables\.public\.orders\.tags: /),
        expect.stringMatching(/^tables\.public\.orders: .*colour/),
      ]),
    );
    const terms = issuesOf(() =>
      parseCatalog(
        'glossary: { revenue: x }\ntables:\n  public.orders:\n    glossary: [revenue, churn]\n    columns:\n      total: { glossary: [margin] }\n',
        'c.yaml',
      ),
    );
    expect(terms.issues).toEqual([
      'tables.public.orders.glossary: term "churn" is not defined under glossary',
      'tables.public.orders.columns.total.glossary: term "margin" is not defined under glossary',
    ]);
    expect(issuesOf(() => parseCatalog('tables: [1', 'bad.yaml')).issues[0]).toMatch(/YAML syntax error/);
  });
});

describe('catalog file with a datasource by DSN (Node server)', () => {
  let shop: TestDatabase;
  let dir: string;

  beforeAll(async () => {
    shop = await createShopDatabase('baton_catalog');
    dir = mkdtempSync(join(tmpdir(), 'baton-catalog-'));
  });

  afterAll(async () => {
    await shop?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('adds owners, tags, glossary and deprecation to what the database comments say; comments win', async () => {
    const file = join(dir, 'catalog.yaml');
    writeFileSync(
      file,
      [
        'glossary:',
        '  line: One product in one order.',
        'tables:',
        '  public.order_items:',
        '    description: Not shown, the table has a COMMENT.',
        '    owner: fulfilment',
        '    tags: [sales, lines]',
        '    glossary: [line]',
        '    deprecated: Moving to public.order_lines in 2027.',
        '    columns:',
        '      quantity: { description: Units ordered; never zero., tags: [metric] }',
        '      unit_price_cents: { description: Not shown either., deprecated: Use price_cents. }',
      ].join('\n'),
    );
    const platform = await createPlatform(parseConfig({ toolsets: ['data'], datasource: { dsn: shop.url, catalog: file } }, {}), {
      logger: quiet,
    });
    try {
      const session = new RawSession((r) => platform.app.fetch(r));
      await session.initialize();
      const listed = (await session.callTool('list_tables')).result.content[0].text;
      expect(listed).toContain('order_items (table, ~137 rows) DEPRECATED: Moving to public.order_lines in 2027. — The lines of an order');
      const [described, context] = (await session.callTool('describe_table', { table: 'order_items' })).result.content.map(
        (c: { text: string }) => c.text,
      );
      expect(described).toContain('DEPRECATED: Moving to public.order_lines in 2027.');
      expect(described).toContain('| quantity | integer | no |  | Units ordered; never zero. |');
      expect(context).toBe(
        [
          'semantic_context: public.order_items',
          'description: "The lines of an order: which product, how many, at what price."',
          'owner: fulfilment',
          'tags: sales, lines',
          'deprecated: Moving to public.order_lines in 2027.',
          'glossary:',
          '  line: One product in one order.',
          'columns:',
          '  quantity:',
          '    description: Units ordered; never zero.',
          '    tags: metric',
          '  unit_price_cents:',
          '    description: Price per unit when the order was placed, in euro cents (products.price_cents may have changed since).',
          '    deprecated: Use price_cents.',
        ].join('\n'),
      );
      // Tables the file does not name keep their comments only.
      const [, products] = (await session.callTool('describe_table', { table: 'products' })).result.content.map(
        (c: { text: string }) => c.text,
      );
      expect(products).toMatch(/^semantic_context: public\.products\ndescription: Items the shop sells/);
      expect(products).not.toContain('owner:');
    } finally {
      await platform.close();
    }
  });

  it('a catalog file that cannot be read stops start-up, naming the key', async () => {
    const config = parseConfig({ toolsets: ['data'], datasource: { dsn: shop.url, catalog: join(dir, 'missing.yaml') } }, {});
    await expect(createPlatform(config, { logger: quiet })).rejects.toThrow(/datasource\.catalog: cannot read .*missing\.yaml/);
    const invalid = join(dir, 'invalid.yaml');
    writeFileSync(invalid, 'tables:\n  orders: {}\n');
    await expect(
      createPlatform(parseConfig({ toolsets: ['data'], datasource: { dsn: shop.url, catalog: invalid } }, {}), { logger: quiet }),
    ).rejects.toThrow(/schema-qualified/);
  });
});
