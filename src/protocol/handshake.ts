/**
 * The JSON control payloads of the handshake: HELLO and WELCOME (docs/protocol.md, sections 3.1 and 3.2).
 */
import { MAX_CONTROL_PAYLOAD } from './constants.js';
import { bad } from './payload-codec.js';

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
  /**
   * On a file link: bytes of file chunks the acceptor takes unacknowledged per transfer (its
   * queue or disk writer holds that much without refusing). A sender may keep up to this much in
   * flight; one that is not told keeps its own fixed window (docs/protocol.md, 3.2 and 4.4).
   */
  fileWindow?: number;
}

/** The largest `fileWindow` a WELCOME may announce; larger values are read as this. */
export const MAX_FILE_WINDOW = 1024 * 1024 * 1024;

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
  // Anything but a positive integer is ignored (an older or other peer): the sender's own window.
  if (typeof o.fileWindow === 'number' && Number.isSafeInteger(o.fileWindow) && o.fileWindow > 0) w.fileWindow = Math.min(o.fileWindow, MAX_FILE_WINDOW);
  return w;
}
