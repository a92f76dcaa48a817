/**
 * Payload codecs (src/protocol/messages.ts): golden tables with hand-written hex, round trips,
 * decode errors (always ProtocolError CW_ERR_PROTOCOL_BAD_PAYLOAD / 1103) and encoder misuse
 * (RangeError / TypeError).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CloseCode, ErrorCode, ProtocolError } from '../../src/errors.js';
import { MAX_U48 } from '../../src/protocol/constants.js';
import {
  decodeAck,
  decodeAudio,
  decodeCommand,
  decodeFileMessage,
  decodeHello,
  decodeJson,
  decodeReason,
  decodeVideo,
  decodeWelcome,
  encodeAck,
  encodeAudioHeader,
  encodeCommand,
  encodeFileMessage,
  encodeJson,
  encodeReason,
  encodeVideoHeader,
  type Command,
  type FileMessage,
} from '../../src/protocol/messages.js';
import {
  ACK_CASES,
  assertProtocolError,
  AUDIO_CASES,
  COMMAND_CASES,
  FILE_CASES,
  HELLO_CASES,
  hex,
  plainCommand,
  REASON_CASES,
  VIDEO_CASES,
  WELCOME_CASES,
} from '../helpers/protocol-fixtures.js';

function assertBadPayload(fn: () => unknown): void {
  assertProtocolError(fn, ErrorCode.PROTOCOL_BAD_PAYLOAD, CloseCode.BAD_PAYLOAD);
}

/** Every strict prefix of `encoded` must be refused with BAD_PAYLOAD, never another exception. */
function assertEveryTruncationFails(encoded: Buffer, decode: (b: Buffer) => unknown): void {
  for (let n = 0; n < encoded.length; n++) {
    assert.throws(
      () => decode(encoded.subarray(0, n)),
      (err: unknown) => {
        assert.ok(err instanceof ProtocolError, `prefix of ${n} bytes threw ${String(err)}`);
        assert.equal(err.code, ErrorCode.PROTOCOL_BAD_PAYLOAD, `prefix of ${n} bytes`);
        assert.equal(err.closeCode, CloseCode.BAD_PAYLOAD, `prefix of ${n} bytes`);
        return true;
      },
      `prefix of ${n} of ${encoded.length} bytes was accepted`,
    );
  }
}

function encodeFile(m: FileMessage): Buffer {
  const [h, d] = encodeFileMessage(m);
  return d ? Buffer.concat([h, d]) : h;
}

// ---------------------------------------------------------------- video

describe('video', () => {
  for (const c of VIDEO_CASES) {
    test(`${c.name}: round trip`, () => {
      const payload = Buffer.concat([encodeVideoHeader(c.header), c.data]);
      assert.deepEqual(decodeVideo(payload), { header: c.header, data: c.data });
    });
    if (c.hex !== undefined) {
      test(`${c.name}: encodes to and decodes from the hand-written bytes`, () => {
        const expected = hex(c.hex!);
        assert.equal(encodeVideoHeader(c.header).toString('hex'), expected.toString('hex'));
        assert.deepEqual(decodeVideo(Buffer.concat([expected, c.data])).header, c.header);
      });
    }
  }

  test('decodeVideo returns the image bytes as a view', () => {
    const payload = Buffer.concat([encodeVideoHeader({ imageType: 'jpeg', width: 1, height: 1 }), Buffer.from('IMG')]);
    const { data } = decodeVideo(payload);
    assert.equal(data.buffer, payload.buffer);
  });

  test('every truncation inside the header is refused', () => {
    for (const c of VIDEO_CASES) assertEveryTruncationFails(encodeVideoHeader(c.header), decodeVideo);
  });

  test('bad rect flag, unknown image type, named codec without a name, known type with a name', () => {
    assertBadPayload(() => decodeVideo(hex('01 0001 0001 02 00')));
    assertBadPayload(() => decodeVideo(hex('05 0001 0001 00 00')));
    assertBadPayload(() => decodeVideo(hex('ff 0001 0001 00 00')));
    assertBadPayload(() => decodeVideo(hex('00 0001 0001 00 00')));
    assertBadPayload(() => decodeVideo(hex('01 0001 0001 00 01 41')));
  });

  test('a codec name over 255 bytes is a RangeError', () => {
    assert.throws(() => encodeVideoHeader({ imageType: 'c'.repeat(256), width: 1, height: 1 }), RangeError);
  });

  test('a codec name that is "" or an Object.prototype key is refused or round-trips', () => {
    for (const imageType of ['', 'constructor', 'toString', '__proto__']) {
      const header = { imageType, width: 1, height: 1 };
      let encoded: Buffer;
      try {
        encoded = encodeVideoHeader(header);
      } catch (err) {
        assert.ok(err instanceof RangeError || err instanceof TypeError, `${imageType}: ${String(err)}`);
        continue;
      }
      assert.deepEqual(decodeVideo(encoded).header, header, `imageType ${JSON.stringify(imageType)}`);
    }
  });

  test('width or height over 65535 is a RangeError', () => {
    assert.throws(() => encodeVideoHeader({ imageType: 'jpeg', width: 65536, height: 1 }), RangeError);
    assert.throws(() => encodeVideoHeader({ imageType: 'jpeg', width: 1, height: 1, rect: { x: 0, y: 0, w: -1, h: 1 } }), RangeError);
  });
});

