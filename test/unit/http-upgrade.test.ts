/**
 * The answer to camwire's HTTP upgrade (docs/protocol.md 6.6), read from bytes split anywhere:
 * a 101 naming camwire/1 gives the bytes behind it; anything else a typed UpgradeError (the
 * dialler's fallback), with the head bounded at MAX_UPGRADE_HEAD. And the role's memory of
 * targets that did not upgrade.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_UPGRADE_HEAD, UPGRADE_ANSWER, UpgradeAnswerParser, UpgradeError, upgradeRequest, upgradeRoute, type UpgradeFailure } from '../../src/link/http-upgrade.js';
import { UPGRADE_MEMORY_ENTRIES, UpgradeMemory } from '../../src/link/upgrade-memory.js';

/** Feeds `pieces` in order; the rest after a complete head, or the error thrown. */
function feed(pieces: Buffer[]): { rest?: Buffer; error?: unknown; complete: boolean } {
  const p = new UpgradeAnswerParser();
  const tail: Buffer[] = [];
  let rest: Buffer | undefined;
  try {
    for (const piece of pieces) {
      if (rest !== undefined) tail.push(piece);
      else rest = p.push(piece);
    }
  } catch (error) {
    return { error, complete: false };
  }
  return { rest: rest && Buffer.concat([rest, ...tail]), complete: rest !== undefined };
}

/** Every way to cut `b` in two, and in three around each pair of points a few bytes apart, and byte by byte. */
function splits(b: Buffer): Buffer[][] {
  const out: Buffer[][] = [[b]];
  for (let i = 1; i < b.length; i++) out.push([b.subarray(0, i), b.subarray(i)]);
  for (let i = 1; i + 3 < b.length; i++) out.push([b.subarray(0, i), b.subarray(i, i + 3), b.subarray(i + 3)]);
  out.push([...b].map((x) => Buffer.from([x])));
  return out;
}

const frames = Buffer.from([0x43, 0x57, 1, 2, 0, 0, 9, 9, 9]);

test('http upgrade answer - the 101 split at every byte boundary gives the bytes behind it, whole', () => {
  const answer = Buffer.concat([Buffer.from(UPGRADE_ANSWER, 'latin1'), frames]);
  for (const pieces of splits(answer)) {
    const r = feed(pieces);
    assert.equal(r.error, undefined, `split ${pieces.map((p) => p.length).join('+')}: ${String(r.error)}`);
    assert.ok(r.complete);
    assert.deepEqual(r.rest, frames);
  }
  // Nothing behind the head: an empty rest, not "incomplete".
  assert.deepEqual(new UpgradeAnswerParser().push(Buffer.from(UPGRADE_ANSWER, 'latin1')), Buffer.alloc(0));
  // Header names and tokens in any case, other headers, HTTP/1.0.
  const other = Buffer.from('HTTP/1.0 101 OK\r\nServer: x\r\nUpgrade: Camwire/1\r\nConnection: keep-alive, Upgrade\r\n\r\n', 'latin1');
  assert.deepEqual(new UpgradeAnswerParser().push(other), Buffer.alloc(0));
});

/** Each hostile answer, split every way, fails with this reason (and status). */
const hostile: Array<{ what: string; bytes: Buffer; reason: UpgradeFailure; status?: number }> = [
  { what: 'a 404', bytes: Buffer.from('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n'), reason: 'status', status: 404 },
  { what: 'a 200 (a server that ignores the upgrade)', bytes: Buffer.from('HTTP/1.1 200 OK\r\n\r\n'), reason: 'status', status: 200 },
  { what: 'a 405 with a camwire CLOSE body', bytes: Buffer.concat([Buffer.from('HTTP/1.1 405 Method Not Allowed\r\nallow: POST\r\n\r\n'), frames]), reason: 'status', status: 405 },
  { what: 'not HTTP (an SSH banner)', bytes: Buffer.from('SSH-2.0-OpenSSH_9.2p1\r\n\r\n'), reason: 'malformed' },
  { what: 'camwire framing (a TCP port)', bytes: frames, reason: 'malformed' },
  { what: 'a bad status line', bytes: Buffer.from('HTTP/1.1 1O1 Switching\r\n\r\n'), reason: 'malformed' },
  { what: 'HTTP/2 text', bytes: Buffer.from('HTTP/2 101\r\n\r\n'), reason: 'malformed' },
  { what: 'a 101 to WebSocket', bytes: Buffer.from('HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n'), reason: 'malformed' },
  { what: 'a 101 without connection: upgrade', bytes: Buffer.from('HTTP/1.1 101 Switching Protocols\r\nupgrade: camwire/1\r\n\r\n'), reason: 'malformed' },
  { what: 'a header line without a colon', bytes: Buffer.from('HTTP/1.1 101 Switching Protocols\r\nconnection upgrade\r\nupgrade: camwire/1\r\n\r\n'), reason: 'malformed' },
  { what: 'a folded header line', bytes: Buffer.from('HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\n upgrade: camwire/1\r\nupgrade: camwire/1\r\n\r\n'), reason: 'malformed' },
  { what: 'a NUL in a header', bytes: Buffer.from('HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: camwire/1\x00\r\n\r\n'), reason: 'malformed' },
];

