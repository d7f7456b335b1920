import { describe, expect, it } from 'vitest';
import {
  ApplyFileError,
  applyJobs,
  compare,
  loadJobs,
  parseSelector,
  readEntries,
  resultLine,
  type ApplyResult,
  type FileJob,
} from '../../src/cli/apply.js';
import { UsageError } from '../../src/cli/args.js';
import type { SchedulerClient } from '../../src/client/client.js';
import { InvalidRequestError } from '../../src/client/errors.js';
import type { JobView, ListJobsInput } from '../../src/client/types.js';

const NOW = Date.now();
const HOUR = 3_600_000;
const later = new Date(Math.ceil((NOW + 30 * 86_400_000) / HOUR) * HOUR).toISOString();

const spec = (jobId: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  jobId,
  schedule: { kind: 'interval', every: '1h' },
  target: { type: 'command', command: 'x' },
  ...extra,
});

const problemsOf = (fn: () => unknown): { at: string; message: string }[] => {
  try {
    fn();
  } catch (err) {
    if (err instanceof ApplyFileError) return err.problems;
    throw err;
  }
  throw new Error('no ApplyFileError');
};

/** The job view a scheduler would reply for `s` right after a create (jobId + normalised spec + state). */
function viewOf(s: Record<string, unknown>, revision = 1): JobView {
  const [job] = loadJobs(JSON.stringify([s]), 'x.json', NOW);
  return {
    ...(job!.normalized as object),
    jobId: String(s.jobId),
    orchestratorId: 'acme',
    pausedReason: null,
    state: 'idle',
    nextRunAt: null,
    lastScheduledAt: null,
    lastFiredAt: null,
    lastResult: null,
    activeExecutions: [],
    bufferedSlot: null,
    counters: { dispatched: 4, succeeded: 4, failed: 0, cancelled: 0, timedOut: 0, dispatchFailed: 0, skippedOverlap: 0, missed: 0 },
    revision,
    createdAt: new Date(NOW).toISOString(),
    updatedAt: new Date(NOW).toISOString(),
  } as unknown as JobView;
}

const fileJob = (s: Record<string, unknown>): FileJob => loadJobs(JSON.stringify([s]), 'x.json', NOW)[0]!;

