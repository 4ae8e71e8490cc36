// Users (database principals) and user groups (their permissions). Pure.

import { NebulaError } from '../errors.ts';
import { checkBool, checkKeys, checkString, isObject, isObjectName, orderKeys, patchFromBody, pickValid, type JsonObject } from './validate.ts';

/** What the store keeps of a user: never a secret in clear. */
export interface UserRecord {
  user_name: string;
  /** Slow hash of the password (scrypt; bcrypt when imported from Nebula 2.x). */
  password: string;
  /** Slow hash of the token. */
  token: string;
  /** A short fast digest of the token, to find its user in O(1); null for imported bcrypt users. */
  token_lookup: string | null;
}

export interface UserSecrets {
  password?: string;
  token?: string;
}

const checkSecret = (field: string, value: unknown) => checkString(field, value, 1024);

export function userSecretsFromBody(body: JsonObject, mode: 'create' | 'update'): UserSecrets {
  if (mode === 'update' && Object.keys(body).length === 0) throw new NebulaError('MISSING_PARAMETERS');
  checkKeys(body, ['password', 'token'], mode === 'update' ? ['user_name'] : []);
  return pickValid<UserSecrets>(body, { password: checkSecret, token: checkSecret });
}

/** The public view of a user: hashes are not handed out, only that a secret is set. */
export function publicUser(user: UserRecord): { user_name: string; password: string; token: string } {
  return { user_name: user.user_name, password: '<hidden>', token: '<hidden>' };
}

export type Level = 'ro' | 'rw';

export interface UserGroupFields {
  group_members: string[];
  pruning_allowed: boolean;
  apps: Record<string, Level>;
  device_groups: Record<string, Level>;
  admin: boolean;
  cron_jobs: Record<string, Level>;
}

export interface UserGroupDoc extends UserGroupFields {
  user_group: string;
}

const USER_GROUP_FIELDS = ['group_members', 'pruning_allowed', 'apps', 'device_groups', 'admin', 'cron_jobs'] as const;

function checkPermissions(field: string, value: unknown): Record<string, Level> {
  if (!isObject(value)) throw new NebulaError('INVALID_PARAMETER', { [field]: 'must be an object of name: "ro" | "rw"' });
  for (const [name, level] of Object.entries(value)) {
    if (!isObjectName(name) || (level !== 'ro' && level !== 'rw')) {
      throw new NebulaError('INVALID_PARAMETER', { [field]: `${name}: must be a valid name mapped to "ro" or "rw"` });
    }
  }
  return value as Record<string, Level>;
}

function checkMembers(field: string, value: unknown): string[] {
  if (!Array.isArray(value) || value.length > 10_000 || value.some((m) => typeof m !== 'string' || m.length === 0 || m.length > 128)) {
    throw new NebulaError('INVALID_PARAMETER', { [field]: 'must be a list of user names' });
  }
  return [...new Set(value as string[])];
}

const groupCheckers = {
  group_members: checkMembers,
  pruning_allowed: checkBool,
  apps: checkPermissions,
  device_groups: checkPermissions,
  admin: checkBool,
  cron_jobs: checkPermissions,
};

export function userGroupFieldsFromBody(body: JsonObject): UserGroupFields {
  checkKeys(body, USER_GROUP_FIELDS, ['user_group']);
  const defaults: UserGroupFields = {
    group_members: [],
    pruning_allowed: false,
    apps: {},
    device_groups: {},
    admin: false,
    cron_jobs: {},
  };
  return { ...defaults, ...pickValid<UserGroupFields>(body, groupCheckers) };
}

export function userGroupPatchFromBody(body: JsonObject): Partial<UserGroupFields> {
  return patchFromBody<UserGroupFields>(body, USER_GROUP_FIELDS, ['user_group'], groupCheckers);
}

export function orderUserGroup<T extends Partial<UserGroupDoc>>(doc: T): T {
  return orderKeys(doc, ['user_group', ...USER_GROUP_FIELDS]);
}
