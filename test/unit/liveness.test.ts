/**
 * Liveness per peer session (src/link/liveness.ts, docs/protocol.md 3.4): the grouping logic,
 * driven by hand with made-up times (no timers, no sockets).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Liveness, LivenessGroups, type LivenessClock, type LivenessLink, type LivenessMember } from '../../src/link/liveness.js';
import type { Clocked } from '../../src/link/link-clock.js';

/** A clock that only records what is on it. */
function fakeClock(): LivenessClock & { on: Set<Clocked> } {
  const on = new Set<Clocked>();
  return { on, add: (c) => void on.add(c), delete: (c) => void on.delete(c) };
}

/** A member that records its PINGs and closes itself (leaving the group) when it expires or is closed. */
class Member implements LivenessMember, LivenessLink {
  closed = false;
  pings: number[] = [];
  expired = 0;
  group: Liveness | undefined;
  constructor(readonly name: string) {}
  keepalive(now: number): void {
    this.pings.push(now);
  }
  expire(): void {
    this.expired++;
    this.close();
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.group?.remove(this);
  }
  joinLiveness(g: Liveness): boolean {
    this.group = g;
    g.add(this, 0);
    return true;
  }
}

const T0 = 1_000_000;

describe('Liveness: one keepalive and dead timer for a session', () => {
  test('the dialing side: after keepaliveMs of silence one member pings, each time the next; none pings while any member hears', () => {
    const clock = fakeClock();
    const g = new Liveness({ keepaliveMs: 100, deadMs: 1000, accepted: false, clock });
    const ms = ['a', 'b', 'c'].map((n) => new Member(n));
    for (const m of ms) g.add(m, T0);
    assert.ok(clock.on.has(g), 'the group is on the clock, once');
    assert.equal(clock.on.size, 1);
    assert.equal(g.tick(T0 + 50), T0 + 100, 'next check: the keepalive deadline');
    assert.deepEqual(ms.map((m) => m.pings.length), [0, 0, 0]);
    // Silence: one PING per keepalive period, on a, b, c, a in turn.
    for (let k = 1; k <= 4; k++) g.tick(T0 + 100 * k);
    assert.deepEqual(ms.map((m) => m.pings), [[T0 + 100, T0 + 400], [T0 + 200], [T0 + 300]]);
    // A frame on any member (here: its time stamped on the group) is life for all: no PING until the next silence.
    g.lastRx = T0 + 450;
    assert.equal(g.tick(T0 + 500), T0 + 550);
    assert.equal(ms.reduce((n, m) => n + m.pings.length, 0), 4);
    assert.deepEqual(ms.map((m) => m.expired), [0, 0, 0]);
  });

  test('the accepting side waits min(max(keepaliveMs, deadMs / 2), 3 x keepaliveMs) of silence before its first PING', () => {
    const g = new Liveness({ keepaliveMs: 100, deadMs: 1000, accepted: true, clock: fakeClock() });
    const m = new Member('a');
    g.add(m, T0);
    g.tick(T0 + 200);
    assert.deepEqual(m.pings, []);
    assert.equal(g.tick(T0 + 250), T0 + 300);
    g.tick(T0 + 300);
    assert.deepEqual(m.pings, [T0 + 300]);
  });

  test('silence for deadMs expires every member at once, and the group leaves the clock', () => {
    const clock = fakeClock();
    const g = new Liveness({ keepaliveMs: 100, deadMs: 1000, accepted: false, clock });
    const ms = ['a', 'b', 'c', 'd', 'e'].map((n) => new Member(n));
    for (const m of ms) m.joinLiveness(g);
    g.lastRx = T0;
    assert.equal(g.tick(T0 + 1000), T0 + 1001);
    assert.deepEqual(ms.map((m) => m.expired), [0, 0, 0, 0, 0], 'not at deadMs exactly');
    g.tick(T0 + 1001);
    assert.deepEqual(ms.map((m) => m.expired), [1, 1, 1, 1, 1]);
    assert.equal(g.size, 0);
    assert.equal(clock.on.size, 0);
  });

  test('PINGs during a silence until the dead timer: at most one per keepalive period in all, not one per member', () => {
    const g = new Liveness({ keepaliveMs: 100, deadMs: 1000, accepted: false, clock: fakeClock() });
    const ms = ['a', 'b', 'c', 'd', 'e'].map((n) => new Member(n));
    for (const m of ms) m.joinLiveness(g);
    g.lastRx = T0;
    for (let t = T0; ms.some((m) => !m.closed); t += 10) g.tick(t);
    const pings = ms.flatMap((m) => m.pings).sort((x, y) => x - y);
    assert.equal(pings.length, 10, `PINGs at ${pings.map((p) => p - T0)}`);
    for (let i = 1; i < pings.length; i++) assert.ok(pings[i] - pings[i - 1] >= 100);
    assert.deepEqual(ms.map((m) => m.pings.length), [2, 2, 2, 2, 2], 'in turn');
  });

  test('a member that closes hands its turn on; the group keeps checking the rest; the last one takes it off the clock', () => {
    const clock = fakeClock();
    let emptied = 0;
    const g = new Liveness({ keepaliveMs: 100, deadMs: 0, accepted: false, clock }, () => emptied++);
    const [a, b, c] = ['a', 'b', 'c'].map((n) => new Member(n));
    for (const m of [a, b, c]) m.joinLiveness(g);
    g.lastRx = T0;
    g.tick(T0 + 100); // a
    assert.equal(g.next, b);
    b.close();
    assert.equal(g.next, c, 'the next in turn after the closed member');
    g.tick(T0 + 200);
    assert.deepEqual(c.pings, [T0 + 200]);
    c.close();
    g.tick(T0 + 300);
    g.tick(T0 + 400);
    assert.deepEqual(a.pings, [T0 + 100, T0 + 300, T0 + 400], 'the only member left pings alone');
    assert.equal(g.tick(T0 + 450), T0 + 500, 'deadMs 0: only the keepalive deadline');
    assert.ok(clock.on.has(g));
    a.close();
    assert.equal(clock.on.size, 0);
    assert.equal(emptied, 1);
  });

  test('a member joining brings its own last arrival and PING: the group starts from the latest', () => {
    const g = new Liveness({ keepaliveMs: 100, deadMs: 1000, accepted: false, clock: fakeClock() });
    g.add(new Member('a'), T0);
    g.add(new Member('b'), T0 + 500, T0 + 480);
    assert.equal(g.lastRx, T0 + 500);
    assert.equal(g.tick(T0 + 550), T0 + 600);
    const closedOne = new Member('c');
    closedOne.closed = true;
    g.add(closedOne, T0 + 900);
    assert.equal(g.size, 2, 'a closed link does not join');
    assert.equal(g.lastRx, T0 + 500);
  });
});

