// The bundles the single executables are made of (build/binaries.sh runs this first).
//
// One bundle per role, plus a small entry bundle (the command line) that loads a role's bundle
// only when that command runs: `nebula --version` and `nebula worker` never compile the manager's
// HTTP stack or the MongoDB driver. Compiling JavaScript is most of a cold start, so this is what
// keeps start-up short. Bundles share no state: the entry hands a role its parsed config only.
//
//   build/out/main.cjs              src/main.ts, roles left as require('./nebula-<role>.cjs')
//   build/out/nebula-<role>.cjs     roles/<role>/index.ts and everything it imports
//
// better-sqlite3 stays external: pkg ships its own prebuild for each arch. The manager's bundle
// carries the dashboard (web/) built in (build/web.ts), and swagger-ui's files for the API
// reference page (build/docs.ts).

import { build, type BuildOptions, type Plugin } from 'esbuild';
import { embedDashboard } from './web.ts';
import { embedDocsAssets } from './docs.ts';

const OUT = 'build/out';
const ROLES = ['manager', 'worker', 'reporter'] as const;
const nodeMajor = process.argv[2] ?? process.versions.node.split('.')[0];

const common: BuildOptions = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: `node${nodeMajor}`,
  logLevel: 'warning',
  external: ['better-sqlite3', 'cpu-features', '*.node'],
  // yargs (and createRequire) read import.meta.url, which CommonJS has not: define it from __filename.
  define: { 'import.meta.url': '__bundle_import_meta_url' },
  banner: { js: 'const __bundle_import_meta_url = require("node:url").pathToFileURL(__filename).href;' },
  // The Kafka client's WebAssembly (crc32c, compression) read from a file next to the module
  // does not survive bundling; the package's bundler build carries it inline.
  alias: { '@platformatic/wasm-utils': '@platformatic/wasm-utils/bundled' },
  legalComments: 'none',
  metafile: true,
};

/**
 * `import('../roles/<role>/index.ts')` in src/main.ts becomes a lazy `require('./nebula-<role>.cjs')`
 * (a require, not an import(): the executable's virtual file system serves CommonJS loading).
 */
const rolesAsBundles: Plugin = {
  name: 'roles-as-bundles',
  setup(b) {
    b.onResolve({ filter: /^\.\.\/roles\/[a-z]+\/index\.ts$/ }, (args) => {
      const role = /roles\/([a-z]+)\//.exec(args.path)![1]!;
      if (!(ROLES as readonly string[]).includes(role)) return undefined;
      return { path: role, namespace: 'role-bundle' };
    });
    b.onLoad({ filter: /.*/, namespace: 'role-bundle' }, (args) => ({
      contents: `module.exports = require('./nebula-${args.path}.cjs');`,
      loader: 'js',
    }));
    b.onResolve({ filter: /^\.\/nebula-[a-z]+\.cjs$/ }, (args) => ({ path: args.path, external: true }));
  },
};

/**
 * dockerode's optional transports, left out of the executable: SSH to a remote engine (ssh2, via
 * docker-modem) and BuildKit sessions (gRPC, protobuf; image builds only). The worker talks to
 * its local engine's socket and builds nothing; loading them cost ~35 MB of memory and parse
 * time at every start. A stub says so if anything ever reaches them.
 */
const UNUSED_TRANSPORTS = ['ssh2', '@grpc/grpc-js', '@grpc/proto-loader', 'protobufjs'];
const withoutUnusedTransports: Plugin = {
  name: 'without-unused-transports',
  setup(b) {
    const filter = new RegExp(`^(${UNUSED_TRANSPORTS.map((m) => m.replace(/[/.]/g, '\\$&')).join('|')})$`);
    b.onResolve({ filter }, (args) => ({ path: args.path, namespace: 'unused-transport' }));
    b.onLoad({ filter: /.*/, namespace: 'unused-transport' }, (args) => ({
      loader: 'js',
      contents: `const why = ${JSON.stringify(`nebula: ${args.path} is not part of this executable (Docker over ssh:// and BuildKit builds are not supported; use the engine's unix socket)`)};
const refuse = (key) => function () { throw new Error(why + ' [' + String(key) + ']'); };
module.exports = new Proxy({}, { get: (_, key) => (key === '__esModule' ? false : refuse(key)) });`,
    }));
  },
};

const results = await Promise.all([
  build({ ...common, entryPoints: ['src/main.ts'], outfile: `${OUT}/main.cjs`, plugins: [rolesAsBundles] }),
  ...ROLES.map((role) => build({ ...common, entryPoints: [`roles/${role}/index.ts`], outfile: `${OUT}/nebula-${role}.cjs`, plugins: [withoutUnusedTransports, embedDashboard(), embedDocsAssets()] })),
]);

for (const result of results) {
  for (const [file, output] of Object.entries(result.metafile!.outputs)) {
    if (file.endsWith('.cjs')) console.log(`${file}: ${(output.bytes / 1048576).toFixed(2)} MiB`);
  }
}
