/** The patterns of src/contract/ids.ts not covered through the schemas (schemas.mutation.test.ts). */
import { describe, expect, it } from 'vitest';
import {
  INSTANT_PATTERN,
  PREFIX_PATTERN,
  WIRE_INSTANT_PATTERN,
  isValidExecutionId,
  isValidPrefix,
  mustMatch,
  parseInstant,
} from '../../src/contract/ids.js';

describe('contract ids', () => {
  it('prefix: 1 to 32 letters, digits, _ or -', () => {
    for (const ok of ['s', 'A-z_0', 'p'.repeat(32)]) expect(isValidPrefix(ok), ok).toBe(true);
    for (const bad of ['', 'p'.repeat(33), 'a.b', 'a*', 'a>', 'a b', 'ü', 'a\n', ' a']) expect(isValidPrefix(bad), bad).toBe(false);
    expect(isValidPrefix(7)).toBe(false);
    expect(isValidPrefix(undefined)).toBe(false);
    expect(PREFIX_PATTERN.source).toBe('^[A-Za-z0-9_-]{1,32}$');
  });

  it('execution id: 1 to 128 letters, digits, _ or -', () => {
    for (const ok of ['e', 'A-z_0', 'e'.repeat(128)]) expect(isValidExecutionId(ok), ok).toBe(true);
    for (const bad of ['', 'e'.repeat(129), 'a.b', 'a b', 'x\n']) expect(isValidExecutionId(bad), bad).toBe(false);
    expect(isValidExecutionId(1)).toBe(false);
  });

  it('mustMatch states the pattern', () => {
    expect(mustMatch(PREFIX_PATTERN)).toBe('must match ^[A-Za-z0-9_-]{1,32}$');
  });

  it('the instant the scheduler writes: UTC with exactly 3 fraction digits', () => {
    expect(WIRE_INSTANT_PATTERN.test('2026-11-27T09:00:00.000Z')).toBe(true);
    for (const bad of [
      '2026-11-27T09:00:00Z',
      '2026-11-27T09:00:00.00Z',
      '2026-11-27T09:00:00.0000Z',
      '2026-11-27T09:00:00.000+00:00',
      '2026-11-27t09:00:00.000z',
      '2026-11-27 09:00:00.000Z',
      'x2026-11-27T09:00:00.000Z',
      '2026-11-27T09:00:00.000Zx',
      '26-11-27T09:00:00.000Z',
      '2026-1-27T09:00:00.000Z',
      '2026-11-7T09:00:00.000Z',
      '2026-11-27T9:00:00.000Z',
      '2026-11-27T09:0:00.000Z',
      '2026-11-27T09:00:0.000Z',
    ]) {
      expect(WIRE_INSTANT_PATTERN.test(bad), bad).toBe(false);
    }
  });

  it('the instant the scheduler accepts: offset Z, +hh:mm or +hhmm, seconds and fraction optional', () => {
    for (const ok of ['2026-11-27T09:00Z', '2026-11-27T09:00:00+01:00', '2026-11-27T09:00:00.123456789-0130', '2026-11-27t09:00z']) {
      expect(INSTANT_PATTERN.test(ok), ok).toBe(true);
    }
    for (const bad of ['2026-11-27T09:00:00+01', '2026-11-27T09:00:00', '2026-11-27T09:00:00.1234567890Z', 'x2026-11-27T09:00Z', '2026-11-27T09:00Zx']) {
      expect(INSTANT_PATTERN.test(bad), bad).toBe(false);
    }
  });

  it('parseInstant: epoch ms, null for another form or a date Date cannot read', () => {
    expect(parseInstant('1970-01-01T00:00:00.000Z')).toBe(0);
    expect(parseInstant('2026-11-27T10:00:00+01:00')).toBe(Date.UTC(2026, 10, 27, 9));
    expect(parseInstant('2026-11-27T09:00:00')).toBeNull();
    expect(parseInstant('2026-13-40T25:61Z')).toBeNull();
  });
});
