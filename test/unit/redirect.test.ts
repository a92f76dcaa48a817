/** The redirect line of a CLOSE 1001 reason (docs/protocol.md 3.5). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { redirectOf, withRedirect } from '../../src/protocol/redirect.js';
import { decodeReason, encodeReason } from '../../src/protocol/messages.js';

test('redirect - host names, IPv4 and IPv6 round-trip through a CLOSE reason', () => {
  for (const to of [{ host: 'node-b.example', port: 7700 }, { host: '10.0.0.7', port: 1 }, { host: '::1', port: 65535 }, { host: 'fe80::1:2', port: 7710 }]) {
    const reason = withRedirect('server draining: reconnect to another server', to);
    const { code, reason: back } = decodeReason(encodeReason(1001, reason));
    assert.equal(code, 1001);
    assert.deepEqual(redirectOf(back), to);
  }
});

test('redirect - a reason without one, or with a malformed one, carries none', () => {
  for (const r of ['', 'server draining', 'redirect=host', 'redirect=host:0', 'redirect=host:70000', 'redirect=ho st:7700', 'redirect=[zz]:1', 'x\nredirect=h:1 trailing', 'redirect=h:-1']) {
    assert.equal(redirectOf(r), undefined, JSON.stringify(r));
  }
  // Only the last line counts, and only as a whole line.
  assert.deepEqual(redirectOf('text mentioning redirect=a:1 inline\nredirect=b:2'), { host: 'b', port: 2 });
});
