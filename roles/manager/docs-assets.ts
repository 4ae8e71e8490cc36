// swagger-ui's files, which the API reference page (openapi.ts) serves: read from the
// @fastify/swagger-ui package when the manager runs from source. The single executable's
// bundle replaces this module with one holding the files (build/docs.ts: embedDocsAssets).

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** The files served under /api/v2/docs/static/, with their content type. */
export const DOCS_ASSETS: Readonly<Record<string, string>> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'index.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'swagger-ui-standalone-preset.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
  'favicon-16x16.png': 'image/png',
};

/** The directory of swagger-ui's static files in the installed package. */
export function docsAssetsDir(): string {
  return join(dirname(createRequire(import.meta.url).resolve('@fastify/swagger-ui/package.json')), 'static');
}

export function readDocsAsset(name: string): Buffer {
  return readFileSync(join(docsAssetsDir(), name));
}
