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

  test('the wheel: a link is called again when it asks, a parked link only once woken, a deleted one never', async () => {
    const clock = new LinkClock(20);
    const calls: string[] = [];
    let wakeAt = -1;
    let deleted = false;
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    // `probe` runs every tick and drives the steps; `parked` asks for no check; `later` asks for
    // one 100 s on; `gone` is deleted after its first call.
    let probeTicks = 0;
    const parked = { tick: (): number => (calls.push('parked'), Infinity) };
    const later = { tick: (now: number): number => (calls.push('later'), now + 100_000) };
    const gone = { tick: (): void => void calls.push('gone') };
    const probe = {
      tick: (): void => {
        probeTicks++;
        if (probeTicks === 1 && !deleted) {
          deleted = true;
          clock.delete(gone);
        }
        if (probeTicks === 5) {
          wakeAt = calls.length;
          clock.wake(parked);
        }
        if (probeTicks === 8) done();
      },
    };
    for (const l of [parked, later, gone, probe]) clock.add(l);
    const hold = setTimeout(() => done(), 5000);
    await finished;
    clearTimeout(hold);
    for (const l of [parked, later, probe]) clock.delete(l);
    assert.equal(probeTicks, 8);
    assert.equal(calls.filter((c) => c === 'gone').length, 1, 'a deleted link is not called again');
    assert.equal(calls.filter((c) => c === 'later').length, 1, 'a link that asked for a check 100 s on is not called again');
    assert.deepEqual(calls.slice(0, wakeAt).filter((c) => c === 'parked'), ['parked'], 'a parked link is called once, then not until woken');
    assert.deepEqual(calls.slice(wakeAt).filter((c) => c === 'parked'), ['parked'], 'woken, it is called at the next tick');
    assert.equal(clock.size, 0);
  });

  test('a wait longer than one round of the wheel is checked at its time, not when its slot comes round earlier', async () => {
    const clock = new LinkClock(20, 4);
    const asked: number[] = [];
    const got: number[] = [];
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    // Asks for its next check 10 ticks on: its slot comes round twice before that (4 slots).
    const far = {
      tick: (now: number): number | void => {
        got.push(now);
        if (got.length === 3) {
          done();
          return Infinity;
        }
        asked.push(now + 10 * 20);
        return now + 10 * 20;
      },
    };
    // Other entries come and go in the same slots meanwhile.
    const busy = { tick: (): void => undefined };
    clock.add(far);
    clock.add(busy);
    const hold = setTimeout(() => done(), 5000);
    await finished;
    clearTimeout(hold);
    clock.delete(far);
    clock.delete(busy);
    assert.equal(got.length, 3, 'checked three times within 5 s');
    assert.ok(got[1] >= asked[0] && got[2] >= asked[1], `never before the time asked: asked ${asked.join(', ')}, called ${got.join(', ')}`);
    assert.equal(clock.size, 0);
  });

  test("an entry deleted, woken, or deleted and added again by another entry's check in the same slot, before its own turn", async () => {
    const clock = new LinkClock(20);
    const calls: string[] = [];
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    let rounds = 0;
    // All four are added together, so they share their first slot, in this order.
    const first = {
      tick: (): number | void => {
        calls.push('first');
        if (++rounds === 1) {
          clock.delete(victim);
          clock.wake(sleeper);
          // Taken off and put back before its turn: it must be on the clock once, not twice.
          clock.delete(again);
          clock.add(again);
        }
        if (rounds === 4) done();
      },
    };
    const victim = { tick: (): void => void calls.push('victim') };
    const sleeper = { tick: (): number => (calls.push('sleeper'), Infinity) };
    const last = { tick: (): void => void calls.push('last') };
    const againAt: number[] = [];
    const again = { tick: (now: number): void => void againAt.push(now) };
    for (const l of [first, victim, sleeper, again, last]) clock.add(l);
    const hold = setTimeout(() => done(), 5000);
    await finished;
    clearTimeout(hold);
    for (const l of [first, sleeper, again, last]) clock.delete(l);
    assert.equal(calls.filter((c) => c === 'victim').length, 0, 'deleted before its turn: never called');
    assert.equal(new Set(againAt).size, againAt.length, `an entry put back before its turn is called once per tick: ${againAt.join(', ')}`);
    assert.ok(againAt.length >= 2, 'and keeps being called');
    assert.equal(calls.filter((c) => c === 'sleeper').length, 1, 'woken before its turn (it was due already): called once, then parked');
    assert.equal(calls.filter((c) => c === 'last').length, 4, 'the entries after them in the slot still run');
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
