/**
 * `camwire server` keeps its state in its data folder (docs/cli.md): a real server process is
 * SIGKILLed in the middle of group joins and contact-list edits, and after a restart every change
 * it acknowledged is there. Data-folder mistakes end fast with the path and the right exit code.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import { MediaServer, Receiver, Sender } from '../../src/index.js';
import { cli, dataDir, ROOT, type Cli } from '../helpers/cli.js';
import { next } from '../helpers/events.js';

const SERVER = ['server', '--host', '127.0.0.1', '--tcp-port', '0', '--udp-port', 'off', '--http-port', '0', '--log-level', 'warn', '--keep-client-info'];

async function start(t: TestContext, dir: string): Promise<{ proc: Cli; tcp: number; http: number }> {
  const proc = cli(t, [...SERVER, '--data-dir', dir]);
  const m = await proc.waitFor(/tcp (\d+), udp off, http (\d+)/);
  await proc.waitFor(/viewer: /);
  return { proc, tcp: Number(m[1]), http: Number(m[2]) };
}

function stats(port: number): Promise<{ clients: Array<{ id: string; online: boolean; defaultReceivers: string[] }>; groups: Array<{ id: string; members: string[] }> }> {
  return new Promise((resolve, reject) =>
    http
      .get({ host: '127.0.0.1', port, path: '/stats' }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve(JSON.parse(body)));
      })
      .on('error', reject),
  );
}

/** A client that only sends requests (its receiver is up so that the server's replies reach it). */
async function client(t: TestContext, port: number, id: string): Promise<Sender> {
  const tx = new Sender({ protocol: 'tcp', host: '127.0.0.1', port, clientId: id, reconnect: false });
  const rx = new Receiver({ protocol: 'tcp', connection: 'receiver-to-sender', senders: [{ host: '127.0.0.1', port }], clientId: id, reconnect: false, receiveMediaTypes: ['command'] });
  t.after(() => tx.stop());
  t.after(() => rx.stop());
  await tx.start();
  const up = next(rx, 'sessionConnected');
  await rx.start();
  await up;
  return tx;
}

