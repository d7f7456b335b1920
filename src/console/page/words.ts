import cronstrue from 'cronstrue';
import type { JobView } from './api.js';

/** A duration in ms as people write it: `15m`, `1h 30m`, `2d`, `500ms`. */
export function duration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const parts: string[] = [];
  let rest = ms;
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) parts.push(`${n}${unit}`);
    rest -= n * size;
  }
  if (rest > 0) parts.push(`${rest}ms`);
  return parts.join(' ');
}

/** The cron expression in words (cronstrue), "every day at 02:00" when it is one daily time. */
export function cronWords(expression: string): string {
  let text: string;
  try {
    text = cronstrue.toString(expression, { use24HourTimeFormat: true, verbose: false, throwExceptionOnParseError: true });
  } catch {
    return expression;
  }
  const fields = expression.trim().split(/\s+/);
  const [dom, month, dow] = fields.slice(-3);
  if (dom === '*' && month === '*' && dow === '*' && /^At \d\d:\d\d(:\d\d)?$/.test(text)) return `every day at ${text.slice(3)}`;
  return text.charAt(0).toLowerCase() + text.slice(1);
}

/** The job's schedule in words: "every day at 02:00 Europe/Berlin", "every 15m", "once at …". */
export function scheduleWords(s: JobView['schedule']): string {
  if (s.kind === 'cron') return `${cronWords(s.expression)} ${s.timezone}`;
  if (s.kind === 'interval') return `every ${duration(s.every)}`;
  return `once at ${s.at}`;
}

const fmtCache = new Map<string, Intl.DateTimeFormat>();
function fmt(zone: string | undefined): Intl.DateTimeFormat {
  const k = zone ?? '';
  let f = fmtCache.get(k);
  if (!f) {
    f = new Intl.DateTimeFormat(undefined, {
      year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
      hourCycle: 'h23', timeZoneName: 'short', ...(zone !== undefined && { timeZone: zone }),
    });
    fmtCache.set(k, f);
  }
  return f;
}

/** An instant in the viewer's local time. */
export const localTime = (iso: string | null | undefined): string => (iso ? fmt(undefined).format(new Date(iso)) : '—');

/** An instant in a zone (the job's). */
export function zoneTime(iso: string | null | undefined, zone: string): string {
  if (!iso) return '—';
  try {
    return fmt(zone).format(new Date(iso));
  } catch {
    return iso;
  }
}

/** The job's zone: its cron timezone, UTC for the others. */
export const jobZone = (j: JobView): string => (j.schedule.kind === 'cron' ? j.schedule.timezone : 'UTC');

/** `in 5 min`, `3 s ago`, relative to `now`. */
export function relative(iso: string, now: number): string {
  const d = Date.parse(iso) - now;
  const a = Math.abs(d);
  const text = a < 60_000 ? `${Math.round(a / 1000)} s` : a < 3_600_000 ? `${Math.round(a / 60_000)} min` : a < 86_400_000 ? `${(a / 3_600_000).toFixed(1)} h` : `${(a / 86_400_000).toFixed(1)} d`;
  return d >= 0 ? `in ${text}` : `${text} ago`;
}

export const NOTE_TEXT: Record<string, string> = {
  dst_gap: 'DST gap: this local time does not exist that day; the slot moved to the same offset after the gap',
  dst_repeat: 'DST repeat: this local hour happens twice that day; it fires once',
};
