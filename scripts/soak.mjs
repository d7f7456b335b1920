#!/usr/bin/env node
// `npm run soak [-- SECONDS]`: the fault tests of the suite in their long form (a crash loop of
// SECONDS, default 300, with a nats-server restart every ten kills; every node of the 3-node
// cluster lost in turn), then a summary table of the figures each one printed.
import { spawn } from 'node:child_process';

const seconds = Number(process.argv[2] ?? 300);
const rows = [];
const child = spawn('npx', ['vitest', 'run', '--reporter=verbose', 'test/integration/faults.test.ts', 'test/integration/cluster.test.ts'], {
  env: { ...process.env, SOAK_SECONDS: String(seconds) },
  stdio: ['ignore', 'pipe', 'inherit'],
});
let buf = '';
child.stdout.on('data', (b) => {
  process.stdout.write(b);
  buf += b.toString();
  let i;
  while ((i = buf.indexOf('\n')) >= 0) {
    const line = buf.slice(0, i).replace(/\x1b\[[0-9;]*m/g, '');
    buf = buf.slice(i + 1);
    const m = /^\[([^\]]+)\] (.*)$/.exec(line);
    if (m) rows.push([m[1], m[2]]);
  }
});
child.on('exit', (code) => {
  console.log(`\n## Soak summary (${seconds} s crash loop)\n\n| run | figures |\n| --- | --- |`);
  for (const [name, figures] of rows) console.log(`| ${name} | ${figures} |`);
  console.log(`\n${code === 0 ? 'all passed' : 'FAILED'}`);
  process.exit(code ?? 1);
});
