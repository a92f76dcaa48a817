/**
 * LinkClock: one timer for the checks of many links.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LinkClock, tickFor } from '../../src/link/link-clock.js';
import { StreamLink } from '../../src/internal.js';
import net from 'node:net';

describe('LinkClock', () => {
  test('one tick calls every link with the same time; a clock without links has no timer', async () => {
    const clock = new LinkClock(20);
    const seen: Array<[string, number]> = [];
    let done!: () => void;
    const ticked = new Promise<void>((r) => (done = r));
    const link = (name: string) => ({
      tick: (now: number): void => {
        seen.push([name, now]);
        if (seen.length === 3) done();
      },
    });
    const [a, b, c] = [link('a'), link('b'), link('c')];
    for (const l of [a, b, c]) clock.add(l);
    // The clock's timer never keeps a process alive (the links' sockets do): hold it open here, bounded.
    const hold = setTimeout(() => done(), 5000);
    await ticked;
    clearTimeout(hold);
    assert.deepEqual(seen.map(([n]) => n), ['a', 'b', 'c']);
    assert.equal(new Set(seen.map(([, t]) => t)).size, 1);
    for (const l of [a, b, c]) clock.delete(l);
    assert.equal(clock.size, 0);
  });

  test('tickFor: half the shortest of keepalive, dead and 1 s, at least 50 ms', () => {
    assert.equal(tickFor(5000, 15000), 500);
    assert.equal(tickFor(0, 0), 500);
    assert.equal(tickFor(60, 0), 50);
    assert.equal(tickFor(0, 300), 150);
  });

  test('links on a shared clock still die of silence, and leave the clock when they close', async (t) => {
    const server = net.createServer(() => {}); // accepts and never answers
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.after(() => server.close());
    const clock = new LinkClock(tickFor(0, 200));
    const links = await Promise.all(
      [1, 2, 3].map(async () => {
        const sock = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
        await new Promise((r) => sock.once('connect', r));
        return new StreamLink(sock, { keepaliveMs: 0, deadMs: 200, clock });
      }),
    );
    assert.equal(clock.size, 3);
    const closes = await Promise.all(links.map((l) => new Promise<{ code: number; error?: Error }>((r) => l.once('close', r))));
    assert.ok(closes.every((c) => c.code === 1300 && /no data from the peer/.test(c.error?.message ?? '')));
    assert.equal(clock.size, 0);
  });
});
