// The models' inputs checked outside HTTP: each function checks a value against the schema a
// route checks it with (the same compiled schema, the same catalogued refusal), then builds
// what the route builds. For tests, scripts and tools; the manager's routes are checked by
// its validator compiler (roles/manager/server.ts) and build with the unchecked builders.

import { APP_BODY, APP_PATCH, appFields, appPatch, type AppFields } from './app.ts';
import { CRON_JOB_CREATE, CRON_JOB_PATCH, CRON_JOB_REPLACE, cronJobFields, cronJobPatch, type CronJobFields } from './cronJob.ts';
import { DEVICE_QUERY, deviceQuery, type DeviceListQuery } from './device.ts';
import { DEVICE_GROUP_BODY, DEVICE_GROUP_PATCH, deviceGroupFields, deviceGroupPatch, type DeviceGroupFields } from './deviceGroup.ts';
import { REPORT_QUERY, reportQuery, type ReportQuery } from './report.ts';
import type { JsonSchema } from './schema.ts';
import { SchemaChecker } from './schema-checker.ts';
import { USER_CREATE, USER_GROUP_CREATE, USER_GROUP_PATCH, USER_UPDATE, userGroupFields, userGroupPatch, userSecrets, type UserGroupFields, type UserSecrets } from './user.ts';
import { nameParams, type JsonObject } from './validate.ts';

let checker: SchemaChecker | undefined;

/** The value checked against the schema (a body: absent or null counts as {}), or its catalogued error thrown. */
export function checked<T = JsonObject>(schema: JsonSchema, value: unknown): T {
  checker ??= new SchemaChecker();
  const result = checker.requestCheck(schema)(value);
  if (result.error !== null) throw result.error;
  return result.value as T;
}

export const appFieldsFromBody = (body: unknown, mode: 'create' | 'replace'): AppFields => appFields(checked(APP_BODY, body), mode);
export const appPatchFromBody = (body: unknown): Partial<AppFields> => appPatch(checked(APP_PATCH, body));
export const cronJobFieldsFromBody = (body: unknown, mode: 'create' | 'replace'): CronJobFields =>
  cronJobFields(checked(mode === 'create' ? CRON_JOB_CREATE : CRON_JOB_REPLACE, body));
export const cronJobPatchFromBody = (body: unknown): Partial<CronJobFields> => cronJobPatch(checked(CRON_JOB_PATCH, body));
export const deviceGroupFieldsFromBody = (body: unknown): DeviceGroupFields => deviceGroupFields(checked(DEVICE_GROUP_BODY, body));
export const deviceGroupPatchFromBody = (body: unknown): Partial<DeviceGroupFields> => deviceGroupPatch(checked(DEVICE_GROUP_PATCH, body));
export const userSecretsFromBody = (body: unknown, mode: 'create' | 'update'): UserSecrets => userSecrets(checked(mode === 'create' ? USER_CREATE : USER_UPDATE, body));
export const userGroupFieldsFromBody = (body: unknown): UserGroupFields => userGroupFields(checked(USER_GROUP_CREATE, body));
export const userGroupPatchFromBody = (body: unknown): Partial<UserGroupFields> => userGroupPatch(checked(USER_GROUP_PATCH, body));

const OBJECT_NAME_PARAMS = nameParams('name', 'object');
const PRINCIPAL_NAME_PARAMS = nameParams('name', 'principal');
export const checkObjectName = (name: string): void => void checked(OBJECT_NAME_PARAMS, { name });
export const checkPrincipalName = (name: string): void => void checked(PRINCIPAL_NAME_PARAMS, { name });

export const parseReportQuery = (query: Record<string, unknown>, isId: (id: string) => boolean): ReportQuery =>
  reportQuery(checked<Record<string, string | undefined>>(REPORT_QUERY, query), isId);
export const parseDeviceQuery = (query: Record<string, unknown>): DeviceListQuery => deviceQuery(checked<Record<string, string | undefined>>(DEVICE_QUERY, query));
