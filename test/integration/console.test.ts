/**
 * The web console (src/console) in a real browser: headless Chromium (Debian's `chromium`, driven
 * by playwright-core) against two real scheduler processes (`src/main.ts`, as `npm start` runs
 * it) on a private nats-server. Replica A has console tokens (an operator token, one scoped to
 * `acme`, one scoped to `beta`); replica B has none, so its console is read-only, and it answers
 * for `acme` by forwarding to the owner like any client's request. Screenshots of each page go to
 * docs/console/.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Orchestrator, TestBed, uniquePrefix, until, type AuditEventWire, type DispatchWire } from '../helpers/harness.js';
import { freePort } from '../helpers/ports.js';
import { spawnScheduler, type SchedulerProcess } from '../helpers/scheduler-process.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SHOTS = path.join(ROOT, 'docs/console');
const OPERATOR = 'operator-token-0123456789abcdef';
const ACME = 'acme-token-0123456789abcdef';
const BETA = 'beta-token-0123456789abcdef';

/** Debian's chromium (CI installs it: .ci/run); CHROMIUM_PATH overrides. Missing: the test fails, it never skips. */
function chromiumPath(): string {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/lib/chromium/chromium', '/usr/bin/google-chrome'].filter(
    (p): p is string => typeof p === 'string' && p !== '',
  );
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`no Chromium found (looked at ${candidates.join(', ')}): install it with apt-get install -y chromium, or set CHROMIUM_PATH`);
  return found;
}

let bed: TestBed;
let P: string;
let a: SchedulerProcess;
let b: SchedulerProcess;
let urlA: string;
let urlB: string;
let browser: Browser;
let context: BrowserContext;
let orch: Orchestrator;
let nc: NatsConnection;
const dispatches: DispatchWire[] = [];
const events: AuditEventWire[] = [];
/** Dispatches of `manual` are answered this late, so its `dispatched` state is seen before `running`. */
const MANUAL_ACCEPT_DELAY_MS = 1500;

const pageErrors: string[] = [];
const shot = (page: Page, name: string): Promise<Buffer> => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });

/** A page; with `token`, one that has it already (as if typed into the token box: see the pause test). */
async function newPage(token?: string): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (err) => void pageErrors.push(`${page.url()}: ${err.message}`));
  // a Content-Security-Policy violation (an inline style or script the page tried) is an error too
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) pageErrors.push(`${page.url()}: ${m.text()}`);
  });
  if (token !== undefined) await page.addInitScript({ content: `sessionStorage.setItem('nats-scheduler-console-token', ${JSON.stringify(token)})` });
  return page;
}

/** Gives the page a token through the token box in its header. */
async function signIn(page: Page, token: string): Promise<void> {
  await page.fill('input[name=token]', token);
  await page.click('button:has-text("Use token")');
  await page.locator('.who[data-scope]').waitFor();
}

