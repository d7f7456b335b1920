import { DateTime } from 'luxon';
import type { BackfillResult, ExplainResult, JobView, PreviewRun, SchedulerEvent, UpdateDryRunResult } from '../client/types.js';

const UNITS: [number, string][] = [
  [86_400_000, 'd'],
  [3_600_000, 'h'],
  [60_000, 'm'],
  [1_000, 's'],
];

/** 3600000 → `1h`, 90000 → `90s`, 1500 → `1500ms`: the largest unit that divides it. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  for (const [size, unit] of UNITS) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

export function formatSchedule(s: JobView['schedule']): string {
  switch (s.kind) {
    case 'cron':
      return `cron ${s.expression} (${s.timezone})`;
    case 'interval':
      return `every ${formatDuration(s.every)}`;
    case 'once':
      return `once at ${s.at}`;
  }
}

export function formatTarget(t: JobView['target']): string {
  if (t.type === 'workflow_start') {
    return `workflow_start ${t.workflowId}${t.inputs === undefined ? '' : ` inputs ${JSON.stringify(t.inputs)}`}`;
  }
  return `command ${t.command}${t.args === undefined ? '' : ` args ${JSON.stringify(t.args)}`}`;
}

const lastResult = (j: JobView): string => (j.lastResult ? `${j.lastResult.status} ${j.lastResult.at}` : '-');

/** Left-aligned columns, two spaces apart. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

export function jobTable(jobs: JobView[]): string {
  return table(
    ['JOB', 'STATE', 'SCHEDULE', 'NEXT RUN', 'LAST RESULT'],
    jobs.map((j) => [j.jobId, j.state, formatSchedule(j.schedule), j.nextRunAt ?? '-', lastResult(j)]),
  );
}

/** Every field of a job view, one per line (what `show` prints). */
export function jobDetails(j: JobView): string {
  const rows: [string, string][] = [
    ['job', j.name ? `${j.jobId} (${j.name})` : j.jobId],
    ['orchestrator', j.orchestratorId],
    ['state', j.paused && j.pausedReason ? `${j.state} (${j.pausedReason})` : j.state],
    ['schedule', formatSchedule(j.schedule)],
    ['target', formatTarget(j.target)],
    ['start at', j.startAt ?? '-'],
    ['end at', j.endAt ?? '-'],
    ['labels', Object.entries(j.labels).map(([k, v]) => `${k}=${v}`).join(' ') || '-'],
    ['overlap', j.overlapPolicy],
    ['misfire', `${j.misfirePolicy} (grace ${formatDuration(j.misfireGraceMs)})`],
    ['max runtime', formatDuration(j.maxRuntimeMs)],
    ['dispatch', `timeout ${formatDuration(j.dispatchTimeoutMs)}, ${j.dispatchRetry.attempts} attempts, backoff ${formatDuration(j.dispatchRetry.backoffMs)}`],
    ['jitter', j.jitterMs ? `up to ${formatDuration(j.jitterMs)}` : 'none'],
    ['max runs', j.maxRuns === null ? 'no limit' : `${j.maxRuns} (${j.remainingRuns ?? '?'} remaining)`],
    ['pause on failure', j.pauseOnFailure ? 'yes' : 'no'],
    ['next run', j.nextRunAt ?? '-'],
  ];
  if (j.nextRuns) rows.push(['next runs', j.nextRuns.length ? j.nextRuns.join('\n') : '-']);
  rows.push(
    ['last scheduled', j.lastScheduledAt ?? '-'],
    ['last fired', j.lastFiredAt ?? '-'],
    ['last result', j.lastResult ? `${j.lastResult.status} at ${j.lastResult.at} (${j.lastResult.executionId})` : '-'],
    [
      'active',
      j.activeExecutions.length
        ? j.activeExecutions
            .map((a) => `${a.executionId} ${a.state} ${a.trigger} scheduled ${a.scheduledAt} deadline ${a.deadlineAt}${a.cancelRequested ? ' (cancel requested)' : ''}`)
            .join('\n')
        : '-',
    ],
    ['buffered', bufferedOf(j)],
    ['backfills', j.backfills?.length ? j.backfills.map(backfillLine).join('\n') : '-'],
    ['counters', Object.entries(j.counters).map(([k, v]) => `${k} ${v}`).join(', ')],
    ['revision', String(j.revision)],
    ['created', j.createdAt],
    ['updated', j.updatedAt],
  );
  const w = Math.max(...rows.map(([k]) => k.length)) + 2;
  return rows.map(([k, v]) => v.split('\n').map((l, i) => `${(i === 0 ? k : '').padEnd(w)}${l}`).join('\n')).join('\n');
}

/** `3 slots, oldest 2026-…`: what waits under buffer_one, buffer_all and cancel_other. */
function bufferedOf(j: JobView): string {
  const n = j.bufferedSlots ?? (j.bufferedSlot ? 1 : 0);
  if (n === 0 || !j.bufferedSlot) return '-';
  return `${n} slot${n === 1 ? '' : 's'}, oldest ${j.bufferedSlot.scheduledAt}`;
}

