/**
 * `send --encrypt-key` / `receive --decrypt-key` (docs/cli.md, Encryption): key formats, a bad
 * key file (exit 2), the same key in two formats decrypts, another key is a counted decode error
 * (the receiver lives on and exits 0 on Ctrl-C), and a hub (`--forward`) relays ciphertext.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { cli } from '../helpers/cli.js';

function tmp(t: TestContext): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-crypt-'));
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

test('cli crypt - a key file that is not 256 bits is exit 2, naming the flag', async (t) => {
  const dir = tmp(t);
  const bad = path.join(dir, 'short.key');
  fs.writeFileSync(bad, 'abcd\n');
  const send = cli(t, ['send', '--server', '127.0.0.1:1', '--encrypt-key', bad]);
  assert.equal(await send.exited, 2);
  assert.match(send.stderr(), /--encrypt-key: .*short\.key is not a 256-bit key/);
  const rx = cli(t, ['receive', '--listen', '127.0.0.1:0', '--decrypt-key', path.join(dir, 'missing.key')]);
  assert.equal(await rx.exited, 2);
  assert.match(rx.stderr(), /--decrypt-key: cannot read .*missing\.key: no such file/);
  const stray = cli(t, ['receive', '--listen', '127.0.0.1:0', '--forward-to', 'x']);
  assert.equal(await stray.exited, 2);
  assert.match(stray.stderr(), /--forward-to and --forward-from go with --forward/);
});

test('cli crypt - the same key as raw bytes and as hex decrypts; another key is a counted decode error, and the receiver lives on', { timeout: 60000 }, async (t) => {
  const dir = tmp(t);
  const key = randomBytes(32);
  const [raw, hex, other] = ['raw.key', 'hex.key', 'other.key'].map((n) => path.join(dir, n));
  fs.writeFileSync(raw, key);
  fs.writeFileSync(hex, `${key.toString('hex')}\n`);
  fs.writeFileSync(other, randomBytes(32).toString('base64'));

  const good = cli(t, ['receive', '--listen', '127.0.0.1:0', '--types', 'video', '--decrypt-key', hex, '--count', '5']);
  const goodPort = (await good.waitFor(/listening on [^:]+:(\d+)/))[1];
  const tx = cli(t, ['send', '--server', `127.0.0.1:${goodPort}`, '--id', 'cam', '--encrypt-key', raw, '--fps', '20']);
  assert.equal(await good.exited, 0, good.stderr());
  assert.doesNotMatch(good.stdout(), /decodeError/);
  tx.child.kill('SIGINT');
  assert.equal(await tx.exited, 0, tx.stderr());

  const wrong = cli(t, ['receive', '--listen', '127.0.0.1:0', '--types', 'video', '--decrypt-key', other]);
  const wrongPort = (await wrong.waitFor(/listening on [^:]+:(\d+)/))[1];
  const tx2 = cli(t, ['send', '--server', `127.0.0.1:${wrongPort}`, '--id', 'cam', '--encrypt-key', raw, '--fps', '20']);
  await wrong.waitFor(/\{"event":"decodeError","type":"video","from":"cam","error":"decodeVideo hook failed: [^"]+"\}/);
  await wrong.waitFor(/cannot decrypt: is it the same key\?/);
  // Still receiving (status line, once a second), and still one decodeError line only.
  await wrong.waitFor(/\d+ not decodable/, 12000);
  assert.equal(wrong.stdout().match(/decodeError/g)?.length, 1);
  wrong.child.kill('SIGINT');
  assert.equal(await wrong.exited, 0, wrong.stderr());
  tx2.child.kill('SIGINT');
  await tx2.exited;
});

test('cli crypt - a hub without the key forwards encrypted video through a server to a receiver with it', { timeout: 60000 }, async (t) => {
  const dir = tmp(t);
  const keyFile = path.join(dir, 'key.bin');
  fs.writeFileSync(keyFile, randomBytes(32));
  const server = cli(t, ['server', '--host', '127.0.0.1', '--tcp-port', '0', '--udp-port', 'off', '--http-port', 'off', '--memory']);
  const tcp = (await server.waitFor(/tcp (\d+)/))[1];
  const desk = cli(t, ['receive', '--server', `127.0.0.1:${tcp}`, '--id', 'desk', '--types', 'video', '--decrypt-key', keyFile, '--count', '10']);
  await desk.waitFor(/sessionConnected/);
  const hub = cli(t, ['receive', '--listen', '127.0.0.1:0', '--id', 'hub', '--forward', `tcp://127.0.0.1:${tcp}`, '--forward-to', 'desk', '--forward-from', 'cam']);
  const hubPort = (await hub.waitFor(/listening on [^:]+:(\d+)/))[1];
  await hub.waitFor(/forwarding video and audio to tcp:\/\/127\.0\.0\.1:\d+ for desk/);
  const cam = cli(t, ['send', '--server', `127.0.0.1:${hubPort}`, '--id', 'cam', '--encrypt-key', keyFile, '--fps', '20']);
  assert.equal(await desk.exited, 0, desk.stderr());
  assert.doesNotMatch(desk.stdout(), /decodeError/);
  // The hub never tried to decrypt: no key, nothing shown.
  await hub.waitFor(/forwarded [1-9]\d*/, 12000);
  assert.doesNotMatch(hub.stdout() + hub.stderr(), /decodeError|not decodable/);
  for (const p of [cam, hub, server]) {
    p.child.kill('SIGINT');
    assert.equal(await p.exited, 0, p.stderr());
  }
});
