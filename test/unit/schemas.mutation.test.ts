import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { EXECUTION_ID_PATTERN, ID_PATTERN, isValidId, runNowExecutionId, slotExecutionId } from '../../src/contract/ids.js';
import {
  commandSchemas,
  completionSchema,
  createBodySchema,
  issueDetails,
  MAX_DURATION_MS,
  MAX_INSTANT,
} from '../../src/contract/schemas.js';

/**
 * The wire contract's validation (SPEC §2, §4, §5) at the level of the zod schemas the command
 * handler uses: identifiers, instants, durations, labels, and the `details` an invalid_request
 * carries.
 */

const target = { type: 'command', command: 'c' } as const;
const create = (body: Record<string, unknown>) => createBodySchema.safeParse({ schedule: { kind: 'interval', every: 60_000 }, target, ...body });
/** The `details` of the invalid_request a body gets, or the parsed value. */
function details<T>(r: z.ZodSafeParseResult<T>): { path: string; message: string }[] {
  if (r.success) throw new Error(`expected a failure, got ${JSON.stringify(r.data)}`);
  return issueDetails(r.error);
}
const startAt = (s: string): unknown => {
  const r = create({ startAt: s });
  return r.success ? r.data.startAt : 'invalid';
};

describe('identifiers (SPEC §2)', () => {
  it('orchestratorId and jobId: 1 to 64 of [A-Za-z0-9_-], nothing that changes a subject', () => {
    for (const ok of ['a', 'A-z_0', 'x'.repeat(64)]) expect(isValidId(ok), ok).toBe(true);
    for (const bad of ['', 'x'.repeat(65), 'a.b', 'a*', 'a>', 'a b', 'ü', 'a\n']) expect(isValidId(bad), bad).toBe(false);
    expect(isValidId(42)).toBe(false);
    expect(isValidId(null)).toBe(false);
    expect(ID_PATTERN.test('x'.repeat(64))).toBe(true);
  });

  it('a bad jobId is refused with the pattern in the message', () => {
    expect(details(create({ jobId: 'a.b' }))).toEqual([{ path: 'jobId', message: 'must match ^[A-Za-z0-9_-]{1,64}$' }]);
    expect(details(commandSchemas.show.safeParse({ jobId: 'x'.repeat(65) }))).toEqual([{ path: 'jobId', message: 'must match ^[A-Za-z0-9_-]{1,64}$' }]);
  });

  it('executionId: 1 to 128 of [A-Za-z0-9_-]', () => {
    expect(EXECUTION_ID_PATTERN.test('e'.repeat(128))).toBe(true);
    expect(EXECUTION_ID_PATTERN.test('e'.repeat(129))).toBe(false);
    expect(EXECUTION_ID_PATTERN.test('a.b')).toBe(false);
    const c = (executionId: string) => completionSchema.safeParse({ executionId, jobId: 'j', status: 'succeeded' });
    expect(c('e'.repeat(128)).success).toBe(true);
    expect(details(c('e'.repeat(129)))).toEqual([{ path: 'executionId', message: 'must match ^[A-Za-z0-9_-]{1,128}$' }]);
  });

  it('slot and run_now execution ids are deterministic, distinct, and valid executionIds', () => {
    const inc = 'AbC_12-xyz';
    expect(slotExecutionId(inc, 1_795_770_000_000)).toBe(slotExecutionId(inc, 1_795_770_000_000));
    expect(slotExecutionId(inc, 1_795_770_000_000)).toBe(`${inc}-s${(1_795_770_000_000).toString(36)}`);
    expect(runNowExecutionId(inc, 37)).toBe(`${inc}-r11`);
    expect(slotExecutionId(inc, 1)).not.toBe(runNowExecutionId(inc, 1));
    expect(EXECUTION_ID_PATTERN.test(slotExecutionId('i'.repeat(16), MAX_INSTANT))).toBe(true);
  });
});