/** A backfill in progress: `<id> 3/24 dispatched, [from, to) buffer_all`. */
function backfillLine(b: JobView['backfills'][number]): string {
  return `${b.backfillId} ${b.dispatched}/${b.count} dispatched, [${b.from}, ${b.to}) ${b.overlapPolicy}`;
}

/**
 * What `backfill` prints: the backfill id and the number of slots; a dry run lists the slots, one
 * per line (the first 1000, as the scheduler lists them), then their count.
 */
export function backfillLines(jobId: string, r: BackfillResult, dryRun: boolean): string {
  const slots = `${r.count} slot${r.count === 1 ? '' : 's'}`;
  if (dryRun) {
    const more = r.count > r.scheduledAt.length ? ` (the first ${r.scheduledAt.length} listed)` : '';
    return [...r.scheduledAt, `would backfill ${slots} of ${jobId}${more}`].join('\n');
  }
  return r.backfillId === undefined ? `backfill of ${jobId}: ${slots}` : `backfill ${r.backfillId} of ${jobId}: ${slots}`;
}

/** One line per event, columns two spaces apart: time, job, type, execution (or -), data. */
export function eventLine(e: SchedulerEvent): string {
  const data = e.data && Object.keys(e.data).length ? JSON.stringify(e.data) : '';
  return `${e.at}  ${e.jobId}  ${e.type}  ${e.executionId ?? '-'}  ${data}`.trimEnd();
}

/** What `preview` prints: one slot a line, UTC, the wall time in the schedule's zone, its offset, a DST note. */
export function previewTable(runs: readonly PreviewRun[]): string {
  if (runs.length === 0) return 'no slot';
  return table(
    ['UTC', 'LOCAL', 'OFFSET', 'NOTE'],
    runs.map((r) => [r.at, r.local, r.offset, r.note ?? '']),
  );
}

/** A definition value as `update --dry-run` shows it: a schedule or target in words, the rest as JSON. */
function valueOf(path: string, v: unknown): string {
  if (v === undefined) return '(none)';
  if (path === 'schedule' && typeof v === 'object' && v !== null) return formatSchedule(v as JobView['schedule']);
  if (path === 'target' && typeof v === 'object' && v !== null) return formatTarget(v as JobView['target']);
  return JSON.stringify(v);
}

/**
 * What `update --dry-run` prints: the definition fields that would change (`field: old → new`,
 * `diff` as `specDiff` computes it), then the next runs before and after the change, side by side.
 */
export function dryRunLines(jobId: string, diff: readonly { path: string; old?: unknown; new?: unknown }[], r: UpdateDryRunResult): string {
  const lines = [`would update ${jobId} (nothing written):`];
  if (diff.length === 0) lines.push('  no change to the definition');
  for (const d of diff) lines.push(`  ${d.path}: ${valueOf(d.path, d.old)} → ${valueOf(d.path, d.new)}`);
  const n = Math.max(r.nextRunsBefore.length, r.nextRunsAfter.length);
  const rows = Array.from({ length: n }, (_, i) => [r.nextRunsBefore[i] ?? '-', r.nextRunsAfter[i] ?? '-']);
  const same = n > 0 && rows.every(([a, b]) => a === b);
  lines.push('', table(['NEXT RUNS BEFORE', 'AFTER'], n === 0 ? [['-', '-']] : rows));
  if (same) lines.push('(the next runs do not change)');
  return lines.join('\n');
}

/** The sentence of an `explain` reply as a sentence: a capital first, a full stop last. */
export function sentenceOf(r: Pick<ExplainResult, 'sentence'>): string {
  const s = r.sentence.trim();
  const capital = s.charAt(0).toUpperCase() + s.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

/**
 * What `explain --at` prints: the answer, then the events it was derived from (in the order of
 * `eventIds`), one {@link eventLine} each, indented; an id no longer in the stream says so.
 */
export function explainLines(r: ExplainResult, events: readonly SchedulerEvent[]): string {
  const byId = new Map(events.map((e) => [e.id, e]));
  const lines = [sentenceOf(r)];
  for (const id of r.eventIds) {
    const e = byId.get(id);
    lines.push(`  ${e ? eventLine(e) : `${id}  (no longer in the events stream)`}`);
  }
  return lines.join('\n');
}

/** A slot in the job's zone, with its offset: `2026-12-01 02:00:00 +01:00`. */
export function localTime(iso: string, zone: string): string {
  const t = DateTime.fromISO(iso, { zone });
  return t.isValid ? t.toFormat('yyyy-MM-dd HH:mm:ss ZZ') : iso;
}

/**
 * What `explain --last n` prints: one slot a line, newest first (its wall time in `zone`, the
 * outcome, the answer), then why the list stops early, if it does (`end`: the answer that had no
 * earlier slot).
 */
export function explainLastTable(answers: readonly ExplainResult[], zone: string, end?: ExplainResult): string {
  const lines: string[] = [];
  if (answers.length > 0) {
    lines.push(
      table(
        [`SLOT (${zone})`, 'OUTCOME', 'ANSWER'],
        answers.map((a) => [a.slot ? localTime(a.slot.scheduledAt, zone) : '-', a.outcome, sentenceOf(a)]),
      ),
    );
  }
  if (end !== undefined) lines.push(`no earlier slot: ${sentenceOf(end)}`);
  return lines.join('\n');
}
