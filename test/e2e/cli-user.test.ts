/**
 * What a new user ran into, following README.md and docs/cli.md on a fresh machine: each case a
 * spawned `camwire` on real ports (and real ffmpeg where a file is made), checking the one line
 * and the exit code the docs promise.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { cli, cliServer, ROOT } from '../helpers/cli.js';
import { startProxy } from '../helpers/proxy.js';
import { within } from '../helpers/wait.js';

/** Test-only TLS material: a CA and a certificate for localhost, 127.0.0.1 and ::1 (test/fixtures/tls/README.md). */
const TLS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/fixtures/tls');

function tmpDir(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-user-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The error lines of a command (stderr may carry logs and status lines besides). */
function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('error: '));
}

describe('camwire as a new user runs it', () => {
  test('receive --mjpeg-port on a port in use: exit 3 and one line naming the flag and the port, no stack', { timeout: 20000 }, async (t) => {
    // Bound as the MJPEG server binds (every address), so the two collide.
    const blocker = net.createServer().listen(0);
    await within(new Promise((r) => blocker.once('listening', r)), 5000, 'the blocking server to listen');
    t.after(() => blocker.close());
    const port = (blocker.address() as net.AddressInfo).port;
    const p = cli(t, ['receive', '--listen', '127.0.0.1:0', '--mjpeg-port', String(port)]);
    assert.equal(await p.exited, 3, p.stderr());
    assert.deepEqual(errorLines(p.stderr()), [`error: --mjpeg-port ${port} is already in use ([::]:${port}); pick another one or stop what uses it`]);
    assert.doesNotMatch(p.stderr(), /^\s+at /m, 'no stack trace');
  });

  test('send --input or --audio-input of a file that is not there: exit 2 before anything connects', { timeout: 20000 }, async (t) => {
    const dir = tmpDir(t);
    const missing = path.join(dir, 'clip.mp4');
    // Nothing listens on the server address: a command that dialled would wait --connect-timeout (60 s).
    const video = cli(t, ['send', '--server', '127.0.0.1:9', '--id', 'cam', '--connect-timeout', '60', '--input', missing]);
    const audio = cli(t, ['send', '--server', '127.0.0.1:9', '--id', 'cam', '--connect-timeout', '60', '--audio-input', path.join(dir, 'a.wav')]);
    assert.equal(await video.exited, 2, video.stderr());
    assert.deepEqual(errorLines(video.stderr()), [`error: --input: cannot read ${missing}: no such file`]);
    assert.equal(await audio.exited, 2, audio.stderr());
    assert.deepEqual(errorLines(audio.stderr()), [`error: --audio-input: cannot read ${path.join(dir, 'a.wav')}: no such file`]);
  });

  test('Ctrl-C during a one-shot command: exit 130 and a line saying it was not acknowledged', { timeout: 20000 }, async (t) => {
    // A peer that takes the connection and never answers: the command can only wait.
    const held: net.Socket[] = [];
    let dialled: () => void = () => {};
    const reached = new Promise<void>((r) => (dialled = r));
    const silent = net.createServer((sock) => {
      held.push(sock);
      dialled();
    });
    silent.listen(0, '127.0.0.1');
    await within(new Promise((r) => silent.once('listening', r)), 5000, 'the silent peer to listen');
    t.after(() => {
      for (const sock of held) sock.destroy();
      silent.close();
    });
    const port = (silent.address() as net.AddressInfo).port;
    const p = cli(t, ['send', '--server', `127.0.0.1:${port}`, '--id', 'ops', '--command', 'zoom', '--timeout', '60000', '--connect-timeout', '60']);
    await within(reached, 10000, 'camwire send to dial the silent peer');
    p.child.kill('SIGINT');
    assert.equal(await p.exited, 130, p.stderr());
    assert.deepEqual(errorLines(p.stderr()), ['error: interrupted: command zoom was not acknowledged']);
    assert.doesNotMatch(p.stdout(), /acknowledged/);
  });

  test('Ctrl-C during send --file: exit 130, how far it got and how to finish; the same command again resumes', { timeout: 60000 }, async (t) => {
    const dir = tmpDir(t);
    const file = path.join(dir, 'big.bin');
    // 256 MB of zeros (sparse): long enough that the receiver, stopped below, holds the transfer mid-way.
    fs.writeFileSync(file, '');
    fs.truncateSync(file, 256 * 1024 * 1024);
    const inbox = path.join(dir, 'inbox');
    const rx = cli(t, ['receive', '--listen', '127.0.0.1:0', '--files', inbox]);
    const port = (await rx.waitFor(/listening on 127\.0\.0\.1:(\d+)/))[1];
    const tx = cli(t, ['send', '--server', `127.0.0.1:${port}`, '--file', file, '--timeout', '60000']);
    await rx.waitFor(/"fileStart":"big\.bin"/);
    // The receiver stops acknowledging: the sender holds the rest of the file, waiting.
    rx.child.kill('SIGSTOP');
    t.after(() => rx.child.kill('SIGCONT'));
    tx.child.kill('SIGINT');
    assert.equal(await tx.exited, 130, tx.stderr());
    const [line] = errorLines(tx.stderr());
    assert.match(line ?? '', /^error: interrupted: big\.bin (was not sent|is not complete \(\d+\.\d of 268\.4 MB acknowledged\); run the same command again to finish it \(a receiver with --files resumes from its big\.bin\.part\))$/, tx.stderr());
    assert.doesNotMatch(tx.stdout(), /verified/);
    rx.child.kill('SIGCONT');
    await rx.waitFor(/"fileEnd":"big\.bin".*"ok":false/);
    // The same command again finishes it, from the part the receiver kept.
    const again = cli(t, ['send', '--server', `127.0.0.1:${port}`, '--file', file]);
    assert.equal(await again.exited, 0, again.stderr());
    assert.match(again.stdout(), /^file big\.bin: \d+ bytes from offset \d+, sha256 [0-9a-f]{64} verified by the receiver$/m);
    assert.equal(fs.statSync(path.join(inbox, 'big.bin')).size, 256 * 1024 * 1024);
    rx.child.kill('SIGINT');
    assert.equal(await rx.exited, 0, rx.stderr());
  });

  test('receive prints the latency of H.264 from a file in whole milliseconds', { timeout: 60000 }, async (t) => {
    const dir = tmpDir(t);
    const clip = path.join(dir, 'clip.mp4');
    execFileSync('ffmpeg', ['-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=15', '-t', '3', '-c:v', 'libx264', '-bf', '0', '-pix_fmt', 'yuv420p', clip]);
    const s = await cliServer(t, ['--memory']);
    const tx = cli(t, ['send', '--server', `127.0.0.1:${s.tcp}`, '--id', 'cam', '--to', 'desk', '--input', clip, '--loop', '--codec', 'h264']);
    await tx.waitFor(/copying the input's H\.264 as it is/);
    const rx = cli(t, ['receive', '--server', `127.0.0.1:${s.tcp}`, '--id', 'desk', '--quiet']);
    const m = await rx.waitFor(/received [1-9]\d* fps, \d+\.\d\d Mbit\/s, latency (\S+) ms, \d+ video frames/, 20000);
    assert.match(m[1], /^-?\d+$/, `latency in whole ms: ${m[0]}`);
    rx.child.kill('SIGINT');
    tx.child.kill('SIGINT');
    assert.equal(await rx.exited, 0, rx.stderr());
    assert.equal(await tx.exited, 0, tx.stderr());
  });

  test('a proxy that refuses for good ends the command at once, naming the proxy and what to change', { timeout: 30000 }, async (t) => {
    const s = await cliServer(t, ['--memory']);
    const server = `http://127.0.0.1:${s.http}`;
    // --connect-timeout 60: only a refusal seen as final can end these within the test's time limit.
    const args = ['send', '--server', server, '--id', 'ops', '--to', 'desk', '--command', 'zoom', '--connect-timeout', '60'];
    // CONNECT only to 443, as most proxies: a tunnel to the server's port is refused (403).
    const noTunnel = await startProxy({ connectPorts: [443] });
    t.after(() => noTunnel.stop());
    const always = cli(t, [...args, '--proxy', noTunnel.url, '--proxy-tunnel', 'always']);
    assert.equal(await always.exited, 3, always.stderr());
    assert.deepEqual(errorLines(always.stderr()), [
      `error: proxy 127.0.0.1:${noTunnel.port} refused CONNECT to 127.0.0.1:${s.http} (403): let it tunnel to port ${s.http} (tinyproxy: ConnectPort ${s.http}; squid: SSL_ports), or give --proxy-tunnel auto to send plain proxied requests instead`,
    ]);
    assert.doesNotMatch(always.stderr(), /cannot connect; retrying/, 'the refusal is said once, not retried');
    // The same proxy in the default mode falls back to plain requests: the command goes through to the server.
    const auto = cli(t, [...args, '--proxy', noTunnel.url]);
    assert.equal(await auto.exited, 3, auto.stderr());
    assert.match(errorLines(auto.stderr()).join('\n'), /^error: command #1 refused by the receiver: 1201 client "desk" is not online/);
    // A proxy that wants a login.
    const login = await startProxy({ basicAuth: { user: 'bob', password: 'pw' } });
    t.after(() => login.stop());
    const noLogin = cli(t, [...args, '--proxy', login.url, '--proxy-tunnel', 'always']);
    assert.equal(await noLogin.exited, 3, noLogin.stderr());
    assert.deepEqual(errorLines(noLogin.stderr()), [`error: proxy 127.0.0.1:${login.port} asks for a login (407): give it in --proxy http://USER:PASSWORD@HOST:PORT`]);
    // A proxy that does not serve this client answers its own 403 page: the proxy is named, not "not camwire".
    const denied = await startProxy({ allow: '10.9.9.9' });
    t.after(() => denied.stop());
    for (const cmd of [cli(t, [...args, '--proxy', denied.url]), cli(t, ['receive', '--server', server, '--id', 'desk', '--quiet', '--connect-timeout', '60', '--proxy', denied.url])]) {
      assert.equal(await cmd.exited, 3, cmd.stderr());
      const lines = errorLines(cmd.stderr());
      assert.equal(lines.length, 1, cmd.stderr());
      assert.equal(
        lines[0]!.replace(/ \("[^"]*"\)/, ''),
        `error: ${server}: the proxy 127.0.0.1:${denied.port} (or what stands behind it) refused the HTTP open with status 403, not as camwire does: check that the proxy allows this client and this port`,
      );
    }
  });

  test('a server certificate the client does not accept ends the command at once, with what to give', { timeout: 30000 }, async (t) => {
    const tls = ['--tls-cert', path.join(TLS, 'server.crt'), '--tls-key', path.join(TLS, 'server.key'), '--memory'];
    const s = await cliServer(t, tls);
    // --connect-timeout 60: only a failure seen as final can end these within the test's time limit.
    const args = ['--id', 'ops', '--to', 'desk', '--command', 'zoom', '--connect-timeout', '60'];
    const untrusted = [
      [`127.0.0.1:${s.tcp}`, cli(t, ['send', '--server', `127.0.0.1:${s.tcp}`, '--tls', ...args])],
      [`https://127.0.0.1:${s.http}`, cli(t, ['send', '--server', `https://127.0.0.1:${s.http}`, ...args])],
      [`https://127.0.0.1:${s.http}`, cli(t, ['receive', '--server', `https://127.0.0.1:${s.http}`, '--id', 'desk', '--quiet', '--connect-timeout', '60'])],
    ] as const;
    for (const [target, p] of untrusted) {
      assert.equal(await p.exited, 3, p.stderr());
      assert.deepEqual(errorLines(p.stderr()), [
        `error: ${target}: the server's certificate is not trusted (unable to verify the first certificate): give --tls-ca with its CA (or the certificate itself) in PEM, or --insecure for testing`,
      ]);
    }
    // Trusted, but dialled by an address the certificate does not hold (127.0.0.2 is loopback too).
    const other = await cliServer(t, [...tls, '--host', '127.0.0.2']);
    const wrongName = cli(t, ['send', '--server', `127.0.0.2:${other.tcp}`, '--tls-ca', path.join(TLS, 'ca.crt'), ...args]);
    assert.equal(await wrongName.exited, 3, wrongName.stderr());
    assert.match(errorLines(wrongName.stderr()).join('\n'), new RegExp(`^error: 127\\.0\\.0\\.2:${other.tcp}: the server's certificate is not for this name \\(.*127\\.0\\.0\\.2.*\\): connect by a name it holds, or give --insecure for testing$`));
    // With the CA, the same command goes through (the server answers that desk is not online).
    const trusted = cli(t, ['send', '--server', `127.0.0.1:${s.tcp}`, '--tls-ca', path.join(TLS, 'ca.crt'), ...args]);
    assert.equal(await trusted.exited, 3, trusted.stderr());
    assert.match(errorLines(trusted.stderr()).join('\n'), /^error: command #1 refused by the receiver: 1201 client "desk" is not online/);
  });

  test('receive --save into a folder that is not there: exit 2 before anything connects', { timeout: 20000 }, async (t) => {
    const dir = tmpDir(t);
    const file = path.join(dir, 'no-such-folder', 'desk.mkv');
    const p = cli(t, ['receive', '--server', '127.0.0.1:9', '--id', 'desk', '--connect-timeout', '60', '--save', file]);
    assert.equal(await p.exited, 2, p.stderr());
    assert.deepEqual(errorLines(p.stderr()), [`error: --save ${file}: cannot write into ${path.dirname(file)}: no such folder`]);
  });

  test('a recording that cannot be written is no success: exit 1 after --count and after Ctrl-C, and no "saved" line', { timeout: 90000 }, async (t) => {
    const s = await cliServer(t, ['--memory']);
    for (const how of ['--count', 'SIGINT'] as const) {
      const dir = tmpDir(t);
      const folder = path.join(dir, 'rec');
      fs.mkdirSync(folder);
      const desk = `desk-${how === 'SIGINT' ? 'int' : 'count'}`;
      const rx = cli(t, ['receive', '--server', `127.0.0.1:${s.tcp}`, '--id', desk, '--types', 'video', '--save', path.join(folder, 'desk.mkv'), ...(how === '--count' ? ['--count', '20'] : [])]);
      await rx.waitFor(/"event":"sessionConnected"/);
      // The folder goes away after the checks at the start, before the first frame is written.
      fs.rmSync(folder, { recursive: true });
      const tx = cli(t, ['send', '--server', `127.0.0.1:${s.tcp}`, '--id', `cam-${desk}`, '--to', desk, '--codec', 'h264']);
      if (how === 'SIGINT') {
        await rx.waitFor(/received [1-9]\d* fps/, 30000);
        rx.child.kill('SIGINT');
      }
      assert.equal(await rx.exited, 1, `${how}: ${rx.stderr()}`);
      assert.match(errorLines(rx.stderr()).join('\n'), /^error: cannot write .*desk\.mkv: ENOENT/, how);
      assert.doesNotMatch(rx.stderr(), /^saved /m, how);
      tx.child.kill('SIGINT');
      assert.equal(await tx.exited, 0, tx.stderr());
    }
  });

  test('send --stdin of more than one data blob carries: exit 2 at once with what to do instead, no stack', { timeout: 20000 }, async (t) => {
    // 9 MiB, past the 8 MiB maxPayload; nothing listens at the address (a dial would wait 60 s).
    const p = cli(t, ['send', '--server', '127.0.0.1:9', '--connect-timeout', '60', '--stdin'], { stdin: Buffer.alloc(9 * 1024 * 1024, 1) });
    // It stops reading at the limit: the rest of what the test wrote meets a closed pipe.
    let pipeClosed = false;
    p.child.stdin!.on('error', () => (pipeClosed = true));
    assert.equal(await p.exited, 2, p.stderr());
    assert.deepEqual(errorLines(p.stderr()), ['error: --stdin: standard input is more than one data blob carries (8388608 bytes): save it to a file and send it with --file']);
    assert.doesNotMatch(p.stderr(), /^\s+at /m, 'no stack trace');
    t.diagnostic(`stdin pipe closed before the test finished writing: ${pipeClosed}`);
  });

  test('send --audio-input that ffmpeg cannot read ends the command with exit 1 and ffmpeg\'s reason; a good one streams and stops cleanly', { timeout: 40000 }, async (t) => {
    const dir = tmpDir(t);
    const notAudio = path.join(dir, 'notes.txt');
    fs.writeFileSync(notAudio, 'not audio\n');
    const s = await cliServer(t, ['--memory']);
    // --duration 60: only the failed audio source can end this within the test's time limit.
    const bad = cli(t, ['send', '--server', `127.0.0.1:${s.tcp}`, '--id', 'cam', '--audio-input', notAudio, '--duration', '60']);
    assert.equal(await bad.exited, 1, bad.stderr());
    assert.deepEqual(errorLines(bad.stderr()), [`error: --audio-input: ffmpeg exited with 1: ${notAudio}: Invalid data found when processing input`]);
    // A readable one: audio flows, and the stop (ffmpeg ended by a signal) is no error.
    const wav = path.join(dir, 'tone.wav');
    execFileSync('ffmpeg', ['-loglevel', 'error', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=30', wav]);
    const good = cli(t, ['send', '--server', `127.0.0.1:${s.tcp}`, '--id', 'cam2', '--audio-input', wav]);
    await good.waitFor(/sending [1-9]\d* fps/, 20000);
    good.child.kill('SIGINT');
    assert.equal(await good.exited, 0, good.stderr());
    assert.deepEqual(errorLines(good.stderr()), []);
  });

  test('a receive whose id another receive takes over ends at once, saying so (not "retrying" for --connect-timeout)', { timeout: 30000 }, async (t) => {
    const s = await cliServer(t, ['--memory']);
    const args = ['receive', '--server', `127.0.0.1:${s.tcp}`, '--id', 'desk', '--types', 'command', '--connect-timeout', '60'];
    const first = cli(t, args);
    await first.waitFor(/"event":"sessionConnected"/);
    const second = cli(t, args);
    assert.equal(await first.exited, 3, first.stderr());
    assert.deepEqual(errorLines(first.stderr()), [`error: 127.0.0.1:${s.tcp}: client id desk connected again elsewhere, and took over this one: give each client its own --id`]);
    assert.doesNotMatch(first.stderr(), /retrying/);
    // The newcomer keeps the id.
    await second.waitFor(/"event":"sessionConnected"/);
    second.child.kill('SIGINT');
    assert.equal(await second.exited, 0, second.stderr());
  });

  test('receive --save x.mjpeg of H.264 video says once that it writes JPEG only, and what to use', { timeout: 40000 }, async (t) => {
    const dir = tmpDir(t);
    const s = await cliServer(t, ['--memory']);
    const tx = cli(t, ['send', '--server', `127.0.0.1:${s.tcp}`, '--id', 'cam', '--to', 'desk', '--codec', 'h264']);
    const file = path.join(dir, 'desk.mjpeg');
    const rx = cli(t, ['receive', '--server', `127.0.0.1:${s.tcp}`, '--id', 'desk', '--types', 'video', '--save', file, '--count', '20', '--quiet', '--log-format', 'pretty']);
    assert.equal(await rx.exited, 0, rx.stderr());
    const warnings = rx.stderr().split('\n').filter((l) => / WARN /.test(l));
    assert.equal(warnings.length, 1, rx.stderr());
    assert.match(warnings[0]!, new RegExp(`WARN  --save ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} takes JPEG video only: this avc1\\.[0-9A-F]{6} video does not reach it; save to \\.mp4 or \\.mkv to record it`));
    assert.equal(fs.statSync(file).size, 0, 'nothing of the H.264 went into the .mjpeg file');
    tx.child.kill('SIGINT');
    assert.equal(await tx.exited, 0, tx.stderr());
  });

  test('send --command through a server without --to or --group: the refusal names the flags that fix it', { timeout: 20000 }, async (t) => {
    const s = await cliServer(t, ['--memory']);
    const p = cli(t, ['send', '--server', `127.0.0.1:${s.tcp}`, '--id', 'ops', '--command', 'zoom']);
    assert.equal(await p.exited, 3, p.stderr());
    assert.deepEqual(errorLines(p.stderr()), ['error: command #1 refused by the receiver: 1201 no addressee, no group and no default receivers: nowhere to send this: give --to CLIENT or --group GROUP']);
  });

  test('the shell line of docs/cli.md makes a passwordHash that a server config takes', { timeout: 30000 }, async (t) => {
    const line = /`node -e "(import\('camwire'\)[^"]+)"`/.exec(fs.readFileSync(path.join(ROOT, 'docs/cli.md'), 'utf8'));
    assert.ok(line, 'docs/cli.md shows how to make a passwordHash from a shell');
    const hash = execFileSync(process.execPath, ['-e', line[1]!], { cwd: ROOT, encoding: 'utf8' }).trim();
    assert.match(hash, /^scrypt\$/);
    const dir = tmpDir(t);
    const cfg = path.join(dir, 'camwire.yaml');
    fs.writeFileSync(cfg, `users:\n  - user: alice\n    passwordHash: "${hash}"\n`);
    const s = await cliServer(t, ['--memory', '--config', cfg]);
    const ok = cli(t, ['send', '--server', `127.0.0.1:${s.tcp}`, '--id', 'cam', '--user', 'alice', '--password', 'secret', '--duration', '1']);
    assert.equal(await ok.exited, 0, ok.stderr());
    const wrong = cli(t, ['send', '--server', `127.0.0.1:${s.tcp}`, '--id', 'cam', '--user', 'alice', '--password', 'nope', '--duration', '1']);
    assert.equal(await wrong.exited, 3, wrong.stderr());
  });

  test('plain TCP or HTTP to a TLS server: the give-up message says that TLS may be what is missing', { timeout: 30000 }, async (t) => {
    const s = await cliServer(t, ['--tls-cert', path.join(TLS, 'server.crt'), '--tls-key', path.join(TLS, 'server.key'), '--memory']);
    const tcp = cli(t, ['send', '--server', `127.0.0.1:${s.tcp}`, '--id', 'ops', '--to', 'desk', '--command', 'zoom', '--connect-timeout', '2']);
    const http = cli(t, ['receive', '--server', `http://127.0.0.1:${s.http}`, '--id', 'desk', '--quiet', '--connect-timeout', '2']);
    assert.equal(await tcp.exited, 3, tcp.stderr());
    assert.deepEqual(errorLines(tcp.stderr()), [`error: cannot reach 127.0.0.1:${s.tcp} within 2 s: connection closed by the peer (if the server uses TLS, add --tls or dial https://)`]);
    assert.equal(await http.exited, 3, http.stderr());
    assert.match(errorLines(http.stderr()).join('\n'), new RegExp(`^error: cannot reach http://127\\.0\\.0\\.1:${s.http} within 2 s: .*socket hang up \\(if the server uses TLS, add --tls or dial https://\\)$`));
    // With TLS asked for, the hint is not given (the certificate is the matter then).
    const withTls = cli(t, ['send', '--server', `127.0.0.1:${s.tcp}`, '--tls', '--id', 'ops', '--to', 'desk', '--command', 'zoom', '--connect-timeout', '2']);
    assert.equal(await withTls.exited, 3);
    assert.doesNotMatch(withTls.stderr(), /if the server uses TLS/);
  });
});
