#!/usr/bin/env node
// The `nebula` executable: parse the command line, then import only the chosen role.

import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { ConfigError } from './errors.ts';
import { MANAGER_OPTIONS, loadManagerConfig } from './config/manager.ts';
import { WORKER_OPTIONS, loadWorkerConfig } from './config/worker.ts';
import { REPORTER_OPTIONS, loadReporterConfig } from './config/reporter.ts';
import type { OptionDef } from './config/options.ts';
import { VERSION } from './version.ts';
import { adminCommands } from './cli/commands.ts';

function yargsOptions(defs: readonly OptionDef[]) {
  const out: Record<string, { type: 'string' | 'number' | 'boolean'; describe: string; choices?: readonly string[] }> = {};
  for (const def of defs) {
    const env = def.env.length ? ` [env ${def.env.join(', ')}]` : '';
    const dflt = def.default !== undefined && !def.secret ? ` [default ${String(def.default)}]` : '';
    // Flags are read as strings and checked by the config loader, with env and file alike.
    out[def.flag] = { type: 'string', describe: `${def.describe}${env}${dflt}` };
    if (def.choices) out[def.flag]!.choices = def.choices;
  }
  return out;
}

/** The flags given on the command line (not yargs defaults): they win over env and file. */
function flagsOf(argv: Record<string, unknown>, defs: readonly OptionDef[]): Record<string, unknown> {
  const flags: Record<string, unknown> = {};
  for (const def of defs) if (argv[def.flag] !== undefined) flags[def.flag] = argv[def.flag];
  if (argv.config !== undefined) flags.config = argv.config;
  return flags;
}

/** An invalid or contradictory setting: one line naming it, exit code 2. */
function configOrExit<T>(load: () => T): T {
  try {
    return load();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`nebula: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

// No top-level await: the single-binary bundle is CommonJS.
function main(): Promise<unknown> {
  const parser = yargs(hideBin(process.argv))
  .scriptName('nebula')
  // Names stay strings ("007" is not 7); "--env a.b=c" is no nested object.
  .parserConfiguration({ 'parse-positional-numbers': false, 'dot-notation': false })
  .usage('$0 <command> [options]')
  .command(
    'manager',
    'run the manager: the HTTP API devices and admins talk to',
    (y) => y.options({ config: { type: 'string', describe: 'JSON config file (original keys) [env NEBULA_CONFIG]' }, ...yargsOptions(MANAGER_OPTIONS) }),
    async (argv) => {
      const config = configOrExit(() => loadManagerConfig(flagsOf(argv, MANAGER_OPTIONS), process.env));
      const { runManager } = await import('../roles/manager/index.ts');
      await runManager(config);
    },
  )
  .command(
    'worker',
    'run the worker on a device: keep the Docker engine on its device group\'s config',
    (y) => y.options({ config: { type: 'string', describe: 'JSON config file (original keys) [env NEBULA_CONFIG]' }, ...yargsOptions(WORKER_OPTIONS) }),
    async (argv) => {
      const config = configOrExit(() => loadWorkerConfig(flagsOf(argv, WORKER_OPTIONS), process.env));
      const { runWorker } = await import('../roles/worker/index.ts');
      await runWorker(config);
    },
  )
  .command(
    'reporter',
    'move device reports from Kafka into the store, in batches (several reporters share a topic\'s partitions)',
    (y) => y.options({ config: { type: 'string', describe: 'JSON config file (original keys) [env NEBULA_CONFIG]' }, ...yargsOptions(REPORTER_OPTIONS) }),
    async (argv) => {
      const config = configOrExit(() => loadReporterConfig(flagsOf(argv, REPORTER_OPTIONS), process.env));
      const { runReporter } = await import('../roles/reporter/index.ts');
      await runReporter(config);
    },
  );
  // The admin CLI, a client of the API: src/cli/ (loaded only when one of its commands runs).
  return adminCommands(parser)
  .demandCommand(1, 'name a command: manager, worker, reporter, or an admin command: status, login, app, group, cron, user, user-group, prune, reports, devices')
  .strict()
  .version(VERSION)
  .help()
  .fail((msg, err) => {
    if (err) throw err;
    process.stderr.write(`nebula: ${msg}\nRun "nebula --help" for the commands and options.\n`);
    process.exit(2);
  })
  .parseAsync();
}

main().catch((err: unknown) => {
  process.stderr.write(`nebula: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
