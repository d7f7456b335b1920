import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AuditEvent, JobRecord } from '../core/record.js';

/** What the metrics read from the running scheduler when scraped. */
export interface MetricsSource {
  records(): Iterable<JobRecord>;
  pendingEvents(): number;
  /** Jobs the watchdog found overdue (SPEC §11). */
  overdueJobs?(): number;
}

/**
 * Prometheus metrics (prom-client). Counters are derived from the audit events as they are
 * published, so every decision the machines take is counted in one place; gauges are read from
 * the job records when scraped.
 */
export class Metrics {
  readonly registry = new Registry();
  private source: MetricsSource | null = null;
  private readonly dispatches: Counter<'orchestrator' | 'trigger'>;
  private readonly skips: Counter<'orchestrator' | 'reason'>;
  private readonly misfires: Counter<'orchestrator' | 'policy'>;
  private readonly missedSlots: Counter<'orchestrator'>;
  private readonly dispatchFailures: Counter<'orchestrator' | 'reason'>;
  private readonly timeouts: Counter<'orchestrator'>;
  private readonly completions: Counter<'orchestrator' | 'status'>;
  private readonly rejected: Counter<'orchestrator' | 'reason'>;
  private readonly faults: Counter<'orchestrator'>;
  private readonly terminated: Counter<'orchestrator'>;
  private readonly exhausted: Counter<'orchestrator'>;
  private readonly backfills: Counter<'orchestrator' | 'phase'>;
  readonly lateness: Histogram<'trigger'>;
  readonly commandDuration: Histogram<'op' | 'code'>;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'sched_' });
    const self = this;
    new Gauge({
      name: 'sched_jobs',
      help: 'Jobs held, by orchestrator and state',
      labelNames: ['orchestrator', 'state'],
      registers,
      collect() {
        this.reset();
        for (const r of self.source?.records() ?? []) this.inc({ orchestrator: r.orchestratorId, state: r.state });
      },
    });
    new Gauge({
      name: 'sched_active_executions',
      help: 'Executions between dispatch and completion, failure or timeout',
      labelNames: ['orchestrator'],
      registers,
      collect() {
        this.reset();
        for (const r of self.source?.records() ?? []) if (r.active.length > 0) this.inc({ orchestrator: r.orchestratorId }, r.active.length);
      },
    });
    new Gauge({
      name: 'sched_overdue_jobs',
      help: 'Jobs that should have fired (nextRunAt more than misfireGraceMs past) and did not',
      registers,
      collect() {
        this.set(self.source?.overdueJobs?.() ?? 0);
      },
    });
    new Gauge({
      name: 'sched_events_pending',
      help: 'Audit events whose publish failed and is being retried',
      registers,
      collect() {
        this.set(self.source?.pendingEvents() ?? 0);
      },
    });
    this.dispatches = new Counter({ name: 'sched_dispatches_total', help: 'Executions dispatched (first attempt)', labelNames: ['orchestrator', 'trigger'], registers });
    this.skips = new Counter({ name: 'sched_skipped_total', help: 'Slots skipped by the overlap policy', labelNames: ['orchestrator', 'reason'], registers });
    this.misfires = new Counter({ name: 'sched_misfires_total', help: 'Misfire decisions', labelNames: ['orchestrator', 'policy'], registers });
    this.missedSlots = new Counter({ name: 'sched_missed_slots_total', help: 'Slots counted as missed', labelNames: ['orchestrator'], registers });
    this.dispatchFailures = new Counter({ name: 'sched_dispatch_failures_total', help: 'Dispatches failed after retries', labelNames: ['orchestrator', 'reason'], registers });
    this.timeouts = new Counter({ name: 'sched_execution_timeouts_total', help: 'Executions timed out', labelNames: ['orchestrator'], registers });
    this.completions = new Counter({ name: 'sched_completions_total', help: 'Completions accepted', labelNames: ['orchestrator', 'status'], registers });
    this.rejected = new Counter({ name: 'sched_completions_rejected_total', help: 'Completions rejected', labelNames: ['orchestrator', 'reason'], registers });
    this.faults = new Counter({ name: 'sched_job_faults_total', help: 'Job actors restarted after a fault', labelNames: ['orchestrator'], registers });
    this.terminated = new Counter({ name: 'sched_executions_terminated_total', help: 'Executions ended as terminated (terminate_other)', labelNames: ['orchestrator'], registers });
    this.exhausted = new Counter({ name: 'sched_jobs_exhausted_total', help: 'Jobs that used their last run (maxRuns)', labelNames: ['orchestrator'], registers });
    this.backfills = new Counter({ name: 'sched_backfills_total', help: 'Backfills started and completed', labelNames: ['orchestrator', 'phase'], registers });
    new Gauge({
      name: 'sched_backfill_slots_pending',
      help: 'Slots of backfills in progress not yet dispatched',
      labelNames: ['orchestrator'],
      registers,
      collect() {
        this.reset();
        for (const r of self.source?.records() ?? []) {
          const left = (r.backfills ?? []).reduce((n, b) => n + b.count - b.dispatched, 0);
          if (left > 0) this.inc({ orchestrator: r.orchestratorId }, left);
        }
      },
    });
    this.lateness = new Histogram({
      name: 'sched_trigger_lateness_seconds',
      help: 'Time from a slot (its firesAt: scheduledAt plus the jitter) to its dispatch',
      labelNames: ['trigger'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60],
      registers,
    });
    this.commandDuration = new Histogram({
      name: 'sched_command_duration_seconds',
      help: 'Command handling time, by operation and result code',
      labelNames: ['op', 'code'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
      registers,
    });
  }

  bind(source: MetricsSource): void {
    this.source = source;
  }

  /** Counts one audit event (called for every event the scheduler publishes). */
  observe(e: AuditEvent): void {
    const orchestrator = e.orchestratorId;
    const d = e.data;
    switch (e.type) {
      case 'trigger.dispatched':
        if (d.attempt === 1) {
          this.dispatches.inc({ orchestrator, trigger: String(d.trigger) });
          const late = Date.parse(e.at) - Date.parse(String(d.firesAt ?? d.scheduledAt));
          if (d.trigger !== 'run_now' && Number.isFinite(late)) this.lateness.observe({ trigger: String(d.trigger) }, Math.max(0, late) / 1000);
        }
        break;
      case 'trigger.skipped':
        this.skips.inc({ orchestrator, reason: String(d.reason) });
        break;
      case 'misfire.fired_once':
      case 'misfire.skipped':
        this.misfires.inc({ orchestrator, policy: e.type === 'misfire.skipped' ? 'skip_missed' : 'fire_once_on_recovery' });
        this.missedSlots.inc({ orchestrator }, Number(d.missedCount) || 0);
        break;
      case 'trigger.failed':
        this.dispatchFailures.inc({ orchestrator, reason: String(d.reason) });
        break;
      case 'execution.timed_out':
        this.timeouts.inc({ orchestrator });
        break;
      case 'execution.completed':
        this.completions.inc({ orchestrator, status: String(d.status) });
        break;
      case 'execution.completion_rejected':
        this.rejected.inc({ orchestrator, reason: String(d.reason) });
        break;
      case 'job.faulted':
        this.faults.inc({ orchestrator });
        break;
      case 'execution.terminated':
        this.terminated.inc({ orchestrator });
        break;
      case 'job.exhausted':
        this.exhausted.inc({ orchestrator });
        break;
      case 'backfill.started':
      case 'backfill.completed':
        this.backfills.inc({ orchestrator, phase: e.type === 'backfill.started' ? 'started' : 'completed' });
        break;
      default:
        break;
    }
  }
}