// ---------------------------------------------------------------- audio

describe('audio', () => {
  for (const c of AUDIO_CASES) {
    test(`${c.name}: round trip`, () => {
      const payload = Buffer.concat([encodeAudioHeader(c.header), c.data]);
      assert.deepEqual(decodeAudio(payload), { header: c.header, data: c.data });
    });
    if (c.hex !== undefined) {
      test(`${c.name}: encodes to and decodes from the hand-written bytes`, () => {
        const expected = hex(c.hex!);
        assert.equal(encodeAudioHeader(c.header).toString('hex'), expected.toString('hex'));
        assert.deepEqual(decodeAudio(Buffer.concat([expected, c.data])).header, c.header);
      });
    }
  }

  test('every truncation inside the header is refused', () => {
    for (const c of AUDIO_CASES) assertEveryTruncationFails(encodeAudioHeader(c.header), decodeAudio);
  });

  test('unknown codec, named codec without a name, known codec with a name', () => {
    assertBadPayload(() => decodeAudio(hex('03 0000bb80 02 00')));
    assertBadPayload(() => decodeAudio(hex('00 0000bb80 02 00')));
    assertBadPayload(() => decodeAudio(hex('02 0000bb80 02 01 41')));
  });

  test('a codec name that is "" or an Object.prototype key is refused or round-trips', () => {
    for (const codec of ['', 'constructor', 'toString', '__proto__']) {
      const header = { codec, sampleRate: 8000, channels: 1 };
      let encoded: Buffer;
      try {
        encoded = encodeAudioHeader(header);
      } catch (err) {
        assert.ok(err instanceof RangeError || err instanceof TypeError, `${codec}: ${String(err)}`);
        continue;
      }
      assert.deepEqual(decodeAudio(encoded).header, header, `codec ${JSON.stringify(codec)}`);
    }
  });

  test('channels outside 0..255 is a RangeError', () => {
    assert.throws(() => encodeAudioHeader({ codec: 'opus', sampleRate: 48000, channels: 256 }), RangeError);
    assert.throws(() => encodeAudioHeader({ codec: 'opus', sampleRate: 48000, channels: -1 }), RangeError);
  });

  test('sample rate outside 0..2^32-1 is a RangeError', () => {
    assert.throws(() => encodeAudioHeader({ codec: 'opus', sampleRate: 2 ** 32, channels: 1 }), RangeError);
  });

  test('a codec name over 255 bytes is a RangeError', () => {
    assert.throws(() => encodeAudioHeader({ codec: 'a'.repeat(256), sampleRate: 1, channels: 1 }), RangeError);
  });
});

// ---------------------------------------------------------------- command

