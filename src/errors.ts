// The error catalogue: every 4xx/5xx Nebula answers comes from here.
//
// Bodies stay wire-compatible with Nebula 2.7: the original's own keys (for example
// {"app_exists": false}) are kept, and a catalogued `code` and a human `message` are
// added beside them, so old clients keep reading their keys and new ones read `code`.

export interface ErrorSpec {
  status: number;
  message: string;
  /** The original's body keys for this error, if it had any. */
  legacy?: Record<string, unknown>;
}

export const catalogue = {
  UNAUTHORIZED: { status: 401, message: 'Unauthorized Access' },
  ACCESS_DENIED: { status: 403, message: 'access denied', legacy: { access_allowed: false } },

  APP_EXISTS: { status: 403, message: 'the app already exists', legacy: { app_exists: true } },
  APP_NOT_FOUND: { status: 403, message: 'the app does not exist', legacy: { app_exists: false } },
  APP_NOT_RUNNING: {
    status: 403,
    message: 'the app is stopped: start it rather than restart it',
    legacy: { running_before_restart: false },
  },
  DEVICE_GROUP_EXISTS: { status: 403, message: 'the device group already exists', legacy: { device_group_exists: true } },
  DEVICE_GROUP_NOT_FOUND: {
    status: 403,
    message: 'the device group does not exist',
    legacy: { device_group_exists: false },
  },
  CRON_JOB_EXISTS: { status: 403, message: 'the cron job already exists', legacy: { cron_job_exists: true } },
  CRON_JOB_NOT_FOUND: { status: 403, message: 'the cron job does not exist', legacy: { cron_job_exists: false } },
  USER_EXISTS: { status: 403, message: 'the user already exists', legacy: { user_exists: true } },
  USER_NOT_FOUND: { status: 403, message: 'the user does not exist', legacy: { user_exists: false } },
  USER_GROUP_EXISTS: { status: 403, message: 'the user group already exists', legacy: { user_group_exists: true } },
  USER_GROUP_NOT_FOUND: {
    status: 403,
    message: 'the user group does not exist',
    legacy: { user_group_exists: false },
  },

  MISSING_PARAMETERS: { status: 400, message: 'required parameters are missing', legacy: { missing_parameters: true } },
  INVALID_PARAMETER: { status: 400, message: 'a parameter has an invalid value' },
  UNKNOWN_PARAMETERS: { status: 400, message: 'the body has parameters this object does not have' },
  READ_ONLY_PARAMETER: { status: 400, message: 'a parameter is managed by Nebula and cannot be set' },
  INVALID_PORT: { status: 400, message: 'a port must be an integer from 1 to 65535', legacy: { starting_ports: 'invalid port' } },
  INVALID_PORT_TYPE: {
    status: 400,
    message: 'starting_ports must be a list of integers or {"host": "container"} objects',
    legacy: { starting_ports: 'can only be a list containing integers or dicts' },
  },
  INVALID_SCHEDULE: { status: 400, message: 'the schedule is not a valid cron expression', legacy: { schedule_valid: false } },
  APPS_NOT_LIST: { status: 400, message: 'apps must be a list of app names', legacy: { apps_is_list: false } },
  CRON_JOBS_NOT_LIST: {
    status: 400,
    message: 'cron_jobs must be a list of cron job names',
    legacy: { cron_jobs_is_list: false },
  },
  INVALID_NAME: {
    status: 400,
    message: 'invalid name: use 1-64 letters, digits, "_" or "-", starting with a letter or digit',
    legacy: { name_valid: false },
  },
  INVALID_BODY: { status: 400, message: 'the body must be a JSON object' },
  INVALID_JSON: { status: 400, message: 'the body is not valid JSON' },
  INVALID_QUERY: { status: 400, message: 'a query parameter has an invalid value' },
  INVALID_REPORT: { status: 400, message: 'a report is malformed' },
  TOO_MANY_REPORTS: { status: 400, message: 'too many reports in one request' },
  DEVICE_NOT_FOUND: { status: 404, message: 'no report from this device is on record', legacy: { device_exists: false } },
  BODY_TOO_LARGE: { status: 413, message: 'the body is too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'send the body as application/json' },
  ROUTE_NOT_FOUND: { status: 404, message: 'no such route' },
  BAD_REQUEST: { status: 400, message: 'bad request' },
  // Refused before any route (roles/manager/protocol-errors.ts).
  URI_TOO_LONG: { status: 414, message: 'a path segment is too long' },
  HEADERS_TOO_LARGE: { status: 431, message: 'the request headers are too large' },
  REQUEST_TIMEOUT: { status: 408, message: 'the request did not arrive in time' },
  EXPECTATION_FAILED: { status: 417, message: 'the only expectation supported is Expect: 100-continue' },

  READ_ONLY_INSTANCE: {
    status: 403,
    message: 'this manager runs in edge mode and takes no admin writes: send them to a control manager',
    legacy: { access_allowed: false },
  },

  TOO_MANY_AUTH_FAILURES: {
    status: 429,
    message: 'too many failed authentications from this address: wait for the delay in Retry-After',
  },
  SERVER_OVERLOADED: { status: 503, message: 'the manager is overloaded: retry after the delay in Retry-After' },
  SHUTTING_DOWN: { status: 503, message: 'the manager is shutting down' },
  STORE_UNAVAILABLE: { status: 503, message: 'the store is unavailable' },
  INTERNAL: { status: 500, message: 'internal error' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof catalogue;

/** A catalogued error; `details` adds or overrides body keys (e.g. which parameters are missing). */
export class NebulaError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, details: Record<string, unknown> = {}, message?: string) {
    const spec: ErrorSpec = catalogue[code];
    super(message ?? spec.message);
    this.name = 'NebulaError';
    this.code = code;
    this.status = spec.status;
    this.details = details;
  }

  toBody(): Record<string, unknown> {
    const spec: ErrorSpec = catalogue[this.code];
    return { ...spec.legacy, ...this.details, code: this.code, message: this.message };
  }
}

/** A setting that is invalid or contradicts another: the process stops at start with exit code 2. */
export class ConfigError extends Error {
  readonly setting: string;
  constructor(setting: string, message: string) {
    super(`invalid setting ${setting}: ${message}`);
    this.name = 'ConfigError';
    this.setting = setting;
  }
}

/**
 * The store cannot be trusted any more (unwritable, corrupt, migration failed). The
 * request gets a 503 and the process ends non-zero, so systemd restarts it clean.
 */
export class StoreFatalError extends Error {
  override readonly cause: unknown;
  constructor(message: string, cause: unknown) {
    super(message);
    this.name = 'StoreFatalError';
    this.cause = cause;
  }
}

/**
 * The store cannot be reached right now (MongoDB down, no primary, a timeout). The request
 * gets a 503 and the process keeps running: the next request tries again, and everything
 * recovers by itself when the database is back.
 */
export class StoreUnavailableError extends Error {
  override readonly cause: unknown;
  constructor(message: string, cause: unknown) {
    super(message);
    this.name = 'StoreUnavailableError';
    this.cause = cause;
  }
}

/** Runs a database call; any failure becomes a StoreFatalError naming `store` and `what`. */
export function fatalOnFailure<T>(store: string, what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new StoreFatalError(`${store}: ${what} failed: ${(err as Error).message}`, err);
  }
}
