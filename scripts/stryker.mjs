#!/usr/bin/env node
// Runs the StrykerJS CLI (`node scripts/stryker.mjs run [--incremental] [--mutate <glob>] ...`).
// StrykerJS 9 is used because it supports Node 20 (10 requires Node 22 and pulled in 49 EBADENGINE
// warnings on every `npm ci`); this wrapper is exactly `stryker`.
const { StrykerCli } = await import('@stryker-mutator/core');
process.title = 'stryker';
new StrykerCli(process.argv).run();
