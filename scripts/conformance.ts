// `npm run conformance`: starts the platform with the conformance fixtures and runs the official
// MCP conformance suite against it. Extra arguments go to the suite (e.g. --suite all).
// SESSIONS_STORE / DATABASE_URL in the environment choose the store under test.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, ROOT } from '../test/helpers/server.js';

export interface ConformanceResult {
  passed: number;
  failed: number;
  warnings: number;
  failures: string[];
  seconds: number;
  exitCode: number | null;
}

export async function runConformance(env: Record<string, string> = {}, extraArgs: string[] = [], echo = false): Promise<ConformanceResult> {
  const server = await startServer({ BATON_TOOLSETS: 'conformance', ...env });
  const outDir = mkdtempSync(join(tmpdir(), 'baton-conformance-'));
  const started = performance.now();
  try {
    const exitCode = await new Promise<number | null>((resolve) => {
      const child = spawn(join(ROOT, 'node_modules/.bin/conformance'), ['server', '--url', server.url, '-o', outDir, ...extraArgs], {
        cwd: ROOT,
        stdio: ['ignore', echo ? 'inherit' : 'ignore', echo ? 'inherit' : 'ignore'],
      });
      child.once('exit', resolve);
    });
    const result: ConformanceResult = {
      passed: 0,
      failed: 0,
      warnings: 0,
      failures: [],
      seconds: (performance.now() - started) / 1000,
      exitCode,
    };
    for (const dir of readdirSync(outDir)) {
      const checks = JSON.parse(readFileSync(join(outDir, dir, 'checks.json'), 'utf8')) as {
        id: string;
        status: string;
        errorMessage?: string;
      }[];
      for (const check of checks) {
        if (check.status === 'SUCCESS') result.passed++;
        else if (check.status === 'FAILURE') {
          result.failed++;
          result.failures.push(`${dir}: ${check.id}: ${check.errorMessage ?? ''}`);
        } else if (check.status === 'WARNING') result.warnings++;
      }
    }
    return result;
  } finally {
    await server.stop();
    rmSync(outDir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await runConformance({}, process.argv.slice(2), true);
  console.log(
    `\nmcp-baton conformance (store: ${process.env.SESSIONS_STORE ?? 'memory'}): ${result.passed}/${result.passed + result.failed} checks passed, ${result.warnings} warnings, ${result.seconds.toFixed(1)} s`,
  );
  for (const failure of result.failures) console.log(`  FAILED ${failure}`);
  process.exit(result.failed === 0 && result.exitCode === 0 ? 0 : 1);
}
