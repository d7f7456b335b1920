import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * vitest globalSetup: compiles the package (`npm run build`) once before the tests, so the tests
 * that start the bins (`bin/schedctl`, `bin/nats-scheduler`) run the JavaScript that ships, built
 * from the sources under test. Type errors are reported here but fail `npm test` in its own
 * `typecheck` step, so one file being edited does not stop every other test from running.
 */
export default function setup(): void {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const tsc = fileURLToPath(new URL('../../node_modules/typescript/bin/tsc', import.meta.url));
  const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) process.stderr.write(`[build] tsc reported errors (dist/ emitted anyway):\n${r.stdout}${r.stderr}\n`);
  if (!existsSync(fileURLToPath(new URL('../../dist/main.js', import.meta.url)))) throw new Error(`the build emitted no dist/main.js:\n${r.stdout}${r.stderr}`);
}