beforeAll(async () => {
  const executablePath = chromiumPath();
  // the page's bundle (npm run build builds it too; the tests' global setup compiles only dist/*.js)
  const build = spawnSync('npm', ['run', '--silent', 'build:console'], { cwd: ROOT, encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`npm run build:console failed:\n${build.stdout}${build.stderr}`);
  mkdirSync(SHOTS, { recursive: true });
  bed = await TestBed.start();
  P = uniquePrefix();
  const [portA, portB] = [await freePort(), await freePort()];
  urlA = `http://127.0.0.1:${portA}`;
  urlB = `http://127.0.0.1:${portB}`;
  const common = { NATS_URL: bed.server.url, SCHED_PREFIX: P, SCHED_HTTP_HOST: '127.0.0.1', SCHED_LEASE_TTL_MS: '3000' };
  // A first: it owns acme (B, started after, forwards to it)
  a = await spawnScheduler({ ...common, SCHED_HTTP_PORT: String(portA), SCHED_CONSOLE_TOKEN: OPERATOR, SCHED_CONSOLE_TOKENS: `${ACME}:acme;${BETA}:beta` });
  const launching = chromium.launch({ executablePath, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });

  orch = await bed.orchestrator(P, 'acme');
  nc = await connect({ servers: bed.server.url });
  nc.subscribe(`${P}.acme.dispatch.>`, {
    callback: (_err, m: Msg) => {
      const d = { ...m.json<DispatchWire>(), receivedAt: Date.now(), subject: m.subject };
      dispatches.push(d);
      if (d.jobId === 'manual') setTimeout(() => m.respond(JSON.stringify({ accepted: true })), MANUAL_ACCEPT_DELAY_MS);
      else m.respond(JSON.stringify({ accepted: true }));
    },
  });
  nc.subscribe(`${P}.acme.events.>`, { callback: (_err, m: Msg) => void events.push(m.json<AuditEventWire>()) });
  await nc.flush();

  const target = { type: 'workflow_start', workflowId: 'wf' };
  // the first command of a new orchestrator may meet its takeover: `unavailable`, retried
  const first = await until(async () => {
    const r = await orch.cmd('list', {});
    return r.ok || r.error?.code !== 'unavailable' ? r : null;
  }, 10_000, 'acme served');
  expect(first.ok).toBe(true);
  const created = await Promise.all([
    orch.cmd('create', { jobId: 'nightly-report', name: 'Nightly report', labels: { team: 'billing' }, schedule: { kind: 'cron', expression: '0 2 * * *', timezone: 'Europe/Berlin' }, target }),
    orch.cmd('create', { jobId: 'hourly-sync', name: 'Hourly sync', labels: { team: 'ops' }, schedule: { kind: 'cron', expression: '0 * * * *' }, target }),
    orch.cmd('create', { jobId: 'manual', name: 'Manual export', schedule: { kind: 'once', at: '2099-01-01T00:00:00Z' }, target }),
  ]);
  for (const r of created) expect(r.ok, JSON.stringify(r)).toBe(true);
  // enough jobs for a second page (the table shows 50 a page)
  for (let i = 0; i < 120; i += 40) {
    const batch = Array.from({ length: 40 }, (_, k) => i + k).map((n) =>
      orch.cmd('create', { jobId: `bulk-${String(n).padStart(3, '0')}`, labels: { team: 'bulk' }, schedule: { kind: 'interval', every: '1d' }, target }),
    );
    for (const r of await Promise.all(batch)) expect(r.ok).toBe(true);
  }
  // ticker: every second, skip on overlap; its first execution is left running so slots are skipped
  expect((await orch.cmd('create', { jobId: 'ticker', name: 'Ticker', labels: { team: 'ops' }, schedule: { kind: 'interval', every: '1s' }, overlapPolicy: 'skip', target })).ok).toBe(true);
  // B starts once A owns acme: B's console answers for it by forwarding, like any client's request
  [b, browser] = await Promise.all([spawnScheduler({ ...common, SCHED_HTTP_PORT: String(portB) }), launching]);
  // a fixed zone and locale: what the page shows does not depend on the machine running the test
  context = await browser.newContext({ timezoneId: 'UTC', locale: 'en-GB', viewport: { width: 1400, height: 1000 } });
  context.setDefaultTimeout(10_000);
}, 60_000);

afterAll(async () => {
  // what the consoles logged above info, for a failure's diagnosis
  for (const [name, p] of [['A', a], ['B', b]] as const) {
    const lines = (p?.output ?? []).filter((l) => l.includes('"component":"console"') && !l.includes('"level":30'));
    if (lines.length > 0) process.stderr.write(`[console ${name}]\n${lines.slice(-20).join('\n')}\n`);
  }
  await context?.close().catch(() => undefined);
  await browser?.close().catch(() => undefined);
  await nc?.close().catch(() => undefined);
  await Promise.all([a?.kill('SIGTERM'), b?.kill('SIGTERM')]);
  await bed?.dispose();
}, 30_000);

describe('web console', () => {
  afterEach(() => {
    const errors = pageErrors.splice(0);
    expect(errors, 'errors in the page').toEqual([]);
  });

  it('lists the orchestrators, with a CSP that forbids inline scripts, every asset from the scheduler', async () => {
    const res = await fetch(`${urlA}/console`);
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    const html = await res.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // no inline script
    expect(html).not.toMatch(/https?:\/\//); // nothing from elsewhere

    const page = await newPage();
    const requested: string[] = [];
    page.on('request', (r) => requested.push(r.url()));
    await page.goto(`${urlA}/console`);
    await page.locator('a[data-orchestrator=acme]').waitFor();
    expect(requested.every((u) => u.startsWith(urlA))).toBe(true);
    await shot(page, 'orchestrators');
    await page.click('a[data-orchestrator=acme]');
    await page.waitForURL(`${urlA}/console/o/acme`);
    await page.close();
  });

  it('shows the jobs table: schedule in words, next run in both zones, pages, filters and search kept in the URL', async () => {
    const page = await newPage();
    await page.goto(`${urlA}/console/o/acme`);
    const ids = (): Promise<(string | null)[]> => page.locator('table.jobs tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-job')));
    // pages of 50 in id order, by the list's cursor
    await expect.poll(async () => (await ids()).length).toBe(50);
    expect((await ids())[0]).toBe('bulk-000');
    await page.click('a[data-next=true]');
    await expect.poll(() => new URL(page.url()).searchParams.get('cursor')).not.toBeNull();
    await expect.poll(async () => (await ids())[0]).toBe('bulk-050');
    await page.click('a[data-next=true]');
    await expect.poll(async () => (await ids()).slice(-4)).toEqual(['hourly-sync', 'manual', 'nightly-report', 'ticker']);
    expect(await page.locator('a[data-next=true]').count()).toBe(0);
    const nightly = page.locator('tr[data-job=nightly-report]');
    expect(await nightly.locator('td.schedule').textContent()).toBe('every day at 02:00 Europe/Berlin');
    // next run: 02:00 in Berlin, which is 00:00 or 01:00 in the viewer's zone (UTC here)
    const cells = await nightly.locator('td').allTextContents();
    expect(cells[4]).toMatch(/02:00:00 (CET|CEST)/);
    expect(cells[3]).toMatch(/0[01]:00:00 UTC/);
    await nightly.scrollIntoViewIfNeeded();
    await shot(page, 'jobs');

    // filter by label: in the URL, so the link can be shared
    await page.goto(`${urlA}/console/o/acme`);
    await page.fill('input[name=label]', 'team=billing');
    await page.click('button:has-text("Apply")');
    await expect.poll(() => new URL(page.url()).searchParams.get('label')).toBe('team=billing');
    await expect.poll(() => page.locator('table.jobs tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-job')))).toEqual(['nightly-report']);
    // the shared link opens the same view
    const shared = await newPage();
    await shared.goto(`${urlA}/console/o/acme?state=idle&label=team%3Dops&q=sync`);
    await expect.poll(() => shared.locator('table.jobs tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-job')))).toEqual(['hourly-sync']);
    expect(await shared.locator('select[name=state]').inputValue()).toBe('idle');
    await shared.close();
    // search by name
    await page.goto(`${urlA}/console/o/acme`);
    await page.fill('input[name=q]', 'ticker');
    await page.click('button:has-text("Apply")');
    await expect.poll(() => page.locator('table.jobs tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-job')))).toEqual(['ticker']);
    await page.click('tr[data-job=ticker] a');
    await page.waitForURL(`${urlA}/console/o/acme/jobs/ticker`);
    await page.close();
  });

  it("draws a job's timeline from the audit trail: fired and skipped slots, each explained on click", async () => {
    // the first execution stays running: the next slots are skipped (overlap); then it completes
    const firstSkip = await until(() => events.find((e) => e.jobId === 'ticker' && e.type === 'trigger.skipped'), 15_000, 'a skipped slot of ticker');
    const first = dispatches.find((d) => d.jobId === 'ticker')!;
    await orch.complete(first.executionId, 'ticker', 'succeeded');
    await until(() => dispatches.filter((d) => d.jobId === 'ticker').length >= 2, 10_000, 'a second dispatch of ticker');
    for (const d of dispatches.filter((x) => x.jobId === 'ticker')) await orch.complete(d.executionId, 'ticker', 'succeeded');
    expect((await orch.cmd('pause', { jobId: 'ticker', reason: 'enough' })).ok).toBe(true);

    const page = await newPage();
    await page.goto(`${urlA}/console/o/acme/jobs/ticker?range=1h`);
    const chart = page.locator('.timeline-chart');
    await expect.poll(async () => Number(await chart.getAttribute('data-fired')), { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    expect(Number(await chart.getAttribute('data-skipped'))).toBeGreaterThanOrEqual(1);
    expect(Number(await chart.getAttribute('data-paused'))).toBe(1);
    await page.locator('.timeline-chart canvas').first().waitFor();
    // the range is in the URL
    expect(new URL(page.url()).searchParams.get('range')).toBe('1h');

    // a skipped mark, explained: by `explain` when the scheduler answers it, else its raw event
    const row = page.locator('tr[data-mark=skipped]').last();
    await row.click();
    const panel = page.locator('.explain[data-kind=skipped]');
    await panel.waitFor();
    await expect
      .poll(async () => (await panel.locator('.outcome').count()) > 0 || (await panel.locator('[data-explain=unavailable]').count()) > 0, { timeout: 10_000 })
      .toBe(true);
    if ((await panel.locator('.outcome').count()) > 0) expect(await panel.locator('.outcome').textContent()).toBe('skipped');
    else expect(await panel.locator('.raw-events').textContent()).toContain(firstSkip.id);
    await shot(page, 'job-timeline');

    // hovering a mark on the chart names it
    const fired = page.locator('tr[data-mark=fired]').first();
    await fired.click();
    await page.locator('.explain[data-kind=fired]').waitFor();
    await page.close();
  });

  it('follows the job\'s machine live: the state lit moves as the dispatch is sent and accepted', async () => {
    const page = await newPage(OPERATOR);
    await page.goto(`${urlA}/console/o/acme/jobs/manual`);
    const svg = page.locator('svg.machine');
    await expect.poll(() => svg.getAttribute('data-current')).toBe('idle');
    await page.locator('[data-live=on]').waitFor();
    // every state of the machine is drawn, from its definition
    for (const s of ['idle', 'due', 'dispatched', 'running', 'paused']) await svg.locator(`[data-state="${s}"]`).waitFor();
    await page.click('button[data-action=run_now]');
    await expect.poll(() => svg.getAttribute('data-current'), { timeout: 5_000 }).toBe('dispatched');
    expect(await svg.locator('g.state.current').getAttribute('data-state')).toBe('dispatched');
    // the orchestrator accepts it MANUAL_ACCEPT_DELAY_MS later
    await expect.poll(() => svg.getAttribute('data-current'), { timeout: 5_000 }).toBe('running');
    await page.locator('tr[data-execution]').waitFor();
    await shot(page, 'job-live');
    const exec = dispatches.find((d) => d.jobId === 'manual')!;
    await orch.complete(exec.executionId, 'manual', 'succeeded');
    await expect.poll(() => svg.getAttribute('data-current'), { timeout: 5_000 }).toBe('idle');
    await page.close();
  });

  it('pauses and resumes with a token, and refuses without one or with a token of another orchestrator', async () => {
    const page = await newPage();
    await page.goto(`${urlA}/console/o/acme/jobs/hourly-sync`);
    await page.fill('input[aria-label="pause reason"]', 'maintenance');
    await page.click('button[data-action=pause]');
    await expect.poll(() => page.locator('[data-result]').textContent()).toContain('need a console token');
    expect(((await orch.cmd('show', { jobId: 'hourly-sync' })).job as { paused: boolean }).paused).toBe(false);
    await page.close();

    const beta = await newPage(BETA);
    await beta.goto(`${urlA}/console/o/acme/jobs/hourly-sync`);
    await beta.click('button[data-action=pause]');
    await expect.poll(() => beta.locator('[data-result]').textContent()).toContain('may not act on orchestrator acme');
    await beta.close();

    const acme = await newPage();
    await acme.goto(`${urlA}/console/o/acme/jobs/hourly-sync`);
    await signIn(acme, ACME);
    expect(await acme.locator('.who').getAttribute('data-scope')).toBe('acme');
    await acme.fill('input[aria-label="pause reason"]', 'maintenance');
    await acme.click('button[data-action=pause]');
    await expect.poll(() => acme.locator('[data-job-state]').getAttribute('data-job-state')).toBe('paused');
    await acme.locator('.paused-note:has-text("maintenance")').waitFor();
    const shown = (await orch.cmd('show', { jobId: 'hourly-sync' })).job as { paused: boolean; pausedReason: string | null };
    expect(shown).toMatchObject({ paused: true, pausedReason: 'maintenance' });
    await acme.click('button[data-action=resume]');
    await expect.poll(() => acme.locator('[data-job-state]').getAttribute('data-job-state')).toBe('idle');
    expect(((await orch.cmd('show', { jobId: 'hourly-sync' })).job as { paused: boolean }).paused).toBe(false);
    await acme.close();

    // CSRF: an action from another origin is refused even with a valid token
    const forged = await fetch(`${urlA}/console/api/o/acme/jobs/hourly-sync/pause`, {
      method: 'POST',
      headers: { origin: 'http://evil.example', authorization: `Bearer ${OPERATOR}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(forged.status).toBe(403);
    expect(((await orch.cmd('show', { jobId: 'hourly-sync' })).job as { paused: boolean }).paused).toBe(false);
  });

  it('previews a backfill (dry run) before it is confirmed', async () => {
    const page = await newPage(OPERATOR);
    await page.goto(`${urlA}/console/o/acme/jobs/nightly-report`);
    // a week of 2025 in the viewer's zone (UTC here): seven 02:00 Berlin slots
    await page.fill('input[name=backfill-from]', '2025-01-01T00:00:00');
    await page.fill('input[name=backfill-to]', '2025-01-08T00:00:00');
    await page.click('button[data-action=backfill-preview]');
    const preview = page.locator('.backfill-preview');
    await preview.waitFor();
    expect(await preview.getAttribute('data-count')).toBe('7');
    expect(await preview.locator('.slots li').count()).toBe(7);
    expect(await preview.locator('.slots li').first().textContent()).toContain('2025-01-01T01:00:00.000Z');
    await shot(page, 'backfill-preview');
    expect(dispatches.filter((d) => d.jobId === 'nightly-report')).toHaveLength(0); // a dry run dispatches nothing
    await page.click('button[data-action=backfill-confirm]');
    await expect.poll(() => page.locator('[data-result]').textContent()).toMatch(/backfill \S+ started: 7 slot/);
    await until(() => dispatches.some((d) => d.jobId === 'nightly-report' && d.trigger === 'backfill'), 10_000, 'a backfill dispatch');
    await page.close();
  });

  it('on a replica without tokens: read-only, and it answers for an orchestrator it does not own', async () => {
    const page = await newPage();
    await page.goto(`${urlB}/console/o/acme/jobs/hourly-sync`);
    await page.locator('[data-access=read-only]').waitFor();
    await page.locator('svg.machine').waitFor();
    expect(await page.locator('button[data-action=pause]').isDisabled()).toBe(true);
    await shot(page, 'read-only');
    const refused = await fetch(`${urlB}/console/api/o/acme/jobs/hourly-sync/pause`, {
      method: 'POST',
      headers: { authorization: `Bearer ${OPERATOR}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('read_only');
    await page.goto(`${urlB}/console/o/acme?label=team%3Dbilling`);
    await page.locator('tr[data-job=nightly-report]').waitFor();
    await page.close();
  });

  it('deletes a job after a typed confirmation', async () => {
    const page = await newPage(OPERATOR);
    await page.goto(`${urlA}/console/o/acme/jobs/bulk-119`);
    await page.click('button[data-action=delete]');
    const confirm = page.locator('button[data-action=delete-confirm]');
    expect(await confirm.isDisabled()).toBe(true);
    await page.fill('input[name=confirm-delete]', 'bulk-119');
    await confirm.click();
    await page.waitForURL(`${urlA}/console/o/acme`);
    expect((await orch.cmd('show', { jobId: 'bulk-119' })).error?.code).toBe('not_found');
    await page.close();
  });
});
