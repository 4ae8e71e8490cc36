// What the forms type, as the API's bodies and back: ports, env vars, lists, containers_per,
// the container options apps and cron jobs share, the obvious mistakes caught before asking
// (the manager stays the judge of everything else), and the fields an edit changed.

import type { App, CronJob, PortMapping } from './types.ts';

export const split = (text: string, by: RegExp) => text.split(by).map((s) => s.trim()).filter((s) => s !== '');

/** "81:80, 443" as the API's starting_ports; what does not parse is sent as typed, for the manager to refuse with its reason. */
export function parsePorts(text: string): PortMapping[] {
  return split(text, /[,\s]+/).map((item) => {
    const [host, container] = item.split(':', 2);
    if (container !== undefined) return { [host!]: container };
    return /^\d+$/.test(item) ? Number(item) : { [item]: item };
  });
}

export function portsText(ports: PortMapping[]): string {
  return ports.map((p) => (typeof p === 'number' ? String(p) : Object.entries(p).map(([host, container]) => `${host}:${container}`).join(', '))).join(', ');
}

/** One KEY=value per line, split on the first "=" (the value may hold "=" and ":"). */
export function parseEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const at = line.indexOf('=');
    if (at < 0) env[line.trim()] = '';
    else env[line.slice(0, at).trim()] = line.slice(at + 1);
  }
  return env;
}

export function envText(env: Record<string, unknown> | []): string {
  return Object.entries(env).map(([k, v]) => `${k}=${String(v)}`).join('\n');
}

/** The fields of the container options form: everything as typed. */
export interface ContainerForm {
  image: string;
  env: string;
  networks: string;
  volumes: string;
  devices: string;
  running: boolean;
  privileged: boolean;
  /** Apps only. */
  ports: string;
  per: string;
  count: string;
  rolling: boolean;
  /** Cron jobs only. */
  schedule: string;
}

export const EMPTY_FORM: ContainerForm = {
  image: '',
  env: '',
  networks: 'nebula, bridge',
  volumes: '',
  devices: '',
  running: true,
  privileged: false,
  ports: '',
  per: 'server',
  count: '1',
  rolling: false,
  schedule: '',
};

function commonForm(doc: App | CronJob): Omit<ContainerForm, 'ports' | 'per' | 'count' | 'rolling' | 'schedule'> {
  return {
    image: doc.docker_image,
    env: envText(doc.env_vars),
    networks: doc.networks.join(', '),
    volumes: doc.volumes.join('\n'),
    devices: doc.devices.join(', '),
    running: doc.running,
    privileged: doc.privileged,
  };
}

export function appForm(app: App): ContainerForm {
  const [per = 'server', count = 1] = Object.entries(app.containers_per)[0] ?? [];
  return { ...EMPTY_FORM, ...commonForm(app), ports: portsText(app.starting_ports), per, count: String(count), rolling: app.rolling_restart };
}

export function cronJobForm(job: CronJob): ContainerForm {
  return { ...EMPTY_FORM, ...commonForm(job), schedule: job.schedule };
}

function commonBody(f: ContainerForm) {
  return {
    docker_image: f.image.trim(),
    env_vars: parseEnv(f.env),
    networks: split(f.networks, /[,\s]+/),
    volumes: split(f.volumes, /\n/),
    devices: split(f.devices, /[,\s]+/),
    running: f.running,
    privileged: f.privileged,
  };
}

export function appBody(f: ContainerForm) {
  return {
    ...commonBody(f),
    starting_ports: parsePorts(f.ports),
    containers_per: { [f.per]: Number(f.count) },
    rolling_restart: f.rolling,
  };
}

export function cronJobBody(f: ContainerForm) {
  return { ...commonBody(f), schedule: f.schedule.trim() };
}

const OBJECT_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const PRINCIPAL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$/;

/** A name the API would refuse (null: none): objects take 1-64 letters, digits, "_" or "-"; users and user groups "." and "@" too. */
export function nameMistake(name: string, principal = false): string | null {
  if ((principal ? PRINCIPAL_NAME : OBJECT_NAME).test(name)) return null;
  return `The name "${name}" takes 1-${principal ? '128' : '64'} letters, digits, "_", "-"${principal ? ', "." or "@"' : ''}, starting with a letter or digit.`;
}
const ALIASES = ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly'];

/** Obvious mistakes in what was typed (null: none); the manager checks the rest and says why. */
export function formMistake(kind: 'app' | 'cron job', f: ContainerForm): string | null {
  if (f.image.trim() === '' || /\s/.test(f.image.trim())) return 'The Docker image is one word, e.g. registry.example.com/web:1.2.';
  const line = f.env.split('\n').find((l) => l.trim() !== '' && (!l.includes('=') || l.slice(0, l.indexOf('=')).trim() === ''));
  if (line !== undefined) return `Environment variables are KEY=value, one per line: "${line.trim()}" is not.`;
  if (kind === 'app' && !(Number(f.count) > 0)) return 'The container count is a number above 0.';
  if (kind === 'cron job') {
    const s = f.schedule.trim();
    const fields = s.split(/\s+/).length;
    if (!ALIASES.includes(s) && (s === '' || fields < 5 || fields > 6)) return 'The schedule is 5 cron fields (minute hour day month weekday), 6 with seconds first, or @hourly, @daily…';
  }
  return null;
}

/** A value in a form comparable with the API's: object keys sorted, env values and port targets as text, [] env as {}. */
function canonical(key: string, value: unknown): string {
  let v = value;
  if (key === 'env_vars') v = Object.fromEntries(Object.entries((value ?? {}) as object).map(([k, x]) => [k, String(x)]));
  if (key === 'starting_ports') v = (value as PortMapping[]).map((p) => (typeof p === 'number' ? p : Object.fromEntries(Object.entries(p).map(([h, c]) => [String(h).trim(), String(c).trim()]))));
  return JSON.stringify(v, (_k, x: unknown) => (x !== null && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => a.localeCompare(b))) : x));
}

/** The fields of `body` that differ from `doc`: what a partial update sends. */
export function changedFields<T extends Record<string, unknown>>(body: T, doc: object): Partial<T> {
  const current = doc as Record<string, unknown>;
  return Object.fromEntries(Object.entries(body).filter(([key, value]) => canonical(key, value) !== canonical(key, current[key]))) as Partial<T>;
}

/** The names in a set, sorted. */
export const sorted = (names: Iterable<string>) => [...names].sort();

/** Toggles one name in a set (a new set, for state). */
export function toggled(set: Set<string>, name: string): Set<string> {
  const copy = new Set(set);
  if (!copy.delete(name)) copy.add(name);
  return copy;
}
