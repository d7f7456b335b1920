/** Thrown for any invalid schedule input. The message is user-facing. */
export class ScheduleError extends Error {
  override name = 'ScheduleError';
}
