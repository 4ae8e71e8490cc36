// A typed client of the manager API: what the worker calls (the admin CLI's calls: admin.ts).
// The device endpoint speaks both dialects: ETag + long-poll with our manager, and plain
// polling with the original Nebula 2.7 manager (which sends no ETag).
//
// It speaks HTTP through node:http (node:https for an https:// manager, loaded only then), not
// fetch: fetch is undici, which Node compiles on first use together with its WebAssembly HTTP
// parser — about 27 MB more resident memory for a worker that makes one request a check-in.

import type { Agent, IncomingHttpHeaders } from 'node:http';
import { parseRetryAfter } from '../clock.ts';
import type { Info } from '../model/info.ts';
import type { AppDoc } from '../model/app.ts';
import type { CronJobDoc } from '../model/cronJob.ts';

export type ManagerAuth = { token: string } | { user: string; password: string } | null;

export type InfoResult =
  | { kind: 'changed'; info: Info; etag: string | null }
  | { kind: 'unchanged' }
  /** The device group does not exist (yet). */
  | { kind: 'missing' }
  /** Authentication or authorization failed: a configuration problem on one side. */
  | { kind: 'denied'; status: number; code: string | undefined };

/** The manager could not be reached, shed the request (429/503) or answered nonsense: retry later. */
export class ManagerUnavailableError extends Error {
  /** The manager's Retry-After, in ms: wait at least this long. */
  readonly retryAfterMs: number | undefined;
  constructor(message: string, options?: { cause?: unknown; retryAfterMs?: number | undefined }) {
    super(message, options);
    this.name = 'ManagerUnavailableError';
    this.retryAfterMs = options?.retryAfterMs;
  }
}

