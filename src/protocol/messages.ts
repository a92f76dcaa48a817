/**
 * Payload codecs, one per message (docs/protocol.md, sections 3 and 4). Pure functions:
 * encoders return Buffers, decoders take a payload Buffer and return a value or throw
 * a ProtocolError with code CW_ERR_PROTOCOL_BAD_PAYLOAD.
 */
import { CloseCode, ErrorCode, ProtocolError } from '../errors.js';
import {
  AudioCodec,
  FileOp,
  ImageType,
  MAX_CONTROL_PAYLOAD,
  MAX_U48,
  ParamType,
  type AudioCodecName,
  type ImageTypeName,
  type ParamTypeName,
} from './constants.js';

function bad(message: string): ProtocolError {
  return new ProtocolError(ErrorCode.PROTOCOL_BAD_PAYLOAD, message, CloseCode.BAD_PAYLOAD);
}

/** A bounds-checked cursor over a payload. */
class Reader {
  o = 0;
  constructor(readonly b: Buffer, readonly what: string) {}
  need(n: number): void {
    if (this.o + n > this.b.length) throw bad(`${this.what}: truncated at byte ${this.o} (need ${n} more)`);
  }
  u8(): number {
    this.need(1);
    return this.b[this.o++];
  }
  u16(): number {
    this.need(2);
    const v = this.b.readUInt16BE(this.o);
    this.o += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.b.readUInt32BE(this.o);
    this.o += 4;
    return v;
  }
  u48(): number {
    this.need(6);
    const v = this.b.readUIntBE(this.o, 6);
    this.o += 6;
    return v;
  }
  f64(): number {
    this.need(8);
    const v = this.b.readDoubleBE(this.o);
    this.o += 8;
    return v;
  }
  i64(): bigint {
    this.need(8);
    const v = this.b.readBigInt64BE(this.o);
    this.o += 8;
    return v;
  }
  bytes(n: number): Buffer {
    this.need(n);
    const v = this.b.subarray(this.o, this.o + n);
    this.o += n;
    return v;
  }
  str(n: number): string {
    return this.bytes(n).toString('utf8');
  }
  rest(): Buffer {
    const v = this.b.subarray(this.o);
    this.o = this.b.length;
    return v;
  }
  end(): void {
    if (this.o !== this.b.length) throw bad(`${this.what}: ${this.b.length - this.o} unexpected trailing bytes`);
  }
}

/** Wire code of a known name in a code table (own keys only), or undefined. */
function codeOf(table: Record<string, number>, name: string): number | undefined {
  return Object.hasOwn(table, name) ? table[name] : undefined;
}

/** A named codec: 1..255 UTF-8 bytes. */
function codecName(name: string, what: string): Buffer {
  if (typeof name !== 'string' || name === '') throw new RangeError(`${what} must not be empty`);
  return shortStr(name, what);
}

function shortStr(s: string, what: string, max = 255): Buffer {
  const b = Buffer.from(s, 'utf8');
  if (b.length > max) throw new RangeError(`${what} is ${b.length} bytes, the limit is ${max}`);
  return b;
}

/** The UTF-8 bytes of `s`, cut to at most `max` bytes without splitting a character. */
function utf8Prefix(s: string, max: number): Buffer {
  const b = Buffer.from(s, 'utf8');
  if (b.length <= max) return b;
  let n = max;
  // Back up over continuation bytes (10xxxxxx) to the start of the cut character.
  while (n > 0 && (b[n] & 0xc0) === 0x80) n--;
  return b.subarray(0, n);
}

// ---------------------------------------------------------------- 4.1 video

/** Rectangle of a changed area (change-detection mode). */
export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** Media header of a video frame; the image bytes follow it. */
export interface VideoHeader {
  imageType: ImageTypeName | string;
  width: number;
  height: number;
  rect?: Rect;
}

const IMAGE_NAMES = new Map<number, ImageTypeName>(
  Object.entries(ImageType).map(([k, v]) => [v, k as ImageTypeName]),
);