describe('reading a jobs file', () => {
  it('takes a list, {jobs: [...]}, one spec, or several YAML documents; JSON by extension or by content', () => {
    const list = readEntries('- jobId: a\n- jobId: b\n', 'f.yaml');
    expect(list).toEqual([
      { value: { jobId: 'a' }, line: 1 },
      { value: { jobId: 'b' }, line: 2 },
    ]);
    expect(readEntries('jobs:\n  - jobId: a\n\n  - jobId: b\n', 'f.yml').map((e) => [e.value, e.line])).toEqual([
      [{ jobId: 'a' }, 2],
      [{ jobId: 'b' }, 4],
    ]);
    expect(readEntries('jobId: a\nschedule: {kind: once, at: x}\n', 'f.yaml')).toEqual([{ value: { jobId: 'a', schedule: { kind: 'once', at: 'x' } }, line: 1 }]);
    expect(readEntries('- jobId: a\n---\njobs: [{jobId: b}]\n---\njobId: c\n', 'f.yaml').map((e) => e.value)).toEqual([{ jobId: 'a' }, { jobId: 'b' }, { jobId: 'c' }]);
    // JSON from stdin (by content), with the lines of its jobs
    expect(readEntries('{"jobs": [\n {"jobId": "a"},\n {"jobId": "b"}\n]}', 'stdin')).toEqual([
      { value: { jobId: 'a' }, line: 2 },
      { value: { jobId: 'b' }, line: 3 },
    ]);
    // a YAML flow sequence that is not JSON
    expect(readEntries('[{jobId: a}]', 'stdin').map((e) => e.value)).toEqual([{ jobId: 'a' }]);
    // YAML 1.2: no booleans from yes/no, instants stay strings, merge keys work
    expect(readEntries('- &d {name: yes, startAt: 2030-01-01T00:00:00Z}\n- {<<: *d, jobId: b}\n', 'f.yaml').map((e) => e.value)).toEqual([
      { name: 'yes', startAt: '2030-01-01T00:00:00Z' },
      { name: 'yes', startAt: '2030-01-01T00:00:00Z', jobId: 'b' },
    ]);
  });

  it('refuses what is not a jobs file, with where', () => {
    expect(problemsOf(() => readEntries('jobs: [a]\nkind: List\n', 'f.yaml'))).toEqual([{ at: 'f.yaml:1', message: 'unknown top-level field "kind" (expected {jobs: [...]})' }]);
    expect(problemsOf(() => readEntries('jobs: {a: 1}\n', 'f.yaml'))).toEqual([{ at: 'f.yaml:1', message: '"jobs" must be a list of job specs' }]);
    expect(problemsOf(() => readEntries('42\n', 'f.yaml'))[0]!.message).toMatch(/^expected a list of job specs/);
    expect(problemsOf(() => readEntries('', 'f.yaml'))[0]!.message).toMatch(/^no jobs: the file is empty/);
    expect(readEntries('[]', 'f.json')).toEqual([]);
    expect(readEntries('jobs: []', 'f.yaml')).toEqual([]);
    const yaml = problemsOf(() => readEntries('- jobId: a\n  x: [\n', 'f.yaml'));
    expect(yaml[0]!.at).toMatch(/^f\.yaml:\d+$/);
    expect(yaml[0]!.message).toMatch(/^not valid YAML: /);
    // .json is JSON only: no YAML fallback
    expect(problemsOf(() => readEntries('{jobs: []}', 'f.json'))[0]!.message).toMatch(/^not valid JSON: .*\(line 1, column 2\)$/);
    // by content: not JSON and not YAML either is reported as JSON; what YAML takes is taken (a trailing comma)
    expect(problemsOf(() => readEntries('{\n"a": 1\n"b": 2}', 'stdin'))).toEqual([
      { at: 'stdin', message: expect.stringMatching(/^not valid JSON: .*\(line 3, column 1\)$/) },
    ]);
    expect(readEntries('{"jobId": "a",}', 'stdin').map((e) => e.value)).toEqual([{ jobId: 'a' }]);
  });

  it('validates every job before anything is applied: jobId required and unique, the create schema, the scheduler normalisation', () => {
    const text = JSON.stringify([
      spec('a'),
      { schedule: { kind: 'interval', every: '1h' }, target: { type: 'command', command: 'x' } },
      spec('a'),
      spec('b', { schedule: { kind: 'cron', expression: '0 0 30 2 *' } }),
      spec('c', { schedule: { kind: 'cron', expression: '0 2 * * *', timezone: 'Mars/Olympus' } }),
      spec('d', { every: '1h' }),
      spec('e', { misfireGraceMs: 'soon' }),
      'nope',
      spec('bad id'),
    ]);
    const problems = problemsOf(() => loadJobs(text, 'j.json', NOW));
    expect(problems.map((p) => `${p.at}: ${p.message}`)).toEqual([
      'j.json:1: jobs[1]: jobId is required (apply matches jobs by it)',
      'j.json:1: jobs[2] (a): duplicate jobId "a" (also jobs[0] at line 1)',
      expect.stringMatching(/^j\.json:1: jobs\[3\] \(b\): schedule\.expression: /),
      'j.json:1: jobs[4] (c): schedule.timezone: unknown IANA time zone "Mars/Olympus"',
      expect.stringMatching(/^j\.json:1: jobs\[5\] \(d\): \(spec\): .*"every"/),
      expect.stringMatching(/^j\.json:1: jobs\[6\] \(e\): misfireGraceMs: /),
      'j.json:1: jobs[7]: must be a job spec (an object with jobId, schedule and target)',
      expect.stringMatching(/^j\.json:1: jobs\[8\] \(bad id\): jobId: must match/),
    ]);
    const err = (() => {
      try {
        loadJobs(text, 'j.json', NOW);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message.split('\n')[0]).toBe('j.json: 8 problems, nothing applied');
  });

  it('normalises as the scheduler does: durations in ms, instants in UTC, timezone and defaults filled', () => {
    const [job] = loadJobs(
      JSON.stringify([spec('a', { schedule: { kind: 'cron', expression: ' 0 2 * * * ' }, startAt: later.replace('Z', '+00:00'), misfireGraceMs: 'PT2M', dispatchRetry: { attempts: 2 } })]),
      'x.json',
      NOW,
    );
    expect(job!.normalized).toEqual({
      name: null,
      labels: {},
      schedule: { kind: 'cron', expression: '0 2 * * *', timezone: 'UTC' },
      startAt: later,
      endAt: null,
      target: { type: 'command', command: 'x' },
      allowOverlap: false,
      overlapPolicy: 'skip',
      misfirePolicy: 'fire_once_on_recovery',
      misfireGraceMs: 120_000,
      maxRuntimeMs: 3_600_000,
      dispatchTimeoutMs: 5_000,
      dispatchRetry: { attempts: 2, backoffMs: 1_000 },
      paused: false,
      jitterMs: 0,
      maxRuns: null,
      pauseOnFailure: false,
    });
    expect(job!.setsPaused).toBe(false);
    expect(job!.body).toMatchObject({ misfireGraceMs: 'PT2M' });
  });
});

describe('comparing a file job with the scheduler view', () => {
  it('only spec fields count, key order does not', () => {
    const s = spec('a', { labels: { a: '1', b: '2' }, target: { type: 'workflow_start', workflowId: 'w', inputs: { x: 1, y: [1, { p: 1, q: 2 }] } } });
    const view = viewOf(s, 7);
    const reordered = spec('a', { labels: { b: '2', a: '1' }, target: { inputs: { y: [1, { q: 2, p: 1 }], x: 1 }, workflowId: 'w', type: 'workflow_start' } });
    expect(compare(fileJob(reordered), view)).toEqual({ changed: [], diff: [], patch: {} });
    // an array's order does count
    const swapped = spec('a', { labels: { a: '1', b: '2' }, target: { type: 'workflow_start', workflowId: 'w', inputs: { x: 1, y: [{ p: 1, q: 2 }, 1] } } });
    expect(compare(fileJob(swapped), view).changed).toEqual(['target']);
  });

  it('lists the changed fields, the diff of each leaf, and a patch of the normalised values', () => {
    const view = viewOf(spec('a', { name: 'A', labels: { team: 'x' }, schedule: { kind: 'cron', expression: '0 2 * * *' } }));
    const c = compare(fileJob(spec('a', { labels: { team: 'y', tier: '1' }, schedule: { kind: 'cron', expression: '0 3 * * *' }, maxRuntimeMs: '2h' })), view);
    expect(c.changed).toEqual(['name', 'labels', 'schedule', 'maxRuntimeMs']);
    expect(c.diff).toEqual([
      { path: 'name', old: 'A', new: null },
      { path: 'labels.team', old: 'x', new: 'y' },
      { path: 'labels.tier', new: '1' },
      { path: 'schedule.expression', old: '0 2 * * *', new: '0 3 * * *' },
      { path: 'maxRuntimeMs', old: 3_600_000, new: 7_200_000 },
    ]);
    expect(c.patch).toEqual({
      name: null,
      labels: { team: 'y', tier: '1' },
      schedule: { kind: 'cron', expression: '0 3 * * *', timezone: 'UTC' },
      maxRuntimeMs: 7_200_000,
    });
    expect(resultLine({ jobId: 'a', action: 'updated', ...c }, true)).toBe(
      'would update a: name "A" → null; labels.team "x" → "y"; labels.tier (none) → "1"; schedule.expression "0 2 * * *" → "0 3 * * *"; maxRuntimeMs 3600000 → 7200000',
    );
    expect(resultLine({ jobId: 'a', action: 'updated', ...c }, false)).toBe('updated a (name, labels, schedule, maxRuntimeMs)');
  });

  it('a schedule of another kind is one change, shown whole', () => {
    const c = compare(fileJob(spec('a', { schedule: { kind: 'once', at: later } })), viewOf(spec('a')));
    expect(c.diff).toEqual([{ path: 'schedule', old: { kind: 'interval', every: HOUR }, new: { kind: 'once', at: later } }]);
  });

  it('allowOverlap and overlapPolicy go into the patch together', () => {
    const view = viewOf(spec('a', { overlapPolicy: 'buffer_one' }));
    expect(compare(fileJob(spec('a', { allowOverlap: true })), view).patch).toEqual({ allowOverlap: true, overlapPolicy: 'allow' });
    expect(compare(fileJob(spec('a')), view).patch).toEqual({ allowOverlap: false, overlapPolicy: 'skip' });
    expect(compare(fileJob(spec('a', { overlapPolicy: 'allow' })), viewOf(spec('a', { allowOverlap: true }))).changed).toEqual([]);
  });

  it('paused is compared only when the file gives it', () => {
    const paused = viewOf(spec('a', { paused: true }));
    expect(compare(fileJob(spec('a')), paused).changed).toEqual([]);
    expect(compare(fileJob(spec('a', { paused: false })), paused)).toMatchObject({ changed: ['paused'], patch: { paused: false } });
    expect(compare(fileJob(spec('a', { paused: true })), paused).changed).toEqual([]);
  });
});

describe('applyJobs against a scheduler', () => {
  /** A scheduler client double: the jobs it holds, the calls it got, and refusals to make. */
  function fakeClient(jobs: JobView[], refuse: Record<string, string> = {}) {
    const calls: string[] = [];
    const lists: ListJobsInput[] = [];
    const refusal = (jobId: string): void => {
      if (refuse[jobId]) throw new InvalidRequestError({ orchestratorId: 'acme', operation: 'x', jobId, message: refuse[jobId]!, details: [{ path: 'schedule', message: 'no' }] });
    };
    const client = {
      async *listAll(q: ListJobsInput = {}) {
        lists.push(q);
        for (const j of jobs) if (!q.labels || Object.entries(q.labels).every(([k, v]) => j.labels[k] === v)) yield j;
      },
      async create(body: { jobId?: string }) {
        calls.push(`create ${body.jobId}`);
        refusal(body.jobId!);
        return { ...viewOf(body as Record<string, unknown>), revision: 1 };
      },
      async update(jobId: string, patch: object, opts: { expectedRevision?: number }) {
        calls.push(`update ${jobId} ${JSON.stringify(patch)} @${opts.expectedRevision}`);
        refusal(jobId);
        return { ...jobs.find((j) => j.jobId === jobId)!, revision: (opts.expectedRevision ?? 0) + 1 };
      },
      async delete(jobId: string) {
        calls.push(`delete ${jobId}`);
        refusal(jobId);
      },
    };
    return { client: client as unknown as SchedulerClient, calls, lists };
  }

  const existing = [
    viewOf(spec('keep', { labels: { team: 'a' } }), 3),
    viewOf(spec('change', { labels: { team: 'a' } }), 5),
    viewOf(spec('stray', { labels: { team: 'a' } }), 2),
    viewOf(spec('other', { labels: { team: 'b' } }), 1),
  ];
  const file = loadJobs(
    JSON.stringify([spec('new'), spec('keep', { labels: { team: 'a' } }), spec('change', { labels: { team: 'a' }, name: 'C' }), spec('bad')]),
    'f.json',
    NOW,
  );

  it('creates, updates with the revision read, leaves, prunes; a refusal is a result and the rest goes on', async () => {
    const { client, calls, lists } = fakeClient(existing, { bad: 'refused' });
    const emitted: ApplyResult[] = [];
    const results = await applyJobs(client, file, { dryRun: false, prune: { team: 'a' }, concurrency: 3 }, (r) => emitted.push(r));
    expect(results).toEqual(emitted);
    expect(results.map((r) => resultLine(r, false))).toEqual([
      'created new',
      'unchanged keep',
      'updated change (name)',
      'error bad: invalid_request: refused\n  schedule: no',
      'deleted stray',
    ]);
    expect(calls.sort()).toEqual(['create bad', 'create new', 'delete stray', 'update change {"name":"C"} @5'].sort());
    expect(lists).toEqual([{ limit: 200 }, { labels: { team: 'a' }, limit: 200 }]);
    expect(results[3]).toMatchObject({ jobId: 'bad', action: 'error', operation: 'create', error: { code: 'invalid_request', message: 'refused' } });
  });

  it('--dry-run sends nothing that changes a job', async () => {
    const { client, calls } = fakeClient(existing);
    const results = await applyJobs(client, file, { dryRun: true, prune: { team: 'a' } }, () => undefined);
    expect(calls).toEqual([]);
    expect(results.map((r) => resultLine(r, true))).toEqual([
      'would create new',
      'unchanged keep',
      'would update change: name null → "C"',
      'would create bad',
      'would delete stray',
    ]);
  });

  it('results come in file order whatever order the replies come in', async () => {
    const { client } = fakeClient([]);
    const slow = client.create.bind(client);
    let n = 0;
    (client as unknown as { create: typeof client.create }).create = async (body) => {
      // the first jobs answer last
      await new Promise((r) => setTimeout(r, 40 - 10 * n++));
      return slow(body);
    };
    const jobs = loadJobs(JSON.stringify([spec('j1'), spec('j2'), spec('j3'), spec('j4')]), 'f.json', NOW);
    const order: string[] = [];
    await applyJobs(client, jobs, { dryRun: false, concurrency: 4 }, (r) => order.push(r.jobId));
    expect(order).toEqual(['j1', 'j2', 'j3', 'j4']);
  });
});

describe('--selector', () => {
  it('key=value[,key=value]', () => {
    expect(parseSelector('team=billing')).toEqual({ team: 'billing' });
    expect(parseSelector('team=billing, tier=1')).toEqual({ team: 'billing', tier: '1' });
    expect(parseSelector('team=')).toEqual({ team: '' });
    for (const bad of ['team', '=x', 'a=1,,b=2', 'a=1,a=2']) expect(() => parseSelector(bad)).toThrow(UsageError);
  });
});
