/**
 * The CLI end to end, as a user runs it: spawned processes on real ports, ffmpeg and ffprobe
 * reading and writing the streams.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { cli, cliServer, ROOT } from '../helpers/cli.js';

function tmp(t: TestContext): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-e2e-'));
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

function run(bin: string, args: string[], timeout = 60000): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) =>
    execFile(bin, args, { timeout, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => (err ? reject(new Error(`${bin} ${args.join(' ')}: ${err.message}\n${stderr}`)) : resolve({ stdout, stderr }))),
  );
}

describe('cli', () => {
  test('cli - --help works for every command, exits 0 and ends with examples of that command', async (t) => {
    for (const args of [['--help'], ['server', '--help'], ['send', '--help'], ['receive', '--help'], ['demo', '--help']]) {
      const p = cli(t, args);
      assert.equal(await p.exited, 0, args.join(' '));
      assert.match(p.stdout(), /Usage: camwire/);
      const cmd = args.length > 1 ? args[0] : '(server|send|receive|demo)';
      assert.match(p.stdout(), new RegExp(`\\nExamples:\\n(  \\$ (echo hello \\| )?camwire ${cmd}.*\\n)+`), args.join(' '));
    }
  });

  test('cli - --version prints the package version and exits 0', async (t) => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const p = cli(t, [flag]);
      assert.equal(await p.exited, 0);
      assert.equal(p.stdout(), `camwire ${pkg.version}\n`);
    }
  });

  test('cli - bad usage exits 2 with a message that names the flag', async (t) => {
    const cases: Array<[string[], RegExp]> = [
      [['send', '--server', 'host:notaport'], /--server: expected host:port/],
      [['send', '--server', '127.0.0.1:1', '--fps', 'lots'], /--fps: expected a number/],
      [['receive', '--listen', '1', '--from', 'a:1'], /give one of --listen/],
      [['receive', '--listen', '0', '--types', 'video,smell'], /--types: unknown media type "smell"/],
      [['receive', '--server', '127.0.0.1:7700'], /--server needs --id/],
      [['receive', '--listen', '0', '--max-file-size', 'lots'], /--max-file-size: expected a size such as 500M/],
      [['server', '--tcp-port', 'x'], /--tcp-port: expected a port number/],
      [['send', '--protocol', 'sctp', '--server', 'a:1'], /argument 'sctp' is invalid/],
    ];
    for (const [args, re] of cases) {
      const p = cli(t, args);
      assert.equal(await p.exited, 2, args.join(' '));
      assert.match(p.stderr(), re);
    }
  });

  test('cli - a config file is validated with clear messages', async (t) => {
    const dir = tmp(t);
    const bad = path.join(dir, 'bad.yaml');
    fs.writeFileSync(bad, 'tcpPort: 0\nudpPort: off\nhttpPort: 0\nmaxGroups: -3\n');
    const p = cli(t, ['server', '--config', bad]);
    assert.equal(await p.exited, 2);
    assert.match(p.stderr(), /maxGroups: must be a whole number >= 0, got -3/);
    const typo = path.join(dir, 'typo.yaml');
    fs.writeFileSync(typo, 'tcp_port: 1\n');
    const q = cli(t, ['server', '--config', typo]);
    assert.equal(await q.exited, 2);
    assert.match(q.stderr(), /unknown setting "tcp_port"/);
    const good = path.join(dir, 'good.yaml');
    const badLimit = path.join(dir, 'limit.yaml');
    fs.writeFileSync(badLimit, 'limits: { maxPendingPerIP: 3 }\n');
    const r = cli(t, ['server', '--config', badLimit]);
    assert.equal(await r.exited, 2);
    assert.match(r.stderr(), /limits: unknown field "maxPendingPerIP" \(use maxConnections, maxConnectionsPerIp, maxPendingPerIp, maxPending\)/);
    fs.writeFileSync(good, 'host: 127.0.0.1\ntcpPort: 0\nudpPort: off\nhttpPort: 0\nkeepClientInfo: true\nlimits: { maxPendingPerIp: 1 }\nhttp: { keepAliveTimeoutMs: 65000 }\nspool: { maxBytes: 0 }\n');
    const s = cli(t, ['server', '--config', good]);
    const [, tcp] = (await s.waitFor(/tcp (\d+), udp off, http \d+/)) as [string, string];
    // The config's limits apply: a second connection in its handshake from one address is refused.
    const a = net.connect(Number(tcp), '127.0.0.1');
    await new Promise((res) => a.once('connect', res));
    const b = net.connect(Number(tcp), '127.0.0.1');
    b.on('error', () => {});
    await new Promise((res) => b.once('close', res));
    assert.equal(a.destroyed, false);
    a.destroy();
  });

  test('cli - `help send` exits 0; a one-shot send to nothing that listens fails (never a silent 0)', async (t) => {
    const h = cli(t, ['help', 'send']);
    assert.equal(await h.exited, 0);
    const blocker = net.createServer().listen(0, '127.0.0.1');
    await new Promise((r) => blocker.once('listening', r));
    const port = (blocker.address() as net.AddressInfo).port;
    await new Promise((r) => blocker.close(r));
    const p = cli(t, ['send', '--server', `127.0.0.1:${port}`, '--command', 'ping', '--timeout', '1500']);
    const code = await p.exited;
    assert.notEqual(code, 0);
    assert.match(p.stderr(), /not acknowledged|cannot connect|ECONNREFUSED/);
  });

  test('cli - a port in use is a clear error with exit code 3', async (t) => {
    const blocker = net.createServer().listen(0, '127.0.0.1');
    await new Promise((r) => blocker.once('listening', r));
    t.after(() => blocker.close());
    const port = (blocker.address() as net.AddressInfo).port;
    const p = cli(t, ['server', '--host', '127.0.0.1', '--tcp-port', String(port), '--udp-port', 'off', '--http-port', 'off']);
    assert.equal(await p.exited, 3);
    assert.match(p.stderr(), /already in use/);
  });

  test('cli - server + test-pattern sender + receiver through the server; ffprobe decodes the MJPEG endpoint', async (t) => {
    const s = await cliServer(t);
    const tx = cli(t, ['send', '--server', `127.0.0.1:${s.tcp}`, '--id', 'cam1', '--to', 'viewer1', '--fps', '10', '--size', '320x180']);
    const rx = cli(t, ['receive', '--server', `127.0.0.1:${s.tcp}`, '--id', 'viewer1', '--types', 'video,command', '--count', '5', '--quiet']);
    assert.equal(await rx.exited, 0, rx.stderr());
    // The same stream, as MJPEG over HTTP from the server, read by ffprobe.
    const { stdout } = await run('ffprobe', ['-v', 'error', '-read_intervals', '%+#3', '-count_frames', '-select_streams', 'v', '-show_entries', 'stream=codec_name,width,height,nb_read_frames', '-of', 'json', `${s.url}mjpeg/cam1/0`]);
    const st = JSON.parse(stdout).streams[0];
    assert.equal(st.codec_name, 'mjpeg');
    assert.deepEqual([st.width, st.height], [320, 180]);
    assert.ok(Number(st.nb_read_frames) >= 3);
    tx.child.kill('SIGINT');
    assert.equal(await tx.exited, 0);
  });

  test('cli - --server and --from take tcp://, udp:// and http:// addresses (the scheme picks the protocol)', async (t) => {
    const s = await cliServer(t);
    const rx = cli(t, ['receive', '--server', `http://127.0.0.1:${s.http}`, '--id', 'desk', '--types', 'video', '--count', '3', '--quiet']);
    const tx = cli(t, ['send', '--server', `udp://127.0.0.1:${s.udp}`, '--id', 'cam', '--to', 'desk', '--fps', '10', '--size', '160x90']);
    assert.equal(await rx.exited, 0, rx.stderr());
    tx.child.kill('SIGINT');
    assert.equal(await tx.exited, 0, tx.stderr());
    const cmd = cli(t, ['send', '--server', `tcp://127.0.0.1:${s.tcp}`, '--id', 'ops', '--to', 'nobody', '--command', 'x', '--timeout', '2000']);
    // Reached over TCP: the server itself answers (no such client), not a connection failure.
    assert.equal(await cmd.exited, 3);
    assert.match(cmd.stderr(), /refused by the receiver/);
    const clash = cli(t, ['send', '--server', `udp://127.0.0.1:${s.udp}`, '--protocol', 'tcp', '--command', 'x']);
    assert.equal(await clash.exited, 2);
    assert.match(clash.stderr(), /--server udp:\/\/127\.0\.0\.1:\d+ says udp, but --protocol is tcp/);
  });

  test('cli - the server measures video latency; --metrics-per-client adds per-client series', async (t) => {
    const plain = await cliServer(t);
    const a = await (await fetch(`${plain.url}metrics`)).text();
    assert.match(a, /^# TYPE camwire_video_latency_seconds histogram$/m);
    assert.doesNotMatch(a, /camwire_client_frames_total/);
    const per = await cliServer(t, ['--metrics-per-client']);
    assert.match(await (await fetch(`${per.url}metrics`)).text(), /^# TYPE camwire_client_frames_total counter$/m);
  });

  test('cli - commands, stdin data and files from `send` arrive at `receive`', async (t) => {
    const dir = tmp(t);
    const rx = cli(t, ['receive', '--listen', '127.0.0.1:0', '--files', path.join(dir, 'in')]);
    const port = Number((await rx.waitFor(/listening on [^:]+:(\d+)/))[1]);
    const cmd = cli(t, ['send', '--server', `127.0.0.1:${port}`, '--id', 'ops', '--command', 'zoom', '--param', 'level=2', '--param', 'mode=fast']);
    assert.equal(await cmd.exited, 0, cmd.stderr());
    assert.match(cmd.stdout(), /command zoom acknowledged/);
    await rx.waitFor(/"command":"zoom","params":\{"level":2,"mode":"fast"\},"from":"ops"/);
    const data = cli(t, ['send', '--server', `127.0.0.1:${port}`, '--stdin'], { stdin: 'hello from stdin' });
    assert.equal(await data.exited, 0, data.stderr());
    await rx.waitFor(/"text":"hello from stdin"/);
    const file = path.join(dir, 'report.bin');
    const content = Buffer.alloc(700_000, 0x5a);
    fs.writeFileSync(file, content);
    const send = cli(t, ['send', '--server', `127.0.0.1:${port}`, '--file', file]);
    assert.equal(await send.exited, 0, send.stderr());
    assert.match(send.stdout(), /report\.bin: 700000 bytes from offset 0, sha256 [0-9a-f]{64} verified/);
    // Without a terminal the progress is a line: MB, MB/s and the time left.
    assert.match(send.stderr(), /^report\.bin \d+% \d+\.\d\/0\.7 MB, \d+\.\d MB\/s, (\?|\d+ s) left$/m);
    await rx.waitFor(/"fileEnd":"report.bin".*"ok":true/);
    assert.equal(createHash('sha256').update(fs.readFileSync(path.join(dir, 'in', 'report.bin'))).digest('hex'), createHash('sha256').update(content).digest('hex'));
  });

  test('cli - a reader of stdout that goes away (`| head`) ends the command quietly, a receive as on Ctrl-C', async (t) => {
    // --help into a pipe already closed: exit 0, no stack trace.
    const help = cli(t, ['--help']);
    help.child.stdout!.destroy();
    assert.equal(await help.exited, 0, help.stderr());
    assert.doesNotMatch(help.stderr(), /EPIPE|Error/);
    // A receive whose stdout reader left stops as on Ctrl-C, exit 0: when the system reports the
    // closed pipe, at the latest when it prints the command (the sender is killed after the test).
    const rx = cli(t, ['receive', '--listen', '127.0.0.1:0']);
    const port = Number((await rx.waitFor(/listening on [^:]+:(\d+)/))[1]);
    rx.child.stdout!.destroy();
    cli(t, ['send', '--server', `127.0.0.1:${port}`, '--id', 'ops', '--command', 'zoom', '--timeout', '60000']);
    assert.equal(await rx.exited, 0, rx.stderr());
    assert.doesNotMatch(rx.stderr(), /EPIPE|Error/);
  });

  test('cli - ffmpeg as a source (a video file) and as a sink (an MP4 file)', async (t) => {
    const dir = tmp(t);
    const clip = path.join(dir, 'clip.mp4');
    await run('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25', '-t', '3', '-pix_fmt', 'yuv420p', clip]);
    const rx = cli(t, ['receive', '--listen', '127.0.0.1:0', '--types', 'video', '--save', path.join(dir, 'out.mp4'), '--count', '20', '--quiet']);
    const port = Number((await rx.waitFor(/listening on [^:]+:(\d+)/))[1]);
    const tx = cli(t, ['send', '--server', `127.0.0.1:${port}`, '--input', clip, '--loop', '--size', '320x240', '--fps', '25']);
    assert.equal(await rx.exited, 0, rx.stderr());
    tx.child.kill('SIGINT');
    await tx.exited;
    const { stdout } = await run('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v', '-show_entries', 'stream=codec_name,width,nb_read_frames', '-of', 'json', path.join(dir, 'out.mp4')]);
    const st = JSON.parse(stdout).streams[0];
    assert.equal(st.codec_name, 'h264');
    assert.equal(st.width, 320);
    assert.ok(Number(st.nb_read_frames) >= 10, `decoded ${st.nb_read_frames} frames`);
  });

  test('cli - a missing ffmpeg is reported with how to install it (exit 4)', async (t) => {
    const p = cli(t, ['send', '--server', '127.0.0.1:9', '--input', 'x.mp4'], { env: { PATH: '/nonexistent' } });
    assert.equal(await p.exited, 4);
    assert.match(p.stderr(), /ffmpeg was not found\. Install it: apt-get install ffmpeg/);
  });
});

describe('ingest', () => {
  test('ingest - ffmpeg publishing -f mpjpeg over HTTP POST is a video sender; a CLI receiver gets its frames', async (t) => {
    const s = await cliServer(t);
    const rx = cli(t, ['receive', '--server', `127.0.0.1:${s.tcp}`, '--id', 'desk', '--types', 'video', '--count', '10', '--mjpeg-port', '0']);
    await rx.waitFor(/"event":"sessionConnected"/);
    const ff = run('ffmpeg', ['-v', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=15', '-t', '4', '-q:v', '5', '-f', 'mpjpeg', `http://127.0.0.1:${s.http}/ingest/ffcam?to=desk`]);
    // --count 10: the receiver exits 0 only after ten frames arrived.
    assert.equal(await rx.exited, 0, rx.stderr());
    // The viewer lists the ingest as a 320x240 JPEG source (sizes read from the JPEG headers).
    const viewer = await (await fetch(`${s.url}api/sources`)).json();
    const src = (viewer.sources as Array<{ client: string; width: number; height: number; imageType: string; latency: number | null }>).find((x) => x.client === 'ffcam');
    assert.deepEqual([src?.imageType, src?.width, src?.height], ['jpeg', 320, 240]);
    // Its frames carry the server's clock: the latency is unknown, not 0.
    assert.equal(src?.latency, null);
    // The ingest is in the client list, marked; "online" is /stats' count (receivers connected).
    const ffcam = (viewer.clients as Array<{ id: string }>).find((c) => c.id === 'ffcam');
    assert.deepEqual(ffcam, { id: 'ffcam', online: false, sending: true, ingest: true, groups: [], channels: [] });
    const stats = await (await fetch(`${s.url}stats`)).json();
    assert.equal(viewer.online, stats.online);
    assert.equal((stats.clients as Array<{ id: string; ingest: number }>).find((c) => c.id === 'ffcam')?.ingest, 1);
    await ff;
  });
});