/** Encodes the video media header (docs/protocol.md, section 4.1). */
export function encodeVideoHeader(v: VideoHeader): Buffer {
  const code = codeOf(ImageType, v.imageType);
  const named = code === undefined || code === 0 ? codecName(v.imageType, 'video codec name') : undefined;
  const h = Buffer.allocUnsafe(6 + (v.rect ? 8 : 0) + 1 + (named?.length ?? 0));
  h[0] = named ? 0 : code!;
  h.writeUInt16BE(v.width, 1);
  h.writeUInt16BE(v.height, 3);
  h[5] = v.rect ? 1 : 0;
  let o = 6;
  if (v.rect) {
    h.writeUInt16BE(v.rect.x, o);
    h.writeUInt16BE(v.rect.y, o + 2);
    h.writeUInt16BE(v.rect.w, o + 4);
    h.writeUInt16BE(v.rect.h, o + 6);
    o += 8;
  }
  h[o++] = named?.length ?? 0;
  if (named) named.copy(h, o);
  return h;
}

/** Decodes a video payload into its header and image bytes (a view, not a copy). */
export function decodeVideo(p: Buffer): { header: VideoHeader; data: Buffer } {
  const r = new Reader(p, 'video');
  const code = r.u8();
  const width = r.u16();
  const height = r.u16();
  const hasRect = r.u8();
  if (hasRect > 1) throw bad('video: bad rect flag');
  const rect = hasRect ? { x: r.u16(), y: r.u16(), w: r.u16(), h: r.u16() } : undefined;
  const nameLen = r.u8();
  const name = r.str(nameLen);
  let imageType: string;
  if (code === 0) {
    if (nameLen === 0) throw bad('video: named codec without a name');
    imageType = name;
  } else {
    const known = IMAGE_NAMES.get(code);
    if (!known || nameLen !== 0) throw bad(`video: unknown image type ${code}`);
    imageType = known;
  }
  const header: VideoHeader = { imageType, width, height };
  if (rect) header.rect = rect;
  return { header, data: r.rest() };
}

// ---------------------------------------------------------------- 4.2 audio

/** Media header of an audio chunk; the sample bytes follow it. */
export interface AudioHeader {
  codec: AudioCodecName | string;
  sampleRate: number;
  channels: number;
}

const AUDIO_NAMES = new Map<number, AudioCodecName>(
  Object.entries(AudioCodec).map(([k, v]) => [v, k as AudioCodecName]),
);

/** Encodes the audio media header (docs/protocol.md, section 4.2). */
export function encodeAudioHeader(a: AudioHeader): Buffer {
  const code = codeOf(AudioCodec, a.codec);
  const named = code === undefined || code === 0 ? codecName(a.codec, 'audio codec name') : undefined;
  if (!Number.isInteger(a.channels) || a.channels < 0 || a.channels > 255) throw new RangeError(`audio channels ${a.channels} outside 0..255`);
  const h = Buffer.allocUnsafe(7 + (named?.length ?? 0));
  h[0] = named ? 0 : code!;
  h.writeUInt32BE(a.sampleRate, 1);
  h[5] = a.channels;
  h[6] = named?.length ?? 0;
  if (named) named.copy(h, 7);
  return h;
}

/** Decodes an audio payload into its header and sample bytes (a view). */
export function decodeAudio(p: Buffer): { header: AudioHeader; data: Buffer } {
  const r = new Reader(p, 'audio');
  const code = r.u8();
  const sampleRate = r.u32();
  const channels = r.u8();
  const nameLen = r.u8();
  const name = r.str(nameLen);
  let codec: string;
  if (code === 0) {
    if (nameLen === 0) throw bad('audio: named codec without a name');
    codec = name;
  } else {
    const known = AUDIO_NAMES.get(code);
    if (!known || nameLen !== 0) throw bad(`audio: unknown codec ${code}`);
    codec = known;
  }
  return { header: { codec, sampleRate, channels }, data: r.rest() };
}

// ---------------------------------------------------------------- 4.3 command

/** A command parameter value as the application sees it. */
export type ParamValue = string | number | boolean | bigint | Uint8Array;
/** A parameter with its type spelled out (to send 2 as a float, say). */
export interface TypedParam {
  type: ParamTypeName;
  value: ParamValue;
}
/** A command: a name plus named, typed parameters. */
export interface Command {
  name: string;
  params?: Record<string, ParamValue | TypedParam>;
}
/** A received command: plain values plus the wire type of each. */
export interface ReceivedCommand {
  name: string;
  params: Record<string, ParamValue>;
  types: Record<string, ParamTypeName>;
}

