/**
 * The deployment examples in docs/deploy/: the systemd unit passes `systemd-analyze verify`, and
 * the command lines of the unit and of the Dockerfile start a server; nginx.conf, as it is (ports
 * made local), passes every kind of camwire HTTP traffic to a MediaServer.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { once } from 'node:events';
import { WebSocket } from 'ws';
import { cli, ROOT } from '../helpers/cli.js';
import { next } from '../helpers/events.js';
import { startNginxWith } from '../helpers/proxy.js';
import { until, within } from '../helpers/wait.js';
import { startClient, startServer } from '../helpers/server-client.js';

const DEPLOY = path.join(ROOT, 'docs/deploy');

function tmp(t: TestContext): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-deploy-'));
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

test('deploy - the systemd unit verifies, and its command line starts a server', async (t) => {
  const unit = fs.readFileSync(path.join(DEPLOY, 'camwire.service'), 'utf8');
  const exec = /^ExecStart=(\S+) (\S+) (.*)$/m.exec(unit);
  assert.ok(exec, 'ExecStart');
  const dir = tmp(t);
  // Verified where node really is on this machine.
  fs.writeFileSync(path.join(dir, 'camwire.service'), unit.replace(exec[1], process.execPath));
  const r = await new Promise<{ code: number; stderr: string }>((resolve) =>
    execFile('systemd-analyze', ['verify', path.join(dir, 'camwire.service')], (err, _o, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stderr })),
  );
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr.trim(), '');
  // The same flags, with a config and a data folder of the test's own.
  const args = exec[3].split(' ');
  const cfg = path.join(dir, 'camwire.yaml');
  fs.writeFileSync(cfg, 'host: 127.0.0.1\ntcpPort: 0\nudpPort: 0\nhttpPort: 0\n');
  const real = args.map((a) => (a === '/etc/camwire/camwire.yaml' ? cfg : a === '/var/lib/camwire' ? path.join(dir, 'state') : a));
  assert.deepEqual(real.slice(0, 1), ['server']);
  const s = cli(t, real);
  await s.waitFor(/camwire server on 127\.0\.0\.1: tcp \d+, udp \d+, http \d+/);
  assert.match(s.stdout(), new RegExp(`state: ${path.join(dir, 'state', 'camwire.db').replace(/[.]/g, '\\.')}`));
});

test('deploy - the Dockerfile copies files that exist, and its command line starts a server', async (t) => {
  const df = fs.readFileSync(path.join(DEPLOY, 'Dockerfile'), 'utf8');
  assert.match(df, /^FROM node:20-bookworm-slim/m);
  assert.match(df, /apt-get install -y --no-install-recommends ffmpeg/);
  for (const m of df.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) for (const f of m[1].split(' ')) assert.ok(fs.existsSync(path.join(ROOT, f)), `COPY ${f}`);
  const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(df)![1]) as string[];
  const dataDir = /^ENV CAMWIRE_DATA_DIR=(\S+)$/m.exec(df)![1];
  assert.equal(dataDir, '/data');
  const dir = tmp(t);
  const s = cli(t, [...cmd, '--host', '127.0.0.1', '--tcp-port', '0', '--udp-port', '0', '--http-port', '0'], { env: { CAMWIRE_DATA_DIR: dir } });
  await s.waitFor(/camwire server on 127\.0\.0\.1/);
  assert.match(s.stdout(), new RegExp(`state: ${dir.replace(/[.]/g, '\\.')}/camwire\\.db`));
});

test('deploy - behind nginx with nginx.conf: HTTP links upgrade through it, links of requests and the viewer\'s WebSocket pass', async (t) => {
  const conf = fs.readFileSync(path.join(DEPLOY, 'nginx.conf'), 'utf8');
  assert.match(conf, /^\s*listen 80;$/m);
  assert.match(conf, /proxy_pass http:\/\/127\.0\.0\.1:7780;/);
  const s = await startServer(t);
  // The file as it is, in nginx's http context: only its ports made local.
  const nginx = await startNginxWith((port) => conf.replace(/^(\s*)listen 80;$/m, `$1listen 127.0.0.1:${port};`).replace('127.0.0.1:7780', `127.0.0.1:${s.ports.http}`));
  t.after(() => nginx.stop());
  const desk = await startClient(t, s, 'desk');
  const got: string[] = [];
  desk.rx.on('command', (c, m) => got.push(`${c.name}<${m.from}`));
  // Through nginx: a client whose links upgrade, and one that keeps to requests.
  for (const [id, httpUpgrade] of [['cam', 'auto'], ['cam-requests', 'never']] as const) {
    const cam = await startClient(t, nginx.port, id, { push: 'http', pull: 'http', tx: { httpUpgrade }, rx: { httpUpgrade } });
    await cam.tx.sendCommand({ name: 'zoom' }, { to: 'desk' });
    const video = next(desk.rx, 'video');
    cam.tx.sendVideoFrame(Buffer.alloc(200_000, 7), { to: 'desk' });
    const [v, m] = await video;
    assert.equal(v.data.length, 200_000);
    assert.equal(m.from, id);
    await cam.tx.stop();
    await cam.rx.stop();
  }
  assert.deepEqual(got, ['zoom<cam', 'zoom<cam-requests']);
  // nginx logs an upgraded connection when it ends: 101 for the upgrades, requests for the other.
  const log = fs.watch(nginx.log);
  t.after(() => log.close());
  await until(() => nginx.answers().filter((a) => a === 'GET /camwire/v1/upgrade 101').length >= 2, {
    on: [[log, 'change']],
    timeoutMs: 5000,
    what: () => `two upgraded connections (command, video; the pull session) in nginx's log:\n${nginx.answers().join('\n')}`,
  });
  assert.ok(nginx.answers().includes('POST /camwire/v1/open 200'), nginx.answers().join('\n'));
  // The viewer's WebSocket.
  const ws = new WebSocket(`ws://127.0.0.1:${nginx.port}/camwire/v1/ws`);
  t.after(() => ws.terminate());
  await within(Promise.race([once(ws, 'open'), once(ws, 'error').then(([e]) => Promise.reject(e as Error))]), 5000, 'the viewer WebSocket through nginx to open');
  ws.close();
});
