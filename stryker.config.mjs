// StrykerJS mutation testing of the decision logic (`npm run test:mutation`).
// Not part of `npm test`. See the README, "Mutation testing", and docs/mutation/.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutation.config.ts' },
  // The logic that decides what happens: slot arithmetic, the job machine and its pure logic,
  // spec normalisation, the wire schemas and ids, the timer heap and the rate limiter; and the
  // actors that carry its decisions out (the job actor's write/publish/dispatch/timer shell and
  // the supervisor's command paths), tested with in-memory fakes and a manual clock.
  mutate: [
    'src/schedule/**/*.ts',
    'src/machines/*.ts',
    // drawing helpers (read the definition for schedctl and the console), not decisions
    '!src/machines/definition.ts',
    'src/core/spec.ts',
    'src/contract/schemas.ts',
    'src/contract/ids.ts',
    'src/actors/timerQueue.ts',
    'src/actors/jobActor.ts',
    'src/actors/supervisor.ts',
    'src/runtime/rateLimit.ts',
  ],
  // Only what the unit tests need is copied into the sandbox.
  ignorePatterns: ['bench/figures', 'bench/repro', 'bench/run.ts', 'deploy', 'docs/mutation', 'reports', 'dist', 'coverage', '.vitest', '.data', '.exp', 'test/integration', '*.log'],
  coverageAnalysis: 'perTest',
  concurrency: 2,
  timeoutMS: 10_000,
  reporters: ['html', 'json', 'clear-text', 'progress'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  clearTextReporter: { allowColor: false, logTests: false, reportScoreTable: true, reportMutants: true },
  // `--incremental` reuses the results of mutants whose code and tests did not change.
  incrementalFile: 'reports/stryker-incremental.json',
  thresholds: { high: 90, low: 85, break: 85 },
  tempDirName: '.stryker-tmp',
  // Stryker rewrites relative `extends`/`references` of the tsconfig for its sandbox through the
  // TypeScript JS API, which TypeScript 7 (the native compiler this project uses) no longer has.
  // tsconfig.json has neither, so nothing needs rewriting: point the option at a file that does not
  // exist, which skips that step (the sandbox still gets the real tsconfig.json, and vitest reads it).
  tsconfigFile: 'tsconfig.no-rewrite-needed.json',
  cleanTempDir: 'always',
};