describe('command', () => {
  for (const c of COMMAND_CASES) {
    test(`${c.name}: round trip`, () => {
      assert.deepEqual(plainCommand(decodeCommand(encodeCommand(c.command))), c.decoded);
    });
    if (c.hex !== undefined) {
      test(`${c.name}: encodes to and decodes from the hand-written bytes`, () => {
        const expected = hex(c.hex!);
        assert.equal(encodeCommand(c.command).toString('hex'), expected.toString('hex'));
        assert.deepEqual(plainCommand(decodeCommand(expected)), c.decoded);
      });
    }
  }

  test('every truncation of every golden command is refused', () => {
    for (const c of COMMAND_CASES) assertEveryTruncationFails(encodeCommand(c.command), decodeCommand);
  });

  test('trailing bytes are refused', () => {
    for (const c of COMMAND_CASES) assertBadPayload(() => decodeCommand(Buffer.concat([encodeCommand(c.command), Buffer.from([0])])));
  });

  test('decoded params are null-prototype records, so a "__proto__" key is plain data', () => {
    const d = decodeCommand(encodeCommand({ name: 'p', params: JSON.parse('{"__proto__": "x", "constructor": 1}') }));
    assert.equal(Object.getPrototypeOf(d.params), null);
    assert.equal(d.params['__proto__'], 'x');
    assert.equal(d.params['constructor'], 1);
  });

  test('empty name, unknown parameter type, bad bool', () => {
    assertBadPayload(() => decodeCommand(hex('00 0000')));
    assertBadPayload(() => decodeCommand(hex('01 61 0001 01 6b 00')));
    assertBadPayload(() => decodeCommand(hex('01 61 0001 01 6b 06')));
    assertBadPayload(() => decodeCommand(hex('01 61 0001 01 6b 04 02')));
  });

  test('a parameter count larger than the payload holds is refused', () => {
    assertBadPayload(() => decodeCommand(hex('01 61 ffff 01 6b 04 01')));
  });

  test('a string or bytes length past the end is refused', () => {
    assertBadPayload(() => decodeCommand(hex('01 61 0001 01 6b 01 ffffffff 41')));
    assertBadPayload(() => decodeCommand(hex('01 61 0001 01 6b 05 00000002 41')));
  });

  describe('encoder misuse', () => {
    const rangeErrors: [string, Command][] = [
      ['empty name', { name: '' }],
      ['256-byte name', { name: 'n'.repeat(256) }],
      ['256-byte name in 2-byte characters', { name: 'é'.repeat(128) }],
      ['256-byte parameter name', { name: 'a', params: { ['k'.repeat(256)]: 1 } }],
      ['int above 2^63-1', { name: 'a', params: { i: 2n ** 63n } }],
      ['int below -2^63', { name: 'a', params: { i: -(2n ** 63n) - 1n } }],
      ['explicit int with a fraction', { name: 'a', params: { i: { type: 'int', value: 2.5 } } }],
    ];
    for (const [name, cmd] of rangeErrors) {
      test(`${name} is a RangeError`, () => assert.throws(() => encodeCommand(cmd), RangeError));
    }

    const typeErrors: [string, Command][] = [
      ['null value', { name: 'a', params: { v: null as never } }],
      ['undefined value', { name: 'a', params: { v: undefined as never } }],
      ['object value', { name: 'a', params: { v: { x: 1 } as never } }],
      ['bytes type with a string value', { name: 'a', params: { v: { type: 'bytes', value: 'str' } } }],
      ['unknown explicit type', { name: 'a', params: { v: { type: 'date' as never, value: 1 } } }],
    ];
    for (const [name, cmd] of typeErrors) {
      test(`${name} is a TypeError`, () => assert.throws(() => encodeCommand(cmd), TypeError));
    }

    test('a 255-byte name is accepted', () => {
      assert.equal(decodeCommand(encodeCommand({ name: 'n'.repeat(255) })).name, 'n'.repeat(255));
    });
  });
});

// ---------------------------------------------------------------- file

