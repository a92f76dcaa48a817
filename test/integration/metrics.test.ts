/**
 * /metrics beyond the aggregate series (issue 10, "Metrics"): process metrics, refused HELLOs by
 * reason, and behind options the per-client series and the video latency histogram.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { MediaServer, Sender } from '../../src/index.js';
import { next } from '../helpers/events.js';
import { startClient, startServer } from '../helpers/server-client.js';

async function scrape(s: MediaServer, login?: string): Promise<string> {
  const headers: Record<string, string> = login ? { authorization: `Basic ${Buffer.from(login).toString('base64')}` } : {};
  return (await fetch(`http://127.0.0.1:${s.ports.http}/metrics`, { headers })).text();
}

function server(t: TestContext, o: Parameters<typeof startServer>[1] = {}): Promise<MediaServer> {
  return startServer(t, { tcpPort: 0, udpPort: false, httpPort: 0, ...o });
}

test('metrics - process metrics by default (one registry per server), refused HELLOs by reason', async (t) => {
  const s = await server(t, { auth: { users: [{ user: 'alice', password: 'secret' }] } });
  const other = await server(t);
  const bad = new Sender({ protocol: 'tcp', host: '127.0.0.1', port: s.ports.tcp, clientId: 'cam', auth: { user: 'alice', password: 'nope' }, reconnect: false });
  await bad.start();
  t.after(() => bad.stop());
  const refused = next(bad, 'connectError');
  void bad.sendCommand({ name: 'x' }).catch(() => {});
  await refused;
  const text = await scrape(s, 'alice:secret');
  assert.match(text, /^process_cpu_user_seconds_total \d/m);
  assert.match(text, /^nodejs_eventloop_lag_seconds \d/m);
  assert.match(text, /^camwire_hello_refused_total\{reason="auth_failed"\} 1$/m);
  assert.doesNotMatch(text, /camwire_client_frames_total|camwire_video_latency_seconds/);
  assert.match(await scrape(other), /^process_resident_memory_bytes \d/m);
  const off = await server(t, { metrics: { process: false } });
  assert.doesNotMatch(await scrape(off), /process_cpu_user_seconds_total/);
});

test('metrics - perClient adds series with a client label; latency adds a histogram', async (t) => {
  const s = await server(t, { metrics: { perClient: true, latency: true } });
  const desk = await startClient(t, s, 'desk');
  const cam = await startClient(t, s, 'cam');
  const got = next(desk.rx, 'video');
  cam.tx.sendVideoFrame(Buffer.from([0xff, 0xd8, 0xff, 0xd9]), { to: 'desk', imageType: 'jpeg', width: 1, height: 1 });
  await got;
  const text = await scrape(s);
  assert.match(text, /^camwire_client_frames_total\{client="cam",direction="in",type="video"\} 1$/m);
  assert.match(text, /^camwire_client_frames_total\{client="desk",direction="out",type="video"\} 1$/m);
  assert.match(text, /^camwire_client_bytes_total\{client="cam",direction="in",type="video"\} \d+$/m);
  assert.match(text, /^camwire_video_latency_seconds_count 1$/m);
  assert.match(text, /^camwire_video_latency_seconds_bucket\{le="5"\} 1$/m);
});

test('metrics - a bad metrics option is a ConfigError naming it', () => {
  assert.throws(() => new MediaServer({ metrics: { perClient: 'yes' as never } }), { code: 'CW_ERR_CONFIG_INVALID', message: /option metrics\.perClient: must be true or false/ });
  assert.throws(() => new MediaServer({ metrics: { labels: true } as never }), { message: /option metrics: unknown key "labels"/ });
});

test('metrics - per-client drops by reason: offline (no channel of the type) and not_allowed (contact list)', async (t) => {
  const s = await server(t, { metrics: { perClient: true } });
  const desk = await startClient(t, s, 'desk', { rx: { receiveMediaTypes: ['command', 'data'] } });
  const cam = await startClient(t, s, 'cam');
  // desk has no video channel: the frame is dropped for it as offline.
  cam.tx.sendVideoFrame(Buffer.from([0xff, 0xd8, 0xff, 0xd9]), { to: 'desk', imageType: 'jpeg', width: 1, height: 1 });
  // desk accepts no sender: the data item is refused, and counted for desk as not_allowed.
  await desk.tx.clearAllowedSenders(false);
  await assert.rejects(cam.tx.sendData(Buffer.from('x'), { to: 'desk' }), { code: 'CW_ERR_DELIVERY_REFUSED' });
  const videoDropped = async (): Promise<number> => s.clients().find((c) => c.id === 'desk')!.droppedBy.offline.video;
  // Video and data travel on separate links, so their order at the server is not fixed: wait for
  // the video drop with answered requests, not a timer.
  for (let i = 0; i < 200 && (await videoDropped()) === 0; i++) await scrape(s);
  const info = s.clients().find((c) => c.id === 'desk')!;
  assert.equal(info.droppedBy.offline.video, 1);
  assert.equal(info.droppedBy.not_allowed.data, 1);
  assert.equal(info.droppedBy.slow_reader.video + info.droppedBy.failed.data, 0);
  assert.deepEqual(info.dropped, { video: 1, audio: 0, command: 0, file: 0, data: 1 });
  const text = await scrape(s);
  assert.match(text, /^camwire_client_dropped_total\{client="desk",type="video",reason="offline"\} 1$/m);
  assert.match(text, /^camwire_client_dropped_total\{client="desk",type="data",reason="not_allowed"\} 1$/m);
});
