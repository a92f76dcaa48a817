/**
 * Change-detection video through a hub (issue 11, "received media sent on as a source"): a
 * camera in change mode -> a hub (a Receiver, and a Sender taking it as its source) -> a
 * MediaServer -> a viewer that joins late. Rectangles pass through as rectangles; the viewer's
 * need for a full frame travels upstream: the server asks the hub, the hub asks the camera.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Receiver, Sender } from '../../src/index.js';
import { next } from '../helpers/events.js';
import { until } from '../helpers/wait.js';
import { pictures, shows } from '../helpers/pictures.js';
import { rgbaToRgb, ScreenScene } from '../helpers/screen-scene.js';
import { startServer } from '../helpers/server-client.js';

const W = 320;
const H = 200;

test('relay of change-detection video: a late viewer behind a hub gets a full frame asked for from the camera, then rectangles', async (t) => {
  const server = await startServer(t);
  const hubRx = new Receiver({ protocol: 'tcp', host: '127.0.0.1', port: 0 });
  await hubRx.start();
  t.after(() => hubRx.stop());
  const hubTx = new Sender({ protocol: 'tcp', host: '127.0.0.1', port: server.ports.tcp, clientId: 'hub', to: 'viewer', source: { receiver: hubRx, from: 'cam' } });
  await hubTx.start();
  t.after(() => hubTx.stop());
  const cam = new Sender({ protocol: 'tcp', host: '127.0.0.1', port: hubRx.port, clientId: 'cam', video: { encoding: 'change', imageType: 'png' } });
  await cam.start();
  t.after(() => cam.stop());
  const scene = new ScreenScene({ width: W, height: H, cursor: 32, fps: 5 });
  // Before the viewer: a full frame and rectangles go through the hub to a server with no reader.
  const forwarded = next(server, 'connected');
  for (let n = 0; n < 3; n++) await cam.sendVideoPixels(scene.frame(n), { width: W, height: H, format: 'rgba' });
  await forwarded;
  // The server has routed them (to nobody) before the viewer comes: else the full frame may reach it.
  await until(() => server.stats().unrouted.video >= 3, { on: [[server, 'connected']], checkAfterMs: [20, 100, 300, 1000, 3000], what: () => `3 frames unrouted on the server, ${JSON.stringify(server.stats().unrouted)}` });

  const viewer = new Receiver({ protocol: 'tcp', connection: 'receiver-to-sender', senders: [{ host: '127.0.0.1', port: server.ports.tcp }], clientId: 'viewer', receiveMediaTypes: ['video'], video: { compose: 'rgb' }, reconnect: false });
  const seen = pictures(viewer);
  await viewer.start();
  t.after(() => viewer.stop());
  await viewer.whenConnected();

  // The next frame is rectangles: the viewer's queue on the server cannot take them before a full
  // frame, so the server asks the hub, whose Sender asks its source's camera.
  const asked = next(cam, 'fullFrameRequest');
  assert.equal((await cam.sendVideoPixels(scene.frame(3), { width: W, height: H, format: 'rgba' })).sent, 'rects');
  await asked;
  assert.equal((await cam.sendVideoPixels(scene.frame(4), { width: W, height: H, format: 'rgba' })).sent, 'full');
  await shows(viewer, seen, rgbaToRgb(scene.frame(4)), 'late viewer');
  // Then rectangles again, composed on that picture.
  assert.equal((await cam.sendVideoPixels(scene.frame(5), { width: W, height: H, format: 'rgba' })).sent, 'rects');
  await shows(viewer, seen, rgbaToRgb(scene.frame(5)), 'late viewer, after rectangles');
  assert.equal(viewer.stats.compose!.waiting, 0, 'no rectangle reached the viewer before its full frame');
});
