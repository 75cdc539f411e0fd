// What each runtime's bundle evaluates as it starts. A built-in toolset that is not enabled costs
// nothing but bytes: its code (the conformance suite's fixtures, the data toolset's SQL lexer and
// drivers) is loaded when the configuration names it, in the Node build and in the Worker alike.
// And the Worker's size as deployed (minified, gzip), printed with and without the OpenTelemetry
// instrumentation of examples/worker-otel; the Worker alone stays under 450 KiB.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import type { Metafile } from 'esbuild';
import { build } from '../scripts/build.mjs';
import { ROOT } from './helpers/server.js';

const run = promisify(execFile);
const WRANGLER = join(ROOT, 'node_modules/.bin/wrangler');
/** The modules of the built-in toolsets, each loaded only when its toolset is enabled. */
const ON_DEMAND = [
  'src/tools/conformance.ts',
  'src/tools/conformance-input.ts',
  'src/tools/conformance-tasks.ts',
  'src/tools/diagnostics.ts',
  'src/tools/data/index.ts',
];

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'baton-bundles-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** The sources an entry evaluates as it starts: those of its output and of every chunk it imports statically. */
function evaluatedAtStart(metafile: Metafile, entryPoint: string): string[] {
  const entry = Object.keys(metafile.outputs).find((path) => metafile.outputs[path]!.entryPoint === entryPoint);
  if (!entry) throw new Error(`no output for ${entryPoint}`);
  const outputs = new Set<string>();
  for (const pending = [entry]; pending.length > 0; ) {
    const output = pending.pop()!;
    if (outputs.has(output)) continue;
    outputs.add(output);
    for (const imported of metafile.outputs[output]!.imports) {
      if (imported.kind === 'import-statement' && !imported.external) pending.push(imported.path);
    }
  }
  return [...outputs].flatMap((output) => Object.keys(metafile.outputs[output]!.inputs));
}

it('the Node build: the toolsets are in chunks of their own, outside what the server loads at start', async () => {
  const built = await build({ outdir: join(dir, 'dist') });
  const atStart = evaluatedAtStart(built.metafile!, 'src/runtime/node.ts');
  expect(atStart).toContain('src/tools/index.ts');
  expect(atStart.filter((input) => ON_DEMAND.includes(input))).toEqual([]);
  // Still built, for when a configuration names them.
  expect(built.inputs).toEqual(expect.arrayContaining(ON_DEMAND));
});

it('the Worker (wrangler deploy): the toolsets are in the one file, each evaluated only when first imported', async () => {
  const outdir = join(dir, 'worker');
  // Not minified, so that the modules keep their names; the bundle's structure is the same.
  await run(WRANGLER, ['deploy', '--dry-run', '--outdir', outdir, '--minify=false'], {
    cwd: ROOT,
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
    maxBuffer: 16 * 1024 * 1024,
  });
  const bundle = readFileSync(join(outdir, 'worker.js'), 'utf8');
  // esbuild gives a module imported on demand an init function named by its path, which runs it
  // at the first import; a module evaluated at start has none.
  const onDemand = (source: string) => bundle.includes(`${JSON.stringify(source)}() {`);
  expect(bundle).toContain('// src/tools/index.ts');
  expect(onDemand('src/tools/index.ts')).toBe(false);
  expect(ON_DEMAND.filter((source) => !onDemand(source))).toEqual([]);
}, 120_000);

/** The gzip size (level 9) in KiB of the Worker `wrangler deploy --dry-run` bundles from `cwd`'s configuration. */
async function deployedKiB(cwd: string, outdir: string): Promise<number> {
  await run(WRANGLER, ['deploy', '--dry-run', '--outdir', outdir], {
    cwd,
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
    maxBuffer: 16 * 1024 * 1024,
  });
  const scripts = readdirSync(outdir).filter((file) => file.endsWith('.js'));
  return scripts.reduce((sum, file) => sum + gzipSync(readFileSync(join(outdir, file)), { level: 9 }).length, 0) / 1024;
}

it('the Worker as deployed stays under 450 KiB gzip (printed with the tracing example too)', async () => {
  const plain = await deployedKiB(ROOT, join(dir, 'plain'));
  // examples/worker-otel's entry, with mcp-baton resolved to these sources.
  const traced = await deployedKiB(join(ROOT, 'test/fixtures/worker-otel'), join(dir, 'traced'));
  console.log(`Worker bundle, gzip: ${plain.toFixed(1)} KiB; with otel-cf-workers (examples/worker-otel): ${traced.toFixed(1)} KiB`);
  expect(plain).toBeLessThan(450);
}, 180_000);