/** A whole answer: status, headers and body. */
export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface ManagerClientOptions {
  baseUrl: string;
  auth: ManagerAuth;
  requestTimeoutMs: number;
  /** https://: the CA certificate(s) (PEM) the manager's certificate must chain to, instead of the system's. */
  ca?: Buffer | string;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Checks the shape a device relies on; an answer that fails it is treated as no answer. */
export function parseInfo(body: unknown): Info {
  const fail = (why: string): never => {
    throw new ManagerUnavailableError(`the manager's /info answer is malformed: ${why}`);
  };
  if (!isObject(body)) return fail('not an object');
  const { apps, cron_jobs, device_group_id, prune_id } = body;
  if (!Number.isInteger(device_group_id) || !Number.isInteger(prune_id)) return fail('ids are not integers');
  if (!Array.isArray(apps) || !Array.isArray(cron_jobs)) return fail('apps and cron_jobs must be lists');
  for (const app of apps) {
    if (!isObject(app) || typeof app.app_name !== 'string' || !Number.isInteger(app.app_id) || typeof app.docker_image !== 'string') {
      return fail('an app lacks app_name, app_id or docker_image');
    }
  }
  for (const job of cron_jobs) {
    if (!isObject(job) || typeof job.cron_job_name !== 'string' || !Number.isInteger(job.cron_job_id) || typeof job.schedule !== 'string') {
      return fail('a cron job lacks cron_job_name, cron_job_id or schedule');
    }
  }
  const typedApps = apps as unknown as AppDoc[];
  const typedCron = cron_jobs as unknown as CronJobDoc[];
  return {
    apps: typedApps,
    apps_list: typedApps.map((a) => a.app_name),
    prune_id: prune_id as number,
    cron_jobs: typedCron,
    cron_jobs_list: typedCron.map((c) => c.cron_job_name),
    device_group_id: device_group_id as number,
  };
}

export class ManagerClient {
  protected readonly options: ManagerClientOptions;
  private readonly http: typeof import('node:http');
  /** One keep-alive pool: the long-poll and the reports each keep their connection. */
  private readonly agent: Agent;
  private readonly authorization: string | undefined;

  constructor(options: ManagerClientOptions) {
    this.options = options;
    const https = /^https:/i.test(options.baseUrl);
    this.http = process.getBuiltinModule(https ? 'node:https' : 'node:http') as typeof import('node:http');
    // https: the certificate is always verified (against options.ca when given); never turned off.
    this.agent = new this.http.Agent({ keepAlive: true, ...(https && options.ca !== undefined ? { ca: options.ca } : {}) });
    const auth = options.auth;
    if (auth && 'token' in auth) this.authorization = `Bearer ${auth.token}`;
    else if (auth) this.authorization = `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString('base64')}`;
  }

  /** Closes the kept-alive connections (a request in flight is not waited for). */
  close(): void {
    this.agent.destroy();
  }

  /** One request; a failure to reach the manager (or a timeout) is a ManagerUnavailableError. */
  protected async request(
    path: string,
    init: { method?: string; body?: string; headers?: Record<string, string> },
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<HttpAnswer> {
    try {
      return await this.send(path, init, timeoutMs, signal, true);
    } catch (err) {
      throw new ManagerUnavailableError(`cannot reach the manager at ${this.options.baseUrl}: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * One HTTP exchange. A connection kept alive that the server (or a proxy) closed meanwhile
   * fails before any answer: that is retried once on a new connection (a report posted twice is
   * stored once: the manager drops duplicates by report id).
   */
  private send(
    path: string,
    init: { method?: string; body?: string; headers?: Record<string, string> },
    timeoutMs: number,
    signal: AbortSignal | undefined,
    mayRetry: boolean,
  ): Promise<HttpAnswer> {
    signal?.throwIfAborted();
    const headers: Record<string, string> = { accept: 'application/json', ...init.headers };
    if (this.authorization !== undefined) headers.authorization = this.authorization;
    if (init.body !== undefined) headers['content-length'] = String(Buffer.byteLength(init.body));
    return new Promise<HttpAnswer>((resolve, reject) => {
      let settled = false;
      let answered = false;
      const req = this.http.request(`${this.options.baseUrl}${path}`, { method: init.method ?? 'GET', headers, agent: this.agent });
      const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      const onAbort = () => req.destroy(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = (err: Error | null, answer?: HttpAnswer) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (err === null) resolve(answer!);
        else if (mayRetry && !answered && req.reusedSocket && !signal?.aborted && isStaleConnection(err)) {
          this.send(path, init, timeoutMs, signal, false).then(resolve, reject);
        } else reject(err);
      };
      req.once('error', (err) => done(err));
      req.once('response', (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.once('end', () => done(null, { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.once('error', (err) => done(err));
        res.once('close', () => done(new Error('the connection closed before the answer was complete')));
      });
      req.end(init.body);
    });
  }

  /**
   * The group's config. With `etag`, a 304 means unchanged; with `waitSeconds` too, the
   * manager holds the request until the config changes (long-poll).
   */
  async info(deviceGroup: string, options: { etag?: string | null; waitSeconds?: number; signal?: AbortSignal } = {}): Promise<InfoResult> {
    const headers: Record<string, string> = {};
    const longPoll = options.etag && options.waitSeconds ? options.waitSeconds : 0;
    if (options.etag) headers['if-none-match'] = options.etag;
    const query = longPoll > 0 ? `?wait=${longPoll}` : '';
    const path = `/api/v2/device_groups/${encodeURIComponent(deviceGroup)}/info${query}`;
    const response = await this.request(path, { headers }, this.options.requestTimeoutMs + longPoll * 1000, options.signal);
    if (response.status === 304) return { kind: 'unchanged' };
    const body = jsonOf(response);
    if (response.status === 200) return { kind: 'changed', info: parseInfo(body), etag: headerOf(response, 'etag') };
    if (response.status === 403 && isObject(body) && body.device_group_exists === false) return { kind: 'missing' };
    if (response.status === 401 || response.status === 403) {
      return { kind: 'denied', status: response.status, code: isObject(body) && typeof body.code === 'string' ? body.code : undefined };
    }
    throw unavailable(response, body);
  }

  /**
   * Posts device reports (POST /api/v2/reports). Resolves once the manager has stored them;
   * `refused` when it rejects them as they are (retrying the same cannot help).
   */
  async postReports(reports: readonly unknown[], signal?: AbortSignal): Promise<{ kind: 'stored'; stored: number; duplicates: number } | { kind: 'refused'; status: number; code: string | undefined }> {
    const response = await this.request(
      '/api/v2/reports',
      { method: 'POST', body: JSON.stringify(reports), headers: { 'content-type': 'application/json' } },
      this.options.requestTimeoutMs,
      signal,
    );
    const body = jsonOf(response);
    if (response.status === 200 && isObject(body)) {
      return { kind: 'stored', stored: Number(body.stored ?? 0), duplicates: Number(body.duplicates ?? 0) };
    }
    const code = isObject(body) && typeof body.code === 'string' ? body.code : undefined;
    if (response.status === 400 || response.status === 413) return { kind: 'refused', status: response.status, code };
    throw unavailable(response, body, ' to a report');
  }
}

/** The connection was closed under a request (a kept-alive one the server had dropped). */
function isStaleConnection(err: Error): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'ECONNABORTED';
}

function jsonOf(answer: HttpAnswer): unknown {
  try {
    return JSON.parse(answer.body.toString('utf8'));
  } catch (err) {
    throw new ManagerUnavailableError(`the manager answered ${answer.status} without JSON`, { cause: err, retryAfterMs: retryAfterOf(answer) });
  }
}

/** A 429 or 503 (load shed, store down) says when to come back; other answers do not. */
function retryAfterOf(answer: HttpAnswer): number | undefined {
  if (answer.status !== 429 && answer.status !== 503) return undefined;
  return parseRetryAfter(answer.headers['retry-after'], Date.now());
}

function unavailable(answer: HttpAnswer, body: unknown, what = ''): ManagerUnavailableError {
  const code = isObject(body) && typeof body.code === 'string' ? ` (${body.code})` : '';
  return new ManagerUnavailableError(`the manager answered ${answer.status}${code}${what}`, { retryAfterMs: retryAfterOf(answer) });
}

function headerOf(answer: HttpAnswer, name: string): string | null {
  const value = answer.headers[name];
  return typeof value === 'string' ? value : null;
}
