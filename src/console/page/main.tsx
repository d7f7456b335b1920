import { render } from 'preact';
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import './style.css';
import { ApiFailure, apiGet, apiPost, getToken, jobPath, jobsPath, setToken, type AuditEvent, type JobView, type MachineChart, type Run, type Who } from './api.js';
import { MachineView } from './Machine.js';
import { buildTimeline, type Mark } from './marks.js';
import { markTitle, TimelineChart } from './Timeline.js';
import { duration, jobZone, localTime, NOTE_TEXT, relative, scheduleWords, zoneTime } from './words.js';

// ---------------------------------------------------------------- routing

type Route = { page: 'home' } | { page: 'jobs'; o: string } | { page: 'job'; o: string; jobId: string } | { page: 'missing' };

function parseRoute(pathname: string): Route {
  const parts = pathname.split('/').filter((s) => s !== '').map(decodeURIComponent);
  if (parts[0] !== 'console') return { page: 'missing' };
  if (parts.length === 1) return { page: 'home' };
  if (parts[1] === 'o' && parts.length === 3) return { page: 'jobs', o: parts[2]! };
  if (parts[1] === 'o' && parts.length === 5 && parts[3] === 'jobs') return { page: 'job', o: parts[2]!, jobId: parts[4]! };
  return { page: 'missing' };
}

const listeners = new Set<() => void>();
export function navigate(url: string, replace = false): void {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  for (const f of listeners) f();
}
addEventListener('popstate', () => {
  for (const f of listeners) f();
});

function useLocation(): { pathname: string; search: URLSearchParams } {
  const [, setTick] = useState(0);
  useEffect(() => {
    const f = (): void => setTick((n) => n + 1);
    listeners.add(f);
    return () => void listeners.delete(f);
  }, []);
  return { pathname: location.pathname, search: new URLSearchParams(location.search) };
}

/** The URL with some query parameters changed (empty: removed). */
function withQuery(changes: Record<string, string | null>): string {
  const q = new URLSearchParams(location.search);
  for (const [k, v] of Object.entries(changes)) {
    if (v === null || v === '') q.delete(k);
    else q.set(k, v);
  }
  const s = q.toString();
  return `${location.pathname}${s ? `?${s}` : ''}`;
}

const enc = encodeURIComponent;
const ordersUrl = (o: string): string => `/console/o/${enc(o)}`;
const jobUrl = (o: string, j: string): string => `/console/o/${enc(o)}/jobs/${enc(j)}`;

function Link({ href, children, class: cls, ...rest }: { href: string; children: preact.ComponentChildren; class?: string; [k: string]: unknown }) {
  return (
    <a
      href={href}
      class={cls}
      {...rest}
      onClick={(e: MouseEvent) => {
        if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
        e.preventDefault();
        navigate(href);
      }}
    >
      {children}
    </a>
  );
}

// ---------------------------------------------------------------- data

function useApi<T>(path: string | null, deps: unknown[] = []): { data: T | null; error: ApiFailure | Error | null; reload: () => void; loading: boolean } {
  const [state, setState] = useState<{ data: T | null; error: ApiFailure | Error | null; loading: boolean }>({ data: null, error: null, loading: true });
  const [n, setN] = useState(0);
  useEffect(() => {
    if (path === null) return;
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    apiGet<T>(path).then(
      (data) => live && setState({ data, error: null, loading: false }),
      (error: Error) => live && setState((s) => ({ data: s.data, error, loading: false })),
    );
    return () => {
      live = false;
    };
  }, [path, n, ...deps]);
  return { ...state, reload: useCallback(() => setN((x) => x + 1), []) };
}

function ErrorLine({ error }: { error: Error | null }) {
  if (!error) return null;
  return (
    <p class="error" role="alert">
      {error instanceof ApiFailure ? `${error.error.code}: ${error.error.message}` : error.message}
    </p>
  );
}

