// Runs one admin command and sets the exit code scripts can rely on:
//   0  done
//   1  the manager refused the request (a 4xx: wrong credentials, no permission, no such
//      object, a value it does not accept): `error CODE: message` on stderr
//   2  a wrong command line or connection setting, found before any request
//   3  the manager could not be reached, timed out, or answered 5xx / 408 / 429 (try again later)
//   4  a bug in the CLI (the stack on stderr)

import { text } from 'node:stream/consumers';
import { read } from 'read';
import { ApiError, AdminClient, type ApiAnswer, type Kind, type Page } from '../client/admin.ts';
import { ManagerUnavailableError } from '../client/manager.ts';
import { ConfigError } from '../errors.ts';
import { CONNECTION_OPTIONS, configPathOf, loadConnection, saveConnection, type Connection } from './connection.ts';
import { appFieldsOf, cronJobFieldsOf, deviceQueryOf, groupFieldsOf, reportQueryOf, secretOfStdin, single, UsageError, userGroupFieldsOf, userSecretsOf } from './options.ts';
import { cell, jsonText, namesTable, objectTable, table, type OutputFormat } from './output.ts';

export const EXIT = { OK: 0, REFUSED: 1, USAGE: 2, UNAVAILABLE: 3, BUG: 4 } as const;

interface Context {
  argv: Record<string, unknown>;
  name: string;
  connection: Connection;
  client: AdminClient;
}

/** What a command prints: the API's answer (for --output json) and the text for people. */
interface Result {
  answer: ApiAnswer<unknown>;
  human: string;
  /** For commands whose JSON is not one API answer (login). */
  json?: unknown;
}

const done = (answer: ApiAnswer<unknown>, human: string): Result => ({ answer, human });
const doc = (answer: ApiAnswer<unknown>) => done(answer, objectTable(answer.body as Record<string, unknown>));
const idOf = (answer: ApiAnswer<unknown>) => (answer.body as { app_id?: number }).app_id;

function nothingToChange(command: string): never {
  throw new UsageError(`nothing to change: give at least one option to ${command}`);
}

type Handler = (c: Context) => Promise<Result>;

/** What every kind of object has alike: `<command> list`, `get <name>` and `delete <name>`. */
function objectCommands(command: string, kind: Kind, label: string): Record<string, Handler> {
  return {
    async [`${command} list`]({ client }) {
      const answer = await client.list(kind);
      return done(answer, namesTable(label.toUpperCase(), answer.body[kind]));
    },
    async [`${command} get`]({ client, name }) {
      return doc(await client.get(kind, name));
    },
    async [`${command} delete`]({ client, name }) {
      return done(await client.delete(kind, name), `${label} ${name} deleted\n`);
    },
  };
}

/** --replace: a full replace (POST), else a partial update (PUT). */
const modeOf = (argv: Record<string, unknown>) => (single(argv.replace as boolean | undefined, 'replace') === true ? 'replace' : 'partial');

const readStdin = () => text(process.stdin);

/** Unix seconds as an ISO date; a value no date can hold, as it is. */
export function isoTime(seconds: unknown): string {
  const date = new Date(Number(seconds) * 1000);
  return Number.isNaN(date.getTime()) ? cell(seconds) : date.toISOString();
}

/** Paged answers (reports, devices): the table, and how to ask for the next page. */
function page(answer: ApiAnswer<Page<unknown, unknown>>, what: string, rows: string[][], headers: string[], lastId: string | undefined): Result {
  if (answer.body.data === null) return done(answer, `no ${what}\n`);
  return done(answer, `${table(headers, rows)}${lastId === undefined ? '' : `next page (if any): --last-id ${lastId}\n`}`);
}

