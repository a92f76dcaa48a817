/**
 * Every command in docs/cli.md's examples runs, as the README's examples do (issue 10, "Docs").
 * A test machine has no camera, microphone, screen, RTSP camera or server.example, so each
 * command runs on loopback with the substitutions in LOCAL (documented next to each); everything
 * else is the documented command line, flags and values as written.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { CLI, ROOT } from '../helpers/cli.js';
import { startProxy } from '../helpers/proxy.js';
import { freePort } from '../helpers/ports.js';

/** The commands of docs/cli.md's ```sh blocks, comments stripped. */
function documented(): string[] {
  const doc = fs.readFileSync(path.join(ROOT, 'docs/cli.md'), 'utf8');
  return [...doc.matchAll(/```sh\n([\s\S]*?)```/g)]
    .flatMap((m) => m[1].split('\n'))
    .map((l) => l.replace(/\s+#.*$/, '').trim())
    .filter((l) => l && !l.startsWith('#'));
}

/** How each documented command is run: in the background until a line shows it works (then SIGINT, exit 0), or to its end (exit 0). */
const RUNS: Array<{ doc: string; ready?: RegExp }> = [
  { doc: 'camwire receive --listen 7800 --files ./inbox', ready: /listening on/ },
  { doc: 'camwire send --server 127.0.0.1:7800 --id cam1', ready: /sending \d+ fps/ },
  { doc: 'camwire send --server 127.0.0.1:7800 --input clip.mp4 --loop --size 1280x720 --fps 25', ready: /sending [1-9]\d* fps/ },
  { doc: 'camwire send --server 127.0.0.1:7800 --file ./big.iso' },
  { doc: 'camwire send --server 127.0.0.1:7800 --id ops --command zoom --param level=2' },
  { doc: 'echo hello | camwire send --server 127.0.0.1:7800 --stdin' },
  { doc: 'camwire send --listen 7801 --id cam1 --camera /dev/video0', ready: /serving pull receivers/ },
  { doc: 'camwire receive --from 127.0.0.1:7801 --types video,command --mjpeg-port 7802', ready: /mjpeg: http:\/\/localhost:\d+\/video\.mjpg[^]*sessionConnected/ },
  { doc: 'camwire receive --from 127.0.0.1:7801 --types video --save out.mp4 --count 300' },
  { doc: 'camwire send --listen 7803 --protocol http --id cam2', ready: /serving pull receivers/ },
  { doc: 'camwire receive --from cam-host:7803 --protocol http --proxy http://proxy:3128 --play', ready: /sessionConnected/ },
  { doc: 'camwire server', ready: /tcp (\d+), udp (\d+), http (\d+)[^]*viewer:/ },
  { doc: 'camwire send --server server.example:7700 --id cam1 --to desk', ready: /sending \d+ fps/ },
  { doc: 'camwire send --server server.example:7700 --id screen --to desk --screen --encoding change', ready: /sending [1-9]\d* fps/ },
  { doc: 'camwire receive --server server.example:7700 --id desk --play', ready: /sessionConnected/ },
  { doc: 'camwire send --server server.example:7700 --id ops --to desk --command ptz --param pan=5' },
  { doc: 'camwire send --server server.example:7700 --id cam2 --group room --group-password pw --microphone', ready: /sending \d+ fps/ },
  { doc: 'camwire send --server server.example:7700 --id cam3 --camera /dev/video0 --codec h264 --to desk', ready: /copying the input's H\.264[^]*sending [1-9]\d* fps/ },
  { doc: 'camwire send --server server.example:7700 --id cam4 --codec vp9 --keyint 30 --to desk', ready: /sending [1-9]\d* fps/ },
  { doc: 'ffmpeg -re -i rtsp://camera/stream -f mpjpeg "http://server.example:7780/ingest/door?to=desk"' },
  { doc: 'head -c 32 /dev/urandom > key.bin' },
  { doc: 'camwire send --server server.example:7700 --id cam3 --to desk2 --encrypt-key key.bin', ready: /sending \d+ fps/ },
  { doc: 'camwire receive --server server.example:7700 --id desk2 --decrypt-key key.bin --count 30' },
  { doc: 'camwire receive --listen 7810 --id hub --forward server.example:7700 --forward-to desk3', ready: /forwarding video and audio to/ },
  { doc: 'camwire send --server 127.0.0.1:7810 --id cam4 --encrypt-key key.bin', ready: /sending \d+ fps/ },
  { doc: 'camwire receive --server server.example:7700 --id desk3 --decrypt-key key.bin --count 30' },
  { doc: 'ffmpeg -use_wallclock_as_timestamps 1 -f mpjpeg -i http://server.example:7780/mjpeg/cam1/0 -t 5 -c:v libx264 -pix_fmt yuv420p cam1.mp4' },
  { doc: 'camwire server --record ./recordings --record-segment 60s --record-max-age 7d --record-max-bytes 50G', ready: /tcp (\d+), udp (\d+), http (\d+)[^]*recording: / },
  { doc: 'camwire send --server server.example:7700 --id obs --input rtmp://0.0.0.0:1935/live --listen-input', ready: /waiting for a publish/ },
  { doc: 'ffmpeg -re -f lavfi -i testsrc2=size=1280x720:rate=30 -f lavfi -i sine -t 10 -c:v libx264 -bf 0 -g 60 -pix_fmt yuv420p -c:a aac -f flv rtmp://127.0.0.1:1935/live/stream' },
  { doc: 'CAMWIRE_PASSWORD=secret camwire send --server server.example:7700 --id cam1 --user alice --to desk', ready: /sending \d+ fps/ },
  { doc: 'ffmpeg -re -i clip.mp4 -auth_type basic -f mpjpeg "http://alice:secret@server.example:7780/ingest/cam1?to=desk"' },
];


function run(t: TestContext, cmd: string, env: NodeJS.ProcessEnv): { child: ChildProcess; out: () => string; exited: Promise<number | null>; waitFor: (re: RegExp) => Promise<RegExpMatchArray> } {
  // One process group per command, so SIGINT reaches camwire itself.
  const child = spawn('sh', ['-c', cmd.includes('|') ? cmd : `exec ${/^\w+=/.test(cmd) ? 'env ' : ''}${cmd}`], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const waiters = new Set<() => void>();
  for (const s of [child.stdout!, child.stderr!]) s.on('data', (d: Buffer) => ((out += d.toString()), waiters.forEach((w) => w())));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  t.after(() => {
    if (child.exitCode === null) process.kill(-child.pid!, 'SIGKILL');
  });
  const waitFor = (re: RegExp): Promise<RegExpMatchArray> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const m = re.exec(out);
        if (m) {
          waiters.delete(check);
          resolve(m);
        }
      };
      waiters.add(check);
      void exited.then(() => setImmediate(() => waiters.has(check) && reject(new Error(`${cmd} exited before ${re}:\n${out}`))));
      check();
    });
  return { child, out: () => out, exited, waitFor };
}

test('docs - every command in docs/cli.md runs (on loopback)', { timeout: 240000 }, async (t) => {
  assert.deepEqual(documented(), RUNS.map((r) => r.doc), 'docs/cli.md and this test list the same commands');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-docs-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  // `camwire` on PATH, and an ffplay that only reads what it is given (no screen here).
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin);
  fs.writeFileSync(path.join(bin, 'camwire'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} "$@"\n`, { mode: 0o755 });
  fs.writeFileSync(path.join(bin, 'ffplay'), '#!/bin/sh\nexec cat > /dev/null\n', { mode: 0o755 });
  const ff = (args: string[]): Promise<void> => new Promise((resolve, reject) => execFile('ffmpeg', ['-v', 'error', '-y', ...args], (err) => (err ? reject(err) : resolve())));
  const clip = path.join(dir, 'clip.mp4');
  const wav = path.join(dir, 'mic.wav');
  await ff(['-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=15', '-t', '3', '-pix_fmt', 'yuv420p', clip]);
  await ff(['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-t', '3', wav]);
  fs.writeFileSync(path.join(dir, 'big.iso'), Buffer.alloc(3_000_000, 7));
  const proxy = await startProxy();
  t.after(() => proxy.stop());
  const [p1, p2, p3, p4, p5] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  const ports = { tcp: '', http: '' };
  const login = path.join(dir, 'login.yaml');
  fs.writeFileSync(login, 'host: 127.0.0.1\ntcpPort: 0\nudpPort: off\nhttpPort: 0\nusers:\n  - user: alice\n    password: secret\n    clientIds: [cam1, desk]\n');
  const env = { ...process.env, PATH: `${bin}${path.delimiter}${process.env.PATH}`, CAMWIRE_DATA_DIR: '' };
  /** The documented command on this machine: loopback ports, files of the test's own, devices replaced. */
  const LOCAL: Array<[string | RegExp, () => string]> = [
    ['clip.mp4', () => clip], // first: later rules insert this path
    ['--listen 7800', () => `--listen 127.0.0.1:${p1}`],
    ['127.0.0.1:7800', () => `127.0.0.1:${p1}`],
    ['--listen 7801', () => `--listen 127.0.0.1:${p2}`],
    ['127.0.0.1:7801', () => `127.0.0.1:${p2}`],
    ['--mjpeg-port 7802', () => '--mjpeg-port 0'], // any free port
    ['--listen 7803', () => `--listen 127.0.0.1:${p3}`],
    ['cam-host:7803', () => `127.0.0.1:${p3}`],
    ['--listen 7810', () => `--listen 127.0.0.1:${p4}`],
    ['127.0.0.1:7810', () => `127.0.0.1:${p4}`],
    ['key.bin', () => path.join(dir, 'key.bin')],
    ['http://proxy:3128', () => proxy.url], // tinyproxy
    ['--camera /dev/video0', () => `--input ${clip} --loop`], // no camera on a test machine
    ['--screen', () => `--input ${clip} --loop`], // no X11 screen either
    ['--microphone', () => `--audio-input ${wav}`], // no microphone either
    ['rtsp://camera/stream', () => clip],
    ['--count 300', () => '--count 30'], // 2 s of video instead of 20
    ['server.example:7700', () => `127.0.0.1:${ports.tcp}`],
    ['server.example:7780', () => `127.0.0.1:${ports.http}`],
    [/^camwire server$/, () => 'camwire server --host 127.0.0.1 --tcp-port 0 --udp-port 0 --http-port 0 --memory'], // 7700/7780 may be taken
    ['./inbox', () => path.join(dir, 'inbox')],
    ['./big.iso', () => path.join(dir, 'big.iso')],
    [' out.mp4', () => ` ${path.join(dir, 'out.mp4')}`],
    [' cam1.mp4', () => ` ${path.join(dir, 'cam1.mp4')}`],
    ['camwire server --record ./recordings', () => `camwire server --host 127.0.0.1 --tcp-port 0 --udp-port 0 --http-port 0 --memory --record ${path.join(dir, 'recordings')}`],
    ['--record-segment 60s', () => '--record-segment 2s'], // a finished segment within the test
    ['rtmp://0.0.0.0:1935/live', () => `rtmp://127.0.0.1:${p5}/live`], // 1935 may be taken
    ['rtmp://127.0.0.1:1935/live', () => `rtmp://127.0.0.1:${p5}/live`],
    ['testsrc2=size=1280x720:rate=30', () => 'testsrc2=size=320x240:rate=15'], // lighter, and
    ['-t 10', () => '-t 4'], // shorter
  ];
  const local = (doc: string): string => LOCAL.reduce((c, [from, to]) => c.replace(from, to()), doc);
  const running: Array<[string, ReturnType<typeof run>]> = [];
  for (const r of RUNS) {
    // The commands after the logins block run against a server with users.
    if (r.doc.startsWith('CAMWIRE_PASSWORD')) {
      const s = run(t, `camwire server --config ${login} --memory`, env);
      const m = await s.waitFor(/tcp (\d+), udp off, http (\d+)/);
      [ports.tcp, ports.http] = [m[1], m[2]];
    }
    const p = run(t, local(r.doc), env);
    if (!r.ready) {
      assert.equal(await p.exited, 0, `${r.doc}\n${local(r.doc)}\n${p.out()}`);
      continue;
    }
    const m = await p.waitFor(r.ready).catch((err: Error) => {
      throw new Error(`${err.message}\n-- still running:\n${running.map(([d, q]) => `${d}: exit ${q.child.exitCode}\n${q.out().slice(-600)}`).join('\n')}`);
    });
    running.push([r.doc, p]);
    // The recording server takes the examples after it (the OBS ingest).
    if (r.doc === 'camwire server' || r.doc.startsWith('camwire server --record')) [ports.tcp, ports.http] = [m[1], m[3]];
  }
  // What runs until stopped stops cleanly on Ctrl-C: exit 0.
  for (const [doc, p] of running.reverse()) {
    process.kill(-p.child.pid!, 'SIGINT');
    assert.equal(await p.exited, 0, `${doc}\n${p.out()}`);
  }
  assert.ok(fs.statSync(path.join(dir, 'out.mp4')).size > 0, 'out.mp4 written');
  assert.ok(fs.statSync(path.join(dir, 'cam1.mp4')).size > 0, 'cam1.mp4 written');
  // The OBS publish, recorded by the server (its segments finish when it stops).
  const obs = fs.readdirSync(path.join(dir, 'recordings', 'obs'));
  assert.ok(obs.some((f) => f.endsWith('.mkv') && fs.statSync(path.join(dir, 'recordings', 'obs', f)).size > 0), `recordings/obs: ${obs}`);
  const codecs = await Promise.all(
    obs.map(
      (f) =>
        new Promise<string>((resolve, reject) =>
          execFile('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name', '-of', 'csv=p=0', path.join(dir, 'recordings', 'obs', f)], (err, out) => (err ? reject(err) : resolve(out.trim().split('\n').sort().join(',')))),
        ),
    ),
  );
  // The publish's H.264 as it came, and its AAC as Opus.
  assert.ok(codecs.includes('h264,opus'), `recorded streams: ${codecs.join(' | ')}`);
  assert.equal(fs.readFileSync(path.join(dir, 'inbox', 'big.iso')).length, 3_000_000);
  assert.ok(proxy.requests().length > 0, 'the HTTP pull went through the proxy');
});
