/**
 * fast-check arbitraries of hostile input for the wire contract (SPEC §2–§5): command bodies,
 * completions and heartbeats as raw bytes, mixing valid job specs (so commands reach real jobs)
 * with mutations of them and with plain garbage.
 *
 * Every generator yields a {@link Payload}: the exact bytes to send. Values are built as JS data
 * and rendered with JSON.stringify, except for what JSON.stringify cannot write, which is put in
 * as a placeholder string ({@link RAW}) and replaced by raw text/bytes when rendering: 10,000-deep
 * nesting, `1e999`, invalid UTF-8 inside a string, `__proto__` written as a plain key, etc.
 */
import fc from 'fast-check';

const enc = new TextEncoder();
const lossy = new TextDecoder('utf-8', { fatal: false });

/** The bytes sent on the wire, printed readably (and shortened) in fast-check's reports. */
export class Payload {
  constructor(readonly bytes: Uint8Array) {}

  get text(): string {
    return lossy.decode(this.bytes);
  }

  [fc.toStringMethod](): string {
    const t = this.text;
    return `Payload(${this.bytes.length} B: ${JSON.stringify(t.length > 240 ? `${t.slice(0, 240)}…` : t)})`;
  }
}

const DEPTH = 10_000;
/** Placeholder strings and the raw bytes `render` puts in their place (quotes included). */
const RAW_TEXT = {
  deepArray: enc.encode('['.repeat(DEPTH) + ']'.repeat(DEPTH)),
  deepObject: enc.encode('{"a":'.repeat(DEPTH) + '1' + '}'.repeat(DEPTH)),
  deepMixed: enc.encode('[{"a":'.repeat(DEPTH / 2) + 'null' + '}]'.repeat(DEPTH / 2)),
  inf: enc.encode('1e999'),
  negInf: enc.encode('-1e999'),
  hugeInt: enc.encode('123456789012345678901234567890'),
  negZero: enc.encode('-0'),
  denormal: enc.encode('5e-324'),
  /** A string whose bytes are not UTF-8 (stray continuation, 0xFF, overlong, encoded surrogate). */
  badUtf8: Uint8Array.from([0x22, 0x61, 0x80, 0xff, 0xfe, 0xc0, 0xaf, 0xed, 0xa0, 0x80, 0xc3, 0x28, 0x22]),
  /** Valid UTF-8 and valid JSON, but a lone surrogate once parsed. */
  loneSurrogate: enc.encode('"x\\ud800y"'),
  /** `__proto__`, `constructor` and `prototype` as plain JSON keys. */
  protoObject: enc.encode('{"__proto__":{"polluted":true,"ok":true},"constructor":{"prototype":{"polluted":true}},"prototype":{"polluted":1}}'),
} as const;
export type RawKind = keyof typeof RAW_TEXT;
export const RAW = Object.fromEntries(Object.keys(RAW_TEXT).map((k) => [k, `@@RAW:${k}@@`])) as { [K in RawKind]: string };
const RAW_KINDS = Object.keys(RAW_TEXT) as RawKind[];
const RAW_PATTERN = /"@@RAW:([A-Za-z]+)@@"/g;

/** Renders a value as bytes: JSON.stringify, then placeholders replaced by their raw text. */
export function render(value: unknown): Uint8Array {
  const json = JSON.stringify(value) ?? 'null';
  const parts: Uint8Array[] = [];
  let last = 0;
  for (const m of json.matchAll(RAW_PATTERN)) {
    parts.push(enc.encode(json.slice(last, m.index)));
    parts.push(RAW_TEXT[m[1] as RawKind]);
    last = m.index + m[0].length;
  }
  parts.push(enc.encode(json.slice(last)));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** An object whose keys may be `__proto__` & co as own properties (so JSON.stringify writes them). */
export function objectOf(entries: readonly (readonly [string, unknown])[]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [k, v] of entries) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  return o;
}

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

// ---------------------------------------------------------------------------------------------
// scalars and hostile JSON
// ---------------------------------------------------------------------------------------------

export const PROTO_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__'] as const;

const rawPlaceholder = fc.constantFrom(...RAW_KINDS).map((k) => RAW[k]);

const hostileString = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.constantFrom('', ' ', '\u0000', '\r\n', '\u202e', '\ufeff', '💥', '日本語', 'null', 'undefined', 'NaN', '{}', '[]', '"', '\\', '%s%n', '${x}'),
);

const hostileNumber = fc.oneof(
  fc.double(),
  fc.integer(),
  fc.constantFrom(0, -0, 1, -1, 0.5, -0.5, 1e308, -1e308, 5e-324, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 2, -Number.MAX_SAFE_INTEGER, 2 ** 31, 2 ** 32, 8.64e15, 8.64e15 + 1),
);

