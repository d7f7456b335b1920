import { IANAZone } from 'luxon';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { isValidTimezone, ZoneOffsets, zoneOffsets } from '../../src/schedule/zone.js';

/** Time-zone offsets and transitions (src/schedule/zone.ts): exact instants, and the caching. */

const HOUR = 3_600_000;
const ms = (iso: string) => Date.parse(iso);

afterEach(() => {
  vi.restoreAllMocks();
});

describe('transitions', () => {
  it('a transition on a whole UTC hour is found at that instant (Berlin spring 2026)', () => {
    const z = new ZoneOffsets('Europe/Berlin');
    const t = z.firstTransitionIn(ms('2026-03-01T00:00:00Z'), ms('2026-04-30T00:00:00Z'));
    expect(t).toEqual({ at: ms('2026-03-29T01:00:00Z'), before: HOUR, after: 2 * HOUR });
    expect(z.offset(ms('2026-03-29T01:00:00Z') - 1)).toBe(HOUR);
    expect(z.offset(ms('2026-03-29T01:00:00Z'))).toBe(2 * HOUR);
  });

  it('a transition at half past a UTC hour is found to the second (Lord Howe, a 30-minute shift)', () => {
    const z = new ZoneOffsets('Australia/Lord_Howe');
    const t = z.firstTransitionIn(ms('2026-09-01T00:00:00Z'), ms('2026-11-01T00:00:00Z'));
    expect(t).toEqual({ at: ms('2026-10-03T15:30:00Z'), before: 10.5 * HOUR, after: 11 * HOUR });
    expect(z.lastTransitionIn(ms('2026-09-01T00:00:00Z'), ms('2026-11-01T00:00:00Z'))).toEqual(t);
  });

  it('first and last transition of a range, bounds (a, b] included, none in a summer', () => {
    const z = new ZoneOffsets('America/New_York');
    const spring = ms('2026-03-08T07:00:00Z');
    const fall = ms('2026-11-01T06:00:00Z');
    expect(z.firstTransitionIn(ms('2026-01-01T00:00:00Z'), ms('2027-01-01T00:00:00Z'))?.at).toBe(spring);
    expect(z.lastTransitionIn(ms('2026-01-01T00:00:00Z'), ms('2027-01-01T00:00:00Z'))?.at).toBe(fall);
    expect(z.firstTransitionIn(spring - 1, spring)?.at).toBe(spring);
    expect(z.firstTransitionIn(spring, spring + 1)).toBeNull();
    expect(z.lastTransitionIn(spring - 1, spring)?.at).toBe(spring);
    expect(z.firstTransitionIn(ms('2026-05-01T00:00:00Z'), ms('2026-09-01T00:00:00Z'))).toBeNull();
    expect(z.lastTransitionIn(ms('2026-05-01T00:00:00Z'), ms('2026-09-01T00:00:00Z'))).toBeNull();
    expect(z.firstTransitionIn(fall, spring)).toBeNull();
  });
});

describe('raw offsets', () => {
  it('instants before the first representable date use its offset (local mean time)', () => {
    const z = new ZoneOffsets('Europe/Berlin');
    expect(z.rawOffset(-1e16)).toBe(z.rawOffset(-8.64e15));
    expect(z.rawOffset(-8.64e15)).toBe(3_208_000); // LMT +0:53:28
  });

  it('an unknown zone cannot give offsets', () => {
    expect(() => new ZoneOffsets('Mars/Olympus').rawOffset(0)).toThrow('cannot compute the offset of Mars/Olympus at 0');
  });

  it('isValidTimezone needs a non-empty IANA name', () => {
    expect(isValidTimezone('Europe/Berlin')).toBe(true);
    expect(isValidTimezone('')).toBe(false);
    expect(isValidTimezone(5 as never)).toBe(false);
  });
});

describe('caching', () => {
  it('samples luxon once per 14-day bucket boundary, then answers from the cache', () => {
    const spy = vi.spyOn(IANAZone.prototype, 'offset');
    const z = new ZoneOffsets('Europe/Paris');
    const t = ms('2026-06-10T00:00:00Z'); // no transition within a month either side
    z.offset(t);
    expect(spy).toHaveBeenCalledTimes(2); // both ends of its bucket
    for (let i = 0; i < 100; i++) z.offset(t + i * 60_000);
    expect(spy).toHaveBeenCalledTimes(2);
    z.offset(t + 14 * 86_400_000); // the next bucket shares a boundary sample
    expect(spy).toHaveBeenCalledTimes(3);
    z.offset(t);
    z.offset(t + 14 * 86_400_000);
    expect(spy).toHaveBeenCalledTimes(3);
  });

  it('one ZoneOffsets per zone name is shared', () => {
    expect(zoneOffsets('Europe/Paris')).toBe(zoneOffsets('Europe/Paris'));
    expect(zoneOffsets('Europe/Paris')).not.toBe(zoneOffsets('Europe/Berlin'));
    expect(zoneOffsets('Asia/Tokyo').name).toBe('Asia/Tokyo');
  });
});
