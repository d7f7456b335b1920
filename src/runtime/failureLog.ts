import type { Logger } from 'pino';

/**
 * Logs a failure that repeats (a loop that fails every second while NATS is away) once when it
 * starts, then at most once per `everyMs` with the count since, and once when it recovers: an
 * outage reads as three lines, not one stack a second.
 */
export class FailureLog {
  private failing = false;
  private count = 0;
  private since = 0;
  private lastLogged = Number.NEGATIVE_INFINITY;
  /** Whether this failure episode has been logged (a recovery is logged only then). */
  private logged = false;

  constructor(
    private readonly log: Logger,
    private readonly what: string,
    private readonly now: () => number = Date.now,
    private readonly everyMs = 30_000,
  ) {}

  /** Is it failing now (the last attempt failed)? */
  get isFailing(): boolean {
    return this.failing;
  }

  failed(err: unknown): void {
    const reason = err instanceof Error ? err.message : String(err);
    const now = this.now();
    if (!this.failing) {
      this.failing = true;
      this.since = now;
      this.count = 0;
      this.logged = false;
    }
    this.count++;
    // at most one line per `everyMs`, however often it fails and recovers in between
    if (now - this.lastLogged < this.everyMs) return;
    this.log.warn(
      { reason, failures: this.count, sinceMs: now - this.since },
      this.logged ? `${this.what} still failing` : `${this.what} failed; retrying (repeats are logged every ${this.everyMs / 1000} s)`,
    );
    this.lastLogged = now;
    this.logged = true;
  }

  succeeded(): void {
    if (!this.failing) return;
    if (this.logged) this.log.info({ failures: this.count, ms: this.now() - this.since }, `${this.what} works again`);
    this.failing = false;
    this.count = 0;
  }
}