function isTyped(v: unknown): v is TypedParam {
  return typeof v === 'object' && v !== null && !(v instanceof Uint8Array) && 'type' in v && 'value' in v;
}

function inferType(v: ParamValue): ParamTypeName {
  switch (typeof v) {
    case 'string':
      return 'string';
    case 'boolean':
      return 'bool';
    case 'bigint':
      return 'int';
    case 'number':
      return Number.isInteger(v) ? 'int' : 'float';
    default:
      if (v instanceof Uint8Array) return 'bytes';
      throw new TypeError(`unsupported command parameter value: ${typeof v}`);
  }
}

/** Encodes a command (docs/protocol.md, section 4.3). Throws TypeError/RangeError on bad input. */
export function encodeCommand(c: Command): Buffer {
  const parts: Buffer[] = [];
  const name = shortStr(c.name, 'command name');
  if (name.length === 0) throw new RangeError('command name must not be empty');
  const entries = Object.entries(c.params ?? {});
  if (entries.length > 0xffff) throw new RangeError('too many command parameters');
  const head = Buffer.allocUnsafe(1 + name.length + 2);
  head[0] = name.length;
  name.copy(head, 1);
  head.writeUInt16BE(entries.length, 1 + name.length);
  parts.push(head);
  for (const [key, raw] of entries) {
    const type = isTyped(raw) ? raw.type : inferType(raw);
    const value = isTyped(raw) ? raw.value : raw;
    const k = shortStr(key, 'parameter name');
    const ph = Buffer.allocUnsafe(2 + k.length);
    ph[0] = k.length;
    k.copy(ph, 1);
    ph[1 + k.length] = ParamType[type];
    parts.push(ph);
    switch (type) {
      case 'string': {
        const s = Buffer.from(String(value), 'utf8');
        const l = Buffer.allocUnsafe(4);
        l.writeUInt32BE(s.length);
        parts.push(l, s);
        break;
      }
      case 'bytes': {
        if (!(value instanceof Uint8Array)) throw new TypeError(`parameter ${key}: bytes needs a Uint8Array`);
        const l = Buffer.allocUnsafe(4);
        l.writeUInt32BE(value.length);
        parts.push(l, Buffer.from(value.buffer, value.byteOffset, value.length));
        break;
      }
      case 'int': {
        const big = typeof value === 'bigint' ? value : BigInt(value as number);
        if (big < -(2n ** 63n) || big >= 2n ** 63n) throw new RangeError(`parameter ${key}: int out of 64-bit range`);
        const b = Buffer.allocUnsafe(8);
        b.writeBigInt64BE(big);
        parts.push(b);
        break;
      }
      case 'float': {
        const b = Buffer.allocUnsafe(8);
        b.writeDoubleBE(Number(value));
        parts.push(b);
        break;
      }
      case 'bool':
        parts.push(Buffer.from([value ? 1 : 0]));
        break;
      default:
        throw new TypeError(`parameter ${key}: unknown type ${String(type)}`);
    }
  }
  return Buffer.concat(parts);
}

const PARAM_NAMES = new Map<number, ParamTypeName>(
  Object.entries(ParamType).map(([k, v]) => [v, k as ParamTypeName]),
);

/** Decodes a command. Integers that fit a double exactly are numbers, larger ones bigints. */
export function decodeCommand(p: Buffer): ReceivedCommand {
  const r = new Reader(p, 'command');
  const nameLen = r.u8();
  if (nameLen === 0) throw bad('command: empty name');
  const name = r.str(nameLen);
  const count = r.u16();
  const params: Record<string, ParamValue> = Object.create(null);
  const types: Record<string, ParamTypeName> = Object.create(null);
  for (let i = 0; i < count; i++) {
    const key = r.str(r.u8());
    const code = r.u8();
    const type = PARAM_NAMES.get(code);
    if (!type) throw bad(`command: parameter ${JSON.stringify(key)} has unknown type ${code}`);
    let value: ParamValue;
    switch (type) {
      case 'string':
        value = r.str(r.u32());
        break;
      case 'bytes':
        value = Buffer.from(r.bytes(r.u32()));
        break;
      case 'int': {
        const big = r.i64();
        value = big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
        break;
      }
      case 'float':
        value = r.f64();
        break;
      case 'bool': {
        const b = r.u8();
        if (b > 1) throw bad(`command: parameter ${JSON.stringify(key)} has bad bool ${b}`);
        value = b === 1;
        break;
      }
    }
    params[key] = value;
    types[key] = type;
  }
  r.end();
  return { name, params, types };
}

