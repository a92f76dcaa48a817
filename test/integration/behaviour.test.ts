/**
 * The behavioural suite (docs/behaviour.md, sections 1-4, 6): one set of tests, run once per
 * transport wherever the mode allows it. HTTP runs through a real HTTP proxy (tinyproxy).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import {
  ConfigError,
  DeliveryError,
  MEDIA_TYPES,
  Receiver,
  Sender,
  type MediaTypeName,
  type ReceiverOptions,
  type SenderOptions,
} from '../../src/index.js';
import { count, next, names, record, until, type Rec } from '../helpers/events.js';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { startTcpRelay } from '../helpers/tcp-relay.js';

type Transport = 'tcp' | 'udp' | 'http';

/** A port nothing listens on: bind, read, close. */
async function deadPort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

function tmpdir(t: TestContext): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-test-'));
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

/** Checks the contract's per-channel order and returns the channel's event names. */
function channelSeq(recs: Rec[], type: MediaTypeName): string[] {
  return recs.filter((r) => r.mediaTypes[0] === type).map((r) => r.name);
}

const proxies: { http?: Proxy } = {};

/**
 * HTTP runs twice: as it comes (links upgraded to the byte stream inside the proxy's tunnel,
 * docs/protocol.md 6.6) and as requests (`httpUpgrade: 'never'`: streams up, long polls down).
 */
type Variant = Transport | 'http-requests';
const protocolOf = (v: Variant): Transport => (v === 'http-requests' ? 'http' : v);

function clientExtras(v: Variant): Partial<SenderOptions> {
  return v === 'http' ? { proxy: proxies.http!.url } : v === 'http-requests' ? { proxy: proxies.http!.url, httpUpgrade: 'never' } : {};
}

before(async () => {
  proxies.http = await startProxy();
});
after(async () => {
  await proxies.http?.stop();
});

