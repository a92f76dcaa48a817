/**
 * Client going direct (issue 10): a peer offers its direct address through the server; the
 * other sends straight to it, and when the direct path is blocked mid-stream it falls back to
 * the relay: no command is lost, and video resumes within 1 s.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Client } from '../../src/index.js';
import { next } from '../helpers/events.js';
import { startServer } from '../helpers/server-client.js';
import { startTcpRelay } from '../helpers/tcp-relay.js';

/** A tiny "JPEG" carrying a frame number. */
function frame(n: number): Buffer {
  const b = Buffer.from([0xff, 0xd8, 0, 0, 0, 0, 0xff, 0xd9]);
  b.writeUInt32BE(n, 2);
  return b;
}

test('client direct - direct while it works; blocked mid-stream, the relay takes over without losing a command', { timeout: 60000 }, async (t) => {
  const s = await startServer(t, { tcpPort: 0, udpPort: false, httpPort: false });
  const server = `tcp://127.0.0.1:${s.ports.tcp}`;
  const b = new Client({ server, clientId: 'b', direct: { host: '127.0.0.1', port: 0 } });
  t.after(() => b.close());
  await b.connect();
  // The direct path goes through a relay the test can cut.
  const path = await startTcpRelay(b.directPort);
  t.after(() => path.close());
  const a = new Client({ server, clientId: 'a' });
  t.after(() => a.close());
  await a.connect();
  const offered = next(a, 'direct', (peer: string, state: string) => peer === 'b' && state === 'unknown');
  await b.offerDirect('a', `tcp://127.0.0.1:${path.port}`);
  await offered;

  const commands = new Set<number>();
  let lastFrame = 0;
  b.on('command', (c) => commands.add(Number(c.params.n)));
  b.on('video', (v) => (lastFrame = Math.max(lastFrame, v.data.readUInt32BE(2))));
  let n = 0;
  const sent: Array<Promise<void>> = [];
  const stream = setInterval(() => {
    n++;
    a.sendVideoFrame(frame(n), { to: 'b', imageType: 'jpeg', width: 1, height: 1 });
    if (n % 2 === 0) sent.push(a.sendCommand({ name: 'tick', params: { n } }, { to: 'b' }));
  }, 50);
  t.after(() => clearInterval(stream));

  await next(a, 'direct', (peer: string, state: string) => peer === 'b' && state === 'up');
  assert.ok(path.pairs.length > 0, 'the direct path carries the stream');
  const beforeBlock = n;
  await next(b, 'video', (v: { data: Buffer }) => v.data.readUInt32BE(2) > beforeBlock);

  // Block the direct path mid-stream.
  const down = next(a, 'direct', (peer: string, state: string) => peer === 'b' && state === 'down');
  await path.close();
  await down;
  assert.equal(a.directState('b'), 'down');
  const atBlock = n;
  await next(b, 'video', (v: { data: Buffer }) => v.data.readUInt32BE(2) > atBlock, 1000);

  // A few more commands through the relay, then stop: every command arrived.
  await next(b, 'command', (c: { params: { n: unknown } }) => Number(c.params.n) > atBlock + 10);
  clearInterval(stream);
  await Promise.all(sent);
  const expected = Array.from({ length: Math.floor(n / 2) }, (_, i) => (i + 1) * 2);
  assert.deepEqual(expected.filter((x) => !commands.has(x)), [], 'no command is lost');
  assert.ok(lastFrame > atBlock);
});

test('client direct - offerDirect needs the direct option', async (t) => {
  const s = await startServer(t, { tcpPort: 0, udpPort: false, httpPort: false });
  const c = new Client({ server: `tcp://127.0.0.1:${s.ports.tcp}`, clientId: 'c' });
  t.after(() => c.close());
  await c.connect();
  await assert.rejects(c.offerDirect('x'), { code: 'CW_ERR_CONFIG_INVALID', message: /needs the direct option/ });
});
