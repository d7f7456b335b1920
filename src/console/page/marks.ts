import type { AuditEvent } from './api.js';

export type MarkKind = 'fired' | 'skipped' | 'buffered' | 'missed';

/** One slot on the timeline, from the audit events that concern it. */
export interface Mark {
  kind: MarkKind;
  /** The slot (`scheduledAt`), epoch ms; for a misfire, the last slot it counted. */
  at: number;
  /** When the event was published. */
  eventAt: number;
  trigger?: string;
  executionId?: string;
  /** Fired: the event's time minus the instant the slot was due to fire (`firesAt`, else the slot). */
  latenessMs?: number;
  /** Fired: how the execution ended (`succeeded`, `failed`, `timed_out`, `dispatch_failed`, …), or undefined while active. */
  result?: string;
  reason?: string;
  /** Missed: how many slots the misfire counted, and the first of them. */
  missedCount?: number;
  firstMissedAt?: number;
  events: AuditEvent[];
}

export interface PausedPeriod {
  from: number;
  to: number;
  reason?: string;
}

export interface Timeline {
  marks: Mark[];
  paused: PausedPeriod[];
}

const ENDS: Record<string, (e: AuditEvent) => string> = {
  'execution.completed': (e) => String(e.data.status ?? 'completed'),
  'execution.timed_out': () => 'timed_out',
  'trigger.failed': () => 'dispatch_failed',
  'execution.terminated': () => 'terminated',
};

const ms = (v: unknown): number => (typeof v === 'string' ? Date.parse(v) : NaN);

/**
 * The timeline of `[from, to]` from a job's audit events: each slot fired (with its lateness and
 * result), skipped, buffered or missed; and the periods the job was paused. `pausedAtEnd`: the job
 * is paused now (a pause that began before `from` has no event in the range).
 */
export function buildTimeline(events: readonly AuditEvent[], from: number, to: number, pausedAtEnd: boolean): Timeline {
  const marks: Mark[] = [];
  const fired = new Map<string, Mark>();
  const ends = new Map<string, AuditEvent>();
  const paused: PausedPeriod[] = [];
  let pausedSince: { at: number; reason?: string } | null = null;
  let sawPauseEvent = false;
  for (const e of events) {
    const eventAt = Date.parse(e.at);
    const scheduledAt = ms(e.data.scheduledAt);
    switch (e.type) {
      case 'trigger.dispatched': {
        const id = e.executionId ?? e.id;
        const known = fired.get(id);
        if (known) {
          known.events.push(e);
          break;
        }
        const due = Number.isNaN(ms(e.data.firesAt)) ? scheduledAt : ms(e.data.firesAt);
        const m: Mark = { kind: 'fired', at: Number.isNaN(scheduledAt) ? eventAt : scheduledAt, eventAt, trigger: String(e.data.trigger ?? ''), executionId: id, events: [e] };
        if (!Number.isNaN(due) && m.trigger !== 'run_now') m.latenessMs = Math.max(0, eventAt - due);
        fired.set(id, m);
        marks.push(m);
        break;
      }
      case 'trigger.skipped':
      case 'trigger.buffered':
        marks.push({
          kind: e.type === 'trigger.skipped' ? 'skipped' : 'buffered',
          at: Number.isNaN(scheduledAt) ? eventAt : scheduledAt,
          eventAt,
          ...(typeof e.data.trigger === 'string' && { trigger: e.data.trigger }),
          ...(typeof e.data.reason === 'string' && { reason: e.data.reason }),
          ...(e.executionId !== undefined && { executionId: e.executionId }),
          events: [e],
        });
        break;
      case 'misfire.fired_once':
      case 'misfire.skipped': {
        const last = ms(e.data.lastMissedAt);
        const first = ms(e.data.firstMissedAt);
        marks.push({
          kind: 'missed',
          at: Number.isNaN(last) ? eventAt : last,
          eventAt,
          reason: e.type,
          ...(typeof e.data.missedCount === 'number' && { missedCount: e.data.missedCount }),
          ...(!Number.isNaN(first) && { firstMissedAt: first }),
          events: [e],
        });
        break;
      }
      case 'job.paused':
        sawPauseEvent = true;
        if (!pausedSince) pausedSince = { at: eventAt, ...(typeof e.data.reason === 'string' && { reason: e.data.reason }) };
        break;
      case 'job.resumed':
        sawPauseEvent = true;
        paused.push({ from: pausedSince?.at ?? from, to: eventAt, ...(pausedSince?.reason !== undefined && { reason: pausedSince.reason }) });
        pausedSince = null;
        break;
      default:
        if (e.executionId !== undefined && ENDS[e.type]) ends.set(e.executionId, e);
    }
  }
  if (pausedSince) paused.push({ from: pausedSince.at, to, ...(pausedSince.reason !== undefined && { reason: pausedSince.reason }) });
  else if (pausedAtEnd && !sawPauseEvent) paused.push({ from, to });
  for (const [id, e] of ends) {
    const m = fired.get(id);
    if (m) {
      m.result = ENDS[e.type]!(e);
      m.events.push(e);
    }
  }
  marks.sort((a, b) => a.at - b.at || a.eventAt - b.eventAt);
  return { marks, paused };
}

export const LANES: Record<MarkKind, number> = { fired: 4, skipped: 3, buffered: 2, missed: 1 };
