// Writes nebula(1) from the roles' option lists (src/config/*.ts), so it never drifts.
//   node_modules/.bin/node build/debian/manpage.ts OUTFILE DATE
// DATE (YYYY-MM-DD) goes in the header; the rest depends only on the sources.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MANAGER_OPTIONS } from '../../src/config/manager.ts';
import { WORKER_OPTIONS } from '../../src/config/worker.ts';
import { REPORTER_OPTIONS } from '../../src/config/reporter.ts';
import type { OptionDef } from '../../src/config/options.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** Text safe for roff: backslashes and hyphens escaped, no line starting with . or '. */
const esc = (s: string): string => s.replace(/\\/g, '\\e').replace(/-/g, '\\-').replace(/^([.'])/gm, '\\&$1');

function options(defs: readonly OptionDef[]): string[] {
  const lines: string[] = [];
  for (const def of defs) {
    const value = def.type === 'bool' ? 'true|false' : def.type === 'enum' ? (def.choices ?? []).join('|') : def.type === 'int' ? 'N' : 'VALUE';
    lines.push('.TP', `.BI \\-\\-${esc(def.flag)} " ${esc(value)}"`);
    let text = esc(def.describe);
    if (def.env.length) text += `. Environment: ${def.env.map((e) => `\\fB${esc(e)}\\fR`).join(', ')}`;
    if (def.default !== undefined && !def.secret) text += `. Default: ${esc(String(def.default))}`;
    lines.push(`${text}.`);
  }
  return lines;
}

const [out, date] = process.argv.slice(2);
if (!out || !date) {
  process.stderr.write('usage: node build/debian/manpage.ts OUTFILE YYYY-MM-DD\n');
  process.exit(2);
}

const page = [
  `.TH NEBULA 1 "${date}" "nebula ${VERSION}" "User Commands"`,
  '.SH NAME',
  'nebula \\- run containers on fleets of devices behind bad networks',
  '.SH SYNOPSIS',
  '.B nebula manager',
  '.RI [ options ]',
  '.br',
  '.B nebula worker',
  '.RI [ options ]',
  '.br',
  '.B nebula reporter',
  '.RI [ options ]',
  '.br',
  '.B nebula \\-\\-version',
  '.SH DESCRIPTION',
  'One executable, three roles.',
  '.B nebula manager',
  'serves the HTTP API: the admin API v2 and the endpoint devices poll.',
  '.B nebula worker',
  "runs on every device and keeps its Docker engine on its device group's config, offline too.",
  '.B nebula reporter',
  'moves device reports from Kafka into the store, in batches.',
  '.PP',
  'Each setting is read from its flag, else its environment variable, else the JSON file given by',
  '.B \\-\\-config',
  '(or',
  '.BR NEBULA_CONFIG ;',
  'the same settings under their snake_case keys), else its default.',
  'Under systemd each role runs as the unit',
  '.BI nebula\\- role .service',
  'with its settings in',
  '.IR /etc/nebula/role .env .',
  '.SH MANAGER OPTIONS',
  ...options(MANAGER_OPTIONS),
  '.SH WORKER OPTIONS',
  ...options(WORKER_OPTIONS),
  '.SH REPORTER OPTIONS',
  ...options(REPORTER_OPTIONS),
  '.SH FILES',
  '.TP',
  '.I /etc/nebula/manager.env, /etc/nebula/worker.env, /etc/nebula/reporter.env',
  'The settings of each service (mode 0600: they hold secrets).',
  '.TP',
  '.I /var/lib/nebula',
  "The manager's embedded SQLite store, shared with the reporter.",
  '.TP',
  '.I /var/lib/nebula\\-worker',
  "The worker's state: the last config and the applied ids.",
  '.SH EXIT STATUS',
  '0 on a clean stop, 2 for an invalid setting, other non-zero values when Nebula fails hard;',
  'systemd then restarts it.',
  '.SH SEE ALSO',
  '.BR systemctl (1),',
  '.BR systemd.exec (5)',
  '',
].join('\n');
writeFileSync(out, page);
