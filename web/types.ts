// The admin API's answers as the dashboard reads them (the wire shapes of src/model/, which
// the browser build cannot import: they share modules with the manager's Node code).

export type PortMapping = number | Record<string, string | number>;

export interface App {
  app_name: string;
  app_id: number;
  docker_image: string;
  running: boolean;
  starting_ports: PortMapping[];
  containers_per: Record<string, number>;
  env_vars: Record<string, string | number | boolean> | [];
  networks: string[];
  volumes: string[];
  devices: string[];
  privileged: boolean;
  rolling_restart: boolean;
}

export interface CronJob {
  cron_job_name: string;
  cron_job_id: number;
  schedule: string;
  docker_image: string;
  running: boolean;
  env_vars: Record<string, string | number | boolean> | [];
  networks: string[];
  volumes: string[];
  devices: string[];
  privileged: boolean;
}

export interface DeviceGroup {
  device_group: string;
  device_group_id: number;
  prune_id: number;
  apps: string[];
  cron_jobs: string[];
}

export type Level = 'ro' | 'rw';

/** What a user group grants its members. */
export interface UserGroup {
  user_group: string;
  group_members: string[];
  pruning_allowed: boolean;
  apps: Record<string, Level>;
  device_groups: Record<string, Level>;
  admin: boolean;
  cron_jobs: Record<string, Level>;
}

/** GET /whoami: the signed-in user's own permissions (admin: everything, whatever the rest says). */
export interface Whoami {
  user_name: string;
  admin: boolean;
  pruning_allowed: boolean;
  apps: Record<string, Level>;
  device_groups: Record<string, Level>;
  cron_jobs: Record<string, Level>;
}

/** A user as POST /users/<name> answers it: the token in clear, this once. */
export interface CreatedUser {
  user_name: string;
  token: string;
}

export interface ConfigIds {
  device_group_id: number;
  prune_id: number;
  apps: Record<string, number>;
  cron_jobs: Record<string, number>;
}

export type AppStateName = 'running' | 'starting' | 'restarting' | 'failed' | 'stopped';

export interface AppState {
  state: AppStateName;
  app_id: number;
  running: number;
  desired: number;
  reason?: string;
  restarts?: number;
}

export interface Device {
  hostname: string;
  device_group: string;
  last_seen: number;
  received_at: number;
  report_id: string | null;
  worker_version: string | null;
  applied: ConfigIds | null;
  desired: ConfigIds | null;
  apps_state: Record<string, AppState>;
  last_error: { at: number; message: string; app?: string } | null;
  spool_dropped: number;
  seconds_since_seen: number;
  current: ConfigIds | null;
  behind: boolean;
  behind_reasons: string[];
  failing_apps: { app: string; state: AppStateName; reason?: string; running: number; desired: number; restarts?: number }[];
}

/** A page of GET /devices: data null and last_id null past the end. */
export interface DevicePage {
  data: Device[] | null;
  last_id: string | null;
}

export interface Report extends Record<string, unknown> {
  _id: { $oid: string };
  hostname: string;
  device_group: string;
  report_creation_time: number;
  report_insert_date?: { $date: string };
  report_id?: string;
  updated?: boolean;
  worker_version?: string;
  apps_state?: Record<string, AppState>;
}

export interface ReportPage {
  data: Report[] | null;
  last_id: { $oid: string } | null;
}
