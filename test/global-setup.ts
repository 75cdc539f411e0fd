// Every test run gets a temporary folder of its own: TMPDIR for the test files and for every
// process they start (servers, wrangler, the conformance suite), removed when the run ends. A
// `baton-*` folder still in it then was left behind by a test or by code under test (each must
// remove what it made): the run fails and names it. Other runs on the machine share the system
// temporary folder, so only this run's own folder can be checked.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function setup(): () => void {
  const runDir = mkdtempSync(join(tmpdir(), 'baton-test-run-'));
  process.env.TMPDIR = runDir;
  return () => {
    const left = readdirSync(runDir).filter((name) => name.startsWith('baton-'));
    rmSync(runDir, { recursive: true, force: true });
    if (left.length > 0) {
      console.error(`\nThe tests left temporary folders behind (each test removes what it makes): ${left.join(', ')}`);
      // A teardown's exception does not fail the run; the exit code does.
      process.exitCode = 1;
    }
  };
}
