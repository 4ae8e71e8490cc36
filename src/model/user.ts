// Users (database principals) and user groups (their permissions). Pure.

import { NebulaError } from '../errors.ts';
import { BOOL, invalid, pickFields } from './fields.ts';
import { defineRefusals, type JsonSchema } from './schema.ts';
import { OBJECT_NAME_SCHEMA, PRINCIPAL_NAME_SCHEMA, orderKeys, type JsonObject } from './validate.ts';

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

const SECRET: JsonSchema = { type: 'string', minLength: 1, maxLength: 1024, 'x-errors': 'secret' };
const SECRETS = {
  password: { ...SECRET, description: 'For HTTP basic authentication; a random one when left out.' },
  token: { ...SECRET, description: 'For bearer authentication; a random one when left out (shown once, in the reply).' },
} satisfies Record<keyof UserSecrets, JsonSchema>;

defineRefusals({ secret: (r) => invalid(r.names[0]!, 'must be a non-empty string of at most 1024 characters') });

/** Create (POST /users/<name>): a password and a token, each optional. */
export const USER_CREATE: JsonSchema = { type: 'object', properties: SECRETS, additionalProperties: false, 'x-errors': 'body' };

/** Update (PUT/PATCH /users/<name>/update): a new password, token or both. */
export const USER_UPDATE: JsonSchema = {
  type: 'object',
  properties: SECRETS,
  additionalProperties: false,
  minProperties: 1,
  'x-read-only': ['user_name'],
  'x-errors': 'body',
};

const HIDDEN = { const: '<hidden>', description: 'Secrets are stored as slow hashes and never shown.' };

/** A user as answered: never a hash. Create and refresh show the token in clear, once. */
export const USER_DOC: JsonSchema = {
  type: 'object',
  properties: { user_name: PRINCIPAL_NAME_SCHEMA, password: HIDDEN, token: { type: 'string', description: '"<hidden>", except in the reply that creates it.' } },
  required: ['user_name', 'password', 'token'],
  additionalProperties: false,
};

/** The secrets of a checked create or update body. */
export function userSecrets(body: JsonObject): UserSecrets {
  return pickFields<UserSecrets>(body, ['password', 'token'], false);
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

const LEVEL = { enum: ['ro', 'rw'] } as const satisfies JsonSchema;

function permissions(kind: string): JsonSchema {
  return {
    type: 'object',
    description: `The ${kind} the group's members may read ("ro") or change ("rw"), by name.`,
    propertyNames: OBJECT_NAME_SCHEMA,
    additionalProperties: LEVEL,
    'x-errors': 'permissions',
  };
}

defineRefusals({
  permissions: (r) =>
    new NebulaError(
      'INVALID_PARAMETER',
      r.names.length === 1 ? { [r.names[0]!]: 'must be an object of name: "ro" | "rw"' } : { [r.names[0]!]: `${r.names[1]!}: must be a valid name mapped to "ro" or "rw"` },
    ),
  'group-members': (r) => new NebulaError('INVALID_PARAMETER', { [r.names[0]!]: 'must be a list of user names' }),
});

/** Each field's schema, in the order the API checks them. */
const GROUP_FIELD_SCHEMAS = {
  group_members: {
    type: 'array',
    description: 'User names.',
    maxItems: 10_000,
    items: { type: 'string', minLength: 1, maxLength: 128 },
    'x-errors': 'group-members',
  },
  pruning_allowed: { ...BOOL, description: 'May prune images (POST /prune, /device_groups/<dg>/prune).' },
  apps: permissions('apps'),
  device_groups: permissions('device groups'),
  admin: { ...BOOL, description: 'May do everything, users and user groups included.' },
  cron_jobs: permissions('cron jobs'),
} satisfies Record<keyof UserGroupFields, JsonSchema>;

/** Create (POST /user_groups/<name>): fields left out take their defaults. */
export const USER_GROUP_CREATE: JsonSchema = {
  type: 'object',
  properties: GROUP_FIELD_SCHEMAS,
  additionalProperties: false,
  'x-read-only': ['user_group'],
  'x-errors': 'body',
};

/** Partial update (PUT/PATCH /user_groups/<name>/update). */
export const USER_GROUP_PATCH: JsonSchema = { ...USER_GROUP_CREATE, minProperties: 1 };

export const USER_GROUP_DOC: JsonSchema = {
  type: 'object',
  properties: { user_group: { ...PRINCIPAL_NAME_SCHEMA, readOnly: true }, ...GROUP_FIELD_SCHEMAS },
  required: ['user_group', ...USER_GROUP_FIELDS],
  additionalProperties: false,
};

/** A user group from a checked create body; members once each. */
export function userGroupFields(body: JsonObject): UserGroupFields {
  const defaults: UserGroupFields = {
    group_members: [],
    pruning_allowed: false,
    apps: {},
    device_groups: {},
    admin: false,
    cron_jobs: {},
  };
  return { ...defaults, ...userGroupPatch(body) };
}

/** The fields a checked partial update sets; members once each. */
export function userGroupPatch(body: JsonObject): Partial<UserGroupFields> {
  const set = pickFields<UserGroupFields>(body, USER_GROUP_FIELDS, false);
  if (set.group_members !== undefined) set.group_members = [...new Set(set.group_members)];
  return set;
}

export function orderUserGroup<T extends Partial<UserGroupDoc>>(doc: T): T {
  return orderKeys(doc, ['user_group', ...USER_GROUP_FIELDS]);
}
