// How a client reaches the manager: its URL, the CA of an https:// manager and the credentials.
// Shared by the worker (src/config/worker.ts) and the admin CLI (src/cli/connection.ts), so both
// read the same settings the same way.

import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.ts';
import type { ManagerAuth } from '../client/manager.ts';

/** A manager base URL (`uri`), checked, without a trailing slash; `setting` names it in errors. */
export function managerUrlOf(uri: string, setting: string): string {
  const url = uri.replace(/\/+$/, '');
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    throw new ConfigError(setting, 'must be an http:// or https:// URL');
  }
  return url;
}

/** The PEM CA certificate(s) an https:// manager's certificate must chain to. */
export function readManagerCa(path: string, managerUrl: string, setting = 'manager_ca_file'): Buffer {
  if (!managerUrl.startsWith('https:')) throw new ConfigError(setting, 'is for an https:// manager: the manager URL is not https');
  let ca: Buffer;
  try {
    ca = readFileSync(path);
  } catch (err) {
    throw new ConfigError(setting, `cannot be read: ${(err as Error).message}`);
  }
  if (!ca.toString('latin1').includes('-----BEGIN CERTIFICATE-----')) throw new ConfigError(setting, 'holds no PEM certificate');
  return ca;
}

/** A token wins over basic auth; a user without a password (or the reverse) is an error. */
export function managerAuthOf(
  user: string | undefined,
  password: string | undefined,
  token: string | undefined,
  settings = { user: 'nebula_manager_auth_user', password: 'nebula_manager_auth_password' },
): ManagerAuth {
  if (token !== undefined) return { token };
  if ((user === undefined) !== (password === undefined)) {
    throw new ConfigError(user === undefined ? settings.user : settings.password, 'is missing: the manager user and password go together');
  }
  return user !== undefined && password !== undefined ? { user, password } : null;
}
