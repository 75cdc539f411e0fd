// `npm run conformance`: starts the platform with the conformance fixtures and runs the official
// MCP conformance suite against it: the frozen requirement sets of both protocol revisions
// (2026-07-28 and 2025-11-25, from the suite's 0.2 alpha) and the 0.1.16 active suite. Extra
// arguments go to the 0.1.16 run instead (e.g. `-- --suite all`).
// SESSIONS_STORE / DATABASE_URL in the environment choose the store under test.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ROOT, type RunningServer, startServer } from '../test/helpers/server.js';

export interface ConformanceResult {
  passed: number;
  failed: number;
  warnings: number;
  failures: string[];
  seconds: number;
  exitCode: number | null;
}

export const REVISIONS = ['2026-07-28', '2025-11-25'] as const;
export type Revision = (typeof REVISIONS)[number];

export interface ScenarioOutcome {
  passed: number;
  failed: number;
  warnings: number;
}

export interface RequirementSetResult {
  revision: Revision;
  /** Server scenarios the set requires, plus its pending and added-after-release ones. */
  required: string[];
  /** Extensions: run and reported, never required. */
  extensions: string[];
  scenarios: Map<string, ScenarioOutcome>;
  /** Required scenarios with a failed check, or that did not run at all. */
  failing: string[];
  failures: string[];
  seconds: number;
}

const SUITE_0_1 = join(ROOT, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');
const SUITE_0_2 = join(ROOT, 'node_modules/conformance-alpha/dist/index.js');

/** Runs a suite against `url`, collecting its per-scenario checks; the output folder is removed. */
async function runSuite(suite: string, args: string[], echo: boolean) {
  const outDir = mkdtempSync(join(tmpdir(), 'baton-conformance-'));
  try {
    const exitCode = await new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, [suite, 'server', ...args, '-o', outDir], {
        cwd: ROOT,
        stdio: ['ignore', echo ? 'inherit' : 'ignore', echo ? 'inherit' : 'ignore'],
      });
      child.once('exit', resolve);
    });
    const scenarios = new Map<string, { checks: { id: string; status: string; errorMessage?: string }[] }>();
    for (const dir of readdirSync(outDir)) {
      // Folders are named `server-<scenario>-<timestamp>`.
      const name = dir.replace(/^server-/, '').replace(/-\d{4}-\d\d-\d\dT[\d-]+Z$/, '');
      scenarios.set(name, { checks: JSON.parse(readFileSync(join(outDir, dir, 'checks.json'), 'utf8')) });
    }
    return { exitCode, scenarios };
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
}

/** The 0.1.16 suite (active scenarios unless `extraArgs` say otherwise). */
export async function runActiveSuite(url: string, extraArgs: string[] = [], echo = false): Promise<ConformanceResult> {
  const started = performance.now();
  const { exitCode, scenarios } = await runSuite(SUITE_0_1, ['--url', url, ...extraArgs], echo);
  const result: ConformanceResult = { passed: 0, failed: 0, warnings: 0, failures: [], seconds: 0, exitCode };
  for (const [name, { checks }] of scenarios) {
    for (const check of checks) {
      if (check.status === 'SUCCESS') result.passed++;
      else if (check.status === 'FAILURE') {
        result.failed++;
        result.failures.push(`${name}: ${check.id}: ${check.errorMessage ?? ''}`);
      } else if (check.status === 'WARNING') result.warnings++;
    }
  }
  result.seconds = (performance.now() - started) / 1000;
  return result;
}

interface RequirementsFile {
  server: string[];
  not_scored?: { scenario: string; leg: string; reason: string }[];
}

/** What a revision's frozen requirement set asks of a server, from the suite's own file. */
export function requirementSet(revision: Revision): { required: string[]; extensions: string[] } {
  const file = parse(readFileSync(join(ROOT, `node_modules/conformance-alpha/requirements/${revision}.yaml`), 'utf8')) as RequirementsFile;
  const unscored = (file.not_scored ?? []).filter((entry) => entry.leg === 'server');
  return {
    required: [...file.server, ...unscored.filter((entry) => entry.reason !== 'extension').map((entry) => entry.scenario)],
    extensions: unscored.filter((entry) => entry.reason === 'extension').map((entry) => entry.scenario),
  };
}

/** A revision's requirement set (0.2 alpha, `--requirements`). */
export async function runRequirementSet(url: string, revision: Revision, echo = false): Promise<RequirementSetResult> {
  const started = performance.now();
  const { required, extensions } = requirementSet(revision);
  const { scenarios } = await runSuite(SUITE_0_2, ['--url', url, '--requirements', revision], echo);
  const result: RequirementSetResult = { revision, required, extensions, scenarios: new Map(), failing: [], failures: [], seconds: 0 };
  for (const [name, { checks }] of scenarios) {
    const outcome = { passed: 0, failed: 0, warnings: 0 };
    for (const check of checks) {
      if (check.status === 'SUCCESS') outcome.passed++;
      else if (check.status === 'WARNING') outcome.warnings++;
      else if (check.status === 'FAILURE') {
        outcome.failed++;
        if (required.includes(name)) result.failures.push(`${name}: ${check.id}: ${check.errorMessage ?? ''}`);
      }
    }
    result.scenarios.set(name, outcome);
  }
  for (const name of required) {
    const outcome = result.scenarios.get(name);
    if (!outcome) {
      result.failing.push(name);
      result.failures.push(`${name}: did not run`);
    } else if (outcome.failed > 0) result.failing.push(name);
  }
  result.seconds = (performance.now() - started) / 1000;
  return result;
}

