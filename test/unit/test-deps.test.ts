/**
 * `npm test` brings what it needs (scripts/test-deps.mjs, the `pretest` script): with a tool
 * missing it stops at once with the exact command to run; never a silent skip.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ROOT } from '../helpers/cli.js';

const SCRIPT = path.join(ROOT, 'scripts/test-deps.mjs');

function run(env: NodeJS.ProcessEnv): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) =>
    execFile(process.execPath, [SCRIPT, '--check'], { env }, (err, _stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code) : 0, stderr })),
  );
}

test('test deps - a missing ffmpeg stops with the exact apt-get command', async () => {
  const r = await run({ PATH: '/nonexistent' });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^npm test needs (\S+, )*ffmpeg(, \S+)* \(missing: (\S+, )*ffmpeg, ffprobe(, \S+)*\)\.\n/);
  assert.match(r.stderr, /\nRun: (sudo )?apt-get update && (sudo )?apt-get install -y --no-install-recommends ([a-z]+ )*ffmpeg( [a-z]+)*\n$/);
});

test('test deps - with everything there (as `npm test` made sure) it passes quietly', async () => {
  const r = await run(process.env);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
});

test('test deps - package.json runs it before the tests', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  assert.equal(pkg.scripts.pretest, 'node scripts/test-deps.mjs');
});
