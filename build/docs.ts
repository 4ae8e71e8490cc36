// For the executable's bundle: roles/manager/docs-assets.ts (which reads swagger-ui's files
// from node_modules) becomes a module holding them, so the API reference page needs no file
// at run time. Text files are embedded as strings, images as base64.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Plugin } from 'esbuild';
import { DOCS_ASSETS, docsAssetsDir } from '../roles/manager/docs-assets.ts';
import { replaceModule } from './replace-module.ts';

export function embedDocsAssets(): Plugin {
  return replaceModule('docs-assets.ts', () => {
    const files: Record<string, { text?: string; base64?: string }> = {};
    for (const [name, type] of Object.entries(DOCS_ASSETS)) {
      const body = readFileSync(join(docsAssetsDir(), name));
      files[name] = type.startsWith('text/') ? { text: body.toString('utf8') } : { base64: body.toString('base64') };
    }
    return `export const DOCS_ASSETS = ${JSON.stringify(DOCS_ASSETS)};
const FILES = ${JSON.stringify(files)};
export function readDocsAsset(name) {
  const file = FILES[name];
  return file.text !== undefined ? Buffer.from(file.text, 'utf8') : Buffer.from(file.base64, 'base64');
}`;
  });
}
