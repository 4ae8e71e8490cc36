// An esbuild plugin for the executable's bundle: a module that reads or builds files at run time
// from source (roles/manager/docs-assets.ts, dashboard-assets.ts) is replaced by one holding
// them, made at bundle time, so the executable needs neither the files nor the tools.

import type { Plugin } from 'esbuild';

/** Replaces every import of a file whose path ends with `/<file>` by the JavaScript `contents()` returns. */
export function replaceModule(file: string, contents: () => string | Promise<string>): Plugin {
  const namespace = `replaced:${file}`;
  const filter = new RegExp(`/${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
  return {
    name: `replace-${file}`,
    setup(b) {
      b.onResolve({ filter }, (args) => ({ path: args.path, namespace }));
      b.onLoad({ filter: /.*/, namespace }, async () => ({ contents: await contents(), loader: 'js' }));
    },
  };
}
