/**
 * bench/lib.ts: the benches measure the package as built (dist/), unless told to run build/src.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as built from '../../src/index.js';
import { describeCamwire, loadCamwire } from '../../bench/lib.js';

describe('bench library loader', () => {
  test('by default it loads dist/index.js, not the modules of build/src', async () => {
    const pkg = await loadCamwire('package');
    assert.equal(pkg.MediaServer.name, 'MediaServer');
    assert.notEqual(pkg.MediaServer, built.MediaServer, 'the default must be the bundle, a copy of its own');
    assert.equal(await loadCamwire(undefined), pkg);
    assert.match(describeCamwire(undefined), /dist\/index\.js/);
  });

  test('CAMWIRE_BENCH_IMPORT=build loads build/src', async () => {
    const b = await loadCamwire('build');
    assert.equal(b.MediaServer, built.MediaServer);
    assert.match(describeCamwire('build'), /build\/src/);
  });

  test('an unknown choice ends with one sentence naming the two that exist', async () => {
    await assert.rejects(loadCamwire('dist2'), /CAMWIRE_BENCH_IMPORT=dist2: use package .* or build/);
  });
});
