// What the signed-in user may do, from GET /api/v2/whoami (read once per sign-in or page
// load): the pages disable what it may not, saying why. The API still judges every call —
// this only spares the user a button that can only answer ACCESS_DENIED.

import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Whoami } from './types.ts';

export const MeContext = createContext<Whoami | null>(null);

export function useMe(): Whoami {
  const me = useContext(MeContext);
  if (me === null) throw new Error('useMe outside a signed-in page');
  return me;
}

/** The kinds a user group grants "ro" or "rw" on. */
export type Granted = 'apps' | 'device_groups' | 'cron_jobs';

const NOUN: Record<Granted, string> = { apps: 'app', device_groups: 'device group', cron_jobs: 'cron job' };

function grantOf(me: Whoami, kind: Granted, name: string): 'ro' | 'rw' | undefined {
  return Object.hasOwn(me[kind], name) ? me[kind][name] : undefined;
}

/** Why `me` may not change (edit, start, stop, delete…) this object; null when it may. */
export function cannotChange(me: Whoami, kind: Granted, name: string): string | null {
  if (me.admin || grantOf(me, kind, name) === 'rw') return null;
  const has = grantOf(me, kind, name);
  return `Needs "rw" on the ${NOUN[kind]} ${name}, or admin: ${me.user_name} has ${has === undefined ? 'no grant on it' : `"${has}"`}.`;
}

/** Why `me` may not create a new object of this kind (it needs "rw" on the name it creates); null when it may. */
export function cannotCreate(me: Whoami, kind: Granted): string | null {
  if (me.admin || Object.values(me[kind]).includes('rw')) return null;
  return `Creating a ${NOUN[kind]} needs admin, or "rw" on its name: ${me.user_name} has neither.`;
}

/** Why `me` may not prune (one group or all); null when it may. */
export function cannotPrune(me: Whoami): string | null {
  return me.admin || me.pruning_allowed ? null : `Pruning needs pruning_allowed, or admin: ${me.user_name} has neither.`;
}
