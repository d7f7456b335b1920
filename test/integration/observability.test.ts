import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createWebSocketReceiver } from '@statelyai/inspect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestBed, uniquePrefix, until, type Orchestrator } from '../helpers/harness.js';
import { freePort } from '../helpers/ports.js';
import { spawnScheduler, type SchedulerProcess } from '../helpers/scheduler-process.js';


const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe('metrics, health and live inspection of a running scheduler', () => {
  let bed: TestBed;
  let proc: SchedulerProcess;
  let o: Orchestrator;
  let httpPort: number;
  let inspectPort: number;
  const P = uniquePrefix();

  beforeAll(async () => {
    bed = await TestBed.start();
    httpPort = await freePort();
    inspectPort = await freePort();
    proc = await spawnScheduler({
      NATS_URL: bed.server.url,
      SCHED_PREFIX: P,
      SCHED_HTTP_PORT: String(httpPort),
      SCHED_INSPECT_PORT: String(inspectPort),
      SCHED_MIN_INTERVAL_MS: '100',
    });
    o = (await bed.orchestrator(P, 'acme')).watchEvents().serveDispatches();
    o.answer = (d) => {
      setTimeout(() => void o.complete(d.executionId, d.jobId).catch(() => undefined), 5);
      return { accepted: true };
    };
  });
  afterAll(async () => {
    await proc?.kill('SIGKILL');
    await bed?.dispose();
  });

  it('serves /healthz, /readyz and Prometheus /metrics with dispatches, lateness, jobs by state and command latency', async () => {
    expect((await fetch(`http://127.0.0.1:${httpPort}/healthz`)).status).toBe(200);
    const ready = await fetch(`http://127.0.0.1:${httpPort}/readyz`);
    expect(ready.status).toBe(200);
    // the watchdog's view (SPEC §11): no job stalled
    expect(await ready.json()).toMatchObject({ ready: true, overdueJobs: { count: 0, jobs: [] } });
    await o.cmd('create', { jobId: 'm', schedule: { kind: 'interval', every: 200 }, target: { type: 'command', command: 'x' } });
    await o.cmd('create', { jobId: 'p', schedule: { kind: 'interval', every: '1h' }, target: { type: 'command', command: 'x' }, paused: true });
    await until(() => o.dispatchesOf('m').length >= 3, 5_000, 'dispatches');
    // the metrics count published events: a dispatch request can arrive before its event is stored
    await until(() => o.eventsOf('trigger.dispatched', 'm').length >= 3, 5_000, 'dispatch events');
    await until(() => o.eventsOf('execution.completed', 'm').length >= 2, 5_000, 'completions');
    const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    const value = (re: RegExp): number => Number(text.match(re)?.[1] ?? Number.NaN);
    expect(value(/sched_dispatches_total\{orchestrator="acme",trigger="schedule"\} (\d+)/)).toBeGreaterThanOrEqual(3);
    expect(value(/sched_completions_total\{orchestrator="acme",status="succeeded"\} (\d+)/)).toBeGreaterThanOrEqual(2);
    expect(value(/sched_jobs\{orchestrator="acme",state="paused"\} (\d+)/)).toBe(1);
    expect(value(/sched_trigger_lateness_seconds_count\{trigger="schedule"\} (\d+)/)).toBeGreaterThanOrEqual(3);
    expect(value(/sched_command_duration_seconds_count\{op="create",code="ok"\} (\d+)/)).toBe(2);
    expect(text).toContain('sched_active_executions');
    expect(value(/sched_overdue_jobs (\d+)/)).toBe(0);
    expect(text).toContain('sched_process_resident_memory_bytes');
  });

  it('streams XState inspection events that createWebSocketReceiver understands', async () => {
    const receiver = createWebSocketReceiver({ server: `ws://127.0.0.1:${inspectPort}` });
    const seen: { type: string; sessionId?: string; snapshot?: { value?: unknown; context?: { jobId?: string } } }[] = [];
    const sub = receiver.subscribe((e) => {
      seen.push(e as (typeof seen)[number]);
    });
    try {
      // an actor announcement for the running job on connect, then its snapshots as it moves
      await until(() => seen.find((e) => e.type === '@xstate.actor' && e.snapshot?.context?.jobId === 'm'), 10_000, 'actor announcement');
      const snap = await until(
        () => seen.find((e) => e.type === '@xstate.snapshot' && e.snapshot?.context?.jobId === 'm' && e.snapshot?.value === 'running'),
        10_000,
        'a snapshot of the job in running',
      );
      expect(snap.sessionId).toBeTruthy();
      expect(seen.some((e) => e.type === '@xstate.event')).toBe(true);
    } finally {
      sub.unsubscribe();
    }
  });

  it('schedctl inspect prints the transitions of a job live', async () => {
    const child = spawn(path.join(ROOT, 'bin/schedctl'), ['inspect', '--url', `ws://127.0.0.1:${inspectPort}`, '--job', 'm'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    try {
      await until(() => /acme\.m -> running/.test(out) && /acme\.m -> (idle|dispatched)/.test(out), 15_000, 'transitions of acme.m');
      expect(out).not.toMatch(/acme\.p /);
    } finally {
      child.kill('SIGINT');
    }
    expect(await exited).toBe(0);
  });
});

describe('a failing inspector never reaches a job', () => {
  let bed: TestBed;
  const P = uniquePrefix();
  beforeAll(async () => {
    bed = await TestBed.start();
  });
  afterAll(async () => bed?.dispose());

  it('an inspect observer that throws on every event leaves firing intact', async () => {
    let calls = 0;
    await bed.scheduler(
      { SCHED_PREFIX: P, SCHED_MIN_INTERVAL_MS: '100' },
      {
        inspect: () => {
          calls++;
          throw new Error('inspector down');
        },
      },
    );
    const o = (await bed.orchestrator(P, 'acme')).serveDispatches();
    await o.cmd('create', { jobId: 'j', schedule: { kind: 'interval', every: 150 }, target: { type: 'command', command: 'x' }, allowOverlap: true });
    await until(() => o.dispatchesOf('j').length >= 3, 5_000, 'dispatches despite the inspector');
    expect(calls).toBeGreaterThan(0);
    expect((await o.cmd('show', { jobId: 'j' })).ok).toBe(true);
  });
});
