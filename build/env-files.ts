// Writes the default /etc/nebula/{manager,worker,reporter}.env from the roles' option lists
// (src/config/*.ts), so the files never drift from what the binary reads.
//   node_modules/.bin/node build/env-files.ts OUTDIR
// Every setting is commented out with its default; nothing depends on the version, so an
// upgrade never changes these conffiles (dpkg would ask about every edited one otherwise).

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MANAGER_OPTIONS } from '../src/config/manager.ts';
import { WORKER_OPTIONS } from '../src/config/worker.ts';
import { REPORTER_OPTIONS } from '../src/config/reporter.ts';
import type { OptionDef } from '../src/config/options.ts';

interface Role {
  name: 'manager' | 'worker' | 'reporter';
  options: readonly OptionDef[];
  /** The settings to look at first (env names; checked against the options below). */
  first: string[];
  firstWhy: string;
  /** Set by the unit (Environment=); the note says why and how to move it. */
  unitSets: Record<string, string>;
}

const STATE_NOTE = (dir: string) =>
  `The service sets ${dir}, its StateDirectory and the only place it may write ` +
  `(ProtectSystem=strict); another directory also needs ReadWritePaths= in a drop-in ` +
  `(systemctl edit).`;

const ROLES: Role[] = [
  {
    name: 'manager',
    options: MANAGER_OPTIONS,
    first: ['BASIC_AUTH_USER', 'BASIC_AUTH_PASSWORD', 'AUTH_TOKEN', 'NEBULA_PORT', 'MONGO_URL'],
    firstWhy:
      'Set an admin (BASIC_AUTH_USER and BASIC_AUTH_PASSWORD, or AUTH_TOKEN). The manager listens ' +
      'on port 80 (NEBULA_PORT) and keeps its store in SQLite under /var/lib/nebula unless ' +
      'MONGO_URL is set.',
    unitSets: { NEBULA_DATA_DIR: STATE_NOTE('/var/lib/nebula') },
  },
  {
    name: 'worker',
    options: WORKER_OPTIONS,
    first: ['DEVICE_GROUP', 'NEBULA_MANAGER_URI', 'NEBULA_MANAGER_AUTH_USER', 'NEBULA_MANAGER_AUTH_PASSWORD', 'NEBULA_MANAGER_AUTH_TOKEN'],
    firstWhy:
      'Required: DEVICE_GROUP and the manager (NEBULA_MANAGER_URI, or NEBULA_MANAGER_HOST with ' +
      'NEBULA_MANAGER_PORT and NEBULA_MANAGER_PROTOCOL), with its credentials.',
    unitSets: { NEBULA_STATE_DIR: STATE_NOTE('/var/lib/nebula-worker') },
  },
  {
    name: 'reporter',
    options: REPORTER_OPTIONS,
    first: ['KAFKA_BOOTSTRAP_SERVERS', 'KAFKA_TOPIC', 'KAFKA_GROUP_ID', 'MONGO_URL'],
    firstWhy:
      'Required: KAFKA_BOOTSTRAP_SERVERS. The reporter writes into the same store as the ' +
      "manager: the manager's SQLite database in /var/lib/nebula (same host), or MONGO_URL.",
    unitSets: { NEBULA_DATA_DIR: STATE_NOTE('/var/lib/nebula') },
  },
];

/** Wraps text into comment lines of at most 96 characters. */
function comment(text: string, prefix = '# '): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && prefix.length + line.length + 1 + word.length > 96) {
      lines.push(prefix + line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(prefix + line);
  return lines;
}

function kindOf(def: OptionDef): string {
  switch (def.type) {
    case 'bool':
      return 'Either true or false.';
    case 'int': {
      const range = def.min !== undefined && def.max !== undefined ? ` from ${def.min} to ${def.max}` : '';
      return `A whole number${range}.`;
    }
    case 'enum':
      return `One of: ${(def.choices ?? []).join(', ')}.`;
    case 'string':
      return '';
  }
}

function entry(def: OptionDef, role: Role): string[] {
  const [name, ...aliases] = def.env;
  if (name === undefined) return [];
  const describe = def.describe;
  let text = `${describe}${describe.endsWith('.') ? '' : '.'} ${kindOf(def)}`;
  if (def.default !== undefined) text += ` Default: ${String(def.default)}.`;
  if (aliases.length) text += ` Also read as ${aliases.join(', ')}.`;
  text += ` Flag: --${def.flag}.`;
  if (role.unitSets[name]) text += ` ${role.unitSets[name]}`;
  const lines = [''];
  if (def.secret) lines.push('# SECRET: never logged; keep this file mode 0600.');
  lines.push(...comment(text));
  lines.push(`#${name}=${def.secret || def.default === undefined ? '' : String(def.default)}`);
  return lines;
}

export function envFile(role: Role): string {
  const names = new Set(role.options.flatMap((d) => d.env));
  for (const name of [...role.first, ...Object.keys(role.unitSets)]) {
    if (!names.has(name)) throw new Error(`build/env-files.ts: ${role.name} has no setting ${name}; update the list`);
  }
  const lines = [
    `# /etc/nebula/${role.name}.env: settings of \`nebula ${role.name}\` (nebula-${role.name}.service).`,
    '#',
    ...comment(
      'systemd reads this file (EnvironmentFile=) as root before it starts the service, so keep ' +
        'it root-only (mode 0600): it holds secrets. One NAME=value per line, no quotes needed; lines ' +
        'starting with # are ignored. Every setting is listed below, commented out, with its ' +
        'default: uncomment and edit what you need, then apply with',
    ),
    `#   systemctl restart nebula-${role.name}`,
    ...comment(
      'A flag on the command line wins over this file, this file over NEBULA_CONFIG (a JSON ' +
        'file of the same settings under their snake_case keys), and that over the defaults.',
    ),
    '#',
    ...comment(`Start here. ${role.firstWhy}`),
    '#',
    '# Generated from the option lists in src/config/ by build/env-files.ts.',
    '',
    '# A JSON config file with these settings under their snake_case keys. Flag: --config.',
    '#NEBULA_CONFIG=',
  ];
  const first = role.first.map((n) => role.options.find((d) => d.env.includes(n))!);
  const rest = role.options.filter((d) => !first.includes(d));
  for (const def of [...first, ...rest]) lines.push(...entry(def, role));
  return `${lines.join('\n')}\n`;
}

const out = process.argv[2];
if (!out) {
  process.stderr.write('usage: node build/env-files.ts OUTDIR\n');
  process.exit(2);
}
mkdirSync(out, { recursive: true });
for (const role of ROLES) writeFileSync(join(out, `${role.name}.env`), envFile(role));
