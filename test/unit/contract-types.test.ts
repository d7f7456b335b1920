/**
 * The client's reply and dispatch types are the output of the contract's schemas, not twins
 * written by hand: a change of a schema changes the type (checked by `tsc`, which covers tests).
 */
import { describe, expectTypeOf, it } from 'vitest';
import type { z } from 'zod';
import type * as client from '../../src/client/index.js';
import type {
  dispatchRequestSchema,
  issueDetailSchema,
  jobViewSchema,
  listReplySchema,
  runNowReplySchema,
  showReplySchema,
  wireErrorSchema,
  wireScheduleSchema,
} from '../../src/contract/messages.js';
import type { updateBodySchema } from '../../src/contract/schemas.js';
import type { DispatchRequest as DispatcherRequest } from '../../src/transport/dispatcher.js';

describe('client types are the output of the schemas', () => {
  it('job views and replies', () => {
    expectTypeOf<client.JobView>().toEqualTypeOf<z.output<typeof jobViewSchema>>();
    expectTypeOf<client.JobDetails>().toEqualTypeOf<z.output<typeof showReplySchema>['job']>();
    expectTypeOf<client.JobDetails['nextRuns']>().toEqualTypeOf<string[]>();
    expectTypeOf<client.JobPage>().toEqualTypeOf<Omit<z.output<typeof listReplySchema>, 'ok'>>();
    expectTypeOf<client.RunNowResult>().toEqualTypeOf<Omit<z.output<typeof runNowReplySchema>, 'ok'>>();
    expectTypeOf<client.WireSchedule>().toEqualTypeOf<z.output<typeof wireScheduleSchema>>();
    expectTypeOf<client.UpdateOptions>().toEqualTypeOf<Pick<z.input<typeof updateBodySchema>, 'expectedRevision'>>();
    // narrower than the old hand-written view (status was any string)
    expectTypeOf<NonNullable<client.JobView['lastResult']>['status']>().toEqualTypeOf<client.ExecutionResult>();
  });

  it('errors', () => {
    expectTypeOf<client.WireError>().toEqualTypeOf<z.output<typeof wireErrorSchema>>();
    expectTypeOf<client.IssueDetail>().toEqualTypeOf<z.output<typeof issueDetailSchema>>();
  });

  it('dispatches, and the dispatcher still sends exactly that shape', () => {
    expectTypeOf<client.DispatchRequest>().toEqualTypeOf<z.output<typeof dispatchRequestSchema>>();
    expectTypeOf<client.Dispatch>().toEqualTypeOf<Omit<z.output<typeof dispatchRequestSchema>, 'action'> & { action: client.Target }>();
    // src/transport/dispatcher.ts still declares its own interface: it must stay the same shape
    expectTypeOf<DispatcherRequest>().toEqualTypeOf<client.DispatchRequest>();
  });
});
