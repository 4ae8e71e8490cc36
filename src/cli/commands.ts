// The admin commands' command line (yargs): names, options and help. What they do is in
// run.ts, imported only when one of them runs (like the roles).

import type { Argv, Options } from 'yargs';
import { CONNECTION_OPTIONS } from './connection.ts';

const CONNECTION_GROUP = 'Connection (flags > env > the file `nebula login` writes):';

async function run(command: string, argv: Record<string, unknown>): Promise<void> {
  const { runAdmin } = await import('./run.ts');
  await runAdmin(command, argv);
}

/** The options every admin command takes: where the manager is, who we are, how to print. */
function common<T>(y: Argv<T>): Argv<T> {
  const options: Record<string, Options> = {};
  for (const def of CONNECTION_OPTIONS) {
    const env = def.env.length ? ` [env ${def.env.join(', ')}]` : '';
    options[def.flag] = { type: 'string', describe: `${def.describe}${env}`, group: CONNECTION_GROUP };
  }
  options.config = { type: 'string', describe: 'the settings file [env NEBULA_CLI_CONFIG] [default $XDG_CONFIG_HOME/nebula/cli.json or ~/.config/nebula/cli.json]', group: CONNECTION_GROUP };
  options.output = { alias: 'o', type: 'string', choices: ['table', 'json'], default: 'table', describe: 'table (for people) or json (the API\'s answer as it is, for scripts)' };
  return y.options(options) as unknown as Argv<T>;
}

/** What apps and cron jobs share. */
const CONTAINER_OPTIONS: Record<string, Options> = {
  image: { type: 'string', describe: 'the Docker image, e.g. nginx:1.27 (required to create)' },
  env: { type: 'string', describe: 'KEY=VALUE (split on the first "="; the value may hold "=" and ":"); repeat for more' },
  network: { type: 'string', describe: 'a Docker network (repeat, or a,b) [default nebula, bridge]' },
  volume: { type: 'string', describe: 'a volume, as docker -v: /host:/container[:ro]; repeat for more' },
  device: { type: 'string', describe: 'a device, as docker --device: /dev/x[:/dev/y]; repeat for more' },
  running: { type: 'boolean', describe: 'run it (--no-running: create or keep it stopped)' },
  privileged: { type: 'boolean', describe: 'privileged containers (--no-privileged)' },
};

const APP_OPTIONS: Record<string, Options> = {
  ...CONTAINER_OPTIONS,
  port: { type: 'string', describe: 'HOST:CONTAINER or PORT (both sides), 1-65535; repeat for more' },
  'containers-per': { type: 'string', describe: 'how many containers: server=N (per device), cpu=N (per core) or memory=MB (one per MB)' },
  'rolling-restart': { type: 'boolean', describe: 'replace containers one at a time (--no-rolling-restart)' },
};

const CRON_OPTIONS: Record<string, Options> = {
  ...CONTAINER_OPTIONS,
  schedule: { type: 'string', describe: 'when it runs: cron syntax "M H DoM Mon DoW" (an optional leading seconds field) or @hourly, @daily...; checked by the manager (required to create)' },
};

const SECRET_OPTIONS: Record<string, Options> = {
  'user-password': { type: 'string', describe: "the user's password [env NEBULA_USER_PASSWORD] (generated if never given; prefer --password-stdin: flags show in ps)" },
  'password-stdin': { type: 'boolean', describe: "read the user's password from stdin (one line), like docker login" },
  'user-token': { type: 'string', describe: "the user's bearer token [env NEBULA_USER_TOKEN] (generated if not given on create)" },
  'token-stdin': { type: 'boolean', describe: "read the user's token from stdin (one line)" },
};

const USER_GROUP_OPTIONS: Record<string, Options> = {
  member: { type: 'string', describe: 'a user in the group (repeat, or a,b; "" for none)' },
  admin: { type: 'boolean', describe: 'members may do everything (--no-admin)' },
  'pruning-allowed': { type: 'boolean', describe: 'members may prune images (--no-pruning-allowed)' },
  app: { type: 'string', describe: 'NAME=ro (read) or NAME=rw (read and write) on an app; repeat for more; "" for none (a list given replaces the whole list)' },
  'device-group': { type: 'string', describe: 'NAME=ro|rw on a device group (its devices and reports too); repeat; "" for none' },
  'cron-job': { type: 'string', describe: 'NAME=ro|rw on a cron job; repeat; "" for none' },
};