const COMMANDS: Record<string, Handler> = {
  ...objectCommands('app', 'apps', 'app'),
  ...objectCommands('group', 'device_groups', 'device group'),
  ...objectCommands('cron', 'cron_jobs', 'cron job'),
  ...objectCommands('user', 'users', 'user'),
  ...objectCommands('user-group', 'user_groups', 'user group'),

  async status({ client, connection }) {
    const answer = await client.status();
    const auth = connection.auth;
    const as = auth === null ? 'no credentials' : 'token' in auth ? 'a token' : `user ${auth.user}`;
    const rows = [
      ['manager', connection.managerUrl],
      ['api_available', cell(answer.body.api_available)],
      ['authenticated as', as],
    ];
    return done(answer, table(['FIELD', 'VALUE'], rows));
  },

  async login({ client, connection, argv }) {
    const answer = await client.status();
    const { path } = configPathOf(argv.config, process.env);
    const saved = saveConnection(path, connection, argv['save-secret'] === true);
    const secret = connection.auth === null ? '' : 'token' in connection.auth ? 'token' : 'password';
    let note = '';
    if (secret !== '' && argv['save-secret'] !== true) note = `The ${secret} was not saved: give it each time (env NEBULA_MANAGER_AUTH_${secret.toUpperCase()}), or log in again with --save-secret.\n`;
    const shown = Object.fromEntries(Object.entries(saved).map(([k, v]) => [k, k === 'password' || k === 'token' ? '<saved>' : v]));
    return {
      answer,
      human: `Logged in to ${connection.managerUrl}. Saved to ${path} (mode 0600).\n${note}`,
      json: { file: path, saved: shown },
    };
  },

  async 'app create'({ client, name, argv }) {
    const fields = appFieldsOf(argv);
    if (fields.docker_image === undefined) throw new UsageError('--image is required to create an app');
    return doc(await client.create('apps', name, fields));
  },
  async 'app update'({ client, name, argv }) {
    const fields = appFieldsOf(argv);
    const mode = modeOf(argv);
    if (mode === 'replace' && fields.docker_image === undefined) throw new UsageError('--replace sets the whole app: --image is required');
    if (Object.keys(fields).length === 0) nothingToChange('app update');
    return doc(await client.update('apps', name, fields, mode));
  },
  async 'app start'({ client, name }) {
    const answer = await client.startApp(name);
    return done(answer, `app ${name} started (app_id ${idOf(answer)})\n`);
  },
  async 'app stop'({ client, name }) {
    const answer = await client.stopApp(name);
    return done(answer, `app ${name} stopped (app_id ${idOf(answer)})\n`);
  },
  async 'app restart'({ client, name }) {
    const answer = await client.restartApp(name);
    return done(answer, `app ${name} restarting (app_id ${idOf(answer)})\n`);
  },

  async 'group create'({ client, name, argv }) {
    return doc(await client.create('device_groups', name, groupFieldsOf(argv)));
  },
  async 'group update'({ client, name, argv }) {
    const fields = groupFieldsOf(argv);
    const mode = modeOf(argv);
    if (mode === 'partial' && Object.keys(fields).length === 0) nothingToChange('group update');
    return doc(await client.update('device_groups', name, fields, mode));
  },
  async 'group prune'({ client, name }) {
    const answer = await client.pruneGroup(name);
    return done(answer, `device group ${name}: devices prune unused images (prune_id ${String((answer.body as { prune_id?: number }).prune_id)})\n`);
  },
  async 'cron create'({ client, name, argv }) {
    const fields = cronJobFieldsOf(argv);
    if (fields.docker_image === undefined || fields.schedule === undefined) throw new UsageError('--image and --schedule are required to create a cron job');
    return doc(await client.create('cron_jobs', name, fields));
  },
  async 'cron update'({ client, name, argv }) {
    const fields = cronJobFieldsOf(argv);
    const mode = modeOf(argv);
    if (mode === 'replace' && (fields.docker_image === undefined || fields.schedule === undefined)) throw new UsageError('--replace sets the whole cron job: --image and --schedule are required');
    if (Object.keys(fields).length === 0) nothingToChange('cron update');
    return doc(await client.update('cron_jobs', name, fields, mode));
  },

  // A token is in clear only in the answers to create and refresh: printed once, never stored.
  async 'user create'({ client, name, argv }) {
    const answer = await client.create('users', name, await userSecretsOf(argv, process.env, readStdin));
    return done(answer, `user ${name} created; its token (shown this once):\n${answer.body.token}\n`);
  },
  async 'user update'({ client, name, argv }) {
    const secrets = await userSecretsOf(argv, process.env, readStdin);
    if (Object.keys(secrets).length === 0) nothingToChange('user update');
    return done(await client.update('users', name, secrets), `user ${name}: ${Object.keys(secrets).join(' and ')} changed\n`);
  },
  async 'user refresh'({ client, name }) {
    const answer = await client.refreshUserToken(name);
    return done(answer, `user ${name}: new token (shown this once; the old one no longer works):\n${answer.body.token}\n`);
  },

  async 'user-group create'({ client, name, argv }) {
    return doc(await client.create('user_groups', name, userGroupFieldsOf(argv)));
  },
  async 'user-group update'({ client, name, argv }) {
    const fields = userGroupFieldsOf(argv);
    if (Object.keys(fields).length === 0) nothingToChange('user-group update');
    return doc(await client.update('user_groups', name, fields));
  },

  async reports({ client, argv }) {
    const answer = await client.reports(reportQueryOf(argv));
    const rows = (answer.body.data ?? []).map((r) => [
      isoTime(r.report_creation_time),
      cell(r.hostname),
      cell(r.device_group),
      cell(r.updated),
      cell(r.report_id),
    ]);
    return page(answer, 'reports', rows, ['CREATED', 'HOSTNAME', 'DEVICE GROUP', 'UPDATED', 'REPORT_ID'], answer.body.last_id?.$oid);
  },
  async devices({ client, argv }) {
    const answer = await client.devices(deviceQueryOf(argv));
    const rows = (answer.body.data ?? []).map((d) => [d.hostname, d.device_group, `${d.seconds_since_seen}s ago`, d.behind ? 'yes' : 'no', d.behind_reasons.join('; ') || '-']);
    return page(answer, 'devices', rows, ['HOSTNAME', 'DEVICE GROUP', 'SEEN', 'BEHIND', 'WHY'], answer.body.last_id ?? undefined);
  },
  async 'devices get'({ client, argv }) {
    return doc(await client.getDevice(String(argv.hostname)));
  },

  async prune({ client }) {
    const answer = await client.pruneAll();
    const ids = Object.entries(answer.body.prune_ids);
    return done(answer, ids.length === 0 ? 'no device groups to prune\n' : table(['DEVICE GROUP', 'PRUNE_ID'], ids.map(([g, id]) => [g, String(id)])));
  },
};

