// The dashboard's assets (web/): esbuild turns web/main.tsx (preact) into one minified app.js
// and web/app.css into one minified app.css; web/index.html is copied as it is. Everything is
// built in memory: nothing is written, so a checkout needs no build step of its own.
//
// Two users:
//   - the manager run from source (roles/manager/dashboard-assets.ts) builds them on its first
//     request to /ui/, so `npm run manager` on a fresh clone serves the current sources;
//   - build/bundle.ts embeds them in the manager's bundle (embedDashboard below), so the single
//     executable carries them and needs neither esbuild nor web/ at run time.

import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { replaceModule } from './replace-module.ts';

/** What the manager serves under /ui/, by file name. */
export interface DashboardAssets {
  'index.html': string;
  'app.js': string;
  'app.css': string;
}

const WEB = fileURLToPath(new URL('../web/', import.meta.url));

export async function buildDashboard(): Promise<DashboardAssets> {
  const result = await build({
    entryPoints: { app: `${WEB}main.tsx`, style: `${WEB}app.css` },
    bundle: true,
    write: false,
    outdir: 'out',
    minify: true,
    format: 'iife',
    target: ['chrome120', 'firefox120', 'safari17'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    legalComments: 'none',
    logLevel: 'silent',
  });
  const text = (name: string) => {
    const file = result.outputFiles.find((f) => f.path.endsWith(`/${name}`));
    if (file === undefined) throw new Error(`the dashboard build wrote no ${name}`);
    return file.text;
  };
  return { 'index.html': await readFile(`${WEB}index.html`, 'utf8'), 'app.js': text('app.js'), 'app.css': text('style.css') };
}

/**
 * For the executable's bundle: roles/manager/dashboard-assets.ts (which builds from source)
 * becomes a module holding the assets built now.
 */
export function embedDashboard(): Plugin {
  return replaceModule('dashboard-assets.ts', async () => `export async function loadDashboardAssets() { return ${JSON.stringify(await buildDashboard())}; }`);
}
