/**
 * A server operator's first hour, as real processes: the docs' quickstarts run as written, and
 * every misconfiguration ends at once with one line naming the cause and the fix, and the exit
 * code docs/cli.md gives it.
 */
import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { chromium } from 'playwright-core';
import { hashPassword, Sender } from '../../src/index.js';
import { ROOT } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';
import { once, until } from '../helpers/wait.js';
import { camwireIn, configFile, folder, proc, shBlock } from '../helpers/operator.js';

test('operator - the cluster quickstart of docs/cluster.md, run as written in one folder: both nodes start, and a command crosses from a client of node a to a client of node b', async (t) => {
  const cwd = folder(t);
  const lines = shBlock('cluster.md');
  assert.equal(lines.length, 3, `docs/cluster.md's quickstart changed: ${lines.join(' | ')}`);
  // The only substitutions: free ports for the documented ones (this machine runs other tests), NATS's folder in the test's own.
  const ports = new Map<string, string>();
  for (const m of lines.join(' ').matchAll(/(?:port |:)(\d{4})\b/g)) if (!ports.has(m[1])) ports.set(m[1], String(await freePort()));
  const local = (l: string): string[] => l.replace(/\b(\d{4})\b/g, (p) => ports.get(p) ?? p).split(/\s+/);
  const [natsLine, ...nodes] = lines.map(local);
  assert.deepEqual(natsLine.slice(0, 3), ['nats-server', '-js', '-sd']);
  const nats = proc(t, 'nats-server', ['-js', '-sd', path.join(cwd, 'nats'), '-a', '127.0.0.1', '-p', ports.get('4222')!]);
  await nats.waitFor(/Server is ready/, 10000);
  const servers = nodes.map((args) => {
    assert.equal(args[0], 'camwire');
    return camwireIn(t, cwd, args.slice(1));
  });
  const tcp: string[] = [];
  for (const [i, s] of servers.entries()) {
    const name = nodes[i][nodes[i].indexOf('--cluster-name') + 1];
    await s.waitFor(new RegExp(`cluster: node ${name} on`), 15000);
    tcp.push((await s.waitFor(/camwire server on \S+: tcp (\d+)/))[1]);
  }
  const desk = camwireIn(t, cwd, ['receive', '--server', `127.0.0.1:${tcp[1]}`, '--id', 'desk', '--types', 'command']);
  await desk.waitFor(/"event":"sessionConnected"/);
  const ops = camwireIn(t, cwd, ['send', '--server', `127.0.0.1:${tcp[0]}`, '--id', 'ops', '--to', 'desk', '--command', 'zoom', '--param', 'level=2']);
  assert.equal(await ops.exit(), 0, ops.stderr());
  await desk.waitFor(/"command":"zoom","params":\{"level":2\},"from":"ops"/);
  // Node a says once that b came up (it said it twice: the cluster's line and the CLI's own).
  await servers[0].waitFor(/"node":"b"[^\n]*"msg":"cluster: node up"/);
  const ups = servers[0].stderr().split('\n').filter((l) => /node up/.test(l) && /"node":"b"/.test(l));
  assert.equal(ups.length, 1, servers[0].stderr());
});

/** Test-only TLS material (test/fixtures/tls/README.md): server.key belongs to server.crt, not to ca.crt. */
const TLS = path.join(ROOT, 'test/fixtures/tls');

/** `camwire ...args` must end by itself with `code` and one line on stderr, `error: ...` matching `re`, and no stack trace. */
async function refuses(t: TestContext, args: string[], code: number, re: RegExp, env: NodeJS.ProcessEnv = {}): Promise<void> {
  const p = camwireIn(t, folder(t), args, env);
  const got = await p.exit(15000);
  const errors = p.stderr().split('\n').filter((l) => l.startsWith('error:'));
  assert.equal(got, code, `camwire ${args.join(' ')}: exit ${got}, stderr: ${p.stderr()}`);
  assert.equal(errors.length, 1, `one error line expected: ${p.stderr()}`);
  assert.match(errors[0], re);
  assert.doesNotMatch(p.stderr(), /^\s+at /m, 'no stack trace');
}

const OFF = ['--tcp-port', '0', '--udp-port', '0', '--http-port', '0', '--memory', '--host', '127.0.0.1'];

