/**
 * The deployment examples in docs/deploy/: the systemd unit passes `systemd-analyze verify`, and
 * the command lines of the unit and of the Dockerfile start a server.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { cli, ROOT } from '../helpers/cli.js';

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