export interface ScenarioRun {
  scenario: string;
  passed: number;
  failed: number;
  warnings: number;
  failures: string[];
}

/**
 * Runs named scenarios one by one (two at a time): with the 0.2 alpha at `specVersion` (or, for
 * `pending`, its pending scenarios, which belong to no revision: the extensions), or with 0.1.16
 * when none is given. A scenario that produced no checks counts as failed.
 */
export async function runScenarios(url: string, scenarios: readonly string[], specVersion?: Revision | 'pending'): Promise<ScenarioRun[]> {
  const runOne = async (scenario: string): Promise<ScenarioRun> => {
    const version = specVersion === undefined || specVersion === 'pending' ? [] : ['--spec-version', specVersion];
    const args = ['--url', url, '--scenario', scenario, ...version];
    const { scenarios: ran } = await runSuite(specVersion ? SUITE_0_2 : SUITE_0_1, args, false);
    const run: ScenarioRun = { scenario, passed: 0, failed: 0, warnings: 0, failures: [] };
    const checks = ran.get(scenario)?.checks ?? [];
    if (checks.length === 0) run.failures.push(`${scenario}: no checks ran`);
    for (const check of checks) {
      if (check.status === 'SUCCESS') run.passed++;
      else if (check.status === 'WARNING') run.warnings++;
      else if (check.status === 'FAILURE') {
        run.failed++;
        run.failures.push(`${scenario}: ${check.id}: ${check.errorMessage ?? ''}`);
      }
    }
    return run;
  };
  const queue = [...scenarios];
  const runs: ScenarioRun[] = [];
  await Promise.all(
    [0, 1].map(async () => {
      for (let next = queue.shift(); next !== undefined; next = queue.shift()) runs.push(await runOne(next));
    }),
  );
  return runs.sort((a, b) => scenarios.indexOf(a.scenario) - scenarios.indexOf(b.scenario));
}

/** The tasks extension's scenarios (`tasks-*`, in the 0.2 alpha's pending suite), as the suite lists them. */
export function taskScenarios(): string[] {
  const listing = execFileSync(process.execPath, [SUITE_0_2, 'list', '--server'], { cwd: ROOT, encoding: 'utf8' });
  return [...listing.matchAll(/^\s*- (tasks-[\w-]+)/gm)].map((match) => match[1]!);
}

/** The pending suite filtered to the tasks scenarios, each run on its own. */
export function runTaskScenarios(url: string): Promise<ScenarioRun[]> {
  return runScenarios(url, taskScenarios(), 'pending');
}

/** The platform with the conformance fixtures, on the store the environment names. */
export function startConformanceServer(env: Record<string, string> = {}): Promise<RunningServer> {
  return startServer({ BATON_TOOLSETS: 'conformance', ...env });
}

/** Starts a server, runs the 0.1.16 suite against it, stops it (kept for callers of one suite). */
export async function runConformance(env: Record<string, string> = {}, extraArgs: string[] = [], echo = false): Promise<ConformanceResult> {
  const server = await startConformanceServer(env);
  try {
    return await runActiveSuite(server.url, extraArgs, echo);
  } finally {
    await server.stop();
  }
}

export function describeSet(result: RequirementSetResult): string {
  const passing = result.required.length - result.failing.length;
  const warned = [...result.scenarios].filter(([, outcome]) => outcome.warnings > 0);
  const warnings = warned.reduce((sum, [, outcome]) => sum + outcome.warnings, 0);
  const extensions = result.extensions.filter((name) => (result.scenarios.get(name)?.failed ?? 1) === 0).length;
  return (
    `requirements ${result.revision}: ${passing}/${result.required.length} scenarios pass (pending included), ` +
    `${warnings} warnings${warned.length > 0 ? ` (${warned.map(([name]) => name).join(', ')})` : ''}; ` +
    `extensions (not required): ${extensions}/${result.extensions.length}; ${result.seconds.toFixed(1)} s`
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const extraArgs = process.argv.slice(2);
  const store = process.env.SESSIONS_STORE ?? 'memory';
  const server = await startConformanceServer();
  let ok = true;
  try {
    if (extraArgs.length === 0) {
      for (const revision of REVISIONS) {
        const result = await runRequirementSet(server.url, revision);
        console.log(`mcp-baton (store: ${store}) ${describeSet(result)}`);
        for (const failure of result.failures) console.log(`  FAILED ${failure}`);
        ok &&= result.failing.length === 0;
      }
    }
    const active = await runActiveSuite(server.url, extraArgs, extraArgs.length > 0);
    console.log(
      `mcp-baton (store: ${store}) suite 0.1.16 ${extraArgs.length > 0 ? extraArgs.join(' ') : 'active'}: ` +
        `${active.passed}/${active.passed + active.failed} checks passed, ${active.warnings} warnings, ${active.seconds.toFixed(1)} s`,
    );
    for (const failure of active.failures) console.log(`  FAILED ${failure}`);
    ok &&= active.failed === 0 && active.exitCode === 0;
  } finally {
    await server.stop();
  }
  process.exit(ok ? 0 : 1);
}
