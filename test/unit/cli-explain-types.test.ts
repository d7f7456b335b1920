/**
 * The client's SPEC §11 methods are typed from the contract's schemas (checked by `tsc`, which
 * covers tests): preview, explain and the dry-run update return the output of their reply
 * schemas without `ok`, and take the input of their body schemas.
 */
import { describe, expectTypeOf, it } from 'vitest';
import type { z } from 'zod';
import type * as client from '../../src/client/index.js';
import type { explainReplySchema, previewReplySchema, updateDryRunReplySchema } from '../../src/contract/messages.js';
import type { explainBodySchema, patchSchema, previewBodySchema, updateBodySchema } from '../../src/contract/schemas.js';

describe('SchedulerClient: preview, explain, updateDryRun', () => {
  it('replies are the output of the reply schemas', () => {
    expectTypeOf<client.PreviewResult>().toEqualTypeOf<Omit<z.output<typeof previewReplySchema>, 'ok'>>();
    expectTypeOf<client.ExplainResult>().toEqualTypeOf<Omit<z.output<typeof explainReplySchema>, 'ok'>>();
    expectTypeOf<client.UpdateDryRunResult>().toEqualTypeOf<Omit<z.output<typeof updateDryRunReplySchema>, 'ok'>>();
    expectTypeOf<client.PreviewRun>().toEqualTypeOf<z.output<typeof previewReplySchema>['runs'][number]>();
    expectTypeOf<client.ExplainResult['outcome']>().toEqualTypeOf<client.ExplainOutcome>();
    expectTypeOf<ReturnType<client.SchedulerClient['preview']>>().toEqualTypeOf<Promise<client.PreviewResult>>();
    expectTypeOf<ReturnType<client.SchedulerClient['explain']>>().toEqualTypeOf<Promise<client.ExplainResult>>();
    expectTypeOf<ReturnType<client.SchedulerClient['updateDryRun']>>().toEqualTypeOf<Promise<client.UpdateDryRunResult>>();
  });

  it('arguments are the input of the body schemas (instants may be Dates)', () => {
    expectTypeOf<client.PreviewInput['schedule']>().toEqualTypeOf<z.input<typeof previewBodySchema>['schedule']>();
    expectTypeOf<client.PreviewInput['count']>().toEqualTypeOf<z.input<typeof previewBodySchema>['count']>();
    expectTypeOf<z.input<typeof previewBodySchema>>().toExtend<client.PreviewInput>();
    expectTypeOf<Date>().toExtend<NonNullable<client.PreviewInput['from']>>();
    expectTypeOf<client.ExplainAt>().toEqualTypeOf<z.input<typeof explainBodySchema>['at'] | Date>();
    expectTypeOf<Parameters<client.SchedulerClient['explain']>>().toEqualTypeOf<[jobId: string, at: client.ExplainAt]>();
    expectTypeOf<Parameters<client.SchedulerClient['updateDryRun']>[1]>().toEqualTypeOf<z.input<typeof patchSchema>>();
    expectTypeOf<NonNullable<Parameters<client.SchedulerClient['updateDryRun']>[2]>>().toEqualTypeOf<Pick<z.input<typeof updateBodySchema>, 'expectedRevision'>>();
  });
});
