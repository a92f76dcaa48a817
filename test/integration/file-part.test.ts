/**
 * A received file's `.part`: a new transfer into a fresh file, and one into a `.part` left longer
 * than the file by an older transfer (its stale tail is cut); each ends identical to the source.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { Receiver, Sender } from '../../src/index.js';
import { next } from '../helpers/events.js';

/** A scratch folder, a Receiver writing files into its `inbox` and a Sender pushing to it; all gone after the test. */
async function filePair(t: TestContext): Promise<{ dir: string; inbox: string; rx: Receiver; tx: Sender }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-part-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const inbox = path.join(dir, 'inbox');
  const rx = new Receiver({ protocol: 'tcp', host: '127.0.0.1', port: 0, fileDir: inbox });
  await rx.start();
  t.after(() => rx.stop());
  const tx = new Sender({ protocol: 'tcp', host: '127.0.0.1', port: rx.port });
  await tx.start();
  t.after(() => tx.stop());
  return { dir, inbox, rx, tx };
}

test('sendFile - a fresh .part and a stale, longer .part both end as the source file', async (t) => {
  const { dir, inbox, rx, tx } = await filePair(t);

  const content = randomBytes(600_000);
  const src = path.join(dir, 'a.bin');
  fs.writeFileSync(src, content);

  let done = next(rx, 'fileEnd');
  await tx.sendFile(src);
  let [end] = await done;
  assert.equal(end.ok, true);
  assert.ok(fs.readFileSync(end.path!).equals(content), 'fresh .part: the file is the source');

  // An older transfer of a longer file under the same name left its .part behind.
  fs.rmSync(end.path!);
  fs.writeFileSync(path.join(inbox, 'a.bin.part'), Buffer.alloc(900_000, 0xee));
  done = next(rx, 'fileEnd');
  const [res] = await tx.sendFile(src);
  assert.equal(res.offset, 0, 'a .part longer than the file is not resumed');
  [end] = await done;
  assert.equal(end.ok, true);
  const got = fs.readFileSync(end.path!);
  assert.equal(got.length, content.length, 'the stale tail is cut');
  assert.ok(got.equals(content));
});

test('sendFile - the receiver\'s folder removed while it runs is made again for the next file', async (t) => {
  const { dir, inbox, rx, tx } = await filePair(t);
  const content = randomBytes(100_000);
  const src = path.join(dir, 'b.bin');
  fs.writeFileSync(src, content);

  fs.rmSync(inbox, { recursive: true });
  const done = next(rx, 'fileEnd');
  await tx.sendFile(src);
  const [end] = await done;
  assert.equal(end.ok, true, end.error?.message);
  assert.equal(end.path, path.join(inbox, 'b.bin'));
  assert.ok(fs.readFileSync(end.path!).equals(content));
});
