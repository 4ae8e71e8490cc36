// The admin API v2 from the browser: one call with the user's credentials, one error shape.
// Credentials live in this tab's sessionStorage only (never a cookie): closing the tab forgets
// them, and no other site can make the browser send them.

/** What the manager refused, or why it could not be asked: its catalogued code and message. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

export interface Credentials {
  /** The Authorization header value. */
  authorization: string;
  /** Who is signed in, as shown in the nav bar. */
  who: string;
}

const STORAGE_KEY = 'nebula.credentials';

function base64(text: string): string {
  let binary = '';
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

export const basicCredentials = (user: string, password: string): Credentials => ({ authorization: `Basic ${base64(`${user}:${password}`)}`, who: user });
export const tokenCredentials = (token: string): Credentials => ({ authorization: `Bearer ${token}`, who: 'token' });

export function loadCredentials(): Credentials | null {
  try {
    const saved = JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? 'null') as Credentials | null;
    return saved && typeof saved.authorization === 'string' && typeof saved.who === 'string' ? saved : null;
  } catch {
    return null;
  }
}

export function saveCredentials(credentials: Credentials | null): void {
  if (credentials === null) sessionStorage.removeItem(STORAGE_KEY);
  else sessionStorage.setItem(STORAGE_KEY, JSON.stringify(credentials));
}

/** Query string of the defined, non-empty values. */
export function query(params: Record<string, string | number | boolean | undefined | null>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
}

export const segment = encodeURIComponent;

export class Api {
  private readonly credentials: Credentials;
  /** Called on a 401: the credentials no longer work (changed password, revoked token). */
  private readonly unauthorized: (error: ApiError) => void;

  constructor(credentials: Credentials, unauthorized: (error: ApiError) => void) {
    this.credentials = credentials;
    this.unauthorized = unauthorized;
  }

  /** One call to /api/v2<path>; a non-2xx answer throws its ApiError. */
  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    return callApi<T>(this.credentials, method, path, body).catch((err: unknown) => {
      if (err instanceof ApiError && err.status === 401) this.unauthorized(err);
      throw err;
    });
  }

  get<T>(path: string): Promise<T> {
    return this.call<T>('GET', path);
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.call<T>('POST', path, body);
  }

  /** Every object of a kind the user may read (its list of names, then each one, a few at a time), by name. */
  async all<T>(kind: 'apps' | 'device_groups' | 'cron_jobs' | 'user_groups'): Promise<T[]> {
    const names = [...((await this.get<Record<string, string[]>>(`/${kind}`))[kind] ?? [])].sort();
    const out: (T | null)[] = new Array(names.length);
    let next = 0;
    const fetchNext = async (): Promise<void> => {
      for (let i = next++; i < names.length; i = next++) {
        // One deleted since the list was read is left out, and so is one the user may not read
        // (every user may list the names).
        out[i] = await this.get<T>(`/${kind}/${segment(names[i]!)}`).catch((err: unknown) => {
          if (err instanceof ApiError && (err.code.endsWith('_NOT_FOUND') || err.code === 'ACCESS_DENIED')) return null;
          throw err;
        });
      }
    };
    await Promise.all(Array.from({ length: Math.min(8, names.length) }, fetchNext));
    return out.filter((doc): doc is T => doc !== null);
  }
}

/** One call with these credentials (the login form checks them with it). */
export async function callApi<T>(credentials: Credentials, method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { authorization: credentials.authorization, accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(`/api/v2${path}`, { method, headers, cache: 'no-store', credentials: 'omit', ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  } catch (err) {
    throw new ApiError(0, 'NETWORK_ERROR', `the manager could not be reached (${(err as Error).message})`);
  }
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (response.ok) return parsed as T;
  const error = (parsed ?? {}) as { code?: unknown; message?: unknown };
  throw new ApiError(
    response.status,
    typeof error.code === 'string' ? error.code : `HTTP_${response.status}`,
    typeof error.message === 'string' ? error.message : response.statusText || 'the manager refused the request',
  );
}
