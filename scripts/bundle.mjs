// Bundles the package's JavaScript into dist/ (docs/architecture.md, "The build"): the entry
// points dist/index.js, dist/internal.js, dist/cli/main.js and the SQLite store's worker, and the
// chunks they share, with the modules loaded on demand (HTTP links, the cluster, the CLI's send
// and receive commands...) left in chunks of their own. `tsc -p tsconfig.json` type-checks and
// writes the type declarations beside them. Dependencies stay outside (node_modules).
//
// Why: Node 20's ES module loader costs heap per module, and the package entry is 135 modules.
// Importing them one by one, 4.5 MB survived young-generation collections, which grew V8's
// semi-spaces to 4 MiB before the first client (a plain Node relay runs at 1 to 2 MiB), at 60 MB
// of RSS and in 70 to 90 ms; bundled, 2.3 MB survive, the semi-spaces stay at 2 MiB, at 52 MB,
// in 50 to 60 ms (docs/architecture.md, "The build"; bench/FANOUT.md, "The package is bundled").
import { build } from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const dist = path.join(root, 'dist');

// What an earlier build left: the bundle replaces every .js (tsc writes only declarations here).
if (fs.existsSync(dist)) {
  for (const f of walk(dist)) if (/\.js(\.map)?$/.test(f)) fs.rmSync(f);
}

await build({
  absWorkingDir: root,
  entryPoints: {
    index: 'src/index.ts',
    internal: 'src/internal.ts',
    'cli/main': 'src/cli/main.ts',
    // At the top of dist/, as the chunks are: SqliteStore starts it as `./sqlite-worker.js`
    // beside the code that runs `new Worker` (checked below).
    'sqlite-worker': 'src/server/store/sqlite-worker.ts',
  },
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  chunkNames: '[name]-[hash]',
  sourcemap: true,
  sourcesContent: true,
  // Class and function names stay as written: errors' names, stack traces and logs show them.
  keepNames: true,
  logLevel: 'warning',
});

// The two file paths the code builds from its own module's URL must hold in the bundle.
const cliMain = fs.readFileSync(path.join(dist, 'cli/main.js'), 'utf8');
if (!cliMain.includes("'../../package.json'") && !cliMain.includes('"../../package.json"')) {
  throw new Error('bundle: dist/cli/main.js no longer reads ../../package.json itself (the CLI version would be looked up in the wrong place)');
}
for (const f of walk(dist)) {
  if (!f.endsWith('.js') || path.dirname(f) === dist) continue;
  if (fs.readFileSync(f, 'utf8').includes('sqlite-worker.js')) {
    throw new Error(`bundle: ${path.relative(root, f)} starts the SQLite worker, but is not at the top of dist/ where sqlite-worker.js is`);
  }
}

function* walk(dir) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* walk(p);
    else yield p;
  }
}
