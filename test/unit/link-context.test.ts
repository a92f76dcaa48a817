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
import { Kind, MediaType } from '../../src/protocol/constants.js';
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
  const link = new StreamLink(sock, { ...ctx.linkOptions(), keepaliveMs: 0, deadMs: 0, accepted: true });
  t.after(() => link.close(1000, 'done'));
  return { link, peer };
}

test('two roles keep their own HELLO deadlines: one role closing its waiting link leaves the other\'s deadline pending, and it still fires', async (t) => {
  const a = new LinkContext({ keepaliveMs: 5000, deadMs: 15000 });
  const b = new LinkContext({ keepaliveMs: 5000, deadMs: 15000 });
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

test('a link encodes its small frames in its own role\'s arena, never in another role\'s', async (t) => {
  const a = new LinkContext({ keepaliveMs: 5000, deadMs: 15000 });
  const b = new LinkContext({ keepaliveMs: 5000, deadMs: 15000 });
  const pa = await silentPeer(t, a);
  await silentPeer(t, b);
  pa.link.send({ kind: Kind.DATA, mediaType: MediaType.data, payload: Buffer.from('hello') });
  const got = once<[Buffer]>(pa.peer, 'data', 5000, undefined, 'the frame at the peer');
  const [bytes] = await got;
  assert.ok(bytes.includes(Buffer.from('hello')));
  // Role A's arena took its first buffer for the frame; role B's, whose link sent nothing, has none.
  assert.ok(a.smallFrames.buffer?.includes(Buffer.from('hello')), "the frame was written in role A's arena");
  assert.equal(b.smallFrames.buffer, undefined, "role B's arena was never used");
});