describe('server restart', () => {
  test('crash - SIGKILL during joins and list edits: every acknowledged change is there after the restart', async (t) => {
    const dir = dataDir();
    const first = await start(t, dir);
    const ids = ['c0', 'c1', 'c2', 'c3'];
    const senders = await Promise.all(ids.map((id) => client(t, first.tcp, id)));
    const joined: Array<[string, string]> = [];
    const listed: Array<[string, string]> = [];
    let killed = false;
    const KILL_AFTER = 60;
    // Each client runs its own loop of requests; the server is killed while they are in flight.
    const loops = senders.map(async (tx, k) => {
      for (let i = 0; !killed; i++) {
        try {
          if (i % 2 === 0) {
            await tx.joinGroup(`g${i % 10}`, { permanent: true });
            joined.push([`g${i % 10}`, ids[k]]);
          } else {
            await tx.addDefaultReceiver(`r${i}`);
            listed.push([ids[k], `r${i}`]);
          }
        } catch {
          return; // the server is gone: this request was not acknowledged
        }
        if (!killed && joined.length + listed.length >= KILL_AFTER) {
          killed = true;
          first.proc.child.kill('SIGKILL');
        }
      }
    });
    await Promise.all(loops);
    assert.equal(await first.proc.exited, null);
    assert.ok(joined.length + listed.length >= KILL_AFTER);

    const second = await start(t, dir);
    const s = await stats(second.http);
    const members = new Set(s.groups.flatMap((g) => g.members.map((m) => `${g.id}/${m}`)));
    for (const [g, id] of joined) assert.ok(members.has(`${g}/${id}`), `${id} joined ${g} (acknowledged) but is not a member after the restart`);
    const lists = new Map(s.clients.map((c) => [c.id, new Set(c.defaultReceivers)]));
    for (const [id, r] of listed) assert.ok(lists.get(id)?.has(r), `${id} added ${r} (acknowledged) but it is not in its list after the restart`);
    assert.ok(s.clients.every((c) => !c.online), 'after a restart every client is offline');
    assert.deepEqual(s.clients.map((c) => c.id).sort(), ids);
  });

  test('a second server on the same data folder exits 3 and names the folder; the first goes on', async (t) => {
    const dir = dataDir();
    const first = await start(t, dir);
    const second = cli(t, [...SERVER, '--data-dir', dir]);
    assert.equal(await second.exited, 3);
    assert.match(second.stderr(), new RegExp(`${path.join(dir, 'camwire.db').replace(/[/.]/g, '\\$&')}.*another camwire server`, 'i'));
    await client(t, first.tcp, 'still-served');
  });

  test('data folder mistakes: not a folder (3), not a database (2), a newer schema (2)', async (t) => {
    const base = dataDir();
    const file = path.join(base, 'a-file');
    fs.writeFileSync(file, 'x');
    const notDir = cli(t, [...SERVER, '--data-dir', path.join(file, 'data')]);
    assert.equal(await notDir.exited, 3);
    assert.match(notDir.stderr(), new RegExp(`error: .*${path.join(file, 'data').replace(/[/.]/g, '\\$&')}`));

    const corrupt = path.join(base, 'corrupt');
    fs.mkdirSync(corrupt);
    fs.writeFileSync(path.join(corrupt, 'camwire.db'), Buffer.alloc(8192, 0x5a));
    const c = cli(t, [...SERVER, '--data-dir', corrupt]);
    assert.equal(await c.exited, 2);
    assert.match(c.stderr(), /error: .*camwire\.db.*not a camwire database|error: .*camwire\.db/);

    const newer = path.join(base, 'newer');
    fs.mkdirSync(newer);
    const db = new Database(path.join(newer, 'camwire.db'));
    db.pragma('user_version = 999');
    db.close();
    const before = fs.readFileSync(path.join(newer, 'camwire.db'));
    const n = cli(t, [...SERVER, '--data-dir', newer]);
    assert.equal(await n.exited, 2);
    assert.match(n.stderr(), /999/);
    assert.deepEqual(fs.readFileSync(path.join(newer, 'camwire.db')), before, 'a newer database is left as it was');
  });

  test('--memory keeps nothing on disk', async (t) => {
    const p = cli(t, [...SERVER, '--memory']);
    await p.waitFor(/state: in memory only/);
    const both = cli(t, [...SERVER, '--memory', '--data-dir', 'x']);
    assert.equal(await both.exited, 2);
    assert.match(both.stderr(), /--memory and --data-dir/);
  });
});

describe('clients across a server restart', () => {
  test('a pull Receiver in a script of its own keeps the process alive while its server is away, and is back when the server is', async (t) => {
    // The script does nothing but wait for its Receiver's events: no timer, no stdin.
    const script = [
      `import { Receiver } from ${JSON.stringify(path.join(ROOT, 'dist/index.js'))};`,
      `const rx = new Receiver({ protocol: 'tcp', connection: 'receiver-to-sender', senders: [{ host: '127.0.0.1', port: Number(process.argv[1]) }], clientId: 'script', receiveMediaTypes: ['command'], reconnect: { initialDelayMs: 50, maxDelayMs: 200 } });`,
      `rx.on('sessionConnected', () => console.log('UP'));`,
      `rx.on('sessionDisconnected', () => console.log('DOWN'));`,
      `await rx.start();`,
    ].join('\n');
    const first = new MediaServer({ host: '127.0.0.1', tcpPort: 0, httpPort: false, udpPort: false });
    await first.start();
    const port = first.ports.tcp;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
    t.after(() => child.kill('SIGKILL'));
    let out = '';
    const seen = (re: RegExp): Promise<void> =>
      new Promise((resolve, reject) => {
        const check = (): void => void (re.test(out) && (child.stdout.off('data', onData), child.off('exit', onExit), resolve()));
        const onData = (c: Buffer): void => void ((out += c.toString()), check());
        const onExit = (code: number | null): void => reject(new Error(`the script exited (${code}) after: ${JSON.stringify(out)}`));
        child.stdout.on('data', onData);
        child.once('exit', onExit);
        check();
      });
    await seen(/UP/);
    await first.stop();
    await seen(/UP\s+DOWN/);
    // The server is away: the script's only pending work is its Receiver's next attempt.
    const second = new MediaServer({ host: '127.0.0.1', tcpPort: port, httpPort: false, udpPort: false });
    await second.start();
    t.after(() => second.stop());
    await seen(/UP\s+DOWN[\s\S]*UP/);
    assert.equal(child.exitCode, null);
  });
});
