import { describe, expect, it } from 'vitest';
import { sameContent } from '../../src/actors/jobActor.js';
import { record } from './machine-helpers.js';

/** The no-op check before a job record write: equal content means no write. */
describe('sameContent', () => {
  it('a copy with the same field values (what assign builds for a no-op) is the same', () => {
    const r = record();
    expect(sameContent(r, { ...r })).toBe(true);
  });
  it('a changed field is a change, also in a nested object', () => {
    const r = record();
    expect(sameContent(r, { ...r, nextRunAt: (r.nextRunAt ?? 0) + 1 })).toBe(false);
    expect(sameContent(r, { ...r, counters: { ...r.counters, missed: r.counters.missed + 1 } })).toBe(false);
  });
  it('a new nested object with equal content is the same (JSON comparison)', () => {
    const r = record();
    expect(sameContent(r, { ...r, counters: { ...r.counters } })).toBe(true);
  });
  it('an added or removed field is a change', () => {
    const r = record();
    const { pausedReason: _, ...fewer } = r;
    expect(sameContent(r, fewer as typeof r)).toBe(false);
  });
});