describe('LivenessGroups: which links share a group', () => {
  const session = (o: Partial<{ clientId: string; sessionKey: bigint; transport: string; remoteAddress: string }> = {}) => ({
    clientId: 'c1',
    sessionKey: 7n,
    transport: 'tcp',
    remoteAddress: '10.0.0.1',
    ...o,
  });

  test('the channels of one session (client id, session key, transport, peer address) share one group; others get their own', () => {
    const clock = fakeClock();
    const groups = new LivenessGroups({ keepaliveMs: 100, deadMs: 1000, accepted: true, clock });
    const ms = Array.from({ length: 5 }, (_, i) => new Member(`m${i}`));
    const g = ms.map((m) => groups.join(m, session()));
    assert.ok(g[0]);
    assert.ok(g.every((x) => x === g[0]));
    assert.equal(g[0]!.size, 5);
    const others = [
      groups.join(new Member('key'), session({ sessionKey: 8n })),
      groups.join(new Member('id'), session({ clientId: 'c2' })),
      groups.join(new Member('addr'), session({ remoteAddress: '10.0.0.2' })),
      groups.join(new Member('ws'), session({ transport: 'ws' })),
    ];
    assert.equal(new Set([g[0], ...others]).size, 5);
    assert.equal(groups.size, 5);
    assert.equal(clock.on.size, 5, 'one clock entry per session, not per channel');
  });

  test('session key 0 names no session: such links keep their own timers', () => {
    const groups = new LivenessGroups({ keepaliveMs: 100, deadMs: 1000, accepted: true, clock: fakeClock() });
    const m = new Member('bare');
    assert.equal(groups.join(m, session({ sessionKey: 0n })), undefined);
    assert.equal(m.group, undefined);
    assert.equal(groups.size, 0);
  });

  test('a group goes when its last member closes; the next channel of that session starts a new one', () => {
    const clock = fakeClock();
    const groups = new LivenessGroups({ keepaliveMs: 100, deadMs: 1000, accepted: true, clock });
    const [a, b] = [new Member('a'), new Member('b')];
    const g1 = groups.join(a, session());
    groups.join(b, session());
    a.close();
    assert.equal(groups.size, 1);
    b.close();
    assert.equal(groups.size, 0);
    assert.equal(clock.on.size, 0);
    const c = new Member('c');
    const g2 = groups.join(c, session());
    assert.ok(g2 && g2 !== g1);
    assert.equal(g2.size, 1);
  });

  test('a link that cannot share (no keepalive or dead timer: HTTP) joins no group and leaves none behind', () => {
    const groups = new LivenessGroups({ keepaliveMs: 100, deadMs: 1000, accepted: true, clock: fakeClock() });
    const http: LivenessLink = { closed: false, joinLiveness: () => false };
    assert.equal(groups.join(http, session()), undefined);
    assert.equal(groups.size, 0);
  });
});
