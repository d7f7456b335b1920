/**
 * The package as a user gets it: `npm pack`, installed into a fresh project, the client entry
 * imported from plain Node ESM and type-checked by a strict consumer, the service started from
 * the installed bin and stopped by SIGTERM.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { uniquePrefix, until } from '../helpers/harness.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TSC = path.join(ROOT, 'node_modules/typescript/bin/tsc');

let work: string;
let tarball: string;
let files: string[];
let server: NatsServerHandle;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'sched-pack-'));
  // dist/ was built by the global setup from these sources; pack what it holds
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: ROOT, maxBuffer: 64 << 20 });
  const [info] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
  tarball = path.join(work, info!.filename);
  files = info!.files.map((f) => f.path);
  const app = path.join(work, 'app');
  await run('mkdir', ['-p', app]);
  await writeFile(path.join(app, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', type: 'module', private: true }));
  // the registry's packages come from npm's cache when `npm ci` filled it
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball, '@types/node@20'], { cwd: app, maxBuffer: 64 << 20 });
  server = await startNatsServer();
}, 240_000);

afterAll(async () => {
  await server?.dispose();
  if (work) await rm(work, { recursive: true, force: true });
});

const app = (): string => path.join(work, 'app');

describe('the build', () => {
  it('writes nothing when nothing changed: `npm start` never rewrites dist/ under a process loading it', async () => {
    const { stat } = await import('node:fs/promises');
    const list = async (dir: string): Promise<string[]> =>
      (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
    const before = new Map<string, number>();
    for (const f of await list(path.join(ROOT, 'dist'))) before.set(f, (await stat(f)).mtimeMs);
    await run(process.execPath, [TSC, '-p', 'tsconfig.build.json'], { cwd: ROOT });
    const rewritten: string[] = [];
    for (const [f, m] of before) if ((await stat(f)).mtimeMs !== m) rewritten.push(path.relative(ROOT, f));
    expect(rewritten).toEqual([]);
  }, 60_000);
});

describe('npm pack', () => {
  it('ships the compiled code, its declarations and the bins, and nothing a user does not need', () => {
    for (const f of ['dist/index.js', 'dist/index.d.ts', 'dist/client/index.js', 'dist/client/index.d.ts', 'dist/main.js', 'dist/cli/main.js', 'bin/nats-scheduler', 'bin/schedctl', 'package.json', 'README.md', 'docs/protocol.md']) {
      expect(files, f).toContain(f);
    }
    const unwanted = files.filter((f) => /^(src|test|bench|scripts|\.ci|reports|\.stryker-tmp|docs\/mutation)\//.test(f) || /\.map$|stryker|vitest/.test(f) || /\.ts$/.test(f) && !f.endsWith('.d.ts'));
    expect(unwanted).toEqual([]);
  });

  it('keeps server code out of nats-scheduler/client (its import graph reaches no scheduler, actor or machine module, nor xstate)', async () => {
    const dist = path.join(app(), 'node_modules/nats-scheduler/dist');
    const seen = new Set<string>();
    const bare = new Set<string>();
    const walk = async (file: string): Promise<void> => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = await readFile(file, 'utf8');
      for (const m of text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]/gm)) {
        const spec = (m[1] ?? m[2])!;
        if (spec.startsWith('.')) await walk(path.resolve(path.dirname(file), spec));
        else bare.add(spec.split('/').slice(0, spec.startsWith('@') ? 2 : 1).join('/'));
      }
    };
    await walk(path.join(dist, 'client/index.js'));
    const modules = [...seen].map((f) => path.relative(dist, f));
    expect(modules).toContain('client/client.js');
    expect(modules.filter((f) => /^(runtime|actors|machines|cluster|store)\//.test(f) || f === 'main.js')).toEqual([]);
    expect(bare.has('xstate')).toBe(false);
  });
});

describe('installed into a fresh project', () => {
  it('imports nats-scheduler/client from plain Node ESM and talks to the service started from the installed bin', async () => {
    const P = uniquePrefix();
    const svc = spawn(path.join(app(), 'node_modules/.bin/nats-scheduler'), [], {
      cwd: app(),
      env: { ...process.env, NATS_URL: server.url, SCHED_PREFIX: P, SCHED_HTTP_PORT: '0', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    svc.stdout.on('data', (b: Buffer) => (out += b.toString()));
    svc.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<number | null>((resolve) => svc.once('exit', (code) => resolve(code)));
    try {
      await until(() => out.includes('"scheduler ready"'), 20_000, `scheduler ready; output: ${out}`);
      await writeFile(
        path.join(app(), 'consumer.mjs'),
        `import { connect } from '@nats-io/transport-node';
import { SchedulerClient, NotFoundError, isSchedulerClientError } from 'nats-scheduler/client';
const nc = await connect({ servers: process.argv[2] });
const client = new SchedulerClient({ nc, orchestratorId: 'acme', prefix: process.argv[3] });
const job = await client.create({ jobId: 'j', schedule: { kind: 'interval', every: '1h' }, target: { type: 'command', command: 'c' } });
let missing = null;
try { await client.show('nope'); } catch (err) { missing = err instanceof NotFoundError && isSchedulerClientError(err, 'not_found'); }
console.log(JSON.stringify({ jobId: job.jobId, state: job.state, missing }));
await nc.close();
`,
      );
      const { stdout } = await run(process.execPath, ['consumer.mjs', server.url, P], { cwd: app() });
      expect(JSON.parse(stdout)).toEqual({ jobId: 'j', state: 'idle', missing: true });
    } finally {
      svc.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(out).toContain('"stopped"');
  }, 60_000);

  it('type-checks a consumer with strict tsc and skipLibCheck false', async () => {
    await writeFile(
      path.join(app(), 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noUncheckedIndexedAccess: true, skipLibCheck: false, noEmit: true, types: ['node'] },
        include: ['consumer.ts'],
      }),
    );
    await writeFile(
      path.join(app(), 'consumer.ts'),
      `import type { NatsConnection } from '@nats-io/transport-node';
import { OrchestratorWorker, SchedulerClient, isSchedulerClientError, type CreateJobInput, type Dispatch, type JobView } from 'nats-scheduler/client';
import { loadConfig, type Config } from 'nats-scheduler';

export async function use(nc: NatsConnection): Promise<string> {
  const spec: CreateJobInput = { jobId: 'j', schedule: { kind: 'cron', expression: '0 2 * * *', timezone: 'Europe/Berlin' }, target: { type: 'workflow_start', workflowId: 'wf' } };
  const client = new SchedulerClient({ nc, orchestratorId: 'acme' });
  const job: JobView = await client.create(spec);
  const worker = await OrchestratorWorker.start({ nc, orchestratorId: 'acme', handler: async (d: Dispatch) => d.executionId });
  await worker.stop();
  try {
    await client.runNow(job.jobId);
  } catch (err) {
    if (isSchedulerClientError(err, 'overlap')) return 'busy';
  }
  const config: Config = loadConfig({});
  return config.SCHED_PREFIX + job.state;
}
`,
    );
    const result = await run(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: app() }).then(
      () => '',
      (err: { stdout?: string; stderr?: string }) => `${err.stdout ?? ''}${err.stderr ?? ''}`,
    );
    expect(result).toBe('');
  }, 120_000);

  it('runs schedctl from the installed bin', async () => {
    const { stdout } = await run(path.join(app(), 'node_modules/.bin/schedctl'), ['--version'], { cwd: app() });
    const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(stdout.trim()).toBe(pkg.version);
    const entries = await readdir(path.join(app(), 'node_modules/nats-scheduler'));
    expect(entries).not.toContain('src');
  }, 30_000);
});