describe('instants (SPEC §2: ISO-8601 with an offset)', () => {
  it('accepts any offset, with or without seconds and fractions, in either case', () => {
    const at = Date.parse('2026-11-27T09:00:00.000Z');
    expect(startAt('2026-11-27T09:00:00.000Z')).toBe(at);
    expect(startAt('2026-11-27T09:00:00Z')).toBe(at);
    expect(startAt('2026-11-27T09:00Z')).toBe(at);
    expect(startAt('2026-11-27t09:00:00z')).toBe(at);
    expect(startAt('2026-11-27T10:00:00+01:00')).toBe(at);
    expect(startAt('2026-11-27T10:00:00+0100')).toBe(at);
    expect(startAt('2026-11-27T08:30:00.000-00:30')).toBe(at);
    expect(startAt('2026-11-27T09:00:00.123456789Z')).toBe(at + 123);
  });

  it('refuses a local time, other formats, and anything around an instant', () => {
    for (const bad of [
      '2026-11-27T09:00:00', // no offset: which instant?
      '2026-11-27',
      '2026-11-27 09:00:00Z',
      'Nov 27 2026 09:00:00 +0100',
      '+002026-11-27T09:00:00Z',
      '2026-11-27T09:00:00.1234567890Z',
      '2026-11-27T09:00:00Z ',
      '2026-11-27T09:00:00Zjunk',
      '2026-11-27T09:00:00+01:00:00',
      '2026-11-27T09:00:00+01', // an hour-only offset (Date.parse cannot read it either)
      'x2026-11-27T09:00:00Z',
      '1795770000000',
    ]) {
      expect(startAt(bad), bad).toBe('invalid');
    }
  });

  it('from 1970 to the end of 9999', () => {
    expect(startAt('1970-01-01T00:00:00.000Z')).toBe(0);
    expect(startAt('1969-12-31T23:59:59.999Z')).toBe('invalid');
    expect(startAt('9999-12-31T23:59:59.999Z')).toBe(MAX_INSTANT);
    expect(startAt('9999-12-31T23:59:59.999-01:00')).toBe('invalid');
    expect(details(create({ startAt: '2026-11-27' }))).toEqual([
      { path: 'startAt', message: 'must be an ISO-8601 date-time with an offset (e.g. 2026-11-27T09:00:00.000Z) between 1970 and 9999' },
    ]);
  });

  it('a once schedule carries its instant as epoch ms', () => {
    const r = create({ schedule: { kind: 'once', at: '2026-11-27T10:00:00+01:00' } });
    expect(r.success && r.data.schedule).toEqual({ kind: 'once', at: Date.parse('2026-11-27T09:00:00Z') });
  });
});

describe('durations (SPEC §2)', () => {
  const grace = (v: unknown): unknown => {
    const r = create({ misfireGraceMs: v });
    return r.success ? r.data.misfireGraceMs : details(r);
  };

  it('milliseconds, unit strings and ISO-8601, up to 1000 years', () => {
    expect(grace(500)).toBe(500);
    expect(grace('30s')).toBe(30_000);
    expect(grace('PT15M')).toBe(900_000);
    expect(grace('365d')).toBe(365 * 86_400_000);
    expect(MAX_DURATION_MS).toBe(1000 * 365.25 * 86_400_000);
    expect(grace(MAX_DURATION_MS)).toBe(MAX_DURATION_MS);
    expect(grace(MAX_DURATION_MS + 1)).toEqual([{ path: 'misfireGraceMs', message: `duration must be at most ${MAX_DURATION_MS} ms (1000 years)` }]);
  });

  it('a duration that does not parse says why', () => {
    expect(grace('5x')).toEqual([{ path: 'misfireGraceMs', message: expect.stringMatching(/^duration "5x" is not understood/) }]);
    expect(grace(-1)).toEqual([{ path: 'misfireGraceMs', message: expect.stringContaining('non-negative') }]);
  });

  it('an interval schedule takes a duration', () => {
    const r = create({ schedule: { kind: 'interval', every: '2h' } });
    expect(r.success && r.data.schedule).toEqual({ kind: 'interval', every: 7_200_000 });
  });
});

describe('labels', () => {
  it('at most 64', () => {
    const labels = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v']));
    expect(create({ labels: labels(64) }).success).toBe(true);
    expect(details(create({ labels: labels(65) }))).toEqual([{ path: 'labels', message: 'at most 64 labels' }]);
  });
});

describe('invalid_request details', () => {
  it('name the path of each problem, joined with dots', () => {
    const r = commandSchemas.update.safeParse({ jobId: 'j', patch: { schedule: { kind: 'interval', every: 'soon' }, dispatchRetry: { attempts: 0 } } });
    expect(details(r).map((d) => d.path).sort()).toEqual(['patch.dispatchRetry.attempts', 'patch.schedule.every']);
    const list = commandSchemas.list.safeParse({ labels: { a: 1 } });
    expect(details(list).map((d) => d.path)).toEqual(['labels.a']);
  });
});
