// The admin API's calls (apps, device groups, prune, status) for the admin CLI and scripts.
// It shares the worker's HTTP code (ManagerClient: node:http, keep-alive, the CA of an https://
// manager) and adds one rule for every answer:
//   2xx             the answer (parsed JSON and its exact text)
//   4xx             ApiError: the manager refused this request as it is (code, message, status)
//   408, 429, 5xx   ManagerUnavailableError, like no answer at all: trying again later may help

import type { AppFields, AppDoc } from '../model/app.ts';
import type { DeviceGroupDoc, DeviceGroupFields } from '../model/deviceGroup.ts';
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
