import { createHash, timingSafeEqual } from 'node:crypto';

/** Which orchestrators a console token may act on: all of them (`*`, an operator token) or a set. */
export type TokenScope = '*' | readonly string[];

export interface ConsoleToken {
  /** SHA-256 of the token: compared in constant time, never the token itself. */
  digest: Buffer;
  scope: TokenScope;
}

/** The least length of a console token (`openssl rand -hex 16` gives 32 characters). */
export const MIN_TOKEN_LENGTH = 16;
const TOKEN = /^[^\s:;,]+$/;
const ORCHESTRATOR = /^[A-Za-z0-9_-]{1,64}$/;

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** A token's problem, or null: at least 16 characters, none of them blank, `:`, `;` or `,`. */
export function tokenProblem(token: string): string | null {
  if (token.length < MIN_TOKEN_LENGTH) return `a token must have at least ${MIN_TOKEN_LENGTH} characters (got ${token.length})`;
  if (!TOKEN.test(token)) return 'a token must not contain blanks, ":", ";" or ","';
  return null;
}

/**
 * `SCHED_CONSOLE_TOKENS`: `<token>:<orchestratorId>[,<orchestratorId>…]` entries separated by `;`,
 * or `<token>:*` for an operator token. Example: `3f9c…:acme,beta;77ab…:*`. Throws an Error whose
 * message names the entry by its position (never the token) and what is wrong with it.
 */
export function parseConsoleTokens(text: string): ConsoleToken[] {
  const out: ConsoleToken[] = [];
  const seen = new Set<string>();
  const entries = text.split(';').map((e) => e.trim());
  for (const [i, entry] of entries.entries()) {
    if (entry === '' && i === entries.length - 1 && i > 0) continue; // a trailing `;`
    const where = `entry ${i + 1}`;
    const colon = entry.indexOf(':');
    if (colon < 0) throw new Error(`${where}: expected <token>:<orchestratorId>[,<orchestratorId>…] or <token>:* (no ":" found)`);
    const token = entry.slice(0, colon);
    const scopeText = entry.slice(colon + 1).trim();
    const problem = tokenProblem(token);
    if (problem) throw new Error(`${where}: ${problem}`);
    if (seen.has(token)) throw new Error(`${where}: the same token is listed twice`);
    seen.add(token);
    let scope: TokenScope;
    if (scopeText === '*') scope = '*';
    else {
      const ids = scopeText.split(',').map((s) => s.trim());
      const bad = ids.find((s) => !ORCHESTRATOR.test(s));
      if (bad !== undefined) {
        throw new Error(`${where}: ${bad === '' ? 'an empty orchestrator id' : `"${bad}" is not an orchestrator id`} (letters, digits, _ or -, at most 64; or * for all)`);
      }
      scope = [...new Set(ids)];
    }
    out.push({ digest: digest(token), scope });
  }
  if (out.length === 0) throw new Error('no token given');
  return out;
}

/** The tokens of the configuration: the operator token (`SCHED_CONSOLE_TOKEN`) and the scoped ones. */
export function consoleTokens(operator: string | undefined, scoped: readonly ConsoleToken[] | undefined): ConsoleToken[] {
  return [...(operator === undefined ? [] : [{ digest: digest(operator), scope: '*' as const }]), ...(scoped ?? [])];
}

/** Who a request is: no token configured (read-only console), no or a wrong token, or a token's scope. */
export type Caller = { kind: 'read-only' } | { kind: 'anonymous' } | { kind: 'invalid' } | { kind: 'token'; scope: TokenScope };

/**
 * The caller of a request by its `Authorization: Bearer <token>` header. Every configured token is
 * compared (in constant time, on SHA-256 digests of equal length), so the time taken does not say
 * which one matched or how much of one did.
 */
export function authenticate(tokens: readonly ConsoleToken[], authorization: string | undefined): Caller {
  if (tokens.length === 0) return { kind: 'read-only' };
  const m = authorization === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  if (!m) return { kind: 'anonymous' };
  const given = digest(m[1]!);
  let found: ConsoleToken | null = null;
  for (const t of tokens) if (timingSafeEqual(t.digest, given) && found === null) found = t;
  return found ? { kind: 'token', scope: found.scope } : { kind: 'invalid' };
}

export const mayActOn = (caller: Caller, orchestratorId: string): boolean =>
  caller.kind === 'token' && (caller.scope === '*' || caller.scope.includes(orchestratorId));
