/**
 * A user's mistake ends fast with one sentence that names the cause and the fix, and the right
 * exit code (issue 10, "Fail fast"). Every case is a spawned `camwire` on real ports; the time
 * limits are the tests' timeouts (a command that only fails after retrying would miss them).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { cli, cliServer } from '../helpers/cli.js';

/** A port that nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => s.once('listening', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function blockedPort(t: TestContext): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => s.once('listening', r));
  t.after(() => s.close());
  return (s.address() as net.AddressInfo).port;
}

/** A server whose clients must log in as alice/secret. */
async function loginServer(t: TestContext): ReturnType<typeof cliServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-ff-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const cfg = path.join(dir, 'camwire.yaml');
  fs.writeFileSync(cfg, 'users:\n  - user: alice\n    password: secret\n');
  return cliServer(t, ['--config', cfg]);
}

/** The one error line of a command (stderr may carry logs before it). */
function errorLine(stderr: string): string {
  return stderr.split('\n').filter((l) => l.startsWith('error: ')).join('\n');
}

describe('fail fast', () => {
  test('a wrong password ends every command at once with one line, exit 3', { timeout: 20000 }, async (t) => {
    const s = await loginServer(t);
    const srv = `127.0.0.1:${s.tcp}`;
    // --connect-timeout 60: only the refusal itself can end these within the test's time limit.
    const wrong = ['--user', 'alice', '--password', 'nope', '--connect-timeout', '60'];
    const httpSrv = `127.0.0.1:${s.http}`;
    const runs: Array<[string, ReturnType<typeof cli>]> = [
      [srv, cli(t, ['send', '--server', srv, '--id', 'a', ...wrong, '--command', 'ping'])],
      [srv, cli(t, ['send', '--server', srv, '--id', 'b', ...wrong, '--duration', '60'])],
      [srv, cli(t, ['receive', '--server', srv, '--id', 'c', ...wrong, '--quiet'])],
      [httpSrv, cli(t, ['send', '--server', httpSrv, '--protocol', 'http', '--id', 'd', ...wrong, '--command', 'ping'])],
    ];
    for (const [target, p] of runs) {
      assert.equal(await p.exited, 3, p.stderr());
      assert.equal(errorLine(p.stderr()), `error: wrong user name or password for ${target}`);
      assert.doesNotMatch(p.stderr(), /cannot connect/, 'the refusal is said once, not also logged as a retry');
    }
    // The right password still works.
    const ok = cli(t, ['send', '--server', srv, '--id', 'e', '--user', 'alice', '--password', 'secret', '--duration', '1']);
    assert.equal(await ok.exited, 0, ok.stderr());
  });

  test('a streaming send that reaches nobody exits 3 after --connect-timeout, with the reason', { timeout: 20000 }, async (t) => {
    const port = await closedPort();
    const p = cli(t, ['send', '--server', `127.0.0.1:${port}`, '--id', 'x', '--connect-timeout', '2.5']);
    assert.equal(await p.exited, 3);
    assert.match(errorLine(p.stderr()), new RegExp(`^error: cannot reach 127\\.0\\.0\\.1:${port} within 2.5 s: cannot connect to .*ECONNREFUSED`));
    assert.match(p.stderr(), /not connected to 127\.0\.0\.1:\d+ .*; retrying/, 'the status line says it is not connected');
    assert.doesNotMatch(p.stderr(), /sending \d+ fps/, 'no frame counts that go nowhere');
    // --duration shorter than the timeout: still no success.
    const q = cli(t, ['send', '--server', `127.0.0.1:${port}`, '--id', 'x', '--duration', '0.5']);
    assert.equal(await q.exited, 3);
    assert.match(errorLine(q.stderr()), /^error: never reached 127\.0\.0\.1:\d+: cannot connect/);
  });

  test('a retry is one log line with the next delay, never a flood; --log-format pretty makes it readable', { timeout: 20000 }, async (t) => {
    const port = await closedPort();
    const p = cli(t, ['send', '--server', `127.0.0.1:${port}`, '--id', 'x', '--connect-timeout', '3', '--log-level', 'debug']);
    assert.equal(await p.exited, 3);
    const records = p.stderr().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { level: number; msg: string; retryInMs?: number });
    const retries = records.filter((r) => /^cannot connect; retrying in \d+\.\d s$/.test(r.msg));
    assert.equal(retries.filter((r) => r.level === 40).length, 1, 'one warning for the failure');
    assert.ok(retries.length >= 3, `the attempts went on (${retries.length}), as debug lines`);
    assert.ok(retries.every((r) => typeof r.retryInMs === 'number' && r.retryInMs > 0));
    const q = cli(t, ['send', '--server', `127.0.0.1:${port}`, '--id', 'x', '--connect-timeout', '1', '--log-format', 'pretty']);
    assert.equal(await q.exited, 3);
    assert.match(q.stderr(), /^\d\d:\d\d:\d\d WARN  cannot connect; retrying in \d+\.\d s  type=video to=127\.0\.0\.1:\d+ err="cannot connect to /m);
  });

  test('UDP sent to a port that does not answer over UDP exits 3 and says what to check', { timeout: 20000 }, async (t) => {
    const s = await cliServer(t);
    const p = cli(t, ['send', '--server', `127.0.0.1:${s.tcp}`, '--protocol', 'udp', '--id', 'x', '--connect-timeout', '1']);
    assert.equal(await p.exited, 3);
    assert.match(errorLine(p.stderr()), new RegExp(`cannot reach 127\\.0\\.0\\.1:${s.tcp} within 1 s \\(no answer over UDP: check that it listens on UDP port ${s.tcp} \\(a MediaServer's default is 7701\\)\\)`));
  });

  test('a receiver that cannot reach its sender exits 3; one that loses it for good exits 3', { timeout: 30000 }, async (t) => {
    const port = await closedPort();
    const r = cli(t, ['receive', '--from', `127.0.0.1:${port}`, '--connect-timeout', '2.5', '--quiet']);
    assert.equal(await r.exited, 3);
    assert.match(errorLine(r.stderr()), new RegExp(`^error: cannot reach 127\\.0\\.0\\.1:${port} within 2.5 s`));
    assert.match(r.stderr(), /not connected to 127\.0\.0\.1:\d+/);

    const tx = cli(t, ['send', '--listen', '127.0.0.1:0', '--id', 'cam']);
    const txPort = Number((await tx.waitFor(/serving pull receivers on [^:]+:(\d+)/))[1]);
    const rx = cli(t, ['receive', '--from', `127.0.0.1:${txPort}`, '--types', 'video', '--connect-timeout', '1']);
    await rx.waitFor(/"event":"sessionConnected"/);
    tx.child.kill('SIGKILL');
    assert.equal(await rx.exited, 3);
    assert.match(errorLine(rx.stderr()), new RegExp(`^error: lost 127\\.0\\.0\\.1:${txPort} and it did not come back within 1 s`));
  });

  test('a pushing sender that loses its server for good exits 3', { timeout: 30000 }, async (t) => {
    const s = await cliServer(t);
    const tx = cli(t, ['send', '--server', `127.0.0.1:${s.tcp}`, '--id', 'cam', '--connect-timeout', '1', '--log-level', 'debug']);
    await tx.waitFor(/"msg":"connected"/);
    s.proc.child.kill('SIGKILL');
    assert.equal(await tx.exited, 3);
    assert.match(errorLine(tx.stderr()), new RegExp(`^error: lost 127\\.0\\.0\\.1:${s.tcp} and it did not come back within 1 s`));
  });

  test('status lines say what a listening side waits for', { timeout: 20000 }, async (t) => {
    const tx = cli(t, ['send', '--listen', '127.0.0.1:0', '--id', 'cam']);
    const port = (await tx.waitFor(/serving pull receivers on 127\.0\.0\.1:(\d+)/))[1];
    await tx.waitFor(new RegExp(`waiting for a reader on 127\\.0\\.0\\.1:${port}`));
    assert.doesNotMatch(tx.stderr(), /sending \d+ fps/);
    const rx = cli(t, ['receive', '--listen', '127.0.0.1:0']);
    const rport = (await rx.waitFor(/listening on 127\.0\.0\.1:(\d+)/))[1];
    await rx.waitFor(new RegExp(`waiting for a sender on 127\\.0\\.0\\.1:${rport}`));
  });

  test('HTTP spoken to the TCP port and TCP spoken to the HTTP port are explained on both sides', { timeout: 20000 }, async (t) => {
    const s = await cliServer(t);
    const h = cli(t, ['send', '--server', `127.0.0.1:${s.tcp}`, '--protocol', 'http', '--id', 'x', '--command', 'ping']);
    assert.equal(await h.exited, 3);
    assert.equal(errorLine(h.stderr()), `error: 127.0.0.1:${s.tcp}: this is a camwire TCP port; use --protocol tcp or port 7780 for http`);
    await s.proc.waitFor(/an HTTP request came to a camwire TCP port/);
    const c = cli(t, ['receive', '--server', `127.0.0.1:${s.http}`, '--id', 'y', '--quiet']);
    assert.equal(await c.exited, 3);
    assert.equal(errorLine(c.stderr()), `error: 127.0.0.1:${s.http}: this is a camwire HTTP port; use --protocol http, or port 7700 for tcp`);
    await s.proc.waitFor(/camwire TCP framing came to the HTTP port/);
    // Any other HTTP server (here curl's kind of answer) is recognised by its first bytes.
    const web = http.createServer((_req, res) => res.end('hello')).listen(0, '127.0.0.1');
    await new Promise((r) => web.once('listening', r));
    t.after(() => web.close());
    const w = cli(t, ['send', '--server', `127.0.0.1:${(web.address() as net.AddressInfo).port}`, '--id', 'z', '--command', 'ping']);
    assert.equal(await w.exited, 3);
    assert.match(errorLine(w.stderr()), /the peer answered in HTTP: this is an HTTP port, not a camwire TCP port; use --protocol http, or port 7700 for tcp/);
  });

  test('--mjpeg-port equal to --listen is a usage error; a taken port names the port and never hangs', { timeout: 20000 }, async (t) => {
    const same = cli(t, ['receive', '--listen', '17810', '--mjpeg-port', '17810']);
    assert.equal(await same.exited, 2);
    assert.match(same.stderr(), /--mjpeg-port 17810 is also the --listen port/);
    const port = await blockedPort(t);
    const taken = cli(t, ['receive', '--listen', `127.0.0.1:${port}`, '--mjpeg-port', '0']);
    assert.equal(await taken.exited, 3);
    assert.match(errorLine(taken.stderr()), new RegExp(`^error: port ${port} is already in use`));
    const server = cli(t, ['server', '--host', '127.0.0.1', '--tcp-port', '0', '--udp-port', 'off', '--http-port', String(port)]);
    assert.equal(await server.exited, 3);
    assert.match(errorLine(server.stderr()), new RegExp(`^error: HTTP port ${port} is already in use`));
  });

  test('HEAD on the MJPEG routes answers with the headers and ends', { timeout: 20000 }, async (t) => {
    const rx = cli(t, ['receive', '--listen', '127.0.0.1:0', '--mjpeg-port', '0', '--quiet']);
    const url = (await rx.waitFor(/mjpeg: (\S+)/))[1];
    const head = await fetch(url, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.match(head.headers.get('content-type') ?? '', /^multipart\/x-mixed-replace/);
    const s = await cliServer(t);
    cli(t, ['send', '--server', `127.0.0.1:${s.tcp}`, '--id', 'cam1', '--to', 'desk', '--fps', '10', '--size', '160x90']);
    // A frame relayed to a receiver has passed the viewer's tap: the source exists.
    const desk = cli(t, ['receive', '--server', `127.0.0.1:${s.tcp}`, '--id', 'desk', '--types', 'video', '--count', '1', '--quiet']);
    assert.equal(await desk.exited, 0, desk.stderr());
    const res = await fetch(`${s.url}mjpeg/cam1/0`, { method: 'HEAD' });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^multipart\/x-mixed-replace/);
  });

  test('an unreadable --file is a usage error without a stack trace', { timeout: 20000 }, async (t) => {
    const p = cli(t, ['send', '--server', '127.0.0.1:9', '--file', '/nonexistent/report.bin']);
    assert.equal(await p.exited, 2);
    assert.equal(p.stderr().trim(), 'error: --file: cannot read /nonexistent/report.bin: no such file');
    const d = cli(t, ['send', '--server', '127.0.0.1:9', '--file', os.tmpdir()]);
    assert.equal(await d.exited, 2);
    assert.match(d.stderr(), /--file: .* is not a file/);
  });

  test('a missing ffmpeg is reported before anything connects', { timeout: 20000 }, async (t) => {
    let connections = 0;
    const listener = net.createServer((sock) => {
      connections++;
      sock.destroy();
    }).listen(0, '127.0.0.1');
    await new Promise((r) => listener.once('listening', r));
    t.after(() => listener.close());
    const port = (listener.address() as net.AddressInfo).port;
    const p = cli(t, ['send', '--server', `127.0.0.1:${port}`, '--input', 'x.mp4'], { env: { PATH: '/nonexistent' } });
    assert.equal(await p.exited, 4);
    assert.match(p.stderr(), /ffmpeg was not found/);
    const r = cli(t, ['receive', '--from', `127.0.0.1:${port}`, '--play'], { env: { PATH: '/nonexistent' } });
    assert.equal(await r.exited, 4);
    assert.match(r.stderr(), /ffplay was not found/);
    assert.equal(connections, 0);
  });
});
