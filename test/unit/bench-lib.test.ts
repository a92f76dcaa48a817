/**
 * bench/lib.ts: the benches measure the package as built (dist/), unless told to run build/src.
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as built from '../../src/index.js';
import { describeCamwire, loadCamwire } from '../../bench/lib.js';

/** Sets CAMWIRE_BENCH_IMPORT (undefined: unset) for the rest of the test, then puts back what the shell had. */
function benchImportEnv(t: TestContext, value: string | undefined): void {
  const was = process.env.CAMWIRE_BENCH_IMPORT;
  const set = (v: string | undefined): void => {
    if (v === undefined) delete process.env.CAMWIRE_BENCH_IMPORT;
    else process.env.CAMWIRE_BENCH_IMPORT = v;
  };
  set(value);
  t.after(() => set(was));
}

describe('bench library loader', () => {
  test('by default it loads dist/index.js, not the modules of build/src', async (t) => {
    // The default is what an unset CAMWIRE_BENCH_IMPORT gives, whatever the shell running the tests set.
    benchImportEnv(t, undefined);
    const pkg = await loadCamwire('package');
    assert.equal(pkg.MediaServer.name, 'MediaServer');
    assert.notEqual(pkg.MediaServer, built.MediaServer, 'the default must be the bundle, a copy of its own');
    assert.equal(await loadCamwire(undefined), pkg);
    assert.match(describeCamwire(undefined), /dist\/index\.js/);
  });

  test('CAMWIRE_BENCH_IMPORT=build loads build/src', async (t) => {
    const b = await loadCamwire('build');
    assert.equal(b.MediaServer, built.MediaServer);
    assert.match(describeCamwire('build'), /build\/src/);
    benchImportEnv(t, 'build');
    assert.equal(await loadCamwire(), b, 'read from the environment when not given');
  });

  test('an unknown choice ends with one sentence naming the two that exist', async () => {
    await assert.rejects(loadCamwire('dist2'), /CAMWIRE_BENCH_IMPORT=dist2: use package .* or build/);
    assert.throws(() => describeCamwire('dist2'), /CAMWIRE_BENCH_IMPORT=dist2/);
  });
});
