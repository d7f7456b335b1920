/**
 * `schedctl apply`: job specs from a file, made so on the scheduler. This module holds what does not
 * need a connection (reading and validating the file, comparing definitions, the lines printed);
 * program.ts runs it against a {@link SchedulerClient}.
 */
import { extname } from 'node:path';
import { isMap, isSeq, LineCounter, parseAllDocuments, type Document } from 'yaml';
import { SchedulerError } from '../contract/errors.js';
import { createBodySchema, issueDetails } from '../contract/schemas.js';
import { normalizeSpec, type SpecLimits } from '../core/spec.js';
import { toView } from '../core/view.js';
import { newRecord } from '../machines/jobLogic.js';
import type { SchedulerClient } from '../client/client.js';
import { isSchedulerClientError } from '../client/errors.js';
import type { CreateJobInput, JobPatch, JobView } from '../client/types.js';
import { UsageError } from './args.js';

/**
 * The fields of a job spec that apply compares and sets: those of the `create` body but `jobId`
 * (taken from the schema, so a field added to the contract is compared without a change here).
 */
export const SPEC_FIELDS: readonly string[] = Object.keys(createBodySchema.shape).filter((k) => k !== 'jobId');

/**
 * Limits for validating the file before anything is sent. The scheduler's own (`SCHED_MIN_INTERVAL_MS`,
 * `SCHED_MAX_INPUT_BYTES`) are not known here: a job within these but over those is refused by the
 * scheduler (an `error` line), the others still applied.
 */
const LOCAL_LIMITS: SpecLimits = { minIntervalMs: 1, maxInputBytes: Number.POSITIVE_INFINITY };

/** A file problem: the file is not applied at all (exit 2). */
export class ApplyFileError extends UsageError {
  constructor(
    readonly source: string,
    readonly problems: { at: string; message: string }[],
  ) {
    const head = problems.length === 1 ? `${source}: 1 problem` : `${source}: ${problems.length} problems`;
    super(`${head}, nothing applied\n${problems.map((p) => `  ${p.at}: ${p.message}`).join('\n')}`);
  }
}

/** One job of the file, validated and normalised as the scheduler would normalise it. */
export interface FileJob {
  /** Position among the file's jobs (0-based, over all YAML documents). */
  index: number;
  /** 1-based line where the job starts, when known. */
  line: number | undefined;
  jobId: string;
  /** The spec as written (the body of `create`). */
  body: CreateJobInput;
  /** The spec fields as the scheduler's job view would show them after a create of `body`. */
  normalized: Record<string, unknown>;
  /**
   * Whether the file says `paused`. When it does not, apply leaves the pause state of an existing
   * job alone (`schedctl pause` / `resume` are operations, not definitions); a new job starts unpaused.
   */
  setsPaused: boolean;
}

type Format = 'json' | 'yaml' | 'auto';

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `jobs.json` is JSON, `jobs.yaml`/`.yml` YAML, anything else (and stdin) by its content. */
export function formatOf(source: string): Format {
  const ext = extname(source).toLowerCase();
  if (ext === '.json') return 'json';
  if (ext === '.yaml' || ext === '.yml') return 'yaml';
  return 'auto';
}

function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, Math.max(0, Math.min(offset, text.length)));
  const line = before.split('\n').length;
  return { line, column: offset - before.lastIndexOf('\n') };
}

function parseJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    const message = (err as Error).message;
    const pos = /at position (\d+)/.exec(message);
    const where = pos ? (({ line, column }) => ` (line ${line}, column ${column})`)(lineColumn(text, Number(pos[1]))) : '';
    throw new ApplyFileError(source, [{ at: source, message: `not valid JSON: ${message}${where}` }]);
  }
}

function parseYaml(text: string, source: string, lc: LineCounter): Document.Parsed[] {
  const docs = parseAllDocuments(text, { lineCounter: lc, merge: true });
  const problems = docs.flatMap((d) =>
    d.errors.map((e) => ({
      at: e.linePos ? `${source}:${e.linePos[0].line}` : source,
      message: `not valid YAML: ${e.message.split('\n')[0]}`,
    })),
  );
  if (problems.length > 0) throw new ApplyFileError(source, problems);
  return [...docs];
}