/** Any JSON-ish value: deep-ish trees whose object keys include `__proto__` & co, plus raw placeholders. */
export const hostileJson: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    hostileString,
    hostileNumber,
    fc.boolean(),
    fc.constant(null),
    rawPlaceholder,
    fc.array(tie('value'), { maxLength: 4 }),
    fc
      .array(fc.tuple(fc.oneof(fc.constantFrom(...PROTO_KEYS), fc.string({ maxLength: 8 })), tie('value')), { maxLength: 4 })
      .map((entries) => objectOf(entries)),
  ),
})).value;

// ---------------------------------------------------------------------------------------------
// identifiers
// ---------------------------------------------------------------------------------------------

/** Strings that are not valid ids (SPEC §2) and would misroute subjects or keys if accepted. */
export const BAD_ID_STRINGS = [
  'a.b', '.', '..', '*', '>', 'a*', 'x>', 'a b', ' a', 'a\t', 'a\nb', 'a\u0000b', '', 'ünï', '日本', '💥', 'a'.repeat(65),
  '$invalid', '%41', 'a/b', 'a\\b', 'a:b', 'a+b', 'sched.acme.schedule.create', '\u202eabc',
] as const;

export const badId: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...BAD_ID_STRINGS) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 10 }).filter((s) => !/^[A-Za-z0-9_-]{1,64}$/.test(s)) },
  { weight: 1, arbitrary: fc.oneof(fc.integer(), fc.constant(null), fc.constant([]), fc.constant({}), fc.boolean()) },
);

/** Valid ids that are nonetheless awkward: JS prototype names, the maximum length, only symbols. */
export const AWKWARD_VALID_IDS = ['__proto__', 'constructor', 'prototype', 'hasOwnProperty', '-', '_', 'A-_z9', 'x'.repeat(64)] as const;

/** Mostly an id from `pool` (so the command reaches a real job), sometimes a hostile one. */
export const idFrom = (pool: readonly string[]): fc.Arbitrary<unknown> =>
  fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...pool) }, { weight: 1, arbitrary: badId });

// ---------------------------------------------------------------------------------------------
// instants, durations, cron expressions, time zones
// ---------------------------------------------------------------------------------------------

/** Instants at and beyond the edges of what Date and the contract represent. */
export const EDGE_INSTANTS = [
  '+275760-09-13T00:00:00.000Z', '-271821-04-20T00:00:00.000Z', '+275760-09-13T00:00:00.001Z', '0000-01-01T00:00:00.000Z',
  '9999-12-31T23:59:59.999Z', '9999-12-31T23:59:59.999-14:00', '10000-01-01T00:00:00.000Z', '1970-01-01T00:00:00.000Z',
  '1969-12-31T23:59:59.999Z', '2016-12-31T23:59:60Z', '2026-12-31T23:59:60.000Z', '2026-02-29T00:00:00Z', '2026-02-30T00:00:00Z',
  '2026-13-01T00:00:00Z', '2026-01-01T24:00:00Z', '2026-01-01T00:00:00', '2026-01-01', '2026-01-01T00:00:00+25:00',
  '2026-01-01T00:00:00.0000000001Z', '2026-W01-1T00:00:00Z', 'now', 'Infinity', '', ' 2026-01-01T00:00:00Z',
  'Thu, 01 Jan 2026 00:00:00 GMT', '1767225600000',
] as const;

