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
import { cli, cliServer } from '../helpers/cli.js';

function tmpDir(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-user-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The error lines of a command (stderr may carry logs and status lines besides). */
function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('error: '));
}

/** Resolves with `what` once `p` does, or rejects after `ms` naming what was awaited. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms))),
  ]);
}

describe('camwire as a new user runs it', () => {  test('receive --mjpeg-port on a port in use: exit 3 and one line naming the flag and the port, no stack', { timeout: 20000 }, async (t) => {
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
});
