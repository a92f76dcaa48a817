#!/usr/bin/env node
// What `npm test` needs besides node_modules: Debian's tinyproxy (a real HTTP proxy), ffmpeg and
// ffprobe, chromium (the viewer tests), nats-server (the cluster tests) and nginx (HTTP behind a reverse proxy). Run by npm as `pretest`: as root it installs what is
// missing with apt-get; otherwise it stops at once with the exact command to run. It never
// lets the suite start without them (no test is skipped silently).
// `--check`: only report (exit 1 and print the command when something is missing).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const onPath = (bin) => (process.env.PATH ?? '').split(path.delimiter).some((d) => {
  try {
    fs.accessSync(path.join(d, bin), fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
});
const executable = (f) => {
  try {
    fs.accessSync(f, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

/** [what is checked, Debian package, present?] */
const checks = [
  ['tinyproxy', 'tinyproxy', onPath('tinyproxy') || executable('/usr/sbin/tinyproxy')],
  ['ffmpeg', 'ffmpeg', onPath('ffmpeg')],
  ['ffprobe', 'ffmpeg', onPath('ffprobe')],
  ['/usr/bin/chromium', 'chromium', executable('/usr/bin/chromium')],
  ['nats-server', 'nats-server', onPath('nats-server') || executable('/usr/sbin/nats-server')],
  ['nginx', 'nginx-light', executable('/usr/sbin/nginx')],
];
const missing = [...new Set(checks.filter((c) => !c[2]).map((c) => c[1]))];
if (missing.length === 0) process.exit(0);

const install = `apt-get install -y --no-install-recommends ${missing.join(' ')}`;
const checkOnly = process.argv.includes('--check');
const root = typeof process.getuid === 'function' && process.getuid() === 0;
if (checkOnly || !root) {
  process.stderr.write(
    `npm test needs ${missing.join(', ')} (missing: ${checks.filter((c) => !c[2]).map((c) => c[0]).join(', ')}).\n` +
      `Run: ${root ? '' : 'sudo '}apt-get update && ${root ? '' : 'sudo '}${install}\n`,
  );
  process.exit(1);
}
process.stderr.write(`npm test: installing ${missing.join(', ')} (apt-get)\n`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
for (const args of [['update', '-qq'], ['install', '-y', '-qq', '--no-install-recommends', ...missing]]) {
  const r = spawnSync('apt-get', args, { stdio: 'inherit', env });
  if (r.status !== 0) {
    process.stderr.write(`npm test: apt-get ${args[0]} failed; run: apt-get update && ${install}\n`);
    process.exit(1);
  }
}