const isoOf = (d: Date, offsetMinutes: number): string => {
  if (offsetMinutes === 0) return d.toISOString();
  const local = new Date(d.getTime() + offsetMinutes * 60_000).toISOString().slice(0, -1);
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  return `${local}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
};

/** A valid instant between `min` and `max`, written with a random offset. */
export const validInstant = (min: Date, max: Date): fc.Arbitrary<string> =>
  fc
    .tuple(fc.date({ min, max, noInvalidDate: true }), fc.constantFrom(0, 0, 60, -300, 330, 840, -720))
    .filter(([d, off]) => {
      const local = d.getTime() + off * 60_000;
      return local >= 0 && local <= Date.UTC(9999, 11, 31, 23, 59, 59, 999);
    })
    .map(([d, off]) => isoOf(d, off));

export const FAR_FUTURE = { min: new Date('2090-01-01T00:00:00Z'), max: new Date('9999-12-30T00:00:00Z') };

export const instant: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...EDGE_INSTANTS) },
  { weight: 3, arbitrary: validInstant(new Date('1970-01-02T00:00:00Z'), new Date('9999-12-30T00:00:00Z')) },
  { weight: 1, arbitrary: fc.oneof(hostileNumber, hostileString, fc.constant(null)) },
);

/** Durations at the edges: huge, infinite, negative, fractional, malformed. */
export const EDGE_DURATIONS = [
  Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 2, 1e308, -1e308, 8.64e15, 1e21, 'Infinity', '-Infinity', 'NaN', '999999999d',
  '9007199254740993', '1000000d', '365250d', '365251d', 'P99999999W', 'P1000000D', -1, -1000, 0.5, 1.5, -0.5, '-5s', '1.5ms',
  '0.0001s', 'PT-1S', 'P1Y', 'P1M', 'PT', 'P', '', ' ', '1e3', '1 s', '1S', '5 minutes', 'PT0.0001S', 0, '0ms', 'PT0S',
  '١٢s', '１s', '1h30m', '-0', RAW.inf, RAW.negInf, RAW.hugeInt, RAW.negZero, RAW.denormal,
] as const;

export const VALID_DURATIONS = ['1h', '15m', 'PT15M', 3_600_000, '1d', 'P1W', '2h', 86_400_000, '6h', 'PT1H30M', '500ms', '30s', 1_000, 60_000] as const;

export const duration: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...EDGE_DURATIONS) },
  { weight: 2, arbitrary: fc.constantFrom(...VALID_DURATIONS) },
  { weight: 1, arbitrary: fc.oneof(fc.integer({ min: -1e15, max: 1e16 }), fc.double(), hostileString) },
);

/** Cron expressions that never match, or match so rarely that a next-slot search must be bounded. */
export const RARE_CRONS = [
  '0 0 29 2 1', '0 0 31 2 *', '0 0 30 2 *', '59 23 31 12 *', '0 0 29 2 *', '0 0 31 4,6,9,11 *', '0 0 31 2,4,6,9,11 *',
  '0 0 L 2 *', '0 0 * * 1#5', '0 0 29 2 1#5', '59 59 23 31 12 *', '0 0 30,31 2 *', '0 0 1 1 * 2099', '* * * * * *',
  '0 0 29 2 7', '0 0 29 2 MON', '0 0 31 FEB *', '0 0 L-30 2 *', '0 0 15W 2 *', '0 0 LW 2 *',
] as const;

export const VALID_CRONS = ['0 2 * * *', '*/15 * * * *', '0 0 1 1 *', '30 2 * * 0', '0 30 9 * * 1-5', '@yearly', '@monthly', '0 0 L * *', '0 12 * * MON-FRI', '0 0 13 * 5'] as const;

const CRON_TOKENS = [
  '*', '?', 'L', 'W', '#', '/', '-', ',', '0', '1', '2', '7', '12', '29', '30', '31', '59', '60', '61', '99', '-1', '9999999999',
  'JAN', 'FEB', 'MON', 'SUN', 'L-3', '15W', '5#3', '*/0', '*/7', '1-5', '5-1', '@yearly', '@reboot', '@every', 'H', 'LW', '1,2,3',
  '0/0', '*/*', '\u0000', 'ü',
] as const;

/** Random strings of cron-ish tokens (mostly 5 or 6 of them). */
export const cronTokens: fc.Arbitrary<string> = fc
  .tuple(
    fc.array(fc.constantFrom(...CRON_TOKENS), { minLength: 1, maxLength: 8 }),
    fc.constantFrom(' ', ' ', ' ', '  ', '\t', ''),
  )
  .map(([tokens, sep]) => tokens.join(sep));

export const cronExpression: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...RARE_CRONS) },
  { weight: 2, arbitrary: fc.constantFrom(...VALID_CRONS) },
  { weight: 3, arbitrary: cronTokens },
  { weight: 1, arbitrary: fc.oneof(hostileString, hostileNumber, fc.constant(null), fc.constant('x'.repeat(257))) },
);

export const VALID_ZONES = ['UTC', 'Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'Pacific/Kiritimati', 'Asia/Kathmandu', 'Pacific/Chatham', 'America/Santiago'] as const;
export const BAD_ZONES = ['Mars/Olympus', '', 'utc ', 'Etc/GMT+15', '+05:00', 'Europe/Berlin\u0000', '../../etc/passwd', 'Europe', 'x'.repeat(65)] as const;

export const timezone: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...VALID_ZONES) },
  { weight: 1, arbitrary: fc.constantFrom(...BAD_ZONES) },
  { weight: 1, arbitrary: fc.oneof(hostileString, hostileNumber) },
);

// ---------------------------------------------------------------------------------------------
// job specs
// ---------------------------------------------------------------------------------------------

/** A valid schedule that stays quiet during a test (no slot within minutes of now). */
const quietSchedule = fc.oneof(
  fc.record(
    { kind: fc.constant('cron'), expression: fc.constantFrom(...VALID_CRONS.filter((c) => c !== '*/15 * * * *'), '0 0 29 2 1', '59 23 31 12 *', '0 0 29 2 *'), timezone: fc.constantFrom(...VALID_ZONES) },
    { requiredKeys: ['kind', 'expression'] },
  ),
  fc.record({ kind: fc.constant('interval'), every: fc.constantFrom('1h', 'PT2H', '1d', 86_400_000, 'P1W', '6h') }),
  fc.record({ kind: fc.constant('once'), at: validInstant(FAR_FUTURE.min, FAR_FUTURE.max) }),
);

const smallJson = fc.jsonValue({ maxDepth: 3 });

const validTarget = fc.oneof(
  fc.record({ type: fc.constant('workflow_start'), workflowId: fc.string({ minLength: 1, maxLength: 20 }), inputs: smallJson }, { requiredKeys: ['type', 'workflowId'] }),
  fc.record({ type: fc.constant('command'), command: fc.string({ minLength: 1, maxLength: 20 }), args: smallJson }, { requiredKeys: ['type', 'command'] }),
);

const labels = fc.dictionary(fc.string({ minLength: 1, maxLength: 12 }), fc.string({ maxLength: 20 }), { maxKeys: 4 });

/** Spec fields other than jobId, all valid. */
const validFields = {
  name: fc.oneof(fc.string({ maxLength: 40 }), fc.constant(null)),
  labels,
  schedule: quietSchedule,
  startAt: validInstant(FAR_FUTURE.min, new Date('2200-01-01T00:00:00Z')),
  endAt: fc.constantFrom(null, '9999-12-31T23:59:59.999Z'),
  target: validTarget,
  overlapPolicy: fc.constantFrom('skip', 'buffer_one', 'buffer_all', 'cancel_other', 'terminate_other', 'allow'),
  misfirePolicy: fc.constantFrom('fire_once_on_recovery', 'skip_missed'),
  misfireGraceMs: fc.constantFrom(0, 1_000, '1m', 'PT5M'),
  maxRuntimeMs: fc.constantFrom('1h', 60_000, 'PT30M', '1d'),
  dispatchTimeoutMs: fc.constantFrom(1_000, '5s', 'PT10S'),
  dispatchRetry: fc.record({ attempts: fc.integer({ min: 1, max: 20 }), backoffMs: fc.constantFrom(0, 100, '1s') }, { requiredKeys: [] }),
  paused: fc.boolean(),
  // SPEC §10 (every interval of quietSchedule is at least an hour: any of these jitters fits)
  jitterMs: fc.constantFrom(0, 500, '30s'),
  maxRuns: fc.constantFrom(null, 1, 3),
  pauseOnFailure: fc.boolean(),
};

/** A valid `create` body whose jobId (when present) comes from `pool`. */
export const validSpec = (pool: readonly string[]): fc.Arbitrary<Record<string, unknown>> =>
  fc.record(
    { jobId: fc.constantFrom(...pool), ...validFields },
    { requiredKeys: ['jobId', 'schedule', 'target'] },
  );

/** A valid `create` body without a jobId (the scheduler generates one). */
export const validSpecWithoutId: fc.Arbitrary<Record<string, unknown>> = fc.record(validFields, { requiredKeys: ['schedule', 'target'] });

/** A valid `update` patch. */
export const validPatch: fc.Arbitrary<Record<string, unknown>> = fc.record(validFields, { requiredKeys: [] });

/** Where a mutation lands in a spec, and the values it tries there. */
const SPEC_PATHS: readonly [string, fc.Arbitrary<unknown>][] = [
  ['jobId', badId],
  ['name', fc.oneof(hostileString, fc.constant('n'.repeat(257)), hostileNumber)],
  ['labels', fc.oneof(hostileJson, fc.constant(RAW.protoObject))],
  ['labels.__proto__', hostileString],
  ['labels.constructor', hostileString],
  ['schedule', hostileJson],
  ['schedule.kind', fc.constantFrom('cron', 'interval', 'once', 'weekly', '', 'CRON', null, 1)],
  ['schedule.expression', cronExpression],
  ['schedule.timezone', timezone],
  ['schedule.every', duration],
  ['schedule.at', instant],
  ['startAt', instant],
  ['endAt', instant],
  ['target', hostileJson],
  ['target.type', fc.constantFrom('workflow_start', 'command', 'shell', '', null, '__proto__')],
  ['target.workflowId', fc.oneof(hostileString, fc.constant(''), fc.constant('w'.repeat(257)))],
  ['target.inputs', fc.oneof(hostileJson, rawPlaceholder)],
  ['target.command', fc.oneof(hostileString, fc.constant(''))],
  ['target.args', fc.oneof(hostileJson, rawPlaceholder)],
  ['allowOverlap', fc.oneof(fc.boolean(), hostileJson)],
  ['overlapPolicy', fc.constantFrom('skip', 'buffer_one', 'buffer_all', 'cancel_other', 'terminate_other', 'allow', 'SKIP', 'queue', '', null)],
  ['jitterMs', fc.oneof(duration, fc.constantFrom(-1, 86_400_001, '2d', 1.5))],
  ['maxRuns', fc.oneof(hostileNumber, fc.constantFrom(-1, 0, 1.5, '3', 1_000_000_001))],
  ['pauseOnFailure', fc.oneof(fc.boolean(), fc.constantFrom('true', 0, null))],
  ['misfirePolicy', fc.constantFrom('fire_once_on_recovery', 'skip_missed', 'fire_all', '', null)],
  ['misfireGraceMs', duration],
  ['maxRuntimeMs', duration],
  ['dispatchTimeoutMs', duration],
  ['dispatchRetry', hostileJson],
  ['dispatchRetry.attempts', fc.oneof(hostileNumber, fc.constantFrom(0, 21, 1.5, '3'))],
  ['dispatchRetry.backoffMs', duration],
  ['paused', fc.oneof(fc.boolean(), fc.constantFrom('true', 0, 1, null))],
  ['bogus', hostileJson],
  ['__proto__', fc.oneof(hostileJson, fc.constant({ paused: true }))],
  ['constructor', hostileJson],
  ['prototype', hostileJson],
];

type Mutation = { path: string; op: 'set' | 'delete'; value: unknown };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  ...SPEC_PATHS.map(([path, value]) =>
    fc.record({ path: fc.constant(path), op: fc.constantFrom<'set' | 'delete'>('set', 'set', 'set', 'delete'), value }),
  ),
);

function applyMutation(target: Record<string, unknown>, m: Mutation): void {
  const keys = m.path.split('.');
  let o: Record<string, unknown> = target;
  for (const k of keys.slice(0, -1)) {
    const child = Object.prototype.hasOwnProperty.call(o, k) ? o[k] : undefined;
    if (child === null || typeof child !== 'object' || Array.isArray(child)) {
      Object.defineProperty(o, k, { value: {}, enumerable: true, writable: true, configurable: true });
    }
    o = o[k] as Record<string, unknown>;
  }
  const last = keys[keys.length - 1]!;
  if (m.op === 'delete') delete o[last];
  else Object.defineProperty(o, last, { value: m.value, enumerable: true, writable: true, configurable: true });
}

/** A valid value with 1–3 random mutations (may or may not stay valid). */
export const mutated = (base: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<Record<string, unknown>> =>
  fc.tuple(base, fc.array(mutation, { minLength: 1, maxLength: 3 })).map(([b, ms]) => {
    const copy = clone(b);
    for (const m of ms) applyMutation(copy, m);
    return copy;
  });

// ---------------------------------------------------------------------------------------------
// whole payloads
// ---------------------------------------------------------------------------------------------

/** Raw texts that are not JSON objects, or not JSON at all. */
export const GARBAGE_TEXTS = [
  'not json', '{', '}', '{"a":}', "{'a':1}", 'NaN', 'undefined', '{"a":1,}', '{}{}', '{"jobId":"x"}garbage', ' ', '\n', '\u0000',
  '\ufeff{}', '[]', '[{}]', '""', '"{}"', '0', '-0', '1e999', 'null', 'true', '{"a":1e999}', '/* */ {}', '{"a":"\\u"}',
] as const;

export const garbagePayload: fc.Arbitrary<Payload> = fc.oneof(
  // non-JSON bytes
  fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b) => new Payload(b)),
  fc.constantFrom(...GARBAGE_TEXTS).map((t) => new Payload(enc.encode(t))),
  // JSON non-objects
  fc.oneof(fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 4 }), fc.double(), fc.integer(), fc.string(), fc.constant(null), fc.boolean()).map(
    (v) => new Payload(render(v)),
  ),
  // 10,000-deep nesting as a whole body
  fc.constantFrom(RAW.deepArray, RAW.deepObject, RAW.deepMixed).map((p) => new Payload(render(p))),
  fc.constantFrom(RAW.deepArray, RAW.deepObject).map((p) => new Payload(render({ jobId: 'j0', inputs: p, patch: p, schedule: p }))),
  // invalid UTF-8: an otherwise fine body with bad bytes spliced in
  fc
    .tuple(fc.constantFrom('{"jobId":"j0"}', '{"jobId":"j0","patch":{"name":"x"}}', '{}'), fc.nat(), fc.constantFrom([0xff], [0x80], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xc0, 0xaf]))
    .map(([t, at, bad]) => {
      const b = enc.encode(t);
      const i = at % (b.length + 1);
      return new Payload(Uint8Array.from([...b.slice(0, i), ...bad, ...b.slice(i)]));
    }),
  fc.constant(new Payload(render({ jobId: RAW.badUtf8 }))),
  // `__proto__` & co at the top level
  fc.constant(new Payload(RAW_TEXT.protoObject)),
  hostileJson.map((v) => new Payload(render(v))),
);

/** A payload for an op: `valid` when it is well-formed, mixed with mutations and garbage. */
export function payloadFor(valid: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<Payload> {
  return fc.oneof(
    { weight: 5, arbitrary: valid.map((v) => new Payload(render(v))) },
    { weight: 4, arbitrary: mutated(valid).map((v) => new Payload(render(v))) },
    { weight: 2, arbitrary: garbagePayload },
    { weight: 1, arbitrary: fc.constant(new Payload(new Uint8Array(0))) },
  );
}

/** Bodies for each command op, against jobs whose ids come from `pool`. */
export function commandBodies(pool: readonly string[]): Record<string, fc.Arbitrary<Payload>> {
  const id = idFrom(pool);
  const jobIdOnly = fc.record({ jobId: id });
  const cursor = fc.oneof(
    fc.constantFrom(...pool).map((p) => Buffer.from(p, 'utf8').toString('base64url')),
    fc.constantFrom('', '!!!', 'Li4', 'KiA-', Buffer.from('a.b').toString('base64url'), 'x'.repeat(201)),
    hostileString,
  );
  return {
    create: fc.oneof({ weight: 12, arbitrary: payloadFor(validSpec(pool)) }, { weight: 1, arbitrary: validSpecWithoutId.map((v) => new Payload(render(v))) }),
    list: payloadFor(
      fc.record(
        {
          state: fc.oneof(fc.constantFrom('idle', 'due', 'dispatched', 'running', 'paused'), fc.constantFrom('IDLE', '', 'deleted')),
          labels: fc.oneof(labels, fc.constant(objectOf([['__proto__', 'x'], ['constructor', 'y']]))),
          limit: fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.constantFrom(0, 1001, -1, 1.5, 1e308, '10', RAW.inf)),
          cursor,
        },
        { requiredKeys: [] },
      ),
    ),
    show: payloadFor(jobIdOnly),
    resume: payloadFor(jobIdOnly),
    delete: payloadFor(jobIdOnly),
    pause: payloadFor(
      fc.record({ jobId: id, reason: fc.oneof(fc.string({ maxLength: 30 }), fc.constant('r'.repeat(1025)), fc.constant(null)) }, { requiredKeys: ['jobId'] }),
    ),
    update: payloadFor(
      fc
        .tuple(
          fc.record({
            jobId: id,
            patch: fc.oneof({ weight: 3, arbitrary: validPatch }, { weight: 2, arbitrary: mutated(validPatch) }, { weight: 1, arbitrary: hostileJson }),
          }),
          fc.nat(3),
          fc.oneof(fc.integer({ min: 1, max: 6 }), fc.constantFrom(0, -1, 1.5, '1', 1e308)),
          fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.oneof(fc.boolean(), fc.constantFrom('true', 1, null)) }),
        )
        // expectedRevision in one update of four; dryRun (SPEC §4) in one of four
        .map(([body, n, expectedRevision, dryRun]) => ({ ...body, ...(n === 0 && { expectedRevision }), ...(dryRun !== undefined && { dryRun }) })),
    ),
    // SPEC §10: mostly dry runs over a few days of a quiet schedule (a wide range is limit_exceeded)
    backfill: payloadFor(
      fc
        .tuple(
          fc.record(
            {
              jobId: id,
              overlapPolicy: fc.constantFrom('buffer_all', 'allow', 'skip', '', null),
              dryRun: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.oneof(fc.boolean(), fc.constantFrom('true', 1, null)) }),
            },
            { requiredKeys: ['jobId'] },
          ),
          validInstant(FAR_FUTURE.min, new Date('2200-01-01T00:00:00Z')),
          fc.oneof(fc.integer({ min: -86_400_000, max: 30 * 86_400_000 }), fc.constantFrom(0, 1)),
          fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.tuple(instant, instant) }),
        )
        .map(([body, from, span, raw]) =>
          raw !== null ? { ...body, from: raw[0], to: raw[1] } : { ...body, from, to: new Date(Date.parse(from) + span).toISOString() },
        ),
    ),
    // SPEC §11: no job needed
    preview: payloadFor(
      fc.record(
        {
          schedule: fc.oneof({ weight: 4, arbitrary: quietSchedule }, { weight: 1, arbitrary: hostileJson }),
          startAt: fc.oneof(instant, fc.constant(null)),
          endAt: fc.oneof(instant, fc.constant(null)),
          jitterMs: fc.oneof(fc.constantFrom(0, '30s'), duration),
          from: instant,
          count: fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.constantFrom(0, 1001, -1, 1.5, '10', null)),
        },
        { requiredKeys: ['schedule'] },
      ),
    ),
    explain: payloadFor(fc.record({ jobId: id, at: instant }, { requiredKeys: ['jobId'] })),
    run_now: payloadFor(
      fc.record(
        {
          jobId: id,
          inputs: fc.oneof(smallJson, hostileJson, fc.constant({ blob: 'x'.repeat(5_000) })),
          ignoreOverlap: fc.oneof(fc.boolean(), fc.constantFrom('true', 1, null)),
        },
        { requiredKeys: ['jobId'] },
      ),
    ),
  };
}

// ---------------------------------------------------------------------------------------------
// bodies that must fail: for the "state unchanged after an error" property
// ---------------------------------------------------------------------------------------------

/** A patch entry that no update may accept. */
const BAD_PATCH_ENTRIES: readonly Record<string, unknown>[] = [
  { schedule: { kind: 'cron', expression: '0 0 31 2 *' } },
  { schedule: { kind: 'cron', expression: '0 0 30 2 *', timezone: 'UTC' } },
  { schedule: { kind: 'cron', expression: '0 2 * * *', timezone: 'Mars/Olympus' } },
  { schedule: { kind: 'interval', every: Number.MAX_SAFE_INTEGER } },
  { schedule: { kind: 'interval', every: '999999999d' } },
  { schedule: { kind: 'interval', every: 'Infinity' } },
  { schedule: { kind: 'interval', every: -1000 } },
  { schedule: { kind: 'interval', every: 1500.5 } },
  { schedule: { kind: 'interval', every: 10 } },
  { schedule: { kind: 'once', at: '+275760-09-13T00:00:00.000Z' } },
  { schedule: { kind: 'once', at: '0000-01-01T00:00:00.000Z' } },
  { schedule: { kind: 'once', at: '2026-12-31T23:59:60Z' } },
  { schedule: { kind: 'weekly' } },
  { startAt: '-271821-04-20T00:00:00.000Z' },
  { startAt: '2090-01-01T00:00:00Z', endAt: '2080-01-01T00:00:00Z' },
  { maxRuntimeMs: 0 },
  { maxRuntimeMs: Number.MAX_SAFE_INTEGER },
  { misfireGraceMs: '-5s' },
  { dispatchTimeoutMs: 300_001 },
  { dispatchRetry: { attempts: 0 } },
  { dispatchRetry: { attempts: 2.5 } },
  { allowOverlap: false, overlapPolicy: 'allow' },
  { overlapPolicy: 'queue' },
  { paused: 'yes' },
  { labels: { '': 'x' } },
  { target: { type: 'shell', command: 'rm -rf /' } },
  { target: { type: 'command', command: 'x', args: RAW.deepArray } },
  { target: { type: 'workflow_start', workflowId: 'w', inputs: { blob: 'x'.repeat(5_000) } } },
  { jobId: 'other' },
  { bogus: 1 },
];

/** One command that must be refused, aimed at one of `ids` (existing jobs) or with a body no op accepts. */
export function failingCommand(ids: readonly string[], runningId: string): fc.Arbitrary<{ op: string; payload: Payload }> {
  const id = fc.constantFrom(...ids);
  const extraKey = fc.tuple(fc.constantFrom('bogus', 'orchestratorId', 'revision', 'PAUSED', 'jobid'), hostileJson);
  const withExtra = (body: fc.Arbitrary<Record<string, unknown>>) =>
    fc.tuple(body, extraKey).map(([b, [k, v]]) => objectOf([...Object.entries(b), [k, v]]));
  const p = (op: string, body: fc.Arbitrary<unknown>) => body.map((b) => ({ op, payload: new Payload(render(b)) }));
  return fc.oneof(
    // garbage to any op
    fc.tuple(fc.constantFrom('create', 'list', 'show', 'update', 'pause', 'resume', 'delete', 'run_now'), garbagePayload.filter((g) => g.bytes.length > 0 && !isPlainObjectJson(g.bytes)))
      .map(([op, payload]) => ({ op, payload })),
    // updates: a wrong expectedRevision, or a patch holding one entry no update accepts
    p('update', fc.record({ jobId: id, patch: fc.oneof(validPatch, mutated(validPatch), hostileJson), expectedRevision: fc.constantFrom(99, 1000) })),
    p('update', fc.tuple(id, validPatch, fc.constantFrom(...BAD_PATCH_ENTRIES)).map(([jobId, patch, bad]) => ({ jobId, patch: objectOf([...Object.entries(patch), ...Object.entries(bad)]) }))),
    p('update', withExtra(fc.record({ jobId: id, patch: validPatch }))),
    p('update', fc.record({ jobId: id, patch: fc.oneof(hostileString, hostileNumber, fc.constant(null), fc.array(hostileJson)) })),
    // pause/resume/delete/show with something wrong
    p('pause', fc.record({ jobId: id, reason: fc.oneof(fc.constant('r'.repeat(1025)), hostileNumber, fc.constant(null), fc.constant([]), fc.constant({})) })),
    p('pause', withExtra(fc.record({ jobId: id }))),
    p('resume', withExtra(fc.record({ jobId: id }))),
    p('delete', withExtra(fc.record({ jobId: id }))),
    p('show', withExtra(fc.record({ jobId: id }))),
    fc.tuple(fc.constantFrom('show', 'update', 'pause', 'resume', 'delete', 'run_now'), badId).map(([op, jobId]) => ({ op, payload: new Payload(render({ jobId, patch: {} })) })),
    // run_now: bad fields, too big, too deep, or blocked by the overlap guard
    p('run_now', fc.record({ jobId: id, ignoreOverlap: fc.constantFrom('true', 1, null, 'yes') })),
    p('run_now', fc.record({ jobId: id, inputs: fc.constantFrom({ blob: 'x'.repeat(5_000) }, RAW.deepArray, RAW.deepObject, RAW.deepMixed) })),
    p('run_now', withExtra(fc.record({ jobId: id }))),
    p('run_now', fc.record({ jobId: fc.constant(runningId), inputs: smallJson }, { requiredKeys: ['jobId'] })),
    // create over an existing job, valid or not
    p('create', fc.tuple(validSpec(ids), id).map(([s, jobId]) => ({ ...s, jobId }))),
    p('create', fc.tuple(mutated(validSpec(ids)), id).map(([s, jobId]) => objectOf([...Object.entries(s).filter(([k]) => k !== 'jobId'), ['jobId', jobId]]))),
    // list with a bad query
    p('list', fc.oneof(fc.record({ limit: fc.constantFrom(0, 1001, -1, 1.5, '10') }), fc.record({ state: fc.constantFrom('IDLE', '', 'x') }), withExtra(fc.record({})))),
  );
}

/** True when the bytes are UTF-8 JSON whose value is a plain object (a body some op might accept). */
export function isPlainObjectJson(bytes: Uint8Array): boolean {
  const v = parseJson(bytes);
  return v.ok && typeof v.value === 'object' && v.value !== null && !Array.isArray(v.value);
}

/** True when the bytes are JSON with a `__proto__` key at any depth (refused by contract: README). */
export function hasProtoKey(bytes: Uint8Array): boolean {
  let found = false;
  try {
    JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes), (k: string, v: unknown) => {
      if (k === '__proto__') found = true;
      return v;
    });
  } catch {
    return false;
  }
  return found;
}

export function parseJson(bytes: Uint8Array): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) };
  } catch {
    return { ok: false };
  }
}

// ---------------------------------------------------------------------------------------------
// completions and heartbeats
// ---------------------------------------------------------------------------------------------

export const COMPLETION_STATUSES = ['succeeded', 'failed', 'cancelled'] as const;
const ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
const EXEC_ID_RE = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * How SPEC §5 reads a completion or heartbeat body, independently of the implementation: null
 * when malformed, else its ids (and status for a completion).
 */
export function readExecutionBody(bytes: Uint8Array, kind: 'completed' | 'heartbeat'): { executionId: string; jobId: string; status?: string } | null {
  if (bytes.length === 0) return null; // an empty body is `{}`: no ids
  const v = parseJson(bytes);
  if (!v.ok || typeof v.value !== 'object' || v.value === null || Array.isArray(v.value) || hasProtoKey(bytes)) return null;
  const b = v.value as Record<string, unknown>;
  if (typeof b.executionId !== 'string' || !EXEC_ID_RE.test(b.executionId)) return null;
  if (typeof b.jobId !== 'string' || !ID_RE.test(b.jobId)) return null;
  if (kind === 'heartbeat') return { executionId: b.executionId, jobId: b.jobId };
  if (typeof b.status !== 'string' || !(COMPLETION_STATUSES as readonly string[]).includes(b.status)) return null;
  return { executionId: b.executionId, jobId: b.jobId, status: b.status };
}

/**
 * Completion or heartbeat bodies: garbage, near-misses and well-formed ones naming executions
 * (real ones from `realExecIds` included; the caller filters out what would legitimately apply).
 */
export function executionBodies(jobIds: readonly string[], realExecIds: readonly string[]): fc.Arbitrary<Payload> {
  const execId = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...realExecIds) },
    { weight: 3, arbitrary: fc.stringMatching(/^[A-Za-z0-9_-]{1,20}$/) },
    { weight: 1, arbitrary: fc.constant('e'.repeat(128)) },
    { weight: 2, arbitrary: fc.oneof(badId, fc.constant('e'.repeat(129))) },
  );
  const status = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...COMPLETION_STATUSES) },
    { weight: 2, arbitrary: fc.constantFrom('SUCCEEDED', 'success', 'timed_out', 'running', '', 'succeeded ', '__proto__') },
    { weight: 1, arbitrary: hostileJson },
  );
  const body = fc.record(
    {
      executionId: execId,
      jobId: idFrom(jobIds),
      status,
      error: hostileJson,
      output: fc.oneof(hostileJson, rawPlaceholder),
    },
    { requiredKeys: [] },
  );
  return fc.oneof(
    { weight: 5, arbitrary: body.map((b) => new Payload(render(b))) },
    { weight: 3, arbitrary: mutated(body as fc.Arbitrary<Record<string, unknown>>).map((b) => new Payload(render(b))) },
    { weight: 3, arbitrary: garbagePayload },
    // a duplicate key: the last one wins in JSON.parse
    { weight: 1, arbitrary: fc.tuple(execId, fc.constantFrom(...jobIds)).map(([e, j]) => new Payload(enc.encode(`{"executionId":${JSON.stringify(e)},"jobId":"${j}","status":"bogus","status":"succeeded"}`))) },
    { weight: 1, arbitrary: fc.constant(new Payload(new Uint8Array(0))) },
  );
}

/** Orchestrator subject tokens: valid ids and single NATS tokens that are not valid ids. */
export const BAD_ORCHESTRATOR_TOKENS = ['ac%me', 'ünï', '日本語', '💥', 'a*b', 'a>b', '$x', 'a'.repeat(65), 'x\u0000y', 'a#b', 'A+B', '"q"'] as const;