test('http upgrade answer - hostile answers split at every byte boundary give the same typed error', () => {
  for (const h of hostile) {
    for (const pieces of splits(h.bytes)) {
      const r = feed(pieces);
      const at = `${h.what}, split ${pieces.map((p) => p.length).join('+')}`;
      assert.ok(r.error instanceof UpgradeError, `${at}: ${r.complete ? 'accepted' : String(r.error)}`);
      assert.equal(r.error.reason, h.reason, `${at}: ${r.error.message}`);
      assert.equal(r.error.status, h.status, at);
      assert.equal(r.error.code, 'CW_ERR_TRANSPORT_CONNECT');
    }
  }
});

test('http upgrade answer - a status other than 101 is refused at the end of its status line, and garbage at its first byte', () => {
  const p = new UpgradeAnswerParser();
  assert.throws(() => p.push(Buffer.from('HTTP/1.1 403 Forbidden\r\n')), (e: UpgradeError) => e.reason === 'status' && e.status === 403);
  assert.throws(() => new UpgradeAnswerParser().push(Buffer.from('<')), (e: UpgradeError) => e.reason === 'malformed');
  // A head that is still coming is not an error.
  assert.equal(new UpgradeAnswerParser().push(Buffer.from('HTTP/1.1 101 Switching Protocols\r\nupgr')), undefined);
});

test('http upgrade answer - a head past 8 KiB is refused (too-large) however it comes, and never held beyond it', () => {
  const long = Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: camwire/1\r\nx-pad: ${'a'.repeat(MAX_UPGRADE_HEAD)}\r\n\r\n`);
  for (const size of [1, 7, 100, 4096, MAX_UPGRADE_HEAD - 1, MAX_UPGRADE_HEAD, long.length]) {
    const pieces: Buffer[] = [];
    for (let i = 0; i < long.length; i += size) pieces.push(long.subarray(i, i + size));
    const r = feed(pieces);
    assert.ok(r.error instanceof UpgradeError && r.error.reason === 'too-large', `pieces of ${size}: ${String(r.error)}`);
  }
  // A status line that never ends is as long a head.
  const endless = new UpgradeAnswerParser();
  assert.throws(() => {
    for (let i = 0; i < 20; i++) endless.push(Buffer.from('HTTP/1.1 101 ' + 'x'.repeat(1000)));
  }, (e: UpgradeError) => e.reason === 'too-large');
  // The largest head that fits is accepted.
  const pad = MAX_UPGRADE_HEAD - Buffer.byteLength(UPGRADE_ANSWER) - 'x: \r\n'.length;
  const fits = Buffer.from(UPGRADE_ANSWER.replace('\r\n\r\n', `\r\nx: ${'b'.repeat(pad)}\r\n\r\n`));
  assert.equal(fits.length, MAX_UPGRADE_HEAD);
  assert.deepEqual(new UpgradeAnswerParser().push(fits), Buffer.alloc(0));
});

test('http upgrade - the request names the path and the protocol, without proxy credentials; absolute-form requests to a proxy never upgrade', () => {
  assert.equal(upgradeRequest('127.0.0.1:7780'), 'GET /camwire/v1/upgrade HTTP/1.1\r\nhost: 127.0.0.1:7780\r\nconnection: upgrade\r\nupgrade: camwire/1\r\n\r\n');
  assert.equal(upgradeRoute({ host: 'h', port: 1 }), 'direct');
  assert.equal(upgradeRoute({ host: 'h', port: 1, proxy: 'http://p:3128' }), 'tunnel');
  assert.equal(upgradeRoute({ host: 'h', port: 1, proxy: 'http://p:3128', proxyTunnel: 'always' }), 'tunnel');
  assert.equal(upgradeRoute({ host: 'h', port: 1, proxy: 'http://p:3128', proxyTunnel: 'never' }), undefined);
});

test('http upgrade memory - a failure is remembered for its period, per key, and the table is bounded', () => {
  const m = new UpgradeMemory(1000);
  m.remember('a', 0);
  assert.equal(m.failed('a', 999), true);
  assert.equal(m.failed('b', 999), false);
  assert.equal(m.failed('a', 1000), false, 'lapsed');
  assert.equal(m.size, 0, 'a lapsed entry is dropped when read');
  m.remember('a', 0);
  m.forget('a');
  assert.equal(m.failed('a', 1), false);
  for (let i = 0; i < UPGRADE_MEMORY_ENTRIES + 10; i++) m.remember(`k${i}`, 0);
  assert.equal(m.size, UPGRADE_MEMORY_ENTRIES);
  assert.equal(m.failed('k0', 1), false, 'the oldest went');
  assert.equal(m.failed(`k${UPGRADE_MEMORY_ENTRIES + 9}`, 1), true);
});
