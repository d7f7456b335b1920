import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { Metrics } from '../../src/runtime/metrics.js';

/**
 * deploy/alerts.yaml: well-formed Prometheus rules, on metrics that the scheduler really exports
 * (src/runtime/metrics.ts), with the labels those metrics really have. promtool is not needed.
 */

/** Metrics the rules may use before the code registers them (added by other work). */
const NOT_YET_REGISTERED = new Set(['sched_overdue_jobs']);

interface Rule {
  alert?: unknown;
  expr?: unknown;
  for?: unknown;
  labels?: { severity?: unknown } & Record<string, unknown>;
  annotations?: { summary?: unknown } & Record<string, unknown>;
}

const file = fileURLToPath(new URL('../../deploy/alerts.yaml', import.meta.url));
const doc = parse(readFileSync(file, 'utf8')) as { groups?: { name?: unknown; rules?: Rule[] }[] };
const groups = doc.groups ?? [];
const rules = groups.flatMap((g) => g.rules ?? []);

interface Exported {
  type: string;
  labels: Set<string>;
}

/** Every series name /metrics serves, with the metric type and label names behind it. */
async function exported(): Promise<Map<string, Exported>> {
  const m = new Metrics();
  const out = new Map<string, Exported>();
  for (const { name, type } of await m.registry.getMetricsAsJSON()) {
    const metric = m.registry.getSingleMetric(name) as unknown as { labelNames?: string[] } | undefined;
    const labels = new Set(metric?.labelNames ?? []);
    const t = String(type);
    if (t === 'histogram') {
      out.set(`${name}_bucket`, { type: 'histogram_bucket', labels: new Set([...labels, 'le']) });
      out.set(`${name}_sum`, { type: 'counter', labels });
      out.set(`${name}_count`, { type: 'counter', labels });
    } else {
      out.set(name, { type: t, labels });
    }
  }
  return out;
}

const metricNames = (text: string): string[] => [...text.matchAll(/\bsched_[A-Za-z0-9_:]*/g)].map((m) => m[0]);

describe('deploy/alerts.yaml', () => {
  it('is groups of rules, each group named', () => {
    expect(groups.length).toBeGreaterThan(0);
    for (const g of groups) {
      expect(typeof g.name).toBe('string');
      expect(Array.isArray(g.rules) && g.rules.length > 0).toBe(true);
    }
  });

  it('every rule has alert, expr, for, labels.severity and annotations.summary', () => {
    expect(rules.length).toBeGreaterThan(0);
    for (const r of rules) {
      const what = JSON.stringify(r.alert);
      expect(typeof r.alert, what).toBe('string');
      expect(r.alert as string, what).toMatch(/^[A-Za-z_][A-Za-z0-9_]*$/);
      expect(typeof r.expr, what).toBe('string');
      expect((r.expr as string).trim().length, what).toBeGreaterThan(0);
      expect(String(r.for), what).toMatch(/^\d+[smhdwy]$/);
      expect(['critical', 'warning', 'info'], what).toContain(r.labels?.severity);
      expect(typeof r.annotations?.summary, what).toBe('string');
      expect((r.annotations?.summary as string).length, what).toBeGreaterThan(0);
    }
    const names = rules.map((r) => r.alert);
    expect(new Set(names).size).toBe(names.length);
  });

  it('covers overdue jobs, dispatch failures, lateness p99 and timed-out executions', () => {
    const exprs = rules.map((r) => String(r.expr));
    expect(exprs.some((e) => /\bsched_overdue_jobs\s*>\s*0\b/.test(e))).toBe(true);
    expect(exprs.some((e) => e.includes('sched_dispatch_failures_total'))).toBe(true);
    expect(exprs.some((e) => /histogram_quantile\(\s*0\.99\s*,[\s\S]*sched_trigger_lateness_seconds_bucket/.test(e))).toBe(true);
    expect(exprs.some((e) => e.includes('sched_execution_timeouts_total'))).toBe(true);
  });

  it('every metric named (in expr and annotations) is one the scheduler registers, or sched_overdue_jobs', async () => {
    const known = await exported();
    for (const r of rules) {
      const texts = [String(r.expr), ...Object.values(r.annotations ?? {}).map(String)];
      const used = texts.flatMap(metricNames);
      expect(metricNames(String(r.expr)).length, String(r.alert)).toBeGreaterThan(0);
      for (const name of used) expect(known.has(name) || NOT_YET_REGISTERED.has(name), `${String(r.alert)}: ${name}`).toBe(true);
    }
  });

  it('rate/increase only of counters and histogram buckets; histogram_quantile only of buckets', async () => {
    const known = await exported();
    for (const r of rules) {
      const expr = String(r.expr);
      for (const m of expr.matchAll(/\b(rate|increase)\(\s*(sched_[A-Za-z0-9_:]*)/g)) {
        expect(['counter', 'histogram_bucket'], `${String(r.alert)}: ${m[0]}`).toContain(known.get(m[2] as string)?.type);
      }
      if (expr.includes('histogram_quantile')) {
        for (const name of metricNames(expr)) expect(known.get(name)?.type, `${String(r.alert)}: ${name}`).toBe('histogram_bucket');
      }
    }
  });

  it('label selectors and `by (...)` groupings use labels the metric has', async () => {
    const known = await exported();
    for (const r of rules) {
      const expr = String(r.expr);
      // name{a="x", b=~"y"}
      for (const m of expr.matchAll(/\b(sched_[A-Za-z0-9_:]*)\{([^}]*)\}/g)) {
        const labels = known.get(m[1] as string)?.labels ?? new Set<string>();
        for (const l of (m[2] as string).matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!=|!~|=)/g)) {
          expect(labels.has(l[1] as string), `${String(r.alert)}: ${m[1]} has no label ${l[1]}`).toBe(true);
        }
      }
      // agg by (a, b) (... name ...): the labels must be on every metric inside the aggregation.
      for (const m of expr.matchAll(/\bby\s*\(([^)]*)\)\s*\(/g)) {
        const inner = innerParens(expr, (m.index ?? 0) + m[0].length - 1);
        const by = (m[1] as string).split(',').map((s) => s.trim()).filter(Boolean);
        for (const name of metricNames(inner)) {
          if (NOT_YET_REGISTERED.has(name)) continue;
          const labels = known.get(name)?.labels ?? new Set<string>();
          for (const l of by) expect(labels.has(l), `${String(r.alert)}: ${name} has no label ${l}`).toBe(true);
        }
      }
    }
  });
});

/** The text inside the parenthesis that opens at `open`. */
function innerParens(s: string, open: number): string {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    if (s[i] === '(') depth++;
    else if (s[i] === ')' && --depth === 0) return s.slice(open + 1, i);
  }
  throw new Error(`unbalanced parentheses in ${s}`);
}
