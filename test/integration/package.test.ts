/**
 * The package as a consumer gets it: what `npm pack` puts in, metadata, source maps that carry
 * their sources, nothing built at install time, and sharp optional (issue 10, "The package").
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { cli, ROOT } from '../helpers/cli.js';

const NO_SHARP = path.join(ROOT, 'test/fixtures/no-sharp.mjs');

function runIn(cwd: string, bin: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(bin, args, { cwd, env, maxBuffer: 64 * 1024 * 1024, timeout: 240_000 }, (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr })),
  );
}

const run = (bin: string, args: string[], env?: NodeJS.ProcessEnv): ReturnType<typeof runIn> => runIn(ROOT, bin, args, env);

interface Pkg {
  license: string;
  keywords?: string[];
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  files: string[];
}
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as Pkg;

test('package - npm pack ships dist, docs, README, LICENSE and package.json; no sources, tests or build output', async () => {
  const r = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts']);
  assert.equal(r.code, 0, r.stderr);
  const files = (JSON.parse(r.stdout) as Array<{ files: Array<{ path: string }> }>)[0].files.map((f) => f.path);
  for (const f of ['LICENSE', 'README.md', 'package.json', 'dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js', 'docs/cli.md', 'docs/api.md']) assert.ok(files.includes(f), f);
  assert.deepEqual(files.filter((f) => !/^(dist|docs)\//.test(f) && !['LICENSE', 'README.md', 'package.json'].includes(f)), []);
  assert.ok(files.some((f) => f.endsWith('.js.map')), 'source maps are shipped');
});

test('package - every source map in dist carries its sources (src/ is not shipped)', () => {
  const maps: string[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(d, e.name));
      else if (e.name.endsWith('.js.map')) maps.push(path.join(d, e.name));
    }
  };
  walk(path.join(ROOT, 'dist'));
  // The bundle (scripts/bundle.mjs): three entry points, the SQLite worker, and their chunks.
  assert.ok(maps.length >= 4, `${maps.length} maps`);
  for (const m of maps) {
    const map = JSON.parse(fs.readFileSync(m, 'utf8')) as { sources: string[]; sourcesContent?: Array<string | null> };
    assert.equal(map.sourcesContent?.length, map.sources.length, m);
    assert.ok(map.sourcesContent!.every((c) => typeof c === 'string' && c.length > 0), m);
  }
});

test('package - MIT LICENSE, keywords, no install-time scripts, sharp optional', () => {
  assert.equal(pkg.license, 'MIT');
  assert.match(fs.readFileSync(path.join(ROOT, 'LICENSE'), 'utf8'), /^MIT License\n\nCopyright \(c\) /);
  assert.ok(pkg.files.includes('LICENSE'));
  assert.ok((pkg.keywords ?? []).length > 0);
  for (const s of ['prepare', 'preinstall', 'install', 'postinstall']) assert.equal(pkg.scripts[s], undefined, `${s} would run for consumers`);
  assert.ok(pkg.scripts.prepack, 'dist is built when packing');
  assert.equal(pkg.dependencies.sharp, undefined);
  assert.ok(pkg.optionalDependencies?.sharp);
});

test('package - without sharp the library loads and works; the test pattern says what to install', async () => {
  const script = `
    const m = await import(${JSON.stringify(path.join(ROOT, 'dist/index.js'))});
    const rx = new m.Receiver({ protocol: 'tcp', host: '127.0.0.1', port: 0 });
    await rx.start();
    await rx.stop();
    try { await new m.TestPattern({ width: 64, height: 64 }).frame(0); console.log('drawn'); }
    catch (e) { console.log(e instanceof m.SharpMissingError, e.code, e.message); }`;
  const r = await run(process.execPath, ['--import', NO_SHARP, '--input-type=module', '-e', script]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'true CW_ERR_SHARP_MISSING the test pattern needs the optional package sharp, which is not installed: run npm install sharp');
});

test('package - without sharp, sendVideoPixels rejects with SharpMissingError saying what needs it', async () => {
  const script = `
    const m = await import(${JSON.stringify(path.join(ROOT, 'dist/index.js'))});
    const rx = new m.Receiver({ protocol: 'tcp', host: '127.0.0.1', port: 0 });
    await rx.start();
    const tx = new m.Sender({ protocol: 'tcp', host: '127.0.0.1', port: rx.port, video: { encoding: 'change' } });
    await tx.start();
    try { await tx.sendVideoPixels(new Uint8Array(4 * 4 * 3), { width: 4, height: 4, format: 'rgb' }); console.log('sent'); }
    catch (e) { console.log(e instanceof m.SharpMissingError, e.code, e.message); }
    await tx.stop();
    await rx.stop();`;
  const r = await run(process.execPath, ['--import', NO_SHARP, '--input-type=module', '-e', script]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'true CW_ERR_SHARP_MISSING change-detection video (and sendVideoPixels) needs the optional package sharp, which is not installed: run npm install sharp');
});

test('package - without sharp, `camwire send` with the test pattern exits 4 before connecting; other sources still work', async (t) => {
  const env = { NODE_OPTIONS: `--import=${NO_SHARP}` };
  const p = cli(t, ['send', '--server', '127.0.0.1:9', '--id', 'x'], { env });
  assert.equal(await p.exited, 4);
  assert.equal(p.stderr().trim(), 'error: the test pattern needs the optional package sharp, which is not installed: run npm install sharp');
  const ch = cli(t, ['send', '--server', '127.0.0.1:9', '--input', 'x.mp4', '--encoding', 'change'], { env });
  assert.equal(await ch.exited, 4);
  assert.equal(ch.stderr().trim(), 'error: --encoding change needs the optional package sharp, which is not installed: run npm install sharp');
  const d = cli(t, ['demo', '--http-port', '0', '--tcp-port', '0'], { env });
  assert.equal(await d.exited, 4);
  // A command needs no sharp.
  const rx = cli(t, ['receive', '--listen', '127.0.0.1:0', '--types', 'command', '--count', '1'], { env });
  const port = (await rx.waitFor(/listening on [^:]+:(\d+)/))[1];
  const c = cli(t, ['send', '--server', `127.0.0.1:${port}`, '--command', 'ping'], { env });
  assert.equal(await c.exited, 0, c.stderr());
});

test('package - the packed tarball installs into a scratch project; its library and its camwire command work there', { timeout: 300_000 }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-scratch-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  // dist was built by the test command; pack it as it is (prepack would rebuild it under the suite).
  const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir]);
  assert.equal(packed.code, 0, packed.stderr);
  const tgz = path.join(dir, (JSON.parse(packed.stdout) as Array<{ filename: string }>)[0].filename);
  const proj = path.join(dir, 'app');
  fs.mkdirSync(proj);
  fs.writeFileSync(path.join(proj, 'package.json'), JSON.stringify({ name: 'scratch-app', private: true, type: 'module' }));
  // Install scripts are skipped only to spare CI a second native build of better-sqlite3; nothing
  // below needs it. The registry is asked only for what the npm cache lacks.
  const installed = await runIn(proj, 'npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', tgz]);
  assert.equal(installed.code, 0, installed.stderr);
  const own = path.join(proj, 'node_modules/camwire');
  assert.ok(!fs.existsSync(path.join(own, 'src')) && fs.existsSync(path.join(own, 'dist/index.js')));
  // The library, imported by its package name: a command from a Sender to a Receiver on loopback.
  const script = `
    import { Receiver, Sender } from 'camwire';
    const rx = new Receiver({ protocol: 'tcp', host: '127.0.0.1', port: 0 });
    await rx.start();
    const got = new Promise((r) => rx.once('command', (c) => r(c.name)));
    const tx = new Sender({ protocol: 'tcp', host: '127.0.0.1', port: rx.port });
    await tx.start();
    await tx.sendCommand({ name: 'hello-from-scratch' });
    console.log(await got);
    await tx.stop();
    await rx.stop();`;
  fs.writeFileSync(path.join(proj, 'main.mjs'), script);
  const lib = await runIn(proj, process.execPath, ['main.mjs']);
  assert.equal(lib.code, 0, lib.stderr);
  assert.equal(lib.stdout.trim(), 'hello-from-scratch');
  // The bin npm linked.
  const bin = path.join(proj, 'node_modules/.bin/camwire');
  const v = await runIn(proj, bin, ['--version']);
  assert.equal(v.code, 0, v.stderr);
  assert.equal(v.stdout.trim(), `camwire ${(JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version}`);
  const mb = async (d: string): Promise<string> => (await runIn(proj, 'du', ['-sm', d])).stdout.split('\t')[0];
  process.stdout.write(`# scratch install: node_modules ${await mb('node_modules')} MB, of which camwire ${await mb('node_modules/camwire')} MB\n`);
});
