import type { PreviewResult } from '../contract/messages.js';
import type { CommandBody } from '../contract/schemas.js';
import { previewRuns } from '../schedule/preview.js';
import { normalizeSpec, type SpecLimits } from './spec.js';

/**
 * `preview` (SPEC §11): the slots a schedule would have, without a job. The schedule, its bounds
 * and the jitter are validated exactly as `create` validates them (same `invalid_request`
 * details), then the schedule's own slots are listed from `from` (default now) with their wall
 * time, offset and DST notes. Nothing is stored.
 */
export function preview(b: CommandBody<'preview'>, limits: SpecLimits, now: number): PreviewResult {
  const spec = normalizeSpec(
    {
      schedule: b.schedule,
      startAt: b.startAt ?? null,
      endAt: b.endAt ?? null,
      ...(b.jitterMs !== undefined && { jitterMs: b.jitterMs }),
      target: { type: 'command', command: 'preview' },
    },
    'preview',
    limits,
    now,
  );
  const from = b.from ?? now;
  return {
    runs: previewRuns({ schedule: spec.schedule, startAt: spec.startAt, endAt: spec.endAt, from, count: b.count ?? 10, anchorAt: b.from ?? now }),
  };
}