function connectionFlags(argv: Record<string, unknown>): Record<string, unknown> {
  const flags: Record<string, unknown> = {};
  for (const def of CONNECTION_OPTIONS) {
    const value = argv[def.flag];
    if (value !== undefined) flags[def.flag] = single(value as string | string[], def.flag);
  }
  if (argv.config !== undefined) flags.config = single(argv.config as string | string[], 'config');
  return flags;
}

/**
 * The connection settings; the password of `--user` when it is nowhere else: from stdin with
 * `login --password-stdin` (like docker login), or asked for at the terminal, not echoed.
 * A script without a terminal gets the usual "password is missing" error instead of a hang.
 */
async function connectionOf(command: string, argv: Record<string, unknown>): Promise<Connection> {
  const flags = connectionFlags(argv);
  if (command === 'login' && argv['password-stdin'] === true) {
    if (flags.password !== undefined) throw new UsageError('--password and --password-stdin: give the password one way');
    flags.password = secretOfStdin(await readStdin(), 'password-stdin');
  }
  try {
    return loadConnection(flags, process.env);
  } catch (err) {
    if (!(err instanceof ConfigError && err.setting === 'password' && process.stdin.isTTY === true)) throw err;
    const user = String(flags.user ?? process.env.NEBULA_MANAGER_AUTH_USER ?? 'the user');
    const password = await read({ prompt: `Password for ${user}: `, silent: true, replace: '', output: process.stderr });
    if (password === '') throw new UsageError('no password given');
    return loadConnection({ ...flags, password }, process.env);
  }
}

/** The message and exit code of a failure. */
export function failure(err: unknown, command: string): { code: number; message: string } {
  if (err instanceof ApiError) {
    // The object a refusal is about, when the answer names it (a group's missing member).
    const body = (typeof err.body === 'object' && err.body !== null ? err.body : {}) as { missing_parameters?: unknown; name?: unknown };
    const about = Array.isArray(body.missing_parameters) ? `: ${body.missing_parameters.join(', ')}` : typeof body.name === 'string' ? `: ${body.name}` : '';
    let message = `error ${err.code}: ${err.message}${about} (HTTP ${err.status})`;
    if (err.status === 401) message += '\nCheck the credentials: --user/--password or --token (env NEBULA_MANAGER_AUTH_*), or run "nebula login".';
    return { code: EXIT.REFUSED, message };
  }
  if (err instanceof ManagerUnavailableError) return { code: EXIT.UNAVAILABLE, message: err.message };
  if (err instanceof UsageError) return { code: EXIT.USAGE, message: `${err.message}\nRun "nebula ${command} --help" for its options.` };
  if (err instanceof ConfigError) return { code: EXIT.USAGE, message: err.message };
  return { code: EXIT.BUG, message: `internal error: ${(err as Error)?.stack ?? String(err)}` };
}

export async function runAdmin(command: string, argv: Record<string, unknown>): Promise<void> {
  const handler = COMMANDS[command];
  let client: AdminClient | undefined;
  try {
    if (handler === undefined) throw new Error(`no such command: ${command}`);
    const output = single(argv.output as OutputFormat | OutputFormat[], 'output') ?? 'table';
    const name = String(argv.name ?? '');
    const connection = await connectionOf(command, argv);
    client = new AdminClient({
      baseUrl: connection.managerUrl,
      auth: connection.auth,
      requestTimeoutMs: connection.requestTimeoutMs,
      ...(connection.ca ? { ca: connection.ca } : {}),
    });
    const result = await handler({ argv, name, connection, client });
    if (output === 'json') process.stdout.write(result.json !== undefined ? `${JSON.stringify(result.json, null, 2)}\n` : jsonText(result.answer.text));
    else process.stdout.write(result.human);
    process.exitCode = EXIT.OK;
  } catch (err) {
    const { code, message } = failure(err, command);
    process.stderr.write(`nebula: ${message}\n`);
    process.exitCode = code;
  } finally {
    client?.close();
  }
}
