// How an app becomes containers: how many, their names, ports, mounts and labels (pure).

import { createHash } from 'node:crypto';
import type { AppDoc } from '../model/app.ts';
import type { CronJobDoc } from '../model/cronJob.ts';
import type { HostFacts } from './types.ts';

export const LABELS = {
  orchestrator: 'orchestrator',
  appName: 'app_name',
  cronJobName: 'cron_job_name',
  type: 'container_type',
  appId: 'nebula.app_id',
  cronJobId: 'nebula.cron_job_id',
  index: 'nebula.index',
  config: 'nebula.config',
} as const;

/** A short digest of a config: a container made from another config (same id or not) is outdated. */
export function configHash(doc: AppDoc | CronJobDoc): string {
  return createHash('sha256').update(JSON.stringify(doc)).digest('hex').slice(0, 16);
}

export type Count = { ok: true; count: number } | { ok: false; reason: string };

/**
 * containers_per: server/instance N → N; cpu X → floor(cores × X); memory/mem M → floor(MB / M).
 * An unknown or invalid key is reported, never thrown (the original crashed the worker).
 */
export function containersRequired(containersPer: unknown, host: Pick<HostFacts, 'cpuCores' | 'memoryMb'>): Count {
  if (typeof containersPer !== 'object' || containersPer === null || Array.isArray(containersPer)) {
    return { ok: false, reason: 'containers_per must be an object such as {"server": 1}' };
  }
  const entries = Object.entries(containersPer);
  if (entries.length !== 1) return { ok: false, reason: 'containers_per must have exactly one key' };
  const [key, value] = entries[0] as [string, unknown];
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    return { ok: false, reason: `containers_per.${key} must be a number above 0` };
  }
  switch (key) {
    case 'server':
    case 'instance':
      return { ok: true, count: Math.floor(value) };
    case 'cpu':
      return { ok: true, count: Math.floor(host.cpuCores * value) };
    case 'memory':
    case 'mem':
      return { ok: true, count: Math.floor(host.memoryMb / value) };
    default:
      return { ok: false, reason: `containers_per has an unknown key "${key}" (use server, instance, cpu, memory or mem)` };
  }
}

export function containerName(app: string, index: number): string {
  return `${app}-${index}`;
}

/** n of `<app>-<n>`, or 0 when the name is not one of this app's. */
export function indexOf(app: string, name: string): number {
  const bare = name.startsWith('/') ? name.slice(1) : name;
  if (!bare.startsWith(`${app}-`)) return 0;
  const rest = bare.slice(app.length + 1);
  return /^[1-9]\d{0,5}$/.test(rest) ? Number(rest) : 0;
}

export interface PortBinding {
  hostPort: number;
  containerPort: number;
}

/** Container n (1-based) maps host port p + n − 1 to container port p (or {"h": "c"}: h + n − 1 → c). */
export function portBindings(ports: AppDoc['starting_ports'], index: number): PortBinding[] {
  const out: PortBinding[] = [];
  for (const entry of ports) {
    if (typeof entry === 'number') out.push({ hostPort: entry + index - 1, containerPort: entry });
    else for (const [host, container] of Object.entries(entry)) out.push({ hostPort: Number(host) + index - 1, containerPort: Number(container) });
  }
  return out;
}

export interface DeviceMapping {
  PathOnHost: string;
  PathInContainer: string;
  CgroupPermissions: string;
}

/** "host[:container[:rwm]]" as Docker's device mapping. */
export function deviceMapping(spec: string): DeviceMapping {
  const [host = spec, container, perms] = spec.split(':');
  return { PathOnHost: host, PathInContainer: container || host, CgroupPermissions: perms || 'rwm' };
}

export function envList(env: AppDoc['env_vars']): string[] {
  return Array.isArray(env) ? [] : Object.entries(env).map(([k, v]) => `${k}=${String(v)}`);
}

/** The network the container is created on, and those it is connected to after. */
export function networkPlan(networks: string[]): { mode: string; connect: string[] } {
  // No list (a document from a manager that sends none): the nebula network alone, not a TypeError.
  if (!Array.isArray(networks)) return { mode: 'nebula', connect: [] };
  const first = networks[0];
  if (first === 'host' || first === 'none') return { mode: first, connect: [] };
  return { mode: 'nebula', connect: networks.filter((n) => n !== 'nebula' && n !== 'host' && n !== 'none') };
}

/** The engine-neutral description of one container; the engine adapter turns it into API calls. */
export interface ContainerSpec {
  name: string;
  image: string;
  env: string[];
  labels: Record<string, string>;
  ports: PortBinding[];
  binds: string[];
  devices: DeviceMapping[];
  privileged: boolean;
  networkMode: string;
  connect: string[];
  restartPolicy: 'unless-stopped' | 'no';
}

/** What apps and cron runs share: image, environment, mounts, devices and networks. */
function commonSpec(doc: AppDoc | CronJobDoc): Pick<ContainerSpec, 'image' | 'env' | 'binds' | 'devices' | 'privileged' | 'networkMode' | 'connect'> {
  const networks = networkPlan(doc.networks);
  return {
    image: doc.docker_image,
    env: envList(doc.env_vars),
    binds: doc.volumes,
    devices: doc.devices.map(deviceMapping),
    privileged: doc.privileged,
    networkMode: networks.mode,
    connect: networks.connect,
  };
}

export function appContainerSpec(app: AppDoc, index: number): ContainerSpec {
  return {
    ...commonSpec(app),
    name: containerName(app.app_name, index),
    labels: {
      [LABELS.orchestrator]: 'nebula',
      [LABELS.appName]: app.app_name,
      [LABELS.type]: 'app',
      [LABELS.appId]: String(app.app_id),
      [LABELS.index]: String(index),
      [LABELS.config]: configHash(app),
    },
    ports: portBindings(app.starting_ports, index),
    restartPolicy: 'unless-stopped',
  };
}

/** A cron run: `<cron_job>-<epoch seconds>-1`, no ports, no restart policy. */
export function cronContainerSpec(job: CronJobDoc, runAtEpochSeconds: number): ContainerSpec {
  return {
    ...commonSpec(job),
    name: `${job.cron_job_name}-${runAtEpochSeconds}-1`,
    labels: {
      [LABELS.orchestrator]: 'nebula',
      [LABELS.cronJobName]: job.cron_job_name,
      [LABELS.type]: 'cron_job',
      [LABELS.cronJobId]: String(job.cron_job_id),
    },
    ports: [],
    restartPolicy: 'no',
  };
}
