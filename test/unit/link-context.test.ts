/**
 * Per-role link state (src/link/link-context.ts): the HELLO deadlines and the small-frame arena
 * belong to the role that made them, so two roles in one process share neither. Real sockets on
 * loopback; no timing is asserted, only which link's deadline fires.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { StreamLink, type CloseInfo } from '../../src/internal.js';
import { awaitHello } from '../../src/link/accept.js';
import { LinkContext } from '../../src/link/link-context.js';
import { CloseCode, ErrorCode } from '../../src/errors.js';
import { once } from '../helpers/wait.js';

/** An accepted StreamLink (as a role's listener makes it) and the silent peer socket that dialed it. */
async function silentPeer(t: TestContext, ctx: LinkContext): Promise<{ link: StreamLink; peer: net.Socket }> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const accepted = once<[net.Socket]>(server, 'connection', 5000, undefined, 'the accepted socket');
  const peer = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  t.after(() => peer.destroy());
  const [sock] = await accepted;
  const link = new StreamLink(sock, { keepaliveMs: 0, deadMs: 0, accepted: true, ...ctx.shared });
  t.after(() => link.close(1000, 'done'));
  return { link, peer };
}

test('two roles keep their own HELLO deadlines: one role closing its waiting link leaves the other\'s deadline pending, and it still fires', async (t) => {
  const a = new LinkContext(5000, 15000);
  const b = new LinkContext(5000, 15000);
  const pa = await silentPeer(t, a);
  const pb = await silentPeer(t, b);
  const never = (): void => assert.fail('a silent peer sent no HELLO');
  // The same timeout value in both roles: the value once keyed one process-wide queue.
  awaitHello(a.hellos, pa.link, 300, never);
  awaitHello(b.hellos, pb.link, 300, never);
  assert.equal(a.hellos.size, 1);
  assert.equal(b.hellos.size, 1);

  // Role A stops: its waiting link closes and leaves A's deadlines; B's are untouched.
  pa.link.close(CloseCode.GOING_AWAY, 'role A stopped');
  assert.equal(a.hellos.size, 0);
  assert.equal(b.hellos.size, 1, "role B's pending HELLO deadline survived role A's stop");

  const [info] = await once<[CloseInfo]>(pb.link, 'close', 10000, undefined, "role B's silent link closing at its HELLO deadline");
  assert.equal(info.error?.code, ErrorCode.PROTOCOL_HANDSHAKE_TIMEOUT);
  assert.equal(b.hellos.size, 0);
});

test('each role has its own small-frame arena', () => {
  const a = new LinkContext(5000, 15000);
  const b = new LinkContext(5000, 15000);
  assert.notEqual(a.smallFrames, b.smallFrames);
  assert.notEqual(a.clock, b.clock);
  assert.notEqual(a.hellos, b.hellos);
  // Links of one role get that role's arena and clock.
  assert.equal(a.shared.smallFrames, a.smallFrames);
  assert.equal(a.shared.clock, a.clock);
});