/** Re-renders every `ms`, for relative times. */
function useNow(ms = 1000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

// ---------------------------------------------------------------- access

interface Info {
  prefix: string;
  readOnly: boolean;
  replicaId: string | null;
  version: string | null;
}

function Access({ info, who, onChange }: { info: Info | null; who: Who | null; onChange: () => void }) {
  const [text, setText] = useState('');
  if (info?.readOnly) {
    return (
      <div class="access read-only" data-access="read-only">
        Read-only console: no <code>SCHED_CONSOLE_TOKEN</code> or <code>SCHED_CONSOLE_TOKENS</code> is configured on this scheduler.
      </div>
    );
  }
  const signedIn = getToken() !== '';
  return (
    <form
      class="access"
      data-access={who?.caller ?? 'unknown'}
      onSubmit={(e) => {
        e.preventDefault();
        setToken(text.trim());
        setText('');
        onChange();
      }}
    >
      {signedIn && who?.caller === 'token' ? (
        <span class="who" data-scope={who.scope === '*' ? '*' : (who.scope ?? []).join(',')}>
          Token: {who.scope === '*' ? 'operator (every orchestrator)' : `acts on ${(who.scope ?? []).join(', ')}`}
        </span>
      ) : signedIn && who?.caller === 'invalid' ? (
        <span class="who error">The token is not valid</span>
      ) : (
        <span class="who">No token: viewing only</span>
      )}
      {signedIn ? (
        <button
          type="button"
          onClick={() => {
            setToken('');
            onChange();
          }}
        >
          Forget token
        </button>
      ) : (
        <>
          <label>
            <span class="sr">Console token</span>
            <input name="token" type="password" autocomplete="off" placeholder="console token" value={text} onInput={(e) => setText((e.target as HTMLInputElement).value)} />
          </label>
          <button type="submit">Use token</button>
        </>
      )}
    </form>
  );
}

// ---------------------------------------------------------------- pages

function Home() {
  const { data, error } = useApi<{ orchestrators: string[] }>('/console/api/orchestrators');
  const [o, setO] = useState('');
  return (
    <main>
      <h1>Orchestrators</h1>
      <ErrorLine error={error} />
      {data && data.orchestrators.length === 0 && <p>No orchestrator has jobs yet.</p>}
      <ul class="orchestrators">
        {data?.orchestrators.map((id) => (
          <li key={id}>
            <Link href={ordersUrl(id)} data-orchestrator={id}>
              {id}
            </Link>
          </li>
        ))}
      </ul>
      <form
        class="inline"
        onSubmit={(e) => {
          e.preventDefault();
          if (/^[A-Za-z0-9_-]{1,64}$/.test(o)) navigate(ordersUrl(o));
        }}
      >
        <label>
          Open orchestrator <input value={o} onInput={(e) => setO((e.target as HTMLInputElement).value)} pattern="[A-Za-z0-9_\-]{1,64}" />
        </label>
        <button type="submit">Open</button>
      </form>
    </main>
  );
}

const STATES = ['', 'idle', 'dispatched', 'running', 'paused'];

function resultText(r: JobView['lastResult']): string {
  return r ? `${r.status} (${localTime(r.at)})` : '—';
}

function JobsPage({ o, search }: { o: string; search: URLSearchParams }) {
  const state = search.get('state') ?? '';
  const label = search.get('label') ?? '';
  const q = search.get('q') ?? '';
  const cursor = search.get('cursor') ?? '';
  const api = new URLSearchParams();
  if (state) api.set('state', state);
  for (const l of label.split(',').map((s) => s.trim()).filter((s) => s !== '')) api.append('label', l);
  if (q) api.set('q', q);
  if (cursor) api.set('cursor', cursor);
  api.set('limit', '50');
  const { data, error, loading, reload } = useApi<{ jobs: JobView[]; nextCursor?: string; scanned?: number }>(`${jobsPath(o)}?${api}`);
  useEffect(() => {
    const t = setInterval(reload, 15_000);
    return () => clearInterval(t);
  }, [reload]);
  const [form, setForm] = useState({ state, label, q });
  useEffect(() => setForm({ state, label, q }), [state, label, q]);
  return (
    <main>
      <h1>
        Jobs of <span class="mono">{o}</span>
      </h1>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          navigate(withQuery({ state: form.state, label: form.label, q: form.q, cursor: null }));
        }}
      >
        <label>
          State{' '}
          <select name="state" value={form.state} onChange={(e) => setForm({ ...form, state: (e.target as HTMLSelectElement).value })}>
            {STATES.map((s) => (
              <option key={s} value={s}>
                {s === '' ? 'any' : s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Labels <input name="label" placeholder="team=billing,tier=1" value={form.label} onInput={(e) => setForm({ ...form, label: (e.target as HTMLInputElement).value })} />
        </label>
        <label>
          Search <input name="q" type="search" placeholder="id or name" value={form.q} onInput={(e) => setForm({ ...form, q: (e.target as HTMLInputElement).value })} />
        </label>
        <button type="submit">Apply</button>
        {(state || label || q) && (
          <Link href={ordersUrl(o)} class="button">
            Clear
          </Link>
        )}
      </form>
      <ErrorLine error={error} />
      <table class="jobs" data-loading={loading ? 'true' : 'false'}>
        <thead>
          <tr>
            <th>Job</th>
            <th>State</th>
            <th>Schedule</th>
            <th>Next run (your time)</th>
            <th>Next run (job's zone)</th>
            <th>Last result</th>
          </tr>
        </thead>
        <tbody>
          {data?.jobs.map((j) => (
            <tr key={j.jobId} data-job={j.jobId}>
              <td>
                <Link href={jobUrl(o, j.jobId)} class="mono">
                  {j.jobId}
                </Link>
                {j.name ? <div class="sub">{j.name}</div> : null}
              </td>
              <td>
                <span class={`badge state-${j.state}`}>{j.state}</span>
              </td>
              <td class="schedule">{scheduleWords(j.schedule)}</td>
              <td>{localTime(j.nextRunAt)}</td>
              <td>{zoneTime(j.nextRunAt, jobZone(j))}</td>
              <td class={j.lastResult ? `result-${j.lastResult.status}` : ''}>{resultText(j.lastResult)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {data && data.jobs.length === 0 && <p class="empty">No job matches.</p>}
      <nav class="pager">
        {cursor && (
          <Link href={withQuery({ cursor: null })} class="button">
            First page
          </Link>
        )}
        {data?.nextCursor && (
          <Link href={withQuery({ cursor: data.nextCursor })} class="button" data-next="true">
            Next page
          </Link>
        )}
        {data?.scanned !== undefined && <span class="sub">searched {data.scanned} jobs{data.nextCursor ? '; more further on' : ''}</span>}
      </nav>
    </main>
  );
}

let machineChart: Promise<MachineChart> | null = null;
const getMachine = (): Promise<MachineChart> => (machineChart ??= apiGet<{ machine: MachineChart }>('/console/api/machine').then((r) => r.machine));

const RANGES: Record<string, number> = { '1h': 3_600_000, '6h': 6 * 3_600_000, '24h': 24 * 3_600_000, '7d': 7 * 24 * 3_600_000 };

function Definition({ job }: { job: JobView }) {
  const rows: [string, string][] = [
    ['Schedule', scheduleWords(job.schedule)],
    ['Schedule (spec)', job.schedule.kind === 'cron' ? `cron "${job.schedule.expression}" in ${job.schedule.timezone}` : job.schedule.kind === 'interval' ? `interval ${job.schedule.every} ms` : `once ${job.schedule.at}`],
    ['Target', JSON.stringify(job.target)],
    ['Overlap policy', job.overlapPolicy],
    ['Misfire policy', `${job.misfirePolicy} (grace ${duration(Number(job.misfireGraceMs ?? 0))})`],
    ['Max runtime', duration(Number(job.maxRuntimeMs ?? 0))],
    ['Labels', Object.entries(job.labels).map(([k, v]) => `${k}=${v}`).join(', ') || '—'],
    ['Window', `${job.startAt ?? 'from creation'} → ${job.endAt ?? 'no end'}`],
    ['Revision', String(job.revision)],
    ['Counters', Object.entries(job.counters).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ') || 'none yet'],
  ];
  return (
    <section class="card">
      <h2>Definition</h2>
      <dl class="definition">
        {rows.map(([k, v]) => (
          <>
            <dt key={`${k}-t`}>{k}</dt>
            <dd key={`${k}-d`}>{v}</dd>
          </>
        ))}
      </dl>
      <details>
        <summary>As JSON</summary>
        <pre>{JSON.stringify(job, null, 2)}</pre>
      </details>
    </section>
  );
}

function NextRuns({ o, job }: { o: string; job: JobView }) {
  const { data, error } = useApi<{ runs: Run[]; source: string }>(`${jobPath(o, job.jobId)}/runs?count=10`, [job.nextRunAt, job.revision]);
  const zone = jobZone(job);
  return (
    <section class="card">
      <h2>Next runs</h2>
      <ErrorLine error={error} />
      {data && data.runs.length === 0 && <p class="empty">No slot is left.</p>}
      {data && data.runs.length > 0 && (
        <table class="runs" data-source={data.source}>
          <thead>
            <tr>
              <th>Your time</th>
              <th>In {zone}</th>
              <th>UTC</th>
              <th>Note</th>
            </tr>
          </thead>
          <tbody>
            {data.runs.map((r) => (
              <tr key={r.at} class={r.note ? 'dst' : ''}>
                <td>{localTime(r.at)}</td>
                <td class="mono">
                  {r.local.replace('T', ' ')} {r.offset}
                </td>
                <td class="mono">{r.at}</td>
                <td>{r.note ? <span title={NOTE_TEXT[r.note] ?? r.note}>{NOTE_TEXT[r.note] ?? r.note}</span> : ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {data?.source === 'show' && <p class="sub">From the job's next slots (this scheduler does not answer preview).</p>}
    </section>
  );
}

function Executions({ job, now }: { job: JobView; now: number }) {
  return (
    <section class="card">
      <h2>Active executions</h2>
      {job.activeExecutions.length === 0 ? (
        <p class="empty">None.</p>
      ) : (
        <table class="executions">
          <thead>
            <tr>
              <th>Execution</th>
              <th>Trigger</th>
              <th>State</th>
              <th>Slot</th>
              <th>Dispatched</th>
              <th>Deadline</th>
            </tr>
          </thead>
          <tbody>
            {job.activeExecutions.map((a) => (
              <tr key={a.executionId} data-execution={a.executionId}>
                <td class="mono">{a.executionId}</td>
                <td>{a.trigger}</td>
                <td>
                  {a.state}
                  {a.cancelRequested ? ' (cancel requested)' : ''}
                </td>
                <td>{localTime(a.scheduledAt)}</td>
                <td>{localTime(a.dispatchedAt)}</td>
                <td>
                  {localTime(a.deadlineAt)} <span class="sub">({relative(a.deadlineAt, now)})</span>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

interface ExplainAnswer {
  sentence?: string;
  slot: { scheduledAt: string } | null;
  outcome: string;
  executionId?: string;
  result?: unknown;
  reason?: string;
  eventIds?: string[];
}

function Explain({ o, jobId, mark }: { o: string; jobId: string; mark: Mark }) {
  const at = new Date(mark.at).toISOString();
  const { data, error, loading } = useApi<ExplainAnswer>(`${jobPath(o, jobId)}/explain?at=${enc(at)}`);
  return (
    <div class="explain" data-kind={mark.kind} aria-live="polite">
      <h3>{markTitle(mark)}</h3>
      {loading && !data && <p class="sub">asking the scheduler (explain)…</p>}
      {data?.sentence && <p class="sentence">{data.sentence}</p>}
      {data && (
        <dl class="definition" data-outcome={data.outcome}>
          <dt>Outcome</dt>
          <dd class="outcome">{data.outcome}</dd>
          <dt>Slot</dt>
          <dd>{data.slot ? `${data.slot.scheduledAt} (${localTime(data.slot.scheduledAt)})` : 'none'}</dd>
          {data.reason && (
            <>
              <dt>Reason</dt>
              <dd>{data.reason}</dd>
            </>
          )}
          {data.executionId && (
            <>
              <dt>Execution</dt>
              <dd class="mono">{data.executionId}</dd>
            </>
          )}
          {data.result !== undefined && (
            <>
              <dt>Result</dt>
              <dd class="mono">{JSON.stringify(data.result)}</dd>
            </>
          )}
          <dt>From events</dt>
          <dd class="mono">{(data.eventIds ?? []).join(', ') || '—'}</dd>
        </dl>
      )}
      {error && (
        <>
          <p class="sub" data-explain="unavailable">
            The scheduler did not explain this slot ({error instanceof ApiFailure ? error.error.message : error.message}); the events it comes from:
          </p>
        </>
      )}
      {(error || !data) && <pre class="raw-events">{JSON.stringify(mark.events, null, 2)}</pre>}
    </div>
  );
}

function TimelineSection({ o, job, version }: { o: string; job: JobView; version: number }) {
  const { search } = useLocation();
  const range = search.get('range') ?? '24h';
  const fromQ = search.get('from');
  const toQ = search.get('to');
  const fixed = fromQ !== null && toQ !== null && !Number.isNaN(Date.parse(fromQ)) && !Number.isNaN(Date.parse(toQ));
  // a relative range ends now: read again when the job's events say something changed
  const [to, setTo] = useState(() => (fixed ? Date.parse(toQ) : Date.now()));
  const from = fixed ? Date.parse(fromQ) : to - (RANGES[range] ?? RANGES['24h']!);
  useEffect(() => {
    if (fixed) setTo(Date.parse(toQ));
    else setTo(Date.now());
  }, [fixed, fromQ, toQ, range, version]);
  const q = `from=${enc(new Date(from).toISOString())}&to=${enc(new Date(fixed ? to : to + 1000).toISOString())}`;
  const { data, error } = useApi<{ events: AuditEvent[]; truncated: boolean }>(`${jobPath(o, job.jobId)}/events?${q}`);
  const timeline = useMemo(() => (data ? buildTimeline(data.events, from, to, job.paused) : null), [data, from, to, job.paused]);
  const [selected, setSelected] = useState<Mark | null>(null);
  const [custom, setCustom] = useState({ from: '', to: '' });
  const latest = timeline ? [...timeline.marks].reverse().slice(0, 100) : [];
  return (
    <section class="card wide">
      <h2>Timeline</h2>
      <nav class="ranges">
        {Object.keys(RANGES).map((r) => (
          <Link key={r} href={withQuery({ range: r, from: null, to: null })} class={`button${!fixed && range === r ? ' on' : ''}`}>
            last {r}
          </Link>
        ))}
        <form
          class="inline"
          onSubmit={(e) => {
            e.preventDefault();
            const f = Date.parse(custom.from);
            const t = Date.parse(custom.to);
            if (!Number.isNaN(f) && !Number.isNaN(t) && f < t) navigate(withQuery({ from: new Date(f).toISOString(), to: new Date(t).toISOString(), range: null }));
          }}
        >
          <input type="datetime-local" step="1" aria-label="from" value={custom.from} onInput={(e) => setCustom({ ...custom, from: (e.target as HTMLInputElement).value })} />
          <input type="datetime-local" step="1" aria-label="to" value={custom.to} onInput={(e) => setCustom({ ...custom, to: (e.target as HTMLInputElement).value })} />
          <button type="submit">Show range</button>
        </form>
      </nav>
      <p class="sub">
        {localTime(new Date(from).toISOString())} → {localTime(new Date(to).toISOString())}
        {data?.truncated ? ' — more events than shown: choose a shorter range' : ''}
      </p>
      <ErrorLine error={error} />
      {timeline && <TimelineChart timeline={timeline} from={from} to={to} selected={selected} onSelect={setSelected} />}
      <div class="timeline-detail">
        <div class="marks">
          {timeline && timeline.marks.length === 0 && <p class="empty">Nothing happened to this job's slots in this range.</p>}
          {latest.length > 0 && (
            <table class="marks-table">
              <thead>
                <tr>
                  <th>Slot</th>
                  <th>What</th>
                  <th>Late</th>
                  <th>Result</th>
                </tr>
              </thead>
              <tbody>
                {latest.map((m) => (
                  <tr key={`${m.kind}-${m.at}-${m.eventAt}`} data-mark={m.kind} class={m === selected ? 'selected' : ''} onClick={() => setSelected(m)}>
                    <td>
                      <button type="button" class="link" onClick={() => setSelected(m)}>
                        {localTime(new Date(m.at).toISOString())}
                      </button>
                    </td>
                    <td>
                      {m.kind}
                      {m.trigger && m.trigger !== 'schedule' ? ` (${m.trigger})` : ''}
                      {m.reason ? ` — ${m.reason}` : ''}
                      {m.missedCount !== undefined ? ` ×${m.missedCount}` : ''}
                    </td>
                    <td>{m.latenessMs !== undefined ? duration(m.latenessMs) : ''}</td>
                    <td>{m.kind === 'fired' ? (m.result ?? 'active') : ''}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {timeline && timeline.marks.length > latest.length && <p class="sub">the latest 100 of {timeline.marks.length} marks</p>}
          {timeline && timeline.paused.length > 0 && (
            <p class="sub paused-periods">
              Paused:{' '}
              {timeline.paused.map((p) => `${localTime(new Date(p.from).toISOString())} → ${localTime(new Date(p.to).toISOString())}${p.reason ? ` (${p.reason})` : ''}`).join('; ')}
            </p>
          )}
        </div>
        {selected ? <Explain key={`${selected.kind}-${selected.at}`} o={o} jobId={job.jobId} mark={selected} /> : <p class="sub explain-hint">Hover or click a mark (or a row) to see what happened to that slot.</p>}
      </div>
    </section>
  );
}

function toLocalInput(ms: number): string {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 19);
}

function Actions({ o, job, info, onDone }: { o: string; job: JobView; info: Info | null; onDone: () => void }) {
  const [reason, setReason] = useState('');
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const [bf, setBf] = useState(() => ({ from: toLocalInput(Date.now() - 3_600_000), to: toLocalInput(Date.now()), overlapPolicy: '' }));
  const [preview, setPreview] = useState<{ count: number; scheduledAt: string[] } | null>(null);
  const [confirmDelete, setConfirmDelete] = useState<string | null>(null);
  const readOnly = info?.readOnly === true;
  const act = async (action: string, body: Record<string, unknown>, done: (r: Record<string, unknown>) => string): Promise<Record<string, unknown> | null> => {
    setBusy(true);
    setMessage(null);
    try {
      const r = await apiPost<Record<string, unknown>>(`${jobPath(o, job.jobId)}/${action}`, body);
      setMessage({ ok: true, text: done(r) });
      onDone();
      return r;
    } catch (err) {
      const text = err instanceof ApiFailure ? `${action} refused: ${err.error.message}` : `${action} failed: ${(err as Error).message}`;
      setMessage({ ok: false, text });
      return null;
    } finally {
      setBusy(false);
    }
  };
  const backfillBody = (dryRun: boolean): Record<string, unknown> => ({
    from: new Date(bf.from).toISOString(),
    to: new Date(bf.to).toISOString(),
    ...(bf.overlapPolicy && { overlapPolicy: bf.overlapPolicy }),
    ...(dryRun && { dryRun: true }),
  });
  return (
    <section class="card actions">
      <h2>Actions</h2>
      {readOnly && <p class="sub">Read-only: this console has no token configured, so it cannot act.</p>}
      <fieldset disabled={readOnly || busy}>
        <div class="row">
          {job.paused ? (
            <button type="button" data-action="resume" onClick={() => void act('resume', {}, () => 'resumed')}>
              Resume
            </button>
          ) : (
            <>
              <input aria-label="pause reason" placeholder="reason (optional)" value={reason} onInput={(e) => setReason((e.target as HTMLInputElement).value)} />
              <button type="button" data-action="pause" onClick={() => void act('pause', { reason }, () => 'paused')}>
                Pause
              </button>
            </>
          )}
          <button type="button" data-action="run_now" onClick={() => void act('run_now', {}, (r) => `dispatched ${String(r.executionId)}`)}>
            Run now
          </button>
        </div>
        <div class="row backfill">
          <label>
            Backfill from <input type="datetime-local" step="1" name="backfill-from" value={bf.from} onInput={(e) => (setBf({ ...bf, from: (e.target as HTMLInputElement).value }), setPreview(null))} />
          </label>
          <label>
            to <input type="datetime-local" step="1" name="backfill-to" value={bf.to} onInput={(e) => (setBf({ ...bf, to: (e.target as HTMLInputElement).value }), setPreview(null))} />
          </label>
          <label>
            overlap{' '}
            <select name="backfill-overlap" value={bf.overlapPolicy} onChange={(e) => (setBf({ ...bf, overlapPolicy: (e.target as HTMLSelectElement).value }), setPreview(null))}>
              <option value="">buffer_all (default)</option>
              <option value="allow">allow</option>
              <option value="skip">skip</option>
              <option value="buffer_one">buffer_one</option>
            </select>
          </label>
          <button
            type="button"
            data-action="backfill-preview"
            onClick={() =>
              void act('backfill', backfillBody(true), (r) => `dry run: ${String(r.count)} slot(s) would be dispatched`).then((r) => {
                if (r) setPreview({ count: Number(r.count), scheduledAt: (r.scheduledAt as string[]) ?? [] });
              })
            }
          >
            Preview backfill
          </button>
        </div>
        {preview && (
          <div class="backfill-preview" data-count={preview.count}>
            <p>
              <strong>{preview.count}</strong> slot(s) in this range{preview.count > 0 ? ':' : '.'}
            </p>
            {preview.scheduledAt.length > 0 && (
              <ol class="slots">
                {preview.scheduledAt.slice(0, 20).map((s) => (
                  <li key={s}>
                    {localTime(s)} <span class="sub mono">{s}</span>
                  </li>
                ))}
                {preview.count > 20 && <li class="sub">… and {preview.count - 20} more</li>}
              </ol>
            )}
            {preview.count > 0 && (
              <button
                type="button"
                data-action="backfill-confirm"
                onClick={() => void act('backfill', backfillBody(false), (r) => `backfill ${String(r.backfillId ?? '')} started: ${String(r.count)} slot(s)`).then((r) => r && setPreview(null))}
              >
                Confirm backfill of {preview.count} slot(s)
              </button>
            )}
            <button type="button" onClick={() => setPreview(null)}>
              Cancel
            </button>
          </div>
        )}
        <div class="row danger">
          {confirmDelete === null ? (
            <button type="button" data-action="delete" onClick={() => setConfirmDelete('')}>
              Delete…
            </button>
          ) : (
            <>
              <label>
                Type <code>{job.jobId}</code> to delete it for good{' '}
                <input name="confirm-delete" value={confirmDelete} onInput={(e) => setConfirmDelete((e.target as HTMLInputElement).value)} />
              </label>
              <button
                type="button"
                data-action="delete-confirm"
                disabled={confirmDelete !== job.jobId}
                onClick={() => void act('delete', {}, () => 'deleted').then((r) => r && navigate(ordersUrl(o)))}
              >
                Delete
              </button>
              <button type="button" onClick={() => setConfirmDelete(null)}>
                Cancel
              </button>
            </>
          )}
        </div>
      </fieldset>
      {message && (
        <p class={message.ok ? 'ok' : 'error'} role="status" data-result={message.ok ? 'ok' : 'error'}>
          {message.text}
        </p>
      )}
    </section>
  );
}

function JobPage({ o, jobId, info }: { o: string; jobId: string; info: Info | null }) {
  const { data, error, reload } = useApi<{ job: JobView }>(jobPath(o, jobId));
  const job = data?.job ?? null;
  const now = useNow(1000);
  const [chart, setChart] = useState<MachineChart | null>(null);
  const [live, setLive] = useState<AuditEvent[]>([]);
  const [current, setCurrent] = useState<string | null>(null);
  const [last, setLast] = useState<{ from: string; to: string } | null>(null);
  const [connected, setConnected] = useState(false);
  const [version, setVersion] = useState(0);
  const pending = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(() => {
    void getMachine().then(setChart, () => undefined);
  }, []);
  // the state the job's record says, until an event says otherwise
  useEffect(() => {
    if (job) setCurrent(job.state);
  }, [job?.state, job?.updatedAt, job?.lastFiredAt, job?.lastResult?.at]);
  useEffect(() => {
    const es = new EventSource(`${jobPath(o, jobId)}/live`);
    es.addEventListener('ready', () => {
      setConnected(true);
      reload();
    });
    es.addEventListener('error', () => setConnected(false));
    es.addEventListener('audit', (m: MessageEvent<string>) => {
      let e: AuditEvent;
      try {
        e = JSON.parse(m.data) as AuditEvent;
      } catch {
        return;
      }
      setLive((l) => [e, ...l].slice(0, 30));
      const t = (e.type === 'transition' ? e.data : e.data.transition) as { from?: unknown; to?: unknown } | undefined;
      if (t && typeof t.to === 'string') {
        setCurrent(t.to);
        setLast({ from: String(t.from), to: t.to });
      }
      // read the job and its timeline again, once the burst of events is over
      if (pending.current) clearTimeout(pending.current);
      pending.current = setTimeout(() => {
        reload();
        setVersion((v) => v + 1);
      }, 400);
    });
    return () => {
      es.close();
      if (pending.current) clearTimeout(pending.current);
    };
  }, [o, jobId]);
  return (
    <main>
      <h1>
        <span class="mono">{jobId}</span> {job?.name ? <span class="sub">{job.name}</span> : null}{' '}
        {job && (
          <span class={`badge state-${current ?? job.state}`} data-job-state={current ?? job.state}>
            {current ?? job.state}
          </span>
        )}
      </h1>
      <ErrorLine error={error} />
      {job && (
        <>
          {job.paused && <p class="paused-note">Paused{job.pausedReason ? `: ${job.pausedReason}` : ''}.</p>}
          <p class="summary">
            {scheduleWords(job.schedule)} · next run {localTime(job.nextRunAt)} (yours) · {zoneTime(job.nextRunAt, jobZone(job))} ({jobZone(job)}) · last result {resultText(job.lastResult)}
          </p>
          <div class="grid">
            <Actions o={o} job={job} info={info} onDone={reload} />
            <section class="card wide machine-card">
              <h2>
                Machine <span class={`live-dot${connected ? ' on' : ''}`} title={connected ? 'live: following the job’s events' : 'not connected'} data-live={connected ? 'on' : 'off'} />
              </h2>
              {chart ? <MachineView chart={chart} current={current} last={last} /> : <p class="sub">loading the machine…</p>}
              <ol class="live-events">
                {live.map((e) => (
                  <li key={e.id} data-event={e.type}>
                    <span class="mono">{new Date(e.at).toLocaleTimeString()}</span> {e.type}
                    {e.type === 'transition' ? ` ${String(e.data.from)} → ${String(e.data.to)}` : ''}
                    {e.data.transition ? ` (${String((e.data.transition as { from: string }).from)} → ${String((e.data.transition as { to: string }).to)})` : ''}
                  </li>
                ))}
              </ol>
            </section>
            <TimelineSection o={o} job={job} version={version} />
            <Executions job={job} now={now} />
            <NextRuns o={o} job={job} />
            <Definition job={job} />
          </div>
        </>
      )}
    </main>
  );
}

// ---------------------------------------------------------------- app

function App() {
  const { pathname, search } = useLocation();
  const route = parseRoute(pathname);
  const { data: info } = useApi<Info>('/console/api/info');
  const [whoVersion, setWhoVersion] = useState(0);
  const { data: whoData, error: whoError } = useApi<Who>('/console/api/whoami', [whoVersion]);
  const who: Who | null = whoError instanceof ApiFailure && whoError.status === 401 ? { readOnly: false, caller: 'invalid', scope: null } : whoData;
  const crumbs: [string, string][] = [['/console', 'Orchestrators']];
  if (route.page === 'jobs' || route.page === 'job') crumbs.push([ordersUrl(route.o), route.o]);
  if (route.page === 'job') crumbs.push([jobUrl(route.o, route.jobId), route.jobId]);
  useEffect(() => {
    document.title = `${crumbs[crumbs.length - 1]![1]} — nats-scheduler console`;
  });
  return (
    <>
      <header>
        <nav class="crumbs">
          <span class="brand">nats-scheduler</span>
          {crumbs.map(([href, text], i) => (
            <span key={href}>
              {i > 0 ? ' / ' : ' '}
              <Link href={href}>{text}</Link>
            </span>
          ))}
        </nav>
        <Access info={info} who={getToken() === '' ? null : who} onChange={() => setWhoVersion((v) => v + 1)} />
        {info && (
          <span class="sub replica">
            prefix {info.prefix}
            {info.replicaId ? ` · replica ${info.replicaId}` : ''}
            {info.version ? ` · v${info.version}` : ''}
          </span>
        )}
      </header>
      {route.page === 'home' && <Home />}
      {route.page === 'jobs' && <JobsPage key={route.o} o={route.o} search={search} />}
      {route.page === 'job' && <JobPage key={`${route.o}/${route.jobId}`} o={route.o} jobId={route.jobId} info={info} />}
      {route.page === 'missing' && (
        <main>
          <p>No such page.</p>
        </main>
      )}
    </>
  );
}

render(<App />, document.getElementById('app')!);
