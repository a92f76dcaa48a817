/**
 * Receiver.whenConnected(): a pull Receiver's way to wait until its sessions are up, or to learn
 * the real cause when they cannot come up. start() keeps resolving at once (docs/api.md).
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { Receiver, RemoteCloseError, Sender } from '../../src/index.js';
import { next, record } from '../helpers/events.js';
import { startServer } from '../helpers/server-client.js';

test('whenConnected - resolves once every pull session is up; a command sent then arrives', async (t) => {
  const tx = new Sender({ protocol: 'tcp', connection: 'receiver-to-sender', host: '127.0.0.1', port: 0 });
  await tx.start();
  t.after(() => tx.stop());
  const rx = new Receiver({ server: `tcp://127.0.0.1:${tx.port}`, receiveMediaTypes: ['command', 'data'] });
  const events = record(rx);
  await rx.start();
  t.after(() => rx.stop());
  await rx.whenConnected();
  assert.ok(events.some((e) => e.name === 'sessionConnected'), 'the session was up when it resolved');
  await rx.whenConnected(); // already up: resolves at once
  const got = next(rx, 'command');
  await tx.sendCommand({ name: 'hello' });
  assert.equal((await got)[0].name, 'hello');
});

test('whenConnected - a wrong password rejects with the refusal (1202), not a timeout', async (t) => {
  const s = await startServer(t, { tcpPort: 0, udpPort: false, httpPort: false, auth: { users: [{ user: 'alice', password: 'secret' }] } });
  const rx = new Receiver({ server: `tcp://127.0.0.1:${s.ports.tcp}`, clientId: 'desk', auth: { user: 'alice', password: 'nope' } });
  await rx.start();
  t.after(() => rx.stop());
  await assert.rejects(rx.whenConnected(60_000), (e: unknown) => e instanceof RemoteCloseError && e.closeCode === 1202 && /wrong user name or password/.test(e.message));
});

test('whenConnected - nobody there: rejects with CW_ERR_TRANSPORT_TIMEOUT after the limit; before start(): CW_ERR_NOT_STARTED', async (t) => {
  const blocker = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => blocker.once('listening', r));
  const port = (blocker.address() as net.AddressInfo).port;
  await new Promise((r) => blocker.close(r));
  const rx = new Receiver({ server: `127.0.0.1:${port}` });
  await assert.rejects(rx.whenConnected(), { code: 'CW_ERR_NOT_STARTED' });
  await rx.start();
  t.after(() => rx.stop());
  await assert.rejects(rx.whenConnected(300), { code: 'CW_ERR_TRANSPORT_TIMEOUT', message: new RegExp(`no session with 127\\.0\\.0\\.1:${port} within 300 ms`) });
});
