// Role-based access control with user groups, as in Nebula 2.7 with two deliberate fixes:
// "rw" implies "ro", and when several groups grant the same object the stronger grant wins
// (the original let whichever group came last overwrite the others).

import type { Level, UserGroupDoc } from '../../src/model/user.ts';

export type ObjectKind = 'apps' | 'device_groups' | 'cron_jobs';

export type Access =
  | { type: 'public' }
  /** Any authenticated caller (lists, status, reports). */
  | { type: 'authenticated' }
  | { type: 'admin' }
  | { type: 'pruning' }
  | { type: 'object'; kind: ObjectKind; level: Level; param: string };

export interface Permissions {
  admin: boolean;
  pruning_allowed: boolean;
  apps: Record<string, Level>;
  device_groups: Record<string, Level>;
  cron_jobs: Record<string, Level>;
}

export type Principal =
  /** The config admin, or anyone while auth is disabled. */
  | { type: 'admin'; name: string }
  | { type: 'user'; name: string; permissions: Permissions };

export function mergePermissions(groups: readonly UserGroupDoc[]): Permissions {
  const merged: Permissions = { admin: false, pruning_allowed: false, apps: {}, device_groups: {}, cron_jobs: {} };
  for (const group of groups) {
    merged.admin ||= group.admin === true;
    merged.pruning_allowed ||= group.pruning_allowed === true;
    for (const kind of ['apps', 'device_groups', 'cron_jobs'] as const) {
      for (const [name, level] of Object.entries(group[kind] ?? {})) {
        if (merged[kind][name] !== 'rw') merged[kind][name] = level;
      }
    }
  }
  return merged;
}

/** May this principal make this call? `name` is the object the route names, if any. */
export function isAllowed(principal: Principal, access: Access, name?: string): boolean {
  if (access.type === 'public' || access.type === 'authenticated') return true;
  if (principal.type === 'admin') return true;
  const p = principal.permissions;
  if (p.admin) return true;
  switch (access.type) {
    case 'admin':
      return false;
    case 'pruning':
      return p.pruning_allowed;
    case 'object': {
      if (name === undefined) return false;
      const granted = Object.hasOwn(p[access.kind], name) ? p[access.kind][name] : undefined;
      return granted === 'rw' || (granted === 'ro' && access.level === 'ro');
    }
  }
}