for (const variant of ['tcp', 'udp', 'http', 'http-requests'] as const) {
  const transport = protocolOf(variant);
  describe(`push over ${variant}`, () => {
    async function pair(t: TestContext, rxo: Partial<ReceiverOptions> = {}, txo: Partial<SenderOptions> = {}) {
      const rx = new Receiver({ protocol: transport, host: '127.0.0.1', port: 0, ...rxo });
      const rxEv = record(rx);
      await rx.start();
      t.after(() => rx.stop());
      const tx = new Sender({ protocol: transport, host: '127.0.0.1', port: rx.port, idleTimeoutMs: 200, ...clientExtras(variant), ...txo });
      const txEv = record(tx);
      await tx.start();
      t.after(() => tx.stop());
      return { rx, tx, rxEv, txEv };
    }

    test('events - one video frame: connecting, connected, then the idle disconnect, on both sides', async (t) => {
      const { rx, tx, rxEv, txEv } = await pair(t);
      const got = next(rx, 'video');
      const rxGone = next(rx, 'disconnect');
      const txGone = next(tx, 'disconnect');
      tx.sendVideoFrame(Buffer.from('frame'), { width: 2, height: 2 });
      await got;
      await Promise.all([rxGone, txGone]);
      const key = tx.sessionKey;
      assert.notEqual(key, 0n);
      assert.deepEqual(txEv, [
        { name: 'connecting', sessionKey: key, mediaTypes: ['video'], remoteSessionKey: 0n },
        { name: 'connected', sessionKey: key, mediaTypes: ['video'], remoteSessionKey: 0n },
        { name: 'disconnect', sessionKey: key, mediaTypes: ['video'], remoteSessionKey: 0n },
      ]);
      assert.deepEqual(rxEv, [
        { name: 'connecting', sessionKey: 0n, mediaTypes: [], remoteSessionKey: key },
        { name: 'connected', sessionKey: 0n, mediaTypes: [], remoteSessionKey: key },
        { name: 'disconnect', sessionKey: 0n, mediaTypes: [], remoteSessionKey: key },
      ]);
      if (transport === 'http') assert.ok(proxies.http!.requests().length > 0, 'HTTP traffic went through the proxy');
    });

    test('events - one connection per media type; the receiver never raises channel or session events', async (t) => {
      const { rx, tx, rxEv, txEv } = await pair(t, {}, { idleTimeoutMs: 5000 });
      const gotV = next(rx, 'video');
      const gotA = next(rx, 'audio');
      tx.sendVideoFrame(Buffer.alloc(10));
      tx.sendAudio(Buffer.alloc(960), { sampleRate: 48000, channels: 1 });
      await tx.sendCommand({ name: 'ping' });
      await Promise.all([gotV, gotA]);
      assert.deepEqual(
        txEv.filter((r) => r.name === 'connected').map((r) => r.mediaTypes[0]).sort(),
        ['audio', 'command', 'video'],
      );
      assert.equal(rxEv.filter((r) => r.name === 'connected').length, 3);
      assert.ok(rxEv.every((r) => ['connecting', 'connected', 'connectError', 'disconnect'].includes(r.name)));
      assert.ok(rxEv.every((r) => r.sessionKey === 0n && r.mediaTypes.length === 0 && r.remoteSessionKey === tx.sessionKey));
    });

    test('media - all five types arrive with their metadata, media index and sender id', async (t) => {
      const dir = tmpdir(t);
      const { rx, tx } = await pair(t, {}, { clientId: 'alice', idleTimeoutMs: 5000 });
      const video = next(rx, 'video');
      const audio = next(rx, 'audio');
      const cmd = next(rx, 'command');
      const data = next(rx, 'data');
      const fileEnd = next(rx, 'fileEnd');
      const chunks: Buffer[] = [];
      rx.on('fileData', (f) => chunks.push(Buffer.from(f.data)));
      const jpeg = Buffer.alloc(70000, 0xab);
      tx.sendVideoFrame(jpeg, { imageType: 'jpeg', width: 640, height: 480, mediaIndex: 2, timestamp: 1234.5 });
      tx.sendAudio(Buffer.alloc(1920, 1), { codec: 'opus', sampleRate: 48000, channels: 2, timestamp: 99 });
      await tx.sendCommand({ name: 'zoom', params: { level: 2, ratio: 1.5, label: 'x', on: true, raw: Buffer.from([1, 2]), f: { type: 'float', value: 3 } } }, { mediaIndex: 1 });
      await tx.sendData(Buffer.from('blob'), { to: '' });
      const file = path.join(dir, 'clip.bin');
      const content = Buffer.alloc(200_000);
      for (let i = 0; i < content.length; i++) content[i] = (i * 31) & 0xff;
      fs.writeFileSync(file, content);
      const [res] = await tx.sendFile(file);

      const [v, vm] = await video;
      assert.equal(v.imageType, 'jpeg');
      assert.equal(v.width, 640);
      assert.equal(v.keyframe, true);
      assert.equal(v.timestamp, 1234.5);
      assert.ok(v.data.equals(jpeg));
      assert.equal(vm.mediaIndex, 2);
      assert.equal(vm.from, 'alice');
      assert.equal(vm.remoteSessionKey, tx.sessionKey);
      const [a] = await audio;
      assert.deepEqual([a.codec, a.sampleRate, a.channels, a.timestamp, a.data.length], ['opus', 48000, 2, 99, 1920]);
      const [c, cm] = await cmd;
      assert.equal(c.name, 'zoom');
      assert.deepEqual({ ...c.params }, { level: 2, ratio: 1.5, label: 'x', on: true, raw: Buffer.from([1, 2]), f: 3 });
      assert.equal(c.types.f, 'float');
      assert.equal(cm.mediaIndex, 1);
      const [d] = await data;
      assert.equal(d.toString(), 'blob');
      const [fe] = await fileEnd;
      assert.equal(fe.ok, true);
      assert.equal(fe.size, content.length);
      assert.ok(Buffer.concat(chunks).equals(content));
      assert.equal(fe.sha256, createHash('sha256').update(content).digest('hex'));
      assert.equal(res.sha256, fe.sha256);
    });

    test('command - sendCommand settles only after the receiver raised the event (WaitForSendCmd)', async (t) => {
      const { rx, tx } = await pair(t);
      const order: string[] = [];
      rx.on('command', (c) => order.push(`rx:${c.name}`));
      for (const name of ['a', 'b', 'c']) {
        await tx.sendCommand({ name });
        order.push(`acked:${name}`);
      }
      assert.deepEqual(order, ['rx:a', 'acked:a', 'rx:b', 'acked:b', 'rx:c', 'acked:c']);
      // API misuse throws synchronously (nothing is sent).
      assert.throws(() => tx.sendCommand({ name: 'RV_SECRET' }), (e: unknown) => e instanceof ConfigError && e.code === 'CW_ERR_COMMAND_RESERVED_NAME');
      assert.throws(() => tx.sendCommand({ name: 'RVS_X' }), { code: 'CW_ERR_COMMAND_RESERVED_NAME' });
    });

    test('addressing - a receiver with a client id refuses a sender addressed to another id', async (t) => {
      const { rx, tx, rxEv, txEv } = await pair(t, { clientId: 'bob' }, { to: 'carol' });
      const refused = next(tx, 'connectError');
      const p = tx.sendCommand({ name: 'x' });
      p.catch(() => {});
      const [ev] = await refused;
      assert.equal(ev.error?.code, 'CW_ERR_REMOTE_CLOSE');
      assert.deepEqual(names(txEv).slice(0, 2), ['connecting:command', 'connectError:command']);
      await until(rx, 'connectError', () => rxEv.some((r) => r.name === 'connectError'));
      assert.deepEqual(names(rxEv), ['connecting', 'connectError']);
      await tx.stop();
      await assert.rejects(p, DeliveryError);
    });

    test('addressing - the senders list accepts only listed client ids', async (t) => {
      const rx = new Receiver({ protocol: transport, host: '127.0.0.1', port: 0, senders: [{ clientId: 'good' }] });
      await rx.start();
      t.after(() => rx.stop());
      const good = new Sender({ protocol: transport, host: '127.0.0.1', port: rx.port, clientId: 'good', ...clientExtras(variant) });
      const bad = new Sender({ protocol: transport, host: '127.0.0.1', port: rx.port, clientId: 'evil', reconnect: false, ...clientExtras(variant) });
      await good.start();
      await bad.start();
      t.after(() => Promise.all([good.stop(), bad.stop()]));
      const from: string[] = [];
      rx.on('data', (_d, m) => from.push(m.from));
      await good.sendData(Buffer.from('1'));
      await assert.rejects(bad.sendData(Buffer.from('2')), DeliveryError);
      assert.deepEqual(from, ['good']);
    });

    test('connectError - nothing listening: connecting then connectError, no connected', async (t) => {
      const port = await deadPort();
      const tx = new Sender({ protocol: transport, host: '127.0.0.1', port, connectTimeoutMs: 500, reconnect: false, ...clientExtras(variant) });
      const ev = record(tx);
      await tx.start();
      t.after(() => tx.stop());
      const failed = next(tx, 'connectError');
      const p = tx.sendData(Buffer.from('x'));
      await failed;
      await assert.rejects(p, (e: unknown) => e instanceof DeliveryError);
      assert.deepEqual(names(ev), ['connecting:data', 'connectError:data']);
      assert.ok(ev[1].error);
    });

    test('several senders into one receiver, told apart by client id', async (t) => {
      const rx = new Receiver({ protocol: transport, host: '127.0.0.1', port: 0 });
      await rx.start();
      t.after(() => rx.stop());
      const senders = ['s1', 's2', 's3'].map((id) => new Sender({ protocol: transport, host: '127.0.0.1', port: rx.port, clientId: id, ...clientExtras(variant) }));
      for (const s of senders) {
        await s.start();
        t.after(() => s.stop());
      }
      const from = new Set<string>();
      rx.on('command', (_c, m) => from.add(m.from));
      await Promise.all(senders.map((s) => s.sendCommand({ name: 'hello' })));
      assert.deepEqual([...from].sort(), ['s1', 's2', 's3']);
    });

    test('video - latest wins: frames queued behind a busy link are dropped and counted, never delayed', async (t) => {
      const { rx, tx } = await pair(t, {}, { idleTimeoutMs: 5000 });
      let received = 0;
      let lastIndex = -1;
      let ordered = true;
      rx.on('video', (v) => {
        received++;
        const i = v.data.readUInt32BE(0);
        if (i <= lastIndex) ordered = false;
        lastIndex = i;
      });
      const N = 300;
      for (let i = 0; i < N; i++) {
        const b = Buffer.alloc(64 * 1024);
        b.writeUInt32BE(i, 0);
        tx.sendVideoFrame(b);
      }
      // The last frame always gets through: nothing newer can replace it.
      await until(rx, 'video', () => lastIndex === N - 1, 15000);
      assert.ok(ordered, 'frames never arrive out of order');
      const dropped = tx.stats.dropped.video;
      assert.ok(dropped > 0, 'a burst faster than the link drops frames');
      if (transport !== 'udp') assert.equal(received + dropped, N, 'every frame is either delivered or counted as dropped');
    });
  });
}

