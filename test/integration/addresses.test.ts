/**
 * `server: 'tcp://…'` and friends on real sockets: a Sender pushes over each scheme, a
 * Receiver pulls from the address it is given.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Receiver, Sender, type Protocol } from '../../src/index.js';
import { next } from '../helpers/events.js';

for (const protocol of ['tcp', 'udp', 'http'] as Protocol[]) {
  test(`address - Sender({ server: '${protocol}://127.0.0.1:PORT' }) pushes over ${protocol}`, async (t) => {
    const rx = new Receiver({ protocol, host: '127.0.0.1', port: 0 });
    await rx.start();
    t.after(() => rx.stop());
    const tx = new Sender({ server: `${protocol}://127.0.0.1:${rx.port}`, clientId: 'cam' });
    await tx.start();
    t.after(() => tx.stop());
    const got = next(rx, 'command');
    await tx.sendCommand({ name: 'ping', params: { n: 1 } });
    const [cmd, meta] = await got;
    assert.equal(cmd.name, 'ping');
    assert.equal(meta.from, 'cam');
  });
}

test('address - Receiver({ server: \'http://127.0.0.1:PORT\' }) pulls from a listening Sender', async (t) => {
  const tx = new Sender({ protocol: 'http', connection: 'receiver-to-sender', host: '127.0.0.1', port: 0 });
  await tx.start();
  t.after(() => tx.stop());
  const rx = new Receiver({ server: `http://127.0.0.1:${tx.port}`, receiveMediaTypes: ['command'] });
  const up = next(rx, 'sessionConnected');
  await rx.start();
  t.after(() => rx.stop());
  await up;
  const got = next(rx, 'command');
  await tx.sendCommand({ name: 'zoom' });
  assert.equal((await got)[0].name, 'zoom');
});
