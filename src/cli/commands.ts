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

const APP_OPTIONS: Record<string, Options> = {
  image: { type: 'string', describe: 'the Docker image, e.g. nginx:1.27 (required to create)' },
  port: { type: 'string', describe: 'HOST:CONTAINER or PORT (both sides), 1-65535; repeat for more' },
  env: { type: 'string', describe: 'KEY=VALUE (split on the first "="; the value may hold "=" and ":"); repeat for more' },
  'containers-per': { type: 'string', describe: 'how many containers: server=N (per device), cpu=N (per core) or memory=MB (one per MB)' },
  network: { type: 'string', describe: 'a Docker network (repeat, or a,b) [default nebula, bridge]' },
  volume: { type: 'string', describe: 'a volume, as docker -v: /host:/container[:ro]; repeat for more' },
  device: { type: 'string', describe: 'a device, as docker --device: /dev/x[:/dev/y]; repeat for more' },
  running: { type: 'boolean', describe: 'run it (--no-running: create or keep it stopped)' },
  privileged: { type: 'boolean', describe: 'privileged containers (--no-privileged)' },
  'rolling-restart': { type: 'boolean', describe: 'replace containers one at a time (--no-rolling-restart)' },
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

function appCommands<T>(y: Argv<T>): Argv<T> {
  return y
    .command('create <name>', 'create an app (devices of the groups listing it run it)', withOptions('app', APP_OPTIONS), (a) => run('app create', a))
    .command('list', 'list the apps', common, (a) => run('app list', a))
    .command('get <name>', "show an app's config", named('app'), (a) => run('app get', a))
    .command('update <name>', 'change an app: only the options given (with --replace, all of it)', withOptions('app', APP_OPTIONS, REPLACE), (a) => run('app update', a))
    .command('start <name>', 'start a stopped app', named('app'), (a) => run('app start', a))
    .command('stop <name>', 'stop an app on every device', named('app'), (a) => run('app stop', a))
    .command('restart <name>', 'restart a running app on every device', named('app'), (a) => run('app restart', a))
    .command('delete <name>', 'delete an app (and remove it from every group)', named('app'), (a) => run('app delete', a))
    .demandCommand(1, 'name an app command: create, list, get, update, start, stop, restart or delete')
    .example('$0 app create web --image nginx:1.27 --port 81:80 --env MODE=pos --env URL=http://x:1/?a=b', '')
    .example('$0 app update web --image nginx:1.28', 'only the image changes')
    .example('$0 app list -o json', '');
}

function groupCommands<T>(y: Argv<T>): Argv<T> {
  return y
    .command('create <name>', 'create a device group', withOptions('device group', GROUP_OPTIONS), (a) => run('group create', a))
    .command('list', 'list the device groups', common, (a) => run('group list', a))
    .command('get <name>', "show a device group's apps and cron jobs", named('device group'), (a) => run('group get', a))
    .command('update <name>', 'change the lists given (with --replace, a list not given becomes empty)', withOptions('device group', GROUP_OPTIONS, REPLACE), (a) => run('group update', a))
    .command('delete <name>', 'delete a device group', named('device group'), (a) => run('group delete', a))
    .command('prune <name>', "remove unused images on the group's devices", named('device group'), (a) => run('group prune', a))
    .demandCommand(1, 'name a group command: create, list, get, update, delete or prune')
    .example('$0 group create pos-eu --apps web,cache', '');
}

/** Registers the admin commands on the top-level parser. */
export function adminCommands<T>(y: Argv<T>): Argv<T> {
  return y
    .command('status', "check the manager is reachable and the credentials work", common, (a) => run('status', a))
    .command(
      'login',
      'check the connection settings and save them for later commands (the password or token only with --save-secret)',
      (l) => common(l).options({ 'save-secret': { type: 'boolean', default: false, describe: 'also save the password or token (file mode 0600)' } }),
      (a) => run('login', a),
    )
    .command('app', 'manage apps: create, list, get, update, start, stop, restart, delete', appCommands)
    .command('group', 'manage device groups: create, list, get, update, delete, prune', groupCommands)
    .command('prune', 'remove unused images on the devices of every group', common, (a) => run('prune', a));
}