describe('file', () => {
  for (const c of FILE_CASES) {
    test(`${c.name}: round trip`, () => {
      assert.deepEqual(decodeFileMessage(encodeFile(c.message)), c.message);
    });
    if (c.hex !== undefined) {
      test(`${c.name}: encodes to and decodes from the hand-written bytes`, () => {
        const expected = hex(c.hex!);
        assert.equal(encodeFile(c.message).toString('hex'), expected.toString('hex'));
        assert.deepEqual(decodeFileMessage(expected), c.message);
      });
    }
  }

  test('a chunk is encoded as [header, data] with the data uncopied, and decoded as a view', () => {
    const data = Buffer.from('payload');
    const [h, d] = encodeFileMessage({ op: 'chunk', fileId: 1, offset: 0, data });
    assert.equal(h.length, 11);
    assert.equal(d, data);
    const payload = Buffer.concat([h, data]);
    const m = decodeFileMessage(payload);
    assert.ok(m.op === 'chunk');
    assert.equal(m.data.buffer, payload.buffer);
  });

  test('start, end and abort are encoded as one buffer', () => {
    for (const c of FILE_CASES) {
      if (c.message.op !== 'chunk') assert.equal(encodeFileMessage(c.message).length, 1);
    }
  });

  test('every truncation of start, end and abort is refused; a chunk needs its 11-byte header', () => {
    for (const c of FILE_CASES) {
      const encoded = encodeFile(c.message);
      assertEveryTruncationFails(c.message.op === 'chunk' ? encoded.subarray(0, 11) : encoded, decodeFileMessage);
    }
  });

  test('trailing bytes after start, end and abort are refused', () => {
    for (const c of FILE_CASES) {
      if (c.message.op === 'chunk') continue;
      assertBadPayload(() => decodeFileMessage(Buffer.concat([encodeFile(c.message), Buffer.from([0])])));
    }
  });

  test('unknown operation, name length 0 or 1025, offset beyond size', () => {
    assertBadPayload(() => decodeFileMessage(hex('00 00000001')));
    assertBadPayload(() => decodeFileMessage(hex('05 00000001')));
    assertBadPayload(() => decodeFileMessage(hex('01 00000001 000000000010 000000000000 0000')));
    assertBadPayload(() => decodeFileMessage(Buffer.concat([hex('01 00000001 000000000010 000000000000 0401'), Buffer.alloc(1025, 0x61)])));
    assertBadPayload(() => decodeFileMessage(hex('01 00000001 000000000010 000000000011 0001 61')));
  });

  test('abort keeps the first 1024 UTF-8 bytes of a long reason, never splitting a character', () => {
    const m = decodeFileMessage(encodeFile({ op: 'abort', fileId: 1, reason: 'r'.repeat(1300) }));
    assert.deepEqual(m, { op: 'abort', fileId: 1, reason: 'r'.repeat(1024) });
    // 'é' is 2 bytes: 1023 bytes of 'r' then a 2-byte character must not be cut in half.
    const cut = decodeFileMessage(encodeFile({ op: 'abort', fileId: 1, reason: 'r'.repeat(1023) + 'é' }));
    assert.deepEqual(cut, { op: 'abort', fileId: 1, reason: 'r'.repeat(1023) });
  });

  describe('encoder misuse', () => {
    const sha = Buffer.alloc(32);
    const cases: [string, FileMessage][] = [
      ['sha256 of 31 bytes', { op: 'end', fileId: 1, totalSize: 1, sha256: Buffer.alloc(31) }],
      ['sha256 of 33 bytes', { op: 'end', fileId: 1, totalSize: 1, sha256: Buffer.alloc(33) }],
      ['empty sha256', { op: 'end', fileId: 1, totalSize: 1, sha256: Buffer.alloc(0) }],
      ['negative total size', { op: 'start', fileId: 1, name: 'a', totalSize: -1, offset: 0 }],
      ['total size 2^48', { op: 'start', fileId: 1, name: 'a', totalSize: MAX_U48 + 1, offset: 0 }],
      ['fractional total size', { op: 'start', fileId: 1, name: 'a', totalSize: 1.5, offset: 0 }],
      ['offset 2^48', { op: 'start', fileId: 1, name: 'a', totalSize: 1, offset: MAX_U48 + 1 }],
      ['empty name', { op: 'start', fileId: 1, name: '', totalSize: 1, offset: 0 }],
      ['1025-byte name', { op: 'start', fileId: 1, name: 'x'.repeat(1025), totalSize: 1, offset: 0 }],
      ['negative chunk offset', { op: 'chunk', fileId: 1, offset: -1, data: Buffer.alloc(1) }],
      ['file id 2^32', { op: 'abort', fileId: 2 ** 32, reason: '' }],
      ['end size 2^48', { op: 'end', fileId: 1, totalSize: MAX_U48 + 1, sha256: sha }],
    ];
    for (const [name, m] of cases) {
      test(`${name} is a RangeError`, () => assert.throws(() => encodeFileMessage(m), RangeError));
    }

    test('end with a fractional total size is a RangeError', () => {
      assert.throws(() => encodeFileMessage({ op: 'end', fileId: 1, totalSize: 1.5, sha256: sha }), RangeError);
    });
  });
});

// ---------------------------------------------------------------- control messages

