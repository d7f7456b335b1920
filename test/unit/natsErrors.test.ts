import { JetStreamApiError } from '@nats-io/jetstream';
import { NoRespondersError, TimeoutError } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { SchedulerError } from '../../src/contract/errors.js';
import { replyError } from '../../src/transport/natsErrors.js';

describe('replyError: what a command answers when storage fails', () => {
  it('a NATS timeout, no responders or a JetStream API error (a leader election) is unavailable, never internal', () => {
    for (const err of [new TimeoutError(), new NoRespondersError('$KV.x'), new JetStreamApiError({ code: 503, err_code: 10008, description: 'JetStream system temporarily unavailable' })]) {
      const e = replyError(err);
      expect(e, err.constructor.name).toBeInstanceOf(SchedulerError);
      expect(e!.code).toBe('unavailable');
      expect(e!.cause).toBe(err);
    }
  });

  it('a SchedulerError is answered as it is, and anything else is a bug (null: internal with a correlation id)', () => {
    const own = new SchedulerError('not_found', 'job "x" not found');
    expect(replyError(own)).toBe(own);
    expect(replyError(new TypeError('x is undefined'))).toBeNull();
    expect(replyError('a string')).toBeNull();
  });
});