// ---------------------------------------------------------------- 4.4 file

/** One file-transfer message. */
export type FileMessage =
  | { op: 'start'; fileId: number; name: string; totalSize: number; offset: number }
  | { op: 'chunk'; fileId: number; offset: number; data: Buffer }
  | { op: 'end'; fileId: number; totalSize: number; sha256: Buffer }
  | { op: 'abort'; fileId: number; reason: string };

function checkU48(v: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > MAX_U48) throw new RangeError(`${what} out of range: ${v}`);
}

/** Encodes a file message (docs/protocol.md, section 4.4). A chunk's data is returned separately, uncopied. */
export function encodeFileMessage(m: FileMessage): [Buffer, Buffer?] {
  switch (m.op) {
    case 'start': {
      checkU48(m.totalSize, 'file size');
      checkU48(m.offset, 'file offset');
      const name = Buffer.from(m.name, 'utf8');
      if (name.length === 0 || name.length > 1024) throw new RangeError('file name must be 1..1024 bytes');
      const b = Buffer.allocUnsafe(1 + 4 + 6 + 6 + 2 + name.length);
      b[0] = FileOp.START;
      b.writeUInt32BE(m.fileId, 1);
      b.writeUIntBE(m.totalSize, 5, 6);
      b.writeUIntBE(m.offset, 11, 6);
      b.writeUInt16BE(name.length, 17);
      name.copy(b, 19);
      return [b];
    }
    case 'chunk': {
      checkU48(m.offset, 'chunk offset');
      const b = Buffer.allocUnsafe(11);
      b[0] = FileOp.CHUNK;
      b.writeUInt32BE(m.fileId, 1);
      b.writeUIntBE(m.offset, 5, 6);
      return [b, m.data];
    }
    case 'end': {
      if (m.sha256.length !== 32) throw new RangeError('sha256 must be 32 bytes');
      checkU48(m.totalSize, 'file size');
      const b = Buffer.allocUnsafe(1 + 4 + 6 + 32);
      b[0] = FileOp.END;
      b.writeUInt32BE(m.fileId, 1);
      b.writeUIntBE(m.totalSize, 5, 6);
      m.sha256.copy(b, 11);
      return [b];
    }
    case 'abort': {
      const reason = utf8Prefix(m.reason, 1024);
      const b = Buffer.allocUnsafe(5 + 2 + reason.length);
      b[0] = FileOp.ABORT;
      b.writeUInt32BE(m.fileId, 1);
      b.writeUInt16BE(reason.length, 5);
      reason.copy(b, 7);
      return [b];
    }
  }
}

/** Decodes a file message; a chunk's data is a view into the payload. */
export function decodeFileMessage(p: Buffer): FileMessage {
  const r = new Reader(p, 'file');
  const op = r.u8();
  const fileId = r.u32();
  switch (op) {
    case FileOp.START: {
      const totalSize = r.u48();
      const offset = r.u48();
      const nameLen = r.u16();
      if (nameLen === 0 || nameLen > 1024) throw bad('file: name length out of range');
      const name = r.str(nameLen);
      r.end();
      if (offset > totalSize) throw bad('file: start offset beyond the file size');
      return { op: 'start', fileId, name, totalSize, offset };
    }
    case FileOp.CHUNK: {
      const offset = r.u48();
      return { op: 'chunk', fileId, offset, data: r.rest() };
    }
    case FileOp.END: {
      const totalSize = r.u48();
      const sha256 = Buffer.from(r.bytes(32));
      r.end();
      return { op: 'end', fileId, totalSize, sha256 };
    }
    case FileOp.ABORT: {
      const reason = r.str(r.u16());
      r.end();
      return { op: 'abort', fileId, reason };
    }
    default:
      throw bad(`file: unknown operation ${op}`);
  }
}

// ---------------------------------------------------------------- 3. control messages

