/**
 * makeDir (src/make-dir.ts): creates missing folders top down, and fails at once where Node's
 * recursive mkdir loops forever (a folder under /proc).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { makeDir } from '../../src/make-dir.js';

test('makeDir - creates missing parents, accepts an existing folder, refuses a file in the way', (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-mkdir-'));
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  const deep = path.join(root, 'a', 'b', 'c');
  makeDir(deep);
  assert.ok(fs.statSync(deep).isDirectory());
  makeDir(deep);
  makeDir(path.relative(process.cwd(), deep));
  fs.writeFileSync(path.join(root, 'file'), 'x');
  assert.throws(() => makeDir(path.join(root, 'file')), { code: 'ENOTDIR' });
  assert.throws(() => makeDir(path.join(root, 'file', 'sub')), { code: 'ENOTDIR' });
});

test('makeDir - a folder the kernel will not create under an existing one (procfs) fails at once with its error', { skip: !fs.existsSync('/proc/self') && 'no /proc here' }, () => {
  assert.throws(() => makeDir('/proc/camwire-cannot-be/sub'), (err: NodeJS.ErrnoException) => err.code === 'ENOENT' || err.code === 'EACCES' || err.code === 'EPERM');
});
