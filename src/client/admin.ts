// The admin API's calls (apps, device groups, cron jobs, users, user groups, prune, reports, devices, status) for the admin CLI and scripts.
// It shares the worker's HTTP code (ManagerClient: node:http, keep-alive, the CA of an https://
// manager) and adds one rule for every answer:
//   2xx             the answer (parsed JSON and its exact text)
//   4xx             ApiError: the manager refused this request as it is (code, message, status)
//   408, 429, 5xx   ManagerUnavailableError, like no answer at all: trying again later may help

import type { AppFields, AppDoc } from '../model/app.ts';
import type { DeviceGroupDoc, DeviceGroupFields } from '../model/deviceGroup.ts';
import type { CronJobDoc, CronJobFields } from '../model/cronJobDoc.ts';
import type { DeviceView } from '../model/device.ts';
import type { UserGroupDoc, UserGroupFields, UserSecrets } from '../model/user.ts';
import { ManagerClient, ManagerUnavailableError, type HttpAnswer } from './manager.ts';

/** The manager refused the request (a 4xx): retrying it unchanged cannot help. */
export class ApiError extends Error {
  readonly status: number;
  /** The catalogued error code (src/errors.ts), e.g. APP_NOT_FOUND; UNKNOWN if the body had none. */
  readonly code: string;
  readonly body: unknown;
  constructor(status: number, code: string, message: string, body: unknown) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

export interface ApiAnswer<T> {
  status: number;
  body: T;
  /** The body exactly as the manager sent it. */
  text: string;
}

const TRANSIENT = new Set([408, 429]);

type Stored<T> = T & { _id?: { $oid: string } };
/** A user as the API shows it; create's answer holds the token in clear. */
type PublicUser = { user_name: string; password: string; token: string };

/** What the admin API manages alike: /api/v2/<kind>[/<name>[/update]]. */
export interface Docs {
  apps: AppDoc;
  device_groups: DeviceGroupDoc;
  cron_jobs: CronJobDoc;
  users: PublicUser;
  user_groups: UserGroupDoc;
}
interface Fields {
  apps: Partial<AppFields>;
  device_groups: Partial<DeviceGroupFields>;
  cron_jobs: Partial<CronJobFields>;
  users: UserSecrets;
  user_groups: Partial<UserGroupFields>;
}
export type Kind = keyof Docs;
/** The kinds a POST .../update replaces whole. */
type Replaceable = 'apps' | 'device_groups' | 'cron_jobs';

export class AdminClient extends ManagerClient {
  /** One admin API call; see the top of this file for what each answer becomes. */
  async call<T>(method: string, path: string, body?: unknown): Promise<ApiAnswer<T>> {
    const init: { method: string; body?: string; headers?: Record<string, string> } = { method };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { 'content-type': 'application/json' };
    }
    const answer = await this.request(`/api/v2${path}`, init, this.options.requestTimeoutMs);
    const text = answer.body.toString('utf8');
    const parsed = parseJson(text);
    if (answer.status >= 200 && answer.status < 300) {
      if (parsed === undefined) throw new ManagerUnavailableError(`the manager answered ${answer.status} without JSON`);
      return { status: answer.status, body: parsed as T, text };
    }
    const code = codeOf(parsed);
    if (answer.status >= 400 && answer.status < 500 && !TRANSIENT.has(answer.status)) {
      throw new ApiError(answer.status, code ?? 'UNKNOWN', messageOf(parsed) ?? `HTTP ${answer.status}`, parsed);
    }
    throw unavailable(answer, code);
  }

  status() {
    return this.call<{ api_available: boolean }>('GET', '/status');
  }

  /** The names of every object of a kind. */
  list<K extends Kind>(kind: K) {
    return this.call<Record<K, string[]>>('GET', `/${kind}`);
  }
  /** One object (a user's secrets show as "<hidden>"). */
  get<K extends Kind>(kind: K, name: string) {
    return this.call<Docs[K]>('GET', `/${kind}/${seg(name)}`);
  }
  /**
   * Fields left out take the manager's defaults (apps need docker_image; cron jobs docker_image
   * and schedule; a user's password and token are generated, and the token is in the answer, this once).
   */
  create<K extends Kind>(kind: K, name: string, fields: Fields[K]) {
    return this.call<Docs[K]>('POST', `/${kind}/${seg(name)}`, fields);
  }
  /**
   * Partial (PUT: only the given fields change; a map or list given replaces it whole) or, for
   * apps, device groups and cron jobs, a full replace (POST: the rest is reset to its defaults).
   */
  update<K extends Kind>(kind: K, name: string, fields: Fields[K], mode: K extends Replaceable ? 'partial' | 'replace' : 'partial' = 'partial') {
    return this.call<Stored<Docs[K]>>(mode === 'partial' ? 'PUT' : 'POST', `/${kind}/${seg(name)}/update`, fields);
  }
  delete(kind: Kind, name: string) {
    return this.call<Record<string, never>>('DELETE', `/${kind}/${seg(name)}`);
  }

  startApp(name: string) {
    return this.call<Stored<AppDoc>>('POST', `/apps/${seg(name)}/start`);
  }
  stopApp(name: string) {
    return this.call<Stored<AppDoc>>('POST', `/apps/${seg(name)}/stop`);
  }
  /** Only a running app restarts (APP_NOT_RUNNING otherwise). */
  restartApp(name: string) {
    return this.call<Stored<AppDoc>>('POST', `/apps/${seg(name)}/restart`);
  }
  /** Devices of the group remove their unused images. */
  pruneGroup(name: string) {
    return this.call<Stored<DeviceGroupDoc>>('POST', `/device_groups/${seg(name)}/prune`);
  }
  /** Every group prunes: their new prune_ids. */
  pruneAll() {
    return this.call<{ prune_ids: Record<string, number> }>('POST', '/prune');
  }
  /** A new generated token (the old one stops working), in clear this once. */
  refreshUserToken(name: string) {
    return this.call<{ token: string }>('POST', `/users/${seg(name)}/refresh`);
  }

  /** Stored reports, oldest first, a page at a time: {data: null, last_id: null} past the end. */
  reports(query: Query = {}) {
    return this.call<Page<Record<string, unknown>, { $oid: string }>>('GET', `/reports${queryString(query)}`);
  }
  /** Devices by hostname, each against its group's current config; last_id is a hostname. */
  devices(query: Query = {}) {
    return this.call<Page<DeviceView, string>>('GET', `/devices${queryString(query)}`);
  }
  getDevice(hostname: string) {
    return this.call<DeviceView>('GET', `/devices/${seg(hostname)}`);
  }
}

/** Query parameters; those undefined are left out. */
export type Query = Record<string, string | number | boolean | undefined>;

/** One page of reports or devices. */
export interface Page<T, Last> {
  data: T[] | null;
  last_id: Last | null;
}

function queryString(query: Query): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
  const text = params.toString();
  return text === '' ? '' : `?${text}`;
}

function seg(name: string): string {
  return encodeURIComponent(name);
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function codeOf(body: unknown): string | undefined {
  return typeof body === 'object' && body !== null && typeof (body as { code?: unknown }).code === 'string' ? (body as { code: string }).code : undefined;
}

function messageOf(body: unknown): string | undefined {
  return typeof body === 'object' && body !== null && typeof (body as { message?: unknown }).message === 'string' ? (body as { message: string }).message : undefined;
}

function unavailable(answer: HttpAnswer, code: string | undefined): ManagerUnavailableError {
  return new ManagerUnavailableError(`the manager answered ${answer.status}${code ? ` (${code})` : ''}`);
}