test('operator - a TLS certificate or key the server cannot use ends it at start, exit 2, naming the file and what to do', async (t) => {
  const dir = folder(t);
  const crt = path.join(TLS, 'server.crt');
  const key = path.join(TLS, 'server.key');
  const garbage = configFile(dir, 'garbage.pem', 'not a certificate\n');
  const encrypted = configFile(dir, 'encrypted.key', createPrivateKey(fs.readFileSync(key)).export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'secret' }) as string);
  const conf = (cert: string, k: string): string => configFile(dir, `tls-${path.basename(cert)}-${path.basename(k)}.yaml`, `tls:\n  cert: ${cert}\n  key: ${k}\n`);
  await refuses(t, ['server', '-c', conf(garbage, key), ...OFF], 2, /^error: tls\.cert: \S*garbage\.pem is not a PEM certificate/);
  await refuses(t, ['server', '-c', conf(key, crt), ...OFF], 2, /^error: tls\.cert: \S*server\.key holds a private key, not a certificate: are the certificate and the key swapped\?$/);
  await refuses(t, ['server', '-c', conf(path.join(TLS, 'ca.crt'), key), ...OFF], 2, /^error: tls\.key: \S*server\.key is not the private key of the certificate in \S*ca\.crt: give the key that was made with it$/);
  await refuses(t, ['server', '-c', conf(crt, encrypted), ...OFF], 2, /^error: tls\.key: \S*encrypted\.key is encrypted with a passphrase: give it unencrypted/);
  await refuses(t, ['server', '--tls-cert', crt, '--tls-key', garbage, ...OFF], 2, /^error: --tls-key: \S*garbage\.pem is not a PEM private key/);
  await refuses(t, ['receive', '--listen', '127.0.0.1:0', '--tls-cert', path.join(TLS, 'ca.crt'), '--tls-key', key], 2, /^error: --tls-key: \S*server\.key is not the private key of the certificate in /);
  // The right pair still serves.
  const ok = camwireIn(t, dir, ['server', '-c', conf(crt, key), ...OFF]);
  await ok.waitFor(/viewer: https:\/\/127\.0\.0\.1:\d+\//);
});

