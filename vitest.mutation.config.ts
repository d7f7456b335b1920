import { defineConfig } from 'vitest/config';

/**
 * Vitest config for mutation runs (`npm run test:mutation`, see stryker.config.mjs): the fast unit
 * tests only (integration tests start a nats-server per file, far too slow to run per mutant), and
 * no reporter with file side effects (the default config writes .vitest/report.json).
 */
export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    reporters: ['default'],
    // fast-check: fixed seed (reproducible kills), no shrinking (see the setup file).
    setupFiles: ['test/unit/mutation.setup.ts'],
    // Property tests: fewer runs per mutant keeps a full mutation run short (the normal suite runs
    // 200; with a fixed seed the same 60 cases run for every mutant).
    env: { SCHEDULE_PROP_RUNS: process.env.SCHEDULE_PROP_RUNS ?? '60' },
  },
});