const PAGE_OPTIONS: Record<string, Options> = {
  'page-size': { type: 'string', describe: 'at most this many per page, 1-1000' },
  'last-id': { type: 'string', describe: "the page after this one: the previous page's last_id (printed under its table)" },
};

const REPORT_OPTIONS: Record<string, Options> = {
  ...PAGE_OPTIONS,
  hostname: { type: 'string', describe: "one device's reports" },
  'device-group': { type: 'string', describe: "one device group's reports" },
  created: { type: 'string', describe: 'reports created at this time (Unix seconds), or compared with --created-op' },
  'created-op': { type: 'string', choices: ['eq', 'ne', 'gt', 'gte', 'lt', 'lte'], describe: 'how --created compares [default eq]' },
  updated: { type: 'boolean', describe: 'only reports made when the device changed its config (--no-updated: only the others)' },
};

const DEVICE_OPTIONS: Record<string, Options> = {
  ...PAGE_OPTIONS,
  'device-group': { type: 'string', describe: "one device group's devices" },
  behind: { type: 'boolean', describe: 'only devices not on their group\'s current config (--no-behind: only those up to date)' },
};

const GROUP_OPTIONS: Record<string, Options> = {
  apps: { type: 'string', describe: 'its apps: a,b (repeatable; "" for none)' },
  'cron-jobs': { type: 'string', describe: 'its cron jobs: a,b (repeatable; "" for none)' },
};

function named<T>(what: string) {
  return (y: Argv<T>) => common(y.positional('name', { type: 'string', describe: `the ${what}'s name`, demandOption: true }) as unknown as Argv<T>);
}

function withOptions<T>(what: string, options: Record<string, Options>, extra: Record<string, Options> = {}) {
  return (y: Argv<T>) => named<T>(what)(y).options({ ...options, ...extra }) as unknown as Argv<T>;
}

const REPLACE: Record<string, Options> = {
  replace: { type: 'boolean', describe: 'replace the whole object (POST): what is not given is reset to its default' },
};

/**
 * create, list, get, update and delete, as every kind has them (run.ts: objectCommands for the
 * reads). `replace`: update takes --replace (a full replace); `about`: what create adds to the help;
 * `more`: the kind's other commands (for the message when none is named).
 */
function kindCommands<T>(y: Argv<T>, command: string, what: string, options: Record<string, Options>, replace: boolean, about: string, more: string[] = []): Argv<T> {
  const runs = (sub: string) => (a: Record<string, unknown>) => run(`${command} ${sub}`, a);
  const a = /^[aeio]/.test(what) ? 'an' : 'a';
  return y
    .command('create <name>', `create ${a} ${what} (${about})`, withOptions(what, options), runs('create'))
    .command('list', `list the ${what}s`, common, runs('list'))
    .command('get <name>', `show ${a} ${what}`, named(what), runs('get'))
    .command('update <name>', `change ${a} ${what}: only the options given${replace ? ' (with --replace, all of it: what is not given is reset)' : ''}`, withOptions(what, options, replace ? REPLACE : {}), runs('update'))
    .command('delete <name>', `delete ${a} ${what}`, named(what), runs('delete'))
    .demandCommand(1, `name ${a} ${command} command: ${['create', 'list', 'get', 'update', 'delete', ...more].join(', ')}`);
}

function appCommands<T>(y: Argv<T>): Argv<T> {
  return kindCommands(y, 'app', 'app', APP_OPTIONS, true, 'devices of the groups listing it run it', ['start', 'stop', 'restart'])
    .command('start <name>', 'start a stopped app', named('app'), (a) => run('app start', a))
    .command('stop <name>', 'stop an app on every device', named('app'), (a) => run('app stop', a))
    .command('restart <name>', 'restart a running app on every device', named('app'), (a) => run('app restart', a))
    .example('$0 app create web --image nginx:1.27 --port 81:80 --env MODE=pos --env URL=http://x:1/?a=b', '')
    .example('$0 app update web --image nginx:1.28', 'only the image changes')
    .example('$0 app list -o json', '');
}

