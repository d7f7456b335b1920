#!/usr/bin/env node
// Runs the StrykerJS CLI (`node scripts/stryker.mjs run [--incremental] [--mutate <glob>] ...`).
//
// @stryker-mutator/core 10 declares engines.node >=22 and its CLI refuses to start on older
// versions, while this project runs on Node 20 (engines.node >=20). Stryker's own code runs fine on
// Node 20 (checked: full runs of this project's mutation suite; its Node 22-only paths are not
// used), so this wrapper skips only that version guard and otherwise is exactly `stryker`.
// On Node >= 22 it changes nothing.
const real = process.version;
const major = Number(real.slice(1).split('.')[0]);
if (major < 22) Object.defineProperty(process, 'version', { value: 'v22.0.0', configurable: true, writable: true });
const { StrykerCli } = await import('@stryker-mutator/core');
Object.defineProperty(process, 'version', { value: real, configurable: true, writable: true });
process.title = 'stryker';
new StrykerCli(process.argv).run();
