// The types of what the scheduler serves, from their single sources (erased by esbuild)
export type { JobView, PreviewResult } from '../../contract/messages.js';
export type { ChartEdge, ChartState, MachineChart } from '../machine.js';
import type { JobView, PreviewResult } from '../../contract/messages.js';
import type { MachineChart } from '../machine.js';
/** An audit event as published (SPEC §7): the shape of `AuditEvent` in src/core/record.ts, whose module the browser cannot load. */
export interface AuditEvent {
  id: string;
  type: string;
  at: string;
  orchestratorId: string;
  jobId: string;
  executionId?: string;
  data: Record<string, unknown>;
}
/** One slot of `preview`. */
export type Run = PreviewResult['runs'][number];
/** The console's JSON API (src/console/server.ts), with the token in an Authorization header (never a cookie). */

const TOKEN_KEY = 'nats-scheduler-console-token';

export function getToken(): string {
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? '';
  } catch {
    return '';
  }
}

export function setToken(token: string): void {
  try {
    if (token === '') sessionStorage.removeItem(TOKEN_KEY);
    else sessionStorage.setItem(TOKEN_KEY, token);
  } catch {
    /* storage refused: the token lives as long as the page */
  }
}

export interface ApiError {
  code: string;
  message: string;
  details?: unknown;
}

export interface Reply {
  ok: boolean;
  error?: ApiError;
  [k: string]: unknown;
}

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly error: ApiError,
  ) {
    super(`${error.code}: ${error.message}`);
  }
}

async function call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const token = getToken();
  if (token !== '') headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method, headers, credentials: 'omit', cache: 'no-store', ...(body !== undefined && { body: JSON.stringify(body) }) });
  let json: Reply;
  try {
    json = (await res.json()) as Reply;
  } catch {
    throw new ApiFailure(res.status, { code: 'http', message: `HTTP ${res.status}` });
  }
  if (!json.ok) throw new ApiFailure(res.status, json.error ?? { code: 'http', message: `HTTP ${res.status}` });
  return json as T;
}

export const apiGet = <T>(path: string): Promise<T> => call<T>('GET', path);
export const apiPost = <T>(path: string, body: unknown): Promise<T> => call<T>('POST', path, body);

const enc = encodeURIComponent;
export const jobPath = (o: string, jobId: string): string => `/console/api/o/${enc(o)}/jobs/${enc(jobId)}`;
export const jobsPath = (o: string): string => `/console/api/o/${enc(o)}/jobs`;




export interface Who {
  readOnly: boolean;
  caller: 'read-only' | 'anonymous' | 'invalid' | 'token';
  scope: '*' | string[] | null;
}