interface Entry {
  value: unknown;
  line: number | undefined;
}

/**
 * The job entries of a file: a list of job specs, `{jobs: [...]}`, or one job spec; in YAML, as many
 * documents of those as the file holds (`---`).
 */
export function readEntries(text: string, source: string, format: Format = formatOf(source)): Entry[] {
  const clean = text.replace(/^\uFEFF/, '');
  const lc = new LineCounter();
  let values: { value: unknown; doc: Document.Parsed | undefined }[];
  const looksJson = /^\s*[[{]/.test(clean);
  if (format === 'json' || (format === 'auto' && looksJson)) {
    let value: unknown;
    try {
      value = parseJson(clean, source);
    } catch (err) {
      if (format === 'json') throw err;
      // `[a, b]` is a YAML flow sequence too; if it is not YAML either, the JSON error says more
      try {
        values = parseYaml(clean, source, lc).map((doc) => ({ value: doc.toJS() as unknown, doc }));
        return entriesOf(values, source, lc);
      } catch {
        throw err;
      }
    }
    // positions only: JSON is YAML, so the YAML parser tells where each job starts
    let doc: Document.Parsed | undefined;
    try {
      const docs = parseAllDocuments(clean, { lineCounter: lc });
      if (docs.length === 1 && docs[0]!.errors.length === 0) doc = docs[0];
    } catch {
      doc = undefined;
    }
    values = [{ value, doc }];
  } else {
    values = parseYaml(clean, source, lc).map((doc) => ({ value: doc.toJS() as unknown, doc }));
  }
  return entriesOf(values, source, lc);
}

function entriesOf(values: { value: unknown; doc: Document.Parsed | undefined }[], source: string, lc: LineCounter): Entry[] {
  const lineOf = (node: unknown): number | undefined => {
    const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
    return range ? lc.linePos(range[0]).line : undefined;
  };
  const entries: Entry[] = [];
  const problems: { at: string; message: string }[] = [];
  let empty = true;
  for (const { value, doc } of values) {
    const contents = doc?.contents;
    if (value === null || value === undefined) continue;
    empty = false;
    if (Array.isArray(value)) {
      const nodes = isSeq(contents) ? contents.items : [];
      value.forEach((v, i) => entries.push({ value: v, line: lineOf(nodes[i]) }));
    } else if (isPlainObject(value) && Object.hasOwn(value, 'jobs')) {
      const at = `${source}${lineOf(contents) === undefined ? '' : `:${lineOf(contents)}`}`;
      const extra = Object.keys(value).filter((k) => k !== 'jobs');
      if (extra.length > 0) problems.push({ at, message: `unknown top-level field${extra.length > 1 ? 's' : ''} ${extra.map((k) => `"${k}"`).join(', ')} (expected {jobs: [...]})` });
      if (!Array.isArray(value.jobs)) {
        problems.push({ at, message: '"jobs" must be a list of job specs' });
        continue;
      }
      const seq = isMap(contents) ? contents.get('jobs', true) : undefined;
      const nodes = isSeq(seq) ? seq.items : [];
      value.jobs.forEach((v: unknown, i: number) => entries.push({ value: v, line: lineOf(nodes[i]) }));
    } else if (isPlainObject(value)) {
      entries.push({ value, line: lineOf(contents) });
    } else {
      problems.push({ at: `${source}${lineOf(contents) === undefined ? '' : `:${lineOf(contents)}`}`, message: 'expected a list of job specs, {jobs: [...]} or one job spec' });
    }
  }
  if (problems.length > 0) throw new ApplyFileError(source, problems);
  // an empty file is more likely a mistake (a wrong path through a pipe) than a wish to have no jobs
  if (empty) throw new ApplyFileError(source, [{ at: source, message: 'no jobs: the file is empty (write [] or {jobs: []} for none)' }]);
  return entries;
}

/** The spec fields of a job view (as the client reads it, or as the server renders it with `toView`). */
export function specOf(view: object): Record<string, unknown> {
  const v = view as Record<string, unknown>;
  return Object.fromEntries(SPEC_FIELDS.filter((k) => v[k] !== undefined).map((k) => [k, v[k]]));
}

/**
 * Validates every entry (schema of `create`, then the scheduler's own normalisation and checks),
 * all before anything is sent. Throws {@link ApplyFileError} listing every problem.
 */
export function validateEntries(entries: Entry[], source: string, now: number): FileJob[] {
  const jobs: FileJob[] = [];
  const problems: { at: string; message: string }[] = [];
  const firstAt = new Map<string, { index: number; line: number | undefined }>();
  entries.forEach(({ value, line }, index) => {
    const jobId = isPlainObject(value) && typeof value.jobId === 'string' ? value.jobId : undefined;
    const at = `${source}${line === undefined ? '' : `:${line}`}: jobs[${index}]${jobId === undefined ? '' : ` (${jobId})`}`;
    const problem = (message: string): void => {
      problems.push({ at, message });
    };
    if (!isPlainObject(value)) {
      problem('must be a job spec (an object with jobId, schedule and target)');
      return;
    }
    if (value.jobId === undefined) problem('jobId is required (apply matches jobs by it)');
    if (jobId !== undefined) {
      const before = firstAt.get(jobId);
      if (before) {
        problem(`duplicate jobId "${jobId}" (also jobs[${before.index}]${before.line === undefined ? '' : ` at line ${before.line}`})`);
        return;
      }
      firstAt.set(jobId, { index, line });
    }
    const parsed = createBodySchema.safeParse(value);
    if (!parsed.success) {
      for (const d of issueDetails(parsed.error)) problem(`${d.path || '(spec)'}: ${d.message}`);
      return;
    }
    if (jobId === undefined || parsed.data.jobId === undefined) return;
    let normalized: Record<string, unknown>;
    try {
      const spec = normalizeSpec(parsed.data, jobId, LOCAL_LIMITS, now);
      // the view a create of this spec would reply: the scheduler's own normalisation and rendering
      normalized = specOf(toView(newRecord({ orchestratorId: 'apply', spec, incarnation: 'apply', now, step: 0 }), now));
    } catch (err) {
      if (!(err instanceof SchedulerError)) throw err;
      const details = Array.isArray(err.details) ? (err.details as { path?: unknown; message?: unknown }[]) : [];
      if (details.length === 0) problem(err.message);
      for (const d of details) problem(`${String(d.path) || '(spec)'}: ${String(d.message)}`);
      return;
    }
    jobs.push({ index, line, jobId, body: value as CreateJobInput, normalized, setsPaused: value.paused !== undefined });
  });
  if (problems.length > 0) throw new ApplyFileError(source, problems);
  return jobs;
}

/** Reads, parses and validates a jobs file's text. */
export function loadJobs(text: string, source: string, now: number): FileJob[] {
  return validateEntries(readEntries(text, source), source, now);
}

/** JSON with the keys of every object sorted: equal for values that differ only in key order. */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? 'null' : canonical(x))).join(',')}]`;
  if (isPlainObject(v)) {
    const keys = Object.keys(v)
      .filter((k) => v[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'undefined';
}

export interface FieldDiff {
  /** `schedule.expression`, `labels.team`, `misfireGraceMs`. */
  path: string;
  /** Absent: the field is not set on the scheduler's side. */
  old?: unknown;
  /** Absent: the field is not set in the file. */
  new?: unknown;
}

function diffValues(path: string, a: unknown, b: unknown, out: FieldDiff[]): void {
  if (canonical(a) === canonical(b)) return;
  // into objects of the same kind (a schedule of another kind is shown whole)
  if (isPlainObject(a) && isPlainObject(b) && a.kind === b.kind && a.type === b.type) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
    for (const k of keys) diffValues(`${path}.${k}`, a[k], b[k], out);
    return;
  }
  out.push({ path, ...(a !== undefined && { old: a }), ...(b !== undefined && { new: b }) });
}

export interface Comparison {
  /** Top-level spec fields that differ, in spec order. */
  changed: string[];
  /** Each differing leaf, old → new. */
  diff: FieldDiff[];
  /** The `update` patch that makes the job match the file. */
  patch: JobPatch;
}

/** The file's job against the scheduler's view of it. */
export function compare(job: FileJob, current: JobView): Comparison {
  const have = specOf(current);
  const fields = SPEC_FIELDS.filter((k) => k !== 'paused' || job.setsPaused);
  const changed = fields.filter((k) => canonical(have[k]) !== canonical(job.normalized[k]));
  const diff: FieldDiff[] = [];
  for (const k of changed) diffValues(k, have[k], job.normalized[k], diff);
  const patchFields = new Set(changed);
  // the two overlap fields go together: each alone is resolved against the other's current value
  if (patchFields.has('allowOverlap') || patchFields.has('overlapPolicy')) {
    patchFields.add('allowOverlap');
    patchFields.add('overlapPolicy');
  }
  const patch = Object.fromEntries(fields.filter((k) => patchFields.has(k)).map((k) => [k, job.normalized[k] ?? null])) as JobPatch;
  return { changed, diff, patch };
}

/**
 * The spec fields that differ between two job views (`update --dry-run`: the job now and as it
 * would be), each differing leaf old → new, in spec order.
 */
export function specDiff(current: object, next: object): FieldDiff[] {
  const a = specOf(current);
  const b = specOf(next);
  const diff: FieldDiff[] = [];
  for (const k of SPEC_FIELDS) diffValues(k, a[k], b[k], diff);
  return diff;
}

const show = (v: unknown): string => (v === undefined ? '(none)' : JSON.stringify(v));

export const formatDiff = (diff: FieldDiff[]): string => diff.map((d) => `${d.path} ${show(d.old)} → ${show(d.new)}`).join('; ');

export type ApplyAction = 'created' | 'updated' | 'unchanged' | 'deleted' | 'error';

export interface ApplyResult {
  jobId: string;
  action: ApplyAction;
  /** `updated`: the top-level fields changed. */
  changed?: string[];
  /** `updated`: each changed value, old → new. */
  diff?: FieldDiff[];
  /** The job's revision after the operation (the current one for `unchanged` and in a dry run). */
  revision?: number;
  /** `error`: the operation that was refused and why. */
  operation?: 'create' | 'update' | 'delete';
  error?: { code: string; message: string; details?: unknown };
}

/** The line printed for a result (`error` lines go to stderr, with details indented below). */
export function resultLine(r: ApplyResult, dryRun: boolean): string {
  switch (r.action) {
    case 'created':
      return dryRun ? `would create ${r.jobId}` : `created ${r.jobId}`;
    case 'updated':
      return dryRun ? `would update ${r.jobId}: ${formatDiff(r.diff ?? [])}` : `updated ${r.jobId} (${(r.changed ?? []).join(', ')})`;
    case 'unchanged':
      return `unchanged ${r.jobId}`;
    case 'deleted':
      return dryRun ? `would delete ${r.jobId}` : `deleted ${r.jobId}`;
    case 'error': {
      const lines = [`error ${r.jobId}: ${r.error?.code}: ${r.error?.message}`];
      if (r.error?.code === 'invalid_request' && Array.isArray(r.error.details)) {
        for (const d of r.error.details as { path?: unknown; message?: unknown }[]) lines.push(`  ${String(d.path) || '(body)'}: ${String(d.message)}`);
      }
      return lines.join('\n');
    }
  }
}

/** `team=billing,tier=1` → `{team: 'billing', tier: '1'}`. */
export function parseSelector(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const part of text.split(',')) {
    const i = part.indexOf('=');
    const key = i < 0 ? '' : part.slice(0, i).trim();
    if (key === '') throw new UsageError(`--selector "${text}": use key=value[,key=value]`);
    const value = part.slice(i + 1).trim();
    if (Object.hasOwn(labels, key) && labels[key] !== value) throw new UsageError(`--selector "${text}": label "${key}" given twice`);
    labels[key] = value;
  }
  return labels;
}

function failure(jobId: string, operation: 'create' | 'update' | 'delete', err: unknown): ApplyResult {
  const error = isSchedulerClientError(err)
    ? { code: err.code, message: err.message, ...(err.details !== undefined && { details: err.details }) }
    : { code: 'internal', message: err instanceof Error ? err.message : String(err) };
  return { jobId, action: 'error', operation, error };
}

/** Runs `fn` over `items`, at most `limit` at a time, and hands the results to `emit` in order. */
async function inOrder<T, R>(items: readonly T[], limit: number, fn: (t: T) => Promise<R>, emit: (r: R) => void): Promise<void> {
  const results: R[] = [];
  const done: boolean[] = [];
  let next = 0;
  let emitted = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
      done[i] = true;
      while (emitted < items.length && done[emitted]) emit(results[emitted++]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export interface ApplyOptions {
  dryRun: boolean;
  /** With `--prune`: delete the jobs with these labels that the file does not name. */
  prune?: Record<string, string>;
  /** Commands in flight at a time. */
  concurrency?: number;
}

/** Page size of the listings (the scheduler's maximum is 1000; views of big inputs add up). */
const LIST_PAGE = 200;

/**
 * Makes the orchestrator's jobs match `jobs`: creates the missing ones, updates (with the
 * `expectedRevision` read) those whose definition differs, leaves the others, then prunes. Every
 * refusal is a result and the others go on; an error reading the jobs (the listing) is thrown.
 */
export async function applyJobs(client: SchedulerClient, jobs: FileJob[], opts: ApplyOptions, emit: (r: ApplyResult) => void): Promise<ApplyResult[]> {
  const results: ApplyResult[] = [];
  const record = (r: ApplyResult): void => {
    results.push(r);
    emit(r);
  };
  const current = new Map<string, JobView>();
  for await (const j of client.listAll({ limit: LIST_PAGE })) current.set(j.jobId, j);
  // read before anything changes: a job created just now is never a candidate
  const candidates: JobView[] = [];
  if (opts.prune) for await (const j of client.listAll({ labels: opts.prune, limit: LIST_PAGE })) candidates.push(j);
  const concurrency = opts.concurrency ?? 8;

  await inOrder(
    jobs,
    concurrency,
    async (job): Promise<ApplyResult> => {
      const have = current.get(job.jobId);
      if (!have) {
        if (opts.dryRun) return { jobId: job.jobId, action: 'created' };
        try {
          const view = await client.create(job.body);
          return { jobId: job.jobId, action: 'created', revision: view.revision };
        } catch (err) {
          return failure(job.jobId, 'create', err);
        }
      }
      const { changed, diff, patch } = compare(job, have);
      if (changed.length === 0) return { jobId: job.jobId, action: 'unchanged', revision: have.revision };
      if (opts.dryRun) return { jobId: job.jobId, action: 'updated', changed, diff, revision: have.revision };
      try {
        const view = await client.update(job.jobId, patch, { expectedRevision: have.revision });
        return { jobId: job.jobId, action: 'updated', changed, diff, revision: view.revision };
      } catch (err) {
        return failure(job.jobId, 'update', err);
      }
    },
    record,
  );

  const named = new Set(jobs.map((j) => j.jobId));
  const doomed = candidates.filter((j) => !named.has(j.jobId)).map((j) => j.jobId);
  await inOrder(
    doomed,
    concurrency,
    async (jobId): Promise<ApplyResult> => {
      if (opts.dryRun) return { jobId, action: 'deleted' };
      try {
        await client.delete(jobId);
        return { jobId, action: 'deleted' };
      } catch (err) {
        return failure(jobId, 'delete', err);
      }
    },
    record,
  );
  return results;
}