for (const variant of ['tcp', 'http', 'http-requests'] as const) {
  const transport = protocolOf(variant);
  describe(`pull over ${variant}`, () => {
    async function startSender(t: TestContext, o: Partial<SenderOptions> = {}) {
      const tx = new Sender({ protocol: transport, connection: 'receiver-to-sender', host: '127.0.0.1', port: 0, clientId: 'cam', ...o });
      const ev = record(tx);
      await tx.start();
      t.after(() => tx.stop());
      return { tx, ev };
    }
    function receiver(t: TestContext, port: number, o: Partial<ReceiverOptions> = {}) {
      const rx = new Receiver({
        protocol: transport,
        connection: 'receiver-to-sender',
        senders: [{ host: '127.0.0.1', port, clientId: 'cam' }],
        reconnect: false,
        ...clientExtras(variant),
        ...o,
      });
      const ev = record(rx);
      t.after(() => rx.stop());
      return { rx, ev };
    }

    test('events - a session of five channels opens, then closes, in the contract order', async (t) => {
      const { tx, ev: txEv } = await startSender(t);
      const { rx, ev } = receiver(t, tx.port);
      const up = next(rx, 'sessionConnected');
      await rx.start();
      await up;
      const key = rx.sessionKey;
      const down = next(rx, 'sessionDisconnected');
      const txDown = count(tx, 'disconnect', 5);
      await rx.stop();
      await down;
      await txDown;
      // Opening is synchronous and ordered: each channel's openChannel then connecting, in type order.
      assert.deepEqual(names(ev.slice(0, 10)), MEDIA_TYPES.flatMap((m) => [`openChannel:${m}`, `connecting:${m}`]));
      // Channels connect in whatever order the network gives; the session follows the last one.
      assert.deepEqual(names(ev.slice(10, 15)).sort(), MEDIA_TYPES.map((m) => `connected:${m}`).sort());
      assert.deepEqual(names(ev.slice(15, 16)), ['sessionConnected']);
      for (const m of MEDIA_TYPES) assert.deepEqual(channelSeq(ev, m), ['openChannel', 'connecting', 'connected', 'disconnect', 'closeChannel']);
      assert.deepEqual(names(ev.slice(-1)), ['sessionDisconnected']);
      assert.equal(ev.length, 5 * 5 + 2);
      for (const r of ev) {
        const session = r.name.startsWith('session');
        assert.equal(r.sessionKey, session ? key : 0n, `${r.name} sessionKey`);
        assert.deepEqual(r.mediaTypes.length, session ? 0 : 1);
        assert.equal(r.remoteSessionKey, 0n, 'the initiating side sees remoteSessionKey 0');
      }
      // The accepting sender sees the receiver's key, no media types, its own session key.
      assert.deepEqual(names(txEv), [...Array(5).fill(['connecting', 'connected']).flat(), ...Array(5).fill('disconnect')]);
      for (const r of txEv) {
        assert.equal(r.sessionKey, tx.sessionKey);
        assert.deepEqual(r.mediaTypes, []);
        assert.equal(r.remoteSessionKey, key);
      }
    });

    test('events - a failed attempt with nothing listening: per channel connectError and closeChannel, then sessionDisconnected', async (t) => {
      const port = await deadPort();
      const { rx, ev } = receiver(t, port, { receiveMediaTypes: ['video', 'command'], connectTimeoutMs: 2000 });
      const down = next(rx, 'sessionDisconnected');
      await rx.start();
      const [sd] = await down;
      for (const m of ['video', 'command'] as const) {
        assert.deepEqual(channelSeq(ev, m), ['openChannel', 'connecting', 'connectError', 'closeChannel']);
      }
      assert.ok(!ev.some((r) => r.name === 'sessionConnected'), 'no sessionConnected before a failed attempt');
      assert.deepEqual(names(ev.slice(-1)), ['sessionDisconnected']);
      assert.equal(sd.sessionKey, rx.sessionKey);
      assert.ok(sd.error);
      assert.ok(ev.filter((r) => r.name === 'connectError').every((r) => r.error));
    });

    test('events - a reconnection gives a new session key; the sender sees it as remoteSessionKey', async (t) => {
      const first = await startSender(t);
      const port = first.tx.port;
      const { rx, ev } = receiver(t, port, { receiveMediaTypes: ['command', 'data'], reconnect: { initialDelayMs: 50, maxDelayMs: 200 } });
      const up1 = next(rx, 'sessionConnected');
      await rx.start();
      const [s1] = await up1;
      const down = next(rx, 'sessionDisconnected');
      await first.tx.stop();
      await down;
      const second = await startSender(t, { port });
      const [s2] = await next(rx, 'sessionConnected');
      assert.notEqual(s1.sessionKey, s2.sessionKey);
      assert.equal(s2.sessionKey, rx.sessionKey);
      const seen = second.ev.filter((r) => r.name === 'connected').map((r) => r.remoteSessionKey);
      assert.deepEqual(seen, [s2.sessionKey, s2.sessionKey]);
      assert.equal(ev.filter((r) => r.name === 'sessionConnected').length, 2);
      await second.tx.sendCommand({ name: 'after-reconnect' });
    });

    test('media - all five types flow over their channels; several receivers pull from one sender', async (t) => {
      const dir = tmpdir(t);
      const { tx } = await startSender(t);
      const a = receiver(t, tx.port, { clientId: 'a' });
      const b = receiver(t, tx.port, { clientId: 'b' });
      await Promise.all([a, b].map(async ({ rx }) => {
        const up = next(rx, 'sessionConnected');
        await rx.start();
        await up;
      }));
      for (const { rx } of [a, b]) {
        const got: string[] = [];
        rx.on('command', (c) => got.push(c.name));
      }
      const videos = [a, b].map(({ rx }) => next(rx, 'video'));
      const audios = [a, b].map(({ rx }) => next(rx, 'audio'));
      const datas = [a, b].map(({ rx }) => next(rx, 'data'));
      const cmds = [a, b].map(({ rx }) => next(rx, 'command'));
      const ends = [a, b].map(({ rx }) => next(rx, 'fileEnd'));
      tx.sendVideoFrame(Buffer.alloc(100_000, 5), { width: 320, height: 240 });
      tx.sendAudio(Buffer.alloc(640));
      await tx.sendCommand({ name: 'both', params: { n: 1 } });
      await tx.sendData(Buffer.alloc(1_000_000, 9));
      const file = path.join(dir, 'f.bin');
      fs.writeFileSync(file, Buffer.alloc(300_000, 7));
      const results = await tx.sendFile(file);
      assert.equal(results.length, 2);
      for (const p of [...videos, ...audios, ...datas, ...cmds]) await p;
      for (const p of ends) assert.equal((await p)[0].ok, true);
      assert.equal((await datas[0])[0].length, 1_000_000);
      assert.equal((await cmds[1])[1].from, 'cam');
    });

    if (transport === 'tcp') {
      test('events - one channel dying ends the session: every channel closes, then sessionDisconnected', async (t) => {
        const { tx } = await startSender(t);
        const relay = await startTcpRelay(tx.port);
        t.after(() => relay.close());
        const { rx, ev } = receiver(t, relay.port, { receiveMediaTypes: ['video', 'audio', 'command'] });
        const up = next(rx, 'sessionConnected');
        await rx.start();
        await up;
        const down = next(rx, 'sessionDisconnected');
        relay.pairs[1][1].destroy();
        await down;
        const after = ev.slice(ev.findIndex((r) => r.name === 'sessionConnected') + 1);
        for (const m of ['video', 'audio', 'command'] as const) {
          assert.deepEqual(channelSeq(after, m), ['disconnect', 'closeChannel']);
        }
        assert.deepEqual(names(after.slice(-1)), ['sessionDisconnected']);
        assert.equal(after.filter((r) => r.name === 'sessionDisconnected').length, 1);
        assert.ok(after.some((r) => r.name === 'disconnect' && r.error), 'the dead channel reports its error');
      });
    }

    test('command - a command sent before any receiver connects waits for the channel, then is delivered', async (t) => {
      const { tx } = await startSender(t);
      const p = tx.sendCommand({ name: 'early' });
      const { rx } = receiver(t, tx.port, { receiveMediaTypes: ['command'] });
      const got = next(rx, 'command');
      await rx.start();
      await p;
      assert.equal((await got)[0].name, 'early');
    });

    test('command - with no receiver at all, sendCommand rejects after the command timeout', async (t) => {
      const { tx } = await startSender(t, { timeouts: { command: 200 } });
      await assert.rejects(tx.sendCommand({ name: 'nobody' }), { code: 'CW_ERR_DELIVERY_TIMEOUT' });
    });
  });
}

describe('options', () => {
  test('bad options throw a ConfigError that names the option', () => {
    assert.throws(() => new Sender({ protocol: 'sctp' as never, port: 1 }), /option protocol/);
    assert.throws(() => new Sender({ protocol: 'udp', connection: 'receiver-to-sender' }), /udp works only/);
    assert.throws(() => new Sender({ port: 0 }), /option port/);
    assert.throws(() => new Receiver({ connection: 'receiver-to-sender' }), /option senders/);
    assert.throws(() => new Receiver({ receiveMediaTypes: ['smell' as never] }), /receiveMediaTypes/);
    assert.throws(() => new Sender({ port: 1, clientId: 'x'.repeat(65) }), /clientId/);
    assert.throws(() => new Sender({ port: 1, timeouts: { video: -1 } }), /timeouts.video/);
  });

  test('sending before start() is an error, not a silent drop', () => {
    const tx = new Sender({ port: 1 });
    assert.throws(() => tx.sendVideoFrame(Buffer.alloc(1)), { code: 'CW_ERR_NOT_STARTED' });
  });
});