describe('hello', () => {
  for (const c of HELLO_CASES) {
    test(`${c.name}: round trip`, () => assert.deepEqual(decodeHello(encodeJson(c.hello)), c.hello));
  }

  test('decodes hand-written JSON, ignoring unknown fields and cutting the agent at 128 characters', () => {
    const json = `{"role":"pull","agent":"${'a'.repeat(200)}","extra":[1,2],"auth":{"token":"t","other":5}}`;
    assert.deepEqual(decodeHello(Buffer.from(json)), { role: 'pull', agent: 'a'.repeat(128), auth: { token: 't' } });
  });

  test('bad role, bad auth, not JSON, not an object, empty, too large', () => {
    const bad = ['{}', '{"role":"relay"}', '{"role":1}', '{"role":"push","auth":"x"}', '{"role":"push","auth":null}',
      '{"role":"push","auth":{"user":1}}', '{"role":"push","auth":{"password":false}}', '{"role":"push"', 'null', '[]',
      '"push"', '42', '\u00ff\u00fe', ''];
    for (const s of bad) assertBadPayload(() => decodeHello(Buffer.from(s, 'latin1')));
    assertBadPayload(() => decodeHello(Buffer.from(JSON.stringify({ role: 'push', agent: 'a'.repeat(8200) }))));
  });
});

describe('welcome', () => {
  for (const c of WELCOME_CASES) {
    test(`${c.name}: round trip`, () => assert.deepEqual(decodeWelcome(encodeJson(c.welcome)), c.welcome));
  }

  test('an empty payload is an empty welcome; non-objects are refused', () => {
    assert.deepEqual(decodeWelcome(Buffer.alloc(0)), {});
    for (const s of ['null', '[1]', 'x', '"s"']) assertBadPayload(() => decodeWelcome(Buffer.from(s)));
  });
});

describe('json', () => {
  test('encodeJson refuses more than 8 KiB', () => {
    assert.throws(() => encodeJson({ a: 'x'.repeat(8 * 1024) }), RangeError);
    assert.equal(encodeJson({ a: 'x'.repeat(8 * 1024 - 8) }).length, 8 * 1024);
  });

  test('decodeJson accepts exactly 8 KiB, refuses one byte more', () => {
    const ok = Buffer.from(JSON.stringify({ a: 'x'.repeat(8 * 1024 - 8) }));
    assert.equal(ok.length, 8 * 1024);
    assert.equal(typeof decodeJson(ok, 't').a, 'string');
    assertBadPayload(() => decodeJson(Buffer.concat([ok, Buffer.from(' ')]), 't'));
  });
});

describe('reason (close / nack)', () => {
  for (const c of REASON_CASES) {
    test(`${c.name}: round trip`, () => assert.deepEqual(decodeReason(encodeReason(c.code, c.reason)), { code: c.code, reason: c.reason }));
    if (c.hex !== undefined) {
      test(`${c.name}: encodes to and decodes from the hand-written bytes`, () => {
        const expected = hex(c.hex!);
        assert.equal(encodeReason(c.code, c.reason).toString('hex'), expected.toString('hex'));
        assert.deepEqual(decodeReason(expected), { code: c.code, reason: c.reason });
      });
    }
  }

  test('a reason over 1024 bytes is cut to 1024 bytes', () => {
    const b = encodeReason(1000, 'z'.repeat(2000));
    assert.equal(b.length, 2 + 1024);
    assert.equal(decodeReason(b).reason, 'z'.repeat(1024));
  });

  test('payloads of 0, 1 and 1027 bytes are refused', () => {
    assertBadPayload(() => decodeReason(Buffer.alloc(0)));
    assertBadPayload(() => decodeReason(Buffer.alloc(1)));
    assertBadPayload(() => decodeReason(Buffer.alloc(2 + 1025)));
  });

  test('a code over 65535 is a RangeError', () => {
    assert.throws(() => encodeReason(65536, ''), RangeError);
  });
});

describe('ack', () => {
  for (const c of ACK_CASES) {
    test(`${c.name}: encodes to and decodes from the hand-written bytes`, () => {
      const expected = hex(c.hex);
      assert.equal(encodeAck(c.resumeOffset).toString('hex'), expected.toString('hex'));
      assert.deepEqual(decodeAck(expected), c.resumeOffset === undefined ? {} : { resumeOffset: c.resumeOffset });
    });
  }

  test('lengths other than 0 and 6 are refused', () => {
    for (const n of [1, 2, 5, 7, 12]) assertBadPayload(() => decodeAck(Buffer.alloc(n)));
  });

  test('a resume offset outside 0..2^48-1 is a RangeError', () => {
    for (const v of [-1, MAX_U48 + 1, 0.5, NaN]) assert.throws(() => encodeAck(v), RangeError);
  });
});
