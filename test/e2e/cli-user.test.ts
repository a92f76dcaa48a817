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

describe('camwire as a new user runs it', () => {  test('receive prints the latency of H.264 from a file in whole milliseconds', { timeout: 60000 }, async (t) => {
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
