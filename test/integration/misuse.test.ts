/**
 * The error catalogue (issue 10, "Error codes"): a second start() is CW_ERR_ALREADY_STARTED,
 * argument misuse keeps its TypeError/RangeError class and carries a code, and the errors of the
 * server's groups and of the sources are exported CamwireErrors with codes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AddressInUseError, CamwireError, ConfigError, ErrorCode, FfmpegMissingError, GroupError, MediaServer, Receiver, Sender, SharpMissingError, TestPattern } from '../../src/index.js';

test('misuse - start() a second time: CW_ERR_ALREADY_STARTED on a Sender, Receiver, MediaServer and TestPattern', async (t) => {
  const rx = new Receiver({ protocol: 'tcp', host: '127.0.0.1', port: 0 });
  await rx.start();
  t.after(() => rx.stop());
  const tx = new Sender({ protocol: 'tcp', host: '127.0.0.1', port: rx.port });
  await tx.start();
  t.after(() => tx.stop());
  const server = new MediaServer({ host: '127.0.0.1', tcpPort: 0, udpPort: false, httpPort: false });
  await server.start();
  t.after(() => server.stop());
  for (const c of [rx, tx, server]) await assert.rejects(c.start(), (e: unknown) => e instanceof ConfigError && e.code === ErrorCode.ALREADY_STARTED);
  await tx.stop();
  await assert.rejects(tx.start(), { code: 'CW_ERR_ALREADY_STARTED', message: /a Sender starts once/ });
  const pattern = new TestPattern({ width: 32, height: 32 });
  pattern.start(() => {});
  t.after(() => pattern.stop());
  assert.throws(() => pattern.start(() => {}), { code: 'CW_ERR_ALREADY_STARTED' });
});

test('misuse - bad arguments keep their JavaScript class and carry CW_ERR_CONFIG_INVALID', async (t) => {
  const rx = new Receiver({ protocol: 'tcp', host: '127.0.0.1', port: 0 });
  await rx.start();
  t.after(() => rx.stop());
  const tx = new Sender({ protocol: 'tcp', host: '127.0.0.1', port: rx.port, maxPayload: 4096, fileChunkSize: 1024 });
  await tx.start();
  t.after(() => tx.stop());
  assert.throws(() => tx.sendCommand({} as never), (e: unknown) => e instanceof TypeError && (e as { code?: string }).code === 'CW_ERR_CONFIG_INVALID');
  assert.throws(() => tx.sendVideoFrame(Buffer.alloc(8), { mediaIndex: 70000 }), (e: unknown) => e instanceof RangeError && (e as { code?: string }).code === 'CW_ERR_CONFIG_INVALID');
  assert.throws(() => tx.sendVideoFrame(Buffer.alloc(8192)), (e: unknown) => e instanceof RangeError && (e as { code?: string }).code === 'CW_ERR_CONFIG_INVALID');
  assert.throws(() => new MediaServer({ auth: { users: [{ user: 'a' }] } }), { name: 'ConfigError', code: 'CW_ERR_CONFIG_INVALID', message: /a needs password or passwordHash/ });
});

test('misuse - GroupError, FfmpegMissingError and SharpMissingError are in the catalogue', () => {
  const cases: Array<[CamwireError, string]> = [
    [new GroupError(ErrorCode.GROUP_PASSWORD, 'wrong password'), 'CW_ERR_GROUP_PASSWORD'],
    [new FfmpegMissingError('ffmpeg'), 'CW_ERR_FFMPEG_MISSING'],
    [new SharpMissingError(Object.assign(new Error("Cannot find package 'sharp'"), { code: 'ERR_MODULE_NOT_FOUND' })), 'CW_ERR_SHARP_MISSING'],
  ];
  for (const [e, code] of cases) {
    assert.ok(e instanceof CamwireError);
    assert.equal(e.code, code);
    assert.ok(Object.values(ErrorCode).includes(code as ErrorCode), `${code} is in ErrorCode`);
  }
  assert.match(new SharpMissingError(new Error('libvips.so.42: cannot open shared object file')).message, /which cannot load \(libvips\.so\.42: cannot open shared object file\): run npm install sharp/);
});

test('misuse - a port in use: AddressInUseError (CW_ERR_ADDRESS_IN_USE) with the port, from a Receiver and a MediaServer', async (t) => {
  const first = new Receiver({ protocol: 'tcp', host: '127.0.0.1', port: 0 });
  await first.start();
  t.after(() => first.stop());
  const second = new Receiver({ protocol: 'tcp', host: '127.0.0.1', port: first.port });
  await assert.rejects(second.start(), (e: unknown) => e instanceof AddressInUseError && e.code === 'CW_ERR_ADDRESS_IN_USE' && e.port === first.port && e.message.startsWith(`port ${first.port} is already in use`));
  const server = new MediaServer({ host: '127.0.0.1', tcpPort: first.port, udpPort: false, httpPort: false });
  await assert.rejects(server.start(), (e: unknown) => e instanceof AddressInUseError && e.port === first.port && e.transport === 'tcp' && e.message.startsWith(`TCP port ${first.port} is already in use`));
});