function groupCommands<T>(y: Argv<T>): Argv<T> {
  return kindCommands(y, 'group', 'device group', GROUP_OPTIONS, true, 'the apps and cron jobs its devices run', ['prune'])
    .command('prune <name>', "remove unused images on the group's devices", named('device group'), (a) => run('group prune', a))
    .example('$0 group create pos-eu --apps web,cache', '');
}

function cronCommands<T>(y: Argv<T>): Argv<T> {
  return kindCommands(y, 'cron', 'cron job', CRON_OPTIONS, true, 'devices of the groups listing it run it on its schedule')
    .example("$0 cron create backup --image busybox --schedule '0 3 * * *' --env TARGET=s3://b/x --volume /srv:/data:ro", '')
    .example("$0 cron update backup --schedule '@hourly'", 'only the schedule changes');
}

function userCommands<T>(y: Argv<T>): Argv<T> {
  return kindCommands(y, 'user', 'user', SECRET_OPTIONS, false, 'its token is printed once; the password and token are generated unless given', ['refresh'])
    .command('refresh <name>', 'give a user a new generated token, printed once (the old one stops working)', named('user'), (a) => run('user refresh', a))
    .example('printf %s "$PW" | $0 user create alice --password-stdin', 'the password never shows in ps or the shell history')
    .example('$0 user refresh alice -o json | jq -r .token', '');
}

function userGroupCommands<T>(y: Argv<T>): Argv<T> {
  return kindCommands(y, 'user-group', 'user group', USER_GROUP_OPTIONS, false, 'its members and what they may do')
    .example('$0 user-group create ops --member alice --member bob --app web=rw --device-group pos-eu=ro --pruning-allowed', '');
}

function deviceCommands<T>(y: Argv<T>): Argv<T> {
  return (common(y).options(DEVICE_OPTIONS) as unknown as Argv<T>)
    .command(
      'get <hostname>',
      'show one device: its latest report against its group\'s current config',
      (g: Argv<T>) => common(g.positional('hostname', { type: 'string', describe: "the device's name", demandOption: true }) as unknown as Argv<T>),
      (a) => run('devices get', a),
    )
    .example('$0 devices --device-group pos-eu --behind', 'the devices of pos-eu not on its current config, and why')
    .example('$0 devices get pos-eu-0042 -o json', '');
}

/** Registers the admin commands on the top-level parser. */
export function adminCommands<T>(y: Argv<T>): Argv<T> {
  return y
    .command('status', "check the manager is reachable and the credentials work", common, (a) => run('status', a))
    .command(
      'login',
      'check the connection settings and save them for later commands (the password or token only with --save-secret)',
      (l) =>
        common(l)
          .options({
            'save-secret': { type: 'boolean', default: false, describe: 'also save the password or token (file mode 0600)' },
            'password-stdin': { type: 'boolean', describe: 'read the password from stdin (one line), like docker login' },
          })
          .example('$0 login --manager-url https://nebula.example.com --user admin', 'asks for the password (not echoed)')
          .example('printf %s "$PW" | $0 login --manager-url https://nebula.example.com --user admin --password-stdin', 'for scripts'),
      (a) => run('login', a),
    )
    .command('app', 'manage apps: create, list, get, update, start, stop, restart, delete', appCommands)
    .command('group', 'manage device groups: create, list, get, update, delete, prune', groupCommands)
    .command('cron', 'manage cron jobs: create, list, get, update, delete', cronCommands)
    .command('user', 'manage users: create, list, get, update, refresh, delete', userCommands)
    .command('user-group', 'manage user groups (members and permissions): create, list, get, update, delete', userGroupCommands)
    .command('prune', 'remove unused images on the devices of every group', common, (a) => run('prune', a))
    .command(
      'reports',
      'list stored device reports, oldest first, a page at a time',
      (r) => common(r).options(REPORT_OPTIONS).example('$0 reports --hostname pos-eu-0042 --created 1700000000 --created-op gte --page-size 50', ''),
      (a) => run('reports', a),
    )
    .command('devices', 'list the devices (their latest reports), or `devices get <hostname>`', deviceCommands, (a) => run('devices', a));
}
