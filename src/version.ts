// Nebula's own version (package.json), for --version and for reports.

import { createRequire } from 'node:module';

export const VERSION = (createRequire(import.meta.url)('../package.json') as { version: string }).version;
