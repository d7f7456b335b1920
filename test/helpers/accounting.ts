/**
 * Slot accounting for fault tests: reads a prefix's whole audit trail from its `P_EVENTS` stream
 * (durable, so events published while a test's connection was away are there too) and checks
 * that every slot of every interval job is accounted for: dispatched, skipped, or counted by a
 * misfire event; that no slot went out under two execution ids; and that every execution ended or
 * is still active.
 */
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { AuditEventWire } from './harness.js';

/** Every event of orchestrator `o` under prefix `P`, in stream order. */
export async function readTrail(nc: NatsConnection, P: string, o: string): Promise<AuditEventWire[]> {
  const jsm = await jetstreamManager(nc);
  const stream = `${P}_EVENTS`;
  const subject = `${P}.${o}.events.>`;
  const total = (await jsm.streams.info(stream, { subjects_filter: subject })).state.subjects;
  let expected = 0;
  for (const n of Object.values(total ?? {})) expected += n;
  const out: AuditEventWire[] = [];
  if (expected === 0) return out;
  const c = await jetstream(nc).consumers.get(stream, { filter_subjects: subject, deliver_policy: DeliverPolicy.All });
  const msgs = await c.consume({ max_messages: 1000 });
  for await (const m of msgs) {
    out.push(m.json<AuditEventWire>());
    if (out.length >= expected || m.info.pending === 0) break;
  }
  await msgs.close();
  return out;
}

export interface IntervalJob {
  jobId: string;
  /** First slot (ms since the epoch); slots are `first + k * every`. */
  first: number;
  every: number;
}

export interface Accounting {
  slots: number;
  dispatched: number;
  skipped: number;
  missed: number;
  /** Slots neither dispatched, nor skipped, nor counted by a misfire event. */
  unaccounted: { jobId: string; scheduledAt: string }[];
  /** Slots dispatched under more than one execution id. */
  twoIds: { jobId: string; scheduledAt: string; ids: string[] }[];
  /** Executions dispatched that neither ended (completed, timed out, failed, terminated) nor are listed as active. */
  dangling: string[];
}

/**
 * Accounts for the slots of `jobs` in `[from, to]` from the trail. `active` lists the executions
 * the jobs' views show as active at the end.
 */
export function account(trail: AuditEventWire[], jobs: IntervalJob[], from: number, to: number, active: Set<string> = new Set()): Accounting {
  const res: Accounting = { slots: 0, dispatched: 0, skipped: 0, missed: 0, unaccounted: [], twoIds: [], dangling: [] };
  const ended = new Set<string>();
  for (const e of trail) {
    if (e.executionId && ['execution.completed', 'execution.timed_out', 'trigger.failed', 'execution.terminated'].includes(e.type)) ended.add(e.executionId);
  }
  for (const job of jobs) {
    const events = trail.filter((e) => e.jobId === job.jobId);
    const ids = new Map<number, Set<string>>();
    const skipped = new Set<number>();
    const ranges: [number, number][] = [];
    const dispatchedIds = new Set<string>();
    for (const e of events) {
      const at = typeof e.data.scheduledAt === 'string' ? Date.parse(e.data.scheduledAt) : NaN;
      if (e.type === 'trigger.dispatched' && e.executionId) {
        if (e.data.trigger === 'run_now' || e.data.trigger === 'backfill') continue;
        // executions of slots after `to` may still be on their way (dispatched after the views were read)
        if (at <= to) dispatchedIds.add(e.executionId);
        let s = ids.get(at);
        if (!s) ids.set(at, (s = new Set()));
        s.add(e.executionId);
      } else if (e.type === 'trigger.skipped' || e.type === 'trigger.buffered') {
        skipped.add(at);
      } else if (e.type === 'misfire.fired_once' || e.type === 'misfire.skipped') {
        ranges.push([Date.parse(String(e.data.firstMissedAt)), Date.parse(String(e.data.lastMissedAt))]);
      }
    }
    const start = job.first + Math.max(0, Math.ceil((from - job.first) / job.every)) * job.every;
    for (let t = start; t <= to; t += job.every) {
      res.slots++;
      if (ids.has(t)) res.dispatched++;
      else if (skipped.has(t)) res.skipped++;
      else if (ranges.some(([a, b]) => t >= a && t <= b)) res.missed++;
      else res.unaccounted.push({ jobId: job.jobId, scheduledAt: new Date(t).toISOString() });
    }
    for (const [t, s] of ids) if (s.size > 1) res.twoIds.push({ jobId: job.jobId, scheduledAt: new Date(t).toISOString(), ids: [...s] });
    for (const id of dispatchedIds) if (!ended.has(id) && !active.has(id)) res.dangling.push(id);
  }
  return res;
}

/** One line for the test log: the figures a fault test measured. */
export const describeAccounting = (name: string, a: Accounting): string =>
  `[${name}] slots ${a.slots}: dispatched ${a.dispatched}, skipped ${a.skipped}, missed (misfire) ${a.missed}, unaccounted ${a.unaccounted.length}, under two ids ${a.twoIds.length}, executions neither ended nor active ${a.dangling.length}`;

/** The trail of each execution, compactly: what a failing assertion on `dangling` shows. */
export const executionTrails = (trail: AuditEventWire[], ids: string[]): string[] =>
  ids.map((id) => {
    const first = trail.find((e) => e.executionId === id);
    const around = first ? trail.filter((e) => e.jobId === first.jobId && Math.abs(Date.parse(e.at) - Date.parse(first.at)) < 4_000) : [];
    return `${id}: ${around.map((e) => `${e.id.slice(e.id.lastIndexOf('-') + 1)}:${e.type}${e.executionId === id ? '*' : ''}@${e.at.slice(17, 23)}${e.data.reason ? `(${String(e.data.reason)})` : ''}`).join(' ')}`;
  });

/** The trail of a job around an instant, compactly: what a failing assertion on `unaccounted` shows. */
export const jobTrailAround = (trail: AuditEventWire[], jobId: string, at: string, ms = 3_000): string =>
  `${jobId} around ${at}: ` +
  trail
    .filter((e) => e.jobId === jobId && Math.abs(Date.parse(e.at) - Date.parse(at)) < ms)
    .map((e) => `${e.id.slice(e.id.lastIndexOf('-') + 1)}:${e.type}@${e.at.slice(17, 23)}${e.data.scheduledAt ? `[${String(e.data.scheduledAt).slice(17, 23)}]` : ''}${e.type === 'transition' ? `(${String(e.data.from)}>${String(e.data.to)})` : ''}${e.data.firstMissedAt ? `(${String(e.data.firstMissedAt).slice(17, 23)}..${String(e.data.lastMissedAt).slice(17, 23)})` : ''}`)
    .join(' ');