test('operator - a users section that would lock someone out ends the server at start, exit 2, naming the entry and the fix', async (t) => {
  const dir = folder(t);
  const cases: Array<[string, RegExp]> = [
    ['users:\n  - user: alice\n    password: 1234\n', /^error: users\[0\] \(alice\)\.password: expected a string, got 1234: quote it in the YAML \(password: "1234"\)$/],
    ['users:\n  - user: alice\n    pasword: pw\n', /^error: users\[0\]: unknown key "pasword" \(use user, password, passwordHash, clientIds\)$/],
    ['users:\n  - user: alice\n    password: pw\n    clientIds: cam1\n', /^error: users\[0\] \(alice\)\.clientIds: expected a list of client ids/],
    ['users:\n  - user: alice\n    passwordHash: secret\n', /^error: users\[0\] \(alice\)\.passwordHash: not a hash from hashPassword\(\)/],
    ['users:\n  - user: alice\n    password: a\n  - user: alice\n    password: b\n', /^error: users\[1\] \(alice\): user "alice" is listed twice$/],
    ['users:\n  - user: alice\n    password: a\n    clientIds: [cam1]\n  - user: bob\n    password: b\n    clientIds: [cam2, cam1]\n', /^error: users\[1\] \(bob\)\.clientIds: cam1 is already alice's: a client id belongs to one user$/],
    ['users:\n  - user: "ali:ce"\n    password: a\n', /^error: users\[0\] \(ali:ce\)\.user: a user name cannot hold ":"/],
    ['tls:\n  cert: server.crt\n  kye: server.key\n', /^error: tls: unknown key "kye" \(use cert, key, ca\)$/],
    ['users: []\n', /^error: users: the list is empty, so nobody could log in: add a user, or remove users for a server without logins$/],
  ];
  for (const [i, [yaml, re]] of cases.entries()) await refuses(t, ['server', '-c', configFile(dir, `c${i}.yaml`, yaml), ...OFF], 2, re);
  // A quoted password and a real hash let their users in.
  const hash = await hashPassword('pw');
  const conf = configFile(dir, 'ok.yaml', `users:\n  - user: alice\n    password: "1234"\n  - user: bob\n    passwordHash: ${hash}\n    clientIds: [cam1]\n`);
  const server = camwireIn(t, dir, ['server', '-c', conf, ...OFF]);
  const [, tcp] = await server.waitFor(/tcp (\d+),/);
  for (const [user, password, id] of [['alice', '1234', 'desk'], ['bob', 'pw', 'cam1']]) {
    const send = camwireIn(t, dir, ['send', '--server', `127.0.0.1:${tcp}`, '--id', id, '--user', user, '--password', password, '--command', 'hi']);
    assert.equal(await send.exit(), 3, `${user} logs in; the command has nobody to go to: ${send.stderr()}`);
    assert.doesNotMatch(send.stderr(), /password|login/, send.stderr());
  }
});

test('operator - a port of the server in use ends it at start, exit 3, naming which port and the setting that moves it; one number for TCP and HTTP is exit 2', async (t) => {
  const tcp = net.createServer();
  await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
  t.after(() => tcp.close());
  const udp = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
  t.after(() => udp.close());
  const taken = (tcp.address() as net.AddressInfo).port;
  const takenUdp = udp.address().port;
  const base = ['server', '--memory', '--host', '127.0.0.1'];
  await refuses(t, [...base, '--tcp-port', String(taken), '--udp-port', '0', '--http-port', '0'], 3, new RegExp(`^error: TCP port ${taken} is already in use \\(127\\.0\\.0\\.1:${taken}\\): stop what listens there \\(another camwire server\\?\\), or give another port with --tcp-port \\(tcpPort in a config file, CAMWIRE_TCP_PORT\\), or off$`));
  await refuses(t, [...base, '--tcp-port', '0', '--udp-port', '0', '--http-port', String(taken)], 3, new RegExp(`^error: HTTP port ${taken} is already in use .* --http-port \\(httpPort in a config file, CAMWIRE_HTTP_PORT\\), or off$`));
  await refuses(t, [...base, '--tcp-port', '0', '--udp-port', String(takenUdp), '--http-port', '0'], 3, new RegExp(`^error: UDP port ${takenUdp} is already in use .* --udp-port \\(udpPort`));
  const free = String(await freePort());
  await refuses(t, [...base, '--tcp-port', free, '--udp-port', '0', '--http-port', free], 2, /^error: httpPort: is tcpPort's port too \(\d+\): give each its own port/);
});

test('operator - a recording folder the server cannot write ends it at start, exit 2; a typo in the record section names the key', async (t) => {
  const dir = folder(t);
  const file = configFile(dir, 'not-a-folder', 'x');
  await refuses(t, ['server', '--record', path.join(file, 'rec'), ...OFF], 2, /^error: --record \(record\.dir\): cannot create or write to the folder \S+not-a-folder\/rec \(ENOTDIR\): give a folder this user can write$/);
  await refuses(t, ['server', '-c', configFile(dir, 'r.yaml', `record:\n  directory: ${dir}\n`), ...OFF], 2, /^error: record: unknown field "directory" \(use dir, /);
  await refuses(t, ['server', '-c', configFile(dir, 'r2.yaml', 'record:\n  segmentMs: 60000\n'), ...OFF], 2, /^error: record\.dir: must be the folder to record into$/);
  // A folder that is missing is made.
  const ok = camwireIn(t, dir, ['server', '--record', 'recordings/today', ...OFF]);
  await ok.waitFor(/recording: recordings\/today/);
  assert.ok(fs.statSync(path.join(dir, 'recordings/today')).isDirectory());
});

test('operator - with users, the viewer asks for a login, and "Be a client" logs in with the user and password typed into the page (docs/cli.md)', async (t) => {
  const dir = folder(t);
  const conf = configFile(dir, 'users.yaml', 'users:\n  - user: alice\n    password: change-me\n  - user: bob\n    password: pw\n    clientIds: [cam1]\n');
  const server = camwireIn(t, dir, ['server', '-c', conf, ...OFF]);
  const [, url] = await server.waitFor(/viewer: (\S+)/);
  assert.equal((await fetch(url)).status, 401);
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
  t.after(() => browser.close());
  const page = await (await browser.newContext({ httpCredentials: { username: 'alice', password: 'change-me' } })).newPage();
  await page.goto(url);
  const state = async (user: string, password: string, id: string): Promise<string> => {
    if ((await page.textContent('#me-connect')) !== 'Connect') await page.click('#me-connect');
    await page.fill('#me-id', id);
    await page.fill('#me-group', 'room');
    await page.fill('#me-user', user);
    await page.fill('#me-password', password);
    // The answer to this attempt, not the one before it still on the page (each answer below differs from the one before).
    const before = (await page.textContent('#me-state')) ?? '';
    await page.click('#me-connect');
    const h = await page.waitForFunction(
      (prev) => {
        const text = document.getElementById('me-state')?.textContent ?? '';
        return text !== prev && /^(connected|refused)/.test(text) && text;
      },
      before,
      { timeout: 20000 },
    );
    return (await h.jsonValue()) as string;
  };
  assert.equal(await state('', '', 'web1'), 'refused: credentials required');
  assert.equal(await state('alice', 'change-me', 'web1'), 'connected as web1 in room');
  assert.match(await state('bob', 'pw', 'web2'), /^refused: user bob may not use client id "web2"/);
});

/** One sample of a Prometheus text exposition, or undefined. */
function sample(body: string, name: string): number | undefined {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(body);
  return m ? Number(m[1]) : undefined;
}

test('operator - /metrics counts a camera that only sends as a connected client (camwire_clients_connected), beside the receivers online', async (t) => {
  const dir = folder(t);
  const server = camwireIn(t, dir, ['server', ...OFF]);
  const [, tcp] = await server.waitFor(/tcp (\d+),/);
  const [, url] = await server.waitFor(/metrics: (\S+)/);
  const scrape = async (): Promise<string> => (await fetch(url)).text();
  const body = await scrape();
  assert.match(body, /^# HELP camwire_clients_connected Clients connected in any way/m);
  assert.match(body, /^# TYPE camwire_clients_connected gauge$/m);
  assert.equal(sample(body, 'camwire_clients_connected'), 0);
  const cam = camwireIn(t, dir, ['send', '--server', `127.0.0.1:${tcp}`, '--id', 'cam1', '--fps', '5']);
  const rx = camwireIn(t, dir, ['receive', '--server', `127.0.0.1:${tcp}`, '--id', 'desk', '--types', 'command']);
  await rx.waitFor(/"event":"sessionConnected"/);
  // The camera's status line counts frames that reached its connection to the server.
  await cam.waitFor(/sending [1-9]\d* fps/);
  const now = await scrape();
  assert.equal(sample(now, 'camwire_clients_connected'), 2, `cam1 (sending) and desk (receiving):\n${now}`);
  assert.equal(sample(now, 'camwire_clients_online'), 1, 'only desk receives');
});

test('operator - an unknown log level, as a flag of any command, in the environment or in the config file, is exit 2 naming where it came from', async (t) => {
  const dir = folder(t);
  for (const args of [['server', ...OFF], ['send', '--server', '127.0.0.1:1', '--command', 'x'], ['receive', '--listen', '127.0.0.1:0']]) {
    await refuses(t, [...args, '--log-level', 'verbose'], 2, /^error: option '--log-level <level>' argument 'verbose' is invalid\. Allowed choices are fatal, error, warn, info, debug, trace, silent\.$/);
  }
  await refuses(t, ['server', ...OFF], 2, /^error: CAMWIRE_LOG_LEVEL: expected one of fatal, error, warn, info, debug, trace, silent, got "loud"$/, { CAMWIRE_LOG_LEVEL: 'loud' });
  await refuses(t, ['server', '-c', configFile(dir, 'l.yaml', 'logLevel: 3\n'), ...OFF], 2, /^error: logLevel: expected one of fatal, .*, got 3$/);
});

test('operator - the systemd unit does not restart a server that stopped on its config (exit 2), and does restart one that met a port in use (exit 3)', async (t) => {
  const unit = fs.readFileSync(path.join(ROOT, 'docs/deploy/camwire.service'), 'utf8');
  const prevent = /^RestartPreventExitStatus=(.*)$/m.exec(unit)?.[1].split(/\s+/).map(Number) ?? [];
  const args = /^ExecStart=\S+ \S+ (.*)$/m.exec(unit)![1].split(' ');
  const dir = folder(t);
  const run = (config: string, extra: string[] = []): string[] => [...args.map((a) => (a === '/etc/camwire/camwire.yaml' ? config : a === '/var/lib/camwire' ? path.join(dir, 'state') : a)), ...extra];
  // As installed without a config file, and with a typo in one: one error line, and systemd leaves it stopped.
  const missing = camwireIn(t, dir, run(path.join(dir, 'none.yaml')));
  assert.ok(prevent.includes((await missing.exit())!), `exit of a missing config, ${missing.stderr()}, is in RestartPreventExitStatus=${prevent}`);
  assert.match(missing.stderr(), /^error: --config: cannot read \S+none\.yaml: ENOENT/m);
  const typo = camwireIn(t, dir, run(configFile(dir, 'typo.yaml', 'tcpPrt: 7700\n')));
  assert.ok(prevent.includes((await typo.exit())!), `exit of a config typo, ${typo.stderr()}, is in RestartPreventExitStatus=${prevent}`);
  // A port in use may free itself (the old process still stopping): restarted.
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.after(() => blocker.close());
  const port = (blocker.address() as net.AddressInfo).port;
  const inUse = camwireIn(t, dir, run(configFile(dir, 'ok.yaml', `host: 127.0.0.1\ntcpPort: ${port}\nudpPort: 0\nhttpPort: 0\n`)));
  const code = await inUse.exit();
  assert.equal(code, 3, inUse.stderr());
  assert.ok(!prevent.includes(code), `exit 3 is restarted (RestartPreventExitStatus=${prevent})`);
});

test('operator - SIGTERM with 300 clients connected drains them within the stop budget (5 s of pacing), then exits 0', async (t) => {
  const dir = folder(t);
  // 300 connections from one address: past the default per-address limits (docs/limits.md), lifted here.
  const conf = configFile(dir, 'limits.yaml', 'limits:\n  maxConnectionsPerIp: 0\n  maxPendingPerIp: 0\n');
  const server = camwireIn(t, dir, ['server', '-c', conf, ...OFF, '--log-format', 'json']);
  const [, tcp] = await server.waitFor(/tcp (\d+),/);
  const senders: Sender[] = [];
  t.after(() => Promise.all(senders.map((s) => s.stop())));
  const up: Array<Promise<unknown>> = [];
  for (let i = 0; i < 300; i++) {
    const s = new Sender({ protocol: 'tcp', host: '127.0.0.1', port: Number(tcp), clientId: `cam${i}`, reconnect: false });
    senders.push(s);
    up.push(once(s, 'connected', 30000, undefined, `cam${i}`));
    await s.start();
    s.sendVideoFrame(Buffer.alloc(100), { imageType: 'jpeg', width: 1, height: 1 });
  }
  await Promise.all(up);
  server.kill('SIGTERM');
  const [line] = await server.waitFor(/^\{.*"msg":"draining: asking clients to reconnect elsewhere"\}$/m, 30000);
  const drain = JSON.parse(line) as { clients: number; intervalMs: number };
  assert.equal(drain.clients, 300);
  assert.ok(drain.clients * drain.intervalMs <= 5000, `pacing ${drain.intervalMs} ms x ${drain.clients} clients fits 5 s`);
  assert.equal(await server.exit(30000), 0, server.stderr());
});

test('operator - a receiver or sender retrying a server that hangs up says each failure once, not once per attempt (the status line says it retries)', async (t) => {
  // A port that takes each connection and closes it at once: every attempt fails the same way, and the test can count them.
  let attempts = 0;
  const hangUp = net.createServer((s) => {
    attempts++;
    s.destroy();
  });
  await new Promise<void>((resolve) => hangUp.listen(0, '127.0.0.1', resolve));
  t.after(() => hangUp.close());
  const port = (hangUp.address() as net.AddressInfo).port;
  const rx = camwireIn(t, folder(t), ['receive', '--server', `127.0.0.1:${port}`, '--id', 'desk', '--connect-timeout', '0']);
  await until(() => attempts >= 4, { on: [[hangUp, 'connection']], timeoutMs: 20000, what: '4 connection attempts' });
  await rx.waitFor(/not connected to 127\.0\.0\.1:\d+ \(.*\); retrying/);
  const lines = rx.stdout().trim().split('\n');
  // A hang-up reads as "closed by the peer" or as a reset: each is printed once, never again.
  assert.equal(new Set(lines).size, lines.length, `${attempts} attempts, a line repeated:\n${rx.stdout()}`);
  assert.ok(lines.filter((l) => l.includes('"event":"sessionDisconnected"')).length <= 2, `${attempts} attempts:\n${rx.stdout()}`);
  // send says so in its log the same way: one warning per reason, not one per retry.
  const tx = camwireIn(t, folder(t), ['send', '--server', `127.0.0.1:${port}`, '--id', 'cam1', '--connect-timeout', '0', '--log-format', 'json']);
  const from = attempts;
  await until(() => attempts >= from + 4, { on: [[hangUp, 'connection']], timeoutMs: 20000, what: '4 more connection attempts, by send' });
  await tx.waitFor(/not connected to 127\.0\.0\.1:\d+ \(.*\); retrying/);
  const warnings = tx.stderr().split('\n').filter((l) => l.includes('"level":40'));
  assert.ok(warnings.length >= 1 && warnings.length <= 2, `${attempts - from} attempts, warnings:\n${tx.stderr()}`);
});

test('operator - --host takes an IPv6 address with brackets, as --listen and URLs write it, and the banner shows it so', async (t) => {
  const dir = folder(t);
  const server = camwireIn(t, dir, ['server', '--host', '[::1]', '--tcp-port', '0', '--udp-port', '0', '--http-port', '0', '--memory']);
  const [, tcp] = await server.waitFor(/^camwire server on \[::1\]: tcp (\d+), udp \d+, http \d+$/m);
  await server.waitFor(/^viewer: http:\/\/\[::1\]:\d+\/$/m);
  const rx = camwireIn(t, dir, ['receive', '--server', `tcp://[::1]:${tcp}`, '--id', 'desk', '--types', 'command']);
  await rx.waitFor(/"event":"sessionConnected"/);
  const tx = camwireIn(t, dir, ['send', '--server', `[::1]:${tcp}`, '--id', 'ops', '--to', 'desk', '--command', 'zoom']);
  assert.equal(await tx.exit(), 0, tx.stderr());
  await rx.waitFor(/"command":"zoom"/);
});

test('operator - a kick through the control API and a SIGINT stop are logged (info), and the server exits 0', async (t) => {
  const dir = folder(t);
  const server = camwireIn(t, dir, ['server', ...OFF, '--log-format', 'json', '--log-level', 'info']);
  const [, tcp, http] = await server.waitFor(/tcp (\d+), udp \d+, http (\d+)/);
  const desk = new Sender({ protocol: 'tcp', host: '127.0.0.1', port: Number(tcp), clientId: 'desk', reconnect: false });
  t.after(() => desk.stop());
  const connected = once(desk, 'connected', 10000, undefined, 'desk');
  await desk.start();
  desk.sendVideoFrame(Buffer.alloc(100), { imageType: 'jpeg', width: 1, height: 1 });
  await connected;
  const res = await fetch(`http://127.0.0.1:${http}/api/v1/clients/desk/kick`, { method: 'POST' });
  assert.equal(res.status, 200, await res.text());
  const [kicked] = await server.waitFor(/^\{.*"msg":"client kicked"\}$/m);
  assert.deepEqual((({ client, reason }) => ({ client, reason }))(JSON.parse(kicked) as { client: string; reason: string }), { client: 'desk', reason: 'kicked through the control API' });
  server.kill('SIGINT');
  await server.waitFor(/^\{.*"msg":"stopping: closing every connection"\}$/m);
  await server.waitFor(/^\{.*"msg":"stopped"\}$/m);
  assert.equal(await server.exit(), 0, server.stderr());
});

test('operator - a --data-dir the kernel will not create (under /proc) ends the server at once, exit 3, naming the folder (it hung in Node\'s recursive mkdir)', { skip: !fs.existsSync('/proc/self') && 'no /proc here' }, async (t) => {
  await refuses(t, ['server', '--data-dir', '/proc/camwire-store', '--tcp-port', '0', '--udp-port', '0', '--http-port', '0', '--host', '127.0.0.1'], 3, /^error: Cannot create or write to the store folder \/proc\/camwire-store: ENOENT.*; give --data-dir a folder this user can write, or --memory$/);
});