/** HELLO payload: who opens the connection and what for (docs/protocol.md, section 3.1). */
export interface Hello {
  /** `push`: a sender pushing one media type; `pull`: a receiver opening a channel. */
  role: 'push' | 'pull';
  /** Software name and version, informational. */
  agent?: string;
  /** Credentials a server may check. */
  auth?: { user?: string; password?: string; token?: string };
  /**
   * A push sender's id for its reliable queue of this media type (1..32 characters [0-9a-f]),
   * the same on every link the queue uses: items resent on a new link keep their seq, and the
   * receiver deduplicates by this id and the seq across links (docs/protocol.md, 3.3).
   */
  lane?: string;
}

/** WELCOME payload (docs/protocol.md, section 3.2). */
export interface Welcome {
  agent?: string;
}

/** Encodes a JSON control payload, refusing anything over the control limit. */
export function encodeJson(v: object): Buffer {
  const b = Buffer.from(JSON.stringify(v), 'utf8');
  if (b.length > MAX_CONTROL_PAYLOAD) throw new RangeError(`control payload of ${b.length} bytes exceeds ${MAX_CONTROL_PAYLOAD}`);
  return b;
}

/** Decodes a JSON control payload into a plain object, or throws BAD_PAYLOAD. */
export function decodeJson(p: Buffer, what: string): Record<string, unknown> {
  if (p.length === 0) return {};
  if (p.length > MAX_CONTROL_PAYLOAD) throw bad(`${what}: payload too large`);
  let v: unknown;
  try {
    v = JSON.parse(p.toString('utf8'));
  } catch {
    throw bad(`${what}: payload is not JSON`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(`${what}: payload is not an object`);
  return v as Record<string, unknown>;
}

/** Decodes and validates a HELLO payload. */
export function decodeHello(p: Buffer): Hello {
  const o = decodeJson(p, 'hello');
  if (o.role !== 'push' && o.role !== 'pull') throw bad('hello: role must be push or pull');
  const hello: Hello = { role: o.role };
  if (typeof o.agent === 'string') hello.agent = o.agent.slice(0, 128);
  // Anything else than a short hex id is ignored (an older or other peer): no cross-link dedup.
  if (typeof o.lane === 'string' && /^[0-9a-f]{1,32}$/.test(o.lane)) hello.lane = o.lane;
  if (o.auth !== undefined) {
    if (typeof o.auth !== 'object' || o.auth === null) throw bad('hello: auth must be an object');
    const a = o.auth as Record<string, unknown>;
    hello.auth = {};
    for (const k of ['user', 'password', 'token'] as const) {
      if (a[k] !== undefined) {
        if (typeof a[k] !== 'string') throw bad(`hello: auth.${k} must be a string`);
        hello.auth[k] = a[k] as string;
      }
    }
  }
  return hello;
}

/** Decodes a WELCOME payload. */
export function decodeWelcome(p: Buffer): Welcome {
  const o = decodeJson(p, 'welcome');
  const w: Welcome = {};
  if (typeof o.agent === 'string') w.agent = o.agent.slice(0, 128);
  return w;
}

/** Encodes a CLOSE or NACK payload: a 16-bit code and a UTF-8 reason (docs/protocol.md, section 3.5). */
export function encodeReason(code: number, reason: string): Buffer {
  const r = utf8Prefix(reason, 1024);
  const b = Buffer.allocUnsafe(2 + r.length);
  b.writeUInt16BE(code);
  r.copy(b, 2);
  return b;
}

/** Decodes a CLOSE or NACK payload. */
export function decodeReason(p: Buffer): { code: number; reason: string } {
  if (p.length < 2 || p.length > 2 + 1024) throw bad('close/nack: bad length');
  return { code: p.readUInt16BE(0), reason: p.toString('utf8', 2) };
}

/** ACK payload: empty, or for a file START the offset the receiver wants to resume from. */
export function encodeAck(resumeOffset?: number): Buffer {
  if (resumeOffset === undefined) return Buffer.alloc(0);
  checkU48(resumeOffset, 'resume offset');
  const b = Buffer.allocUnsafe(6);
  b.writeUIntBE(resumeOffset, 0, 6);
  return b;
}

/** Decodes an ACK payload. */
export function decodeAck(p: Buffer): { resumeOffset?: number } {
  if (p.length === 0) return {};
  if (p.length !== 6) throw bad('ack: bad length');
  return { resumeOffset: p.readUIntBE(0, 6) };
}
