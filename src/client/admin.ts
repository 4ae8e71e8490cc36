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

type AppSet = Partial<AppFields>;
type Stored<T> = T & { _id?: { $oid: string } };
/** A user as the API shows it; create's answer holds the token in clear. */
type PublicUser = { user_name: string; password: string; token: string };

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

  listApps() {
    return this.call<{ apps: string[] }>('GET', '/apps');
  }
  getApp(name: string) {
    return this.call<AppDoc>('GET', `/apps/${seg(name)}`);
  }
  /** Fields left out take the manager's defaults; docker_image is required. */
  createApp(name: string, fields: AppSet) {
    return this.call<AppDoc>('POST', `/apps/${seg(name)}`, fields);
  }
  /** Partial (PUT: only the given fields change) or full replace (POST: the rest is reset to defaults). */
  updateApp(name: string, fields: AppSet, mode: 'partial' | 'replace' = 'partial') {
    return this.call<Stored<AppDoc>>(mode === 'partial' ? 'PUT' : 'POST', `/apps/${seg(name)}/update`, fields);
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
  deleteApp(name: string) {
    return this.call<Record<string, never>>('DELETE', `/apps/${seg(name)}`);
  }

  listGroups() {
    return this.call<{ device_groups: string[] }>('GET', '/device_groups');
  }
  getGroup(name: string) {
    return this.call<DeviceGroupDoc>('GET', `/device_groups/${seg(name)}`);
  }
  createGroup(name: string, fields: Partial<DeviceGroupFields>) {
    return this.call<DeviceGroupDoc>('POST', `/device_groups/${seg(name)}`, fields);
  }
  /** Partial (PUT) or full replace (POST: a list left out becomes []). */
  updateGroup(name: string, fields: Partial<DeviceGroupFields>, mode: 'partial' | 'replace' = 'partial') {
    return this.call<Stored<DeviceGroupDoc>>(mode === 'partial' ? 'PUT' : 'POST', `/device_groups/${seg(name)}/update`, fields);
  }
  deleteGroup(name: string) {
    return this.call<Record<string, never>>('DELETE', `/device_groups/${seg(name)}`);
  }
  /** Devices of the group remove their unused images. */
  pruneGroup(name: string) {
    return this.call<Stored<DeviceGroupDoc>>('POST', `/device_groups/${seg(name)}/prune`);
  }
  /** Every group prunes: their new prune_ids. */
  pruneAll() {
    return this.call<{ prune_ids: Record<string, number> }>('POST', '/prune');
  }

  listCronJobs() {
    return this.call<{ cron_jobs: string[] }>('GET', '/cron_jobs');
  }
  getCronJob(name: string) {
    return this.call<CronJobDoc>('GET', `/cron_jobs/${seg(name)}`);
  }
  /** docker_image and schedule are required; the manager checks the schedule (INVALID_SCHEDULE). */
  createCronJob(name: string, fields: Partial<CronJobFields>) {
    return this.call<CronJobDoc>('POST', `/cron_jobs/${seg(name)}`, fields);
  }
  /** Partial (PUT) or full replace (POST: what is left out is reset to its default). */
  updateCronJob(name: string, fields: Partial<CronJobFields>, mode: 'partial' | 'replace' = 'partial') {
    return this.call<Stored<CronJobDoc>>(mode === 'partial' ? 'PUT' : 'POST', `/cron_jobs/${seg(name)}/update`, fields);
  }
  deleteCronJob(name: string) {
    return this.call<Record<string, never>>('DELETE', `/cron_jobs/${seg(name)}`);
  }

  listUsers() {
    return this.call<{ users: string[] }>('GET', '/users');
  }
  /** The secrets show as "<hidden>". */
  getUser(name: string) {
    return this.call<PublicUser>('GET', `/users/${seg(name)}`);
  }
  /** A secret left out is generated; the answer holds the token in clear, this once. */
  createUser(name: string, secrets: UserSecrets) {
    return this.call<PublicUser>('POST', `/users/${seg(name)}`, secrets);
  }
  updateUser(name: string, secrets: UserSecrets) {
    return this.call<Stored<PublicUser>>('PUT', `/users/${seg(name)}/update`, secrets);
  }
  /** A new generated token (the old one stops working), in clear this once. */
  refreshUserToken(name: string) {
    return this.call<{ token: string }>('POST', `/users/${seg(name)}/refresh`);
  }
  deleteUser(name: string) {
    return this.call<Record<string, never>>('DELETE', `/users/${seg(name)}`);
  }

  listUserGroups() {
    return this.call<{ user_groups: string[] }>('GET', '/user_groups');
  }
  getUserGroup(name: string) {
    return this.call<UserGroupDoc>('GET', `/user_groups/${seg(name)}`);
  }
  /** Fields left out: no members, no permissions. */
  createUserGroup(name: string, fields: Partial<UserGroupFields>) {
    return this.call<UserGroupDoc>('POST', `/user_groups/${seg(name)}`, fields);
  }
  /** Only the fields given change (a permissions map given replaces that map whole). */
  updateUserGroup(name: string, fields: Partial<UserGroupFields>) {
    return this.call<Stored<UserGroupDoc>>('PUT', `/user_groups/${seg(name)}/update`, fields);
  }
  deleteUserGroup(name: string) {
    return this.call<Record<string, never>>('DELETE', `/user_groups/${seg(name)}`);
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
