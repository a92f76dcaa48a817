/**
 * Command payloads: a name plus named, typed parameters (docs/protocol.md, section 4.3).
 */
import { ParamType, type ParamTypeName } from './constants.js';
import { bad, Reader, shortStr } from './payload-codec.js';

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
