/**
 * camwire for browsers: the wire codec (docs/protocol.md) and a client that opens one WebSocket
 * per channel, as a Receiver does over TCP. Served as /camwire.js (an ES module), nothing to build.
 */
import { VIDEO_JS } from './client-video-script.js';

const CODEC_JS = String.raw`// camwire browser client: frames over WebSocket, one socket per channel (docs/protocol.md, section 10).
const KIND = { HELLO: 1, WELCOME: 2, DATA: 3, ACK: 4, NACK: 5, PING: 6, PONG: 7, CLOSE: 8 };
const TYPES = ['video', 'audio', 'command', 'file', 'data'];
const IMAGE = { 1: 'jpeg', 2: 'hwl', 3: 'bmp', 4: 'png' };
const enc = new TextEncoder();
const dec = new TextDecoder();

export function encodeFrame(f) {
  const ids = [f.from || '', f.to || '', f.group || ''].map((s) => enc.encode(s));
  const payload = f.payload || new Uint8Array(0);
  const buf = new Uint8Array(36 + ids[0].length + ids[1].length + ids[2].length + payload.length);
  const v = new DataView(buf.buffer);
  v.setUint16(0, 0x4357); buf[2] = 1; buf[3] = f.kind; buf[4] = f.mediaType || 0; buf[5] = f.flags || 0;
  v.setUint16(6, f.mediaIndex || 0); v.setUint32(8, f.seq || 0); v.setUint32(12, payload.length);
  v.setBigUint64(16, BigInt(f.sessionKey || 0n)); v.setFloat64(24, f.timestamp || Date.now());
  buf[32] = ids[0].length; buf[33] = ids[1].length; buf[34] = ids[2].length;
  let o = 36;
  for (const b of ids) { buf.set(b, o); o += b.length; }
  buf.set(payload, o);
  return buf;
}

export function decodeFrame(ab) {
  const buf = new Uint8Array(ab);
  const v = new DataView(ab);
  if (buf.length < 36 || v.getUint16(0) !== 0x4357 || buf[2] !== 1) throw new Error('not a camwire v1 frame');
  let o = 36;
  const id = (n) => { const s = dec.decode(buf.subarray(o, o + n)); o += n; return s; };
  const from = id(buf[32]); const to = id(buf[33]); const group = id(buf[34]);
  return { kind: buf[3], mediaType: buf[4], flags: buf[5], mediaIndex: v.getUint16(6), seq: v.getUint32(8), sessionKey: v.getBigUint64(16), timestamp: v.getFloat64(24), from, to, group, payload: buf.subarray(o, o + v.getUint32(12)) };
}

export function encodeCommand(name, params = {}) {
  const parts = [];
  const u8 = (n) => parts.push(Uint8Array.of(n));
  const u16 = (n) => { const b = new Uint8Array(2); new DataView(b.buffer).setUint16(0, n); parts.push(b); };
  const u32 = (n) => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, n); parts.push(b); };
  const str = (s) => { const b = enc.encode(s); u8(b.length); parts.push(b); };
  str(name);
  const entries = Object.entries(params);
  u16(entries.length);
  for (const [k, val] of entries) {
    str(k);
    if (typeof val === 'string') { u8(1); const b = enc.encode(val); u32(b.length); parts.push(b); }
    else if (typeof val === 'boolean') { u8(4); u8(val ? 1 : 0); }
    else if (Number.isInteger(val)) { u8(2); const b = new Uint8Array(8); new DataView(b.buffer).setBigInt64(0, BigInt(val)); parts.push(b); }
    else if (typeof val === 'number') { u8(3); const b = new Uint8Array(8); new DataView(b.buffer).setFloat64(0, val); parts.push(b); }
    else if (val instanceof Uint8Array) { u8(5); u32(val.length); parts.push(val); }
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

export function decodeCommand(buf) {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let o = 0;
  const s = (n) => { const r = dec.decode(buf.subarray(o, o + n)); o += n; return r; };
  const name = s(buf[o++]);
  const count = v.getUint16(o); o += 2;
  const params = {};
  for (let i = 0; i < count; i++) {
    const k = s(buf[o++]);
    const t = buf[o++];
    if (t === 1) { const n = v.getUint32(o); o += 4; params[k] = s(n); }
    else if (t === 2) { const b = v.getBigInt64(o); o += 8; params[k] = Number(b); }
    else if (t === 3) { params[k] = v.getFloat64(o); o += 8; }
    else if (t === 4) { params[k] = buf[o++] === 1; }
    else if (t === 5) { const n = v.getUint32(o); o += 4; params[k] = buf.slice(o, o + n); o += n; }
    else throw new Error('bad command parameter type ' + t);
  }
  return { name, params };
}

export function decodeVideo(buf) {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const code = buf[0]; const width = v.getUint16(1); const height = v.getUint16(3);
  let o = 6 + (buf[5] ? 8 : 0);
  const nameLen = buf[o++];
  const imageType = code === 0 ? dec.decode(buf.subarray(o, o + nameLen)) : IMAGE[code];
  const out = { imageType, width, height, data: buf.subarray(o + nameLen) };
  // Change detection (protocol.md 4.1): where this image goes on the picture.
  if (buf[5]) out.rect = { x: v.getUint16(6), y: v.getUint16(8), w: v.getUint16(10), h: v.getUint16(12) };
  return out;
}

const AUDIO = { 1: 'pcm_s16le', 2: 'opus' };
export function decodeAudio(buf) {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const code = buf[0]; const sampleRate = v.getUint32(1); const channels = buf[5]; const nameLen = buf[6];
  const codec = code === 0 ? dec.decode(buf.subarray(7, 7 + nameLen)) : AUDIO[code];
  return { codec, sampleRate, channels, data: buf.subarray(7 + nameLen) };
}

export function encodeVideoHeader(width, height) {
  const b = new Uint8Array(7);
  const v = new DataView(b.buffer);
  b[0] = 1; v.setUint16(1, width); v.setUint16(3, height); b[5] = 0; b[6] = 0;
  return b;
}

`;

const CLIENT_CLASS_JS = String.raw`/**
 * Reads a stream of camwire frames (GET /stream/<client>/<index>: DATA frames back to back,
 * docs/protocol.md section 2) and calls onVideo for each video frame. Resolves when it ends.
 */
export async function streamVideo(url, onVideo, signal) {
  const res = await fetch(url, { cache: 'no-store', signal });
  if (!res.ok) throw new Error((await res.text()).trim() || 'HTTP ' + res.status);
  const reader = res.body.getReader();
  let buf = new Uint8Array(0);
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    const joined = new Uint8Array(buf.length + value.length);
    joined.set(buf); joined.set(value, buf.length);
    buf = joined;
    while (buf.length >= 36) {
      const len = 36 + buf[32] + buf[33] + buf[34] + new DataView(buf.buffer, buf.byteOffset).getUint32(12);
      if (len > 16 * 1024 * 1024) throw new Error('frame too large');
      if (buf.length < len) break;
      const f = decodeFrame(buf.slice(0, len).buffer);
      buf = buf.subarray(len);
      if (f.kind === KIND.DATA && f.mediaType === 1) onVideo({ ...decodeVideo(f.payload), keyframe: (f.flags & 1) !== 0, from: f.from, mediaIndex: f.mediaIndex, timestamp: f.timestamp, bytes: f.payload.length });
    }
  }
}

function randomKey() {
  const a = new BigUint64Array(1);
  do crypto.getRandomValues(a); while (a[0] === 0n);
  return a[0];
}

/** A camwire client in the browser: pulls channels from the server, pushes as its own id. */
export class CamwireClient extends EventTarget {
  constructor(url, id, opts = {}) {
    super();
    this.url = url; this.id = id; this.auth = opts.auth; this.sessionKey = randomKey();
    this.channels = new Map(); this.pushes = new Map(); this.pending = new Map(); this.seq = 0;
  }
  #emit(type, detail) { this.dispatchEvent(new CustomEvent(type, { detail })); }
  #socket(type, role, onFrame) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      ws.binaryType = 'arraybuffer';
      const hello = { role, agent: 'camwire-browser/0.1' };
      if (this.auth) hello.auth = this.auth;
      ws.onopen = () => ws.send(encodeFrame({ kind: KIND.HELLO, mediaType: TYPES.indexOf(type) + 1, sessionKey: this.sessionKey, from: this.id, payload: enc.encode(JSON.stringify(hello)) }));
      let open = false;
      ws.onmessage = (e) => {
        const f = decodeFrame(e.data);
        if (f.kind === KIND.PING) return ws.send(encodeFrame({ kind: KIND.PONG, mediaType: f.mediaType, timestamp: f.timestamp }));
        if (f.kind === KIND.WELCOME && !open) { open = true; resolve(ws); return; }
        if (f.kind === KIND.CLOSE) {
          const reason = dec.decode(f.payload.subarray(2));
          if (!open) reject(new Error(reason)); else this.#emit('close', { type, reason });
          return;
        }
        onFrame(f, ws);
      };
      ws.onerror = () => { if (!open) reject(new Error('cannot connect to ' + this.url)); };
      ws.onclose = () => { if (open) this.#emit('close', { type, reason: 'closed' }); };
    });
  }
  /** Opens pull channels for the given types; resolves when all are open (the session). */
  async connect(types = ['video', 'command']) {
    await Promise.all(types.map(async (type) => {
      const ws = await this.#socket(type, 'pull', (f, sock) => this.#onData(type, f, sock));
      this.channels.set(type, ws);
    }));
    this.#emit('session', { types });
  }
  #onData(type, f, ws) {
    if (f.kind !== KIND.DATA) return;
    if (type === 'video') {
      this.#emit('video', { ...decodeVideo(f.payload), keyframe: (f.flags & 1) !== 0, seq: f.seq, from: f.from, mediaIndex: f.mediaIndex, timestamp: f.timestamp, bytes: f.payload.length, transformed: (f.flags & 4) !== 0 });
    } else if (type === 'audio') {
      this.#emit('audio', { ...decodeAudio(f.payload), from: f.from, mediaIndex: f.mediaIndex, timestamp: f.timestamp, transformed: (f.flags & 4) !== 0 });
    } else if (type === 'command') {
      const c = decodeCommand(f.payload);
      this.#emit(c.name.startsWith('RV_') ? 'notice' : 'command', { ...c, from: f.from });
    } else if (type === 'data') {
      this.#emit('data', { data: f.payload.slice(), from: f.from });
    }
    if (f.flags & 2) ws.send(encodeFrame({ kind: KIND.ACK, mediaType: f.mediaType, mediaIndex: f.mediaIndex, seq: f.seq }));
  }
  async #push(type) {
    let ws = this.pushes.get(type);
    if (ws && ws.readyState === WebSocket.OPEN) return ws;
    ws = await this.#socket(type, 'push', (f) => {
      const p = this.pending.get(f.seq);
      if (!p) return;
      this.pending.delete(f.seq);
      if (f.kind === KIND.ACK) p.resolve(f.payload.slice());
      else if (f.kind === KIND.NACK) p.reject(new Error(dec.decode(f.payload.subarray(2))));
    });
    this.pushes.set(type, ws);
    return ws;
  }
  /** Sends one reliable item on the type's push socket; resolves with the ACK payload. */
  async #reliable(type, payload, o = {}) {
    const ws = await this.#push(type);
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      this.pending.set(seq, { resolve, reject });
      ws.send(encodeFrame({ kind: KIND.DATA, mediaType: TYPES.indexOf(type) + 1, flags: 2, seq, mediaIndex: o.mediaIndex || 0, sessionKey: this.sessionKey, from: this.id, to: o.to || '', group: o.group || '', payload }));
    });
  }
  /** Sends a command; resolves with the server's reply (if any) once acknowledged. */
  async sendCommand(name, params = {}, o = {}) {
    const ack = await this.#reliable('command', encodeCommand(name, params), o);
    return ack && ack.length ? decodeCommand(ack) : undefined;
  }
  /**
   * Sends a File (or Blob with a name): START, acknowledged chunks, END with the SHA-256 of the bytes
   * sent; the receiver may ask to resume from an offset. onProgress(acked, size) after each chunk.
   */
  async sendFile(file, o = {}) {
    const fileId = (this.seq + 1) >>> 0;
    const name = enc.encode(o.name || file.name || 'file');
    const u48 = (v, n, off) => { v.setUint16(off, Math.floor(n / 2 ** 32)); v.setUint32(off + 2, n >>> 0); };
    const start = new Uint8Array(19 + name.length);
    let v = new DataView(start.buffer);
    start[0] = 1; v.setUint32(1, fileId); u48(v, file.size, 5); u48(v, 0, 11); v.setUint16(17, name.length); start.set(name, 19);
    const ack = await this.#reliable('file', start, o);
    let pos = ack && ack.length === 6 ? new DataView(ack.buffer, ack.byteOffset).getUint16(0) * 2 ** 32 + new DataView(ack.buffer, ack.byteOffset).getUint32(2) : 0;
    const from = pos;
    const bytes = new Uint8Array(await file.slice(pos).arrayBuffer());
    const window = [];
    for (let off = 0; off < bytes.length; off += 65536) {
      const data = bytes.subarray(off, off + 65536);
      const chunk = new Uint8Array(11 + data.length);
      v = new DataView(chunk.buffer);
      chunk[0] = 2; v.setUint32(1, fileId); u48(v, from + off, 5); chunk.set(data, 11);
      const end = off + data.length;
      window.push(this.#reliable('file', chunk, o).then(() => o.onProgress && o.onProgress(from + end, file.size)));
      if (window.length >= 8) await window.shift();
    }
    await Promise.all(window);
    const sha = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
    const endMsg = new Uint8Array(43);
    v = new DataView(endMsg.buffer);
    endMsg[0] = 3; v.setUint32(1, fileId); u48(v, file.size, 5); endMsg.set(sha, 11);
    await this.#reliable('file', endMsg, o);
    return { size: file.size, offset: from, sha256: [...sha].map((b) => b.toString(16).padStart(2, '0')).join('') };
  }
  joinGroup(group, o = {}) { return this.sendCommand('RVS_JOIN_GROUP', { group, permanent: false, name: o.name || '', password: o.password || '', onlyExisting: false }); }
  leaveGroup(group) { return this.sendCommand('RVS_LEAVE_GROUP', { group }); }
  /** Contact lists on the server: list is 'default' (receivers) or 'allowed' (senders); op add|remove|clear|hello|goodbye. */
  contacts(list, op, id = '', allowAll = true) { return this.sendCommand(list === 'allowed' ? 'RVS_ALLOWED_SENDERS' : 'RVS_DEFAULT_RECEIVERS', { op, id, allowAll }); }
  /** Directory: every known client, or every online one. */
  async users(online = true) {
    const r = await this.sendCommand('RVS_GET_USERS', { online });
    const n = r ? r.params.GUIDCount : 0;
    return Array.from({ length: n }, (_, i) => r.params['GUIDUser' + (i + 1)]);
  }
  /** Sends one JPEG frame as this client's video. */
  async sendVideoFrame(jpeg, width, height, o = {}) {
    const ws = await this.#push('video');
    if (ws.bufferedAmount > 256 * 1024) return false; // latest wins: skip while the socket is busy
    const header = encodeVideoHeader(width, height);
    const payload = new Uint8Array(header.length + jpeg.length);
    payload.set(header); payload.set(jpeg, header.length);
    ws.send(encodeFrame({ kind: KIND.DATA, mediaType: 1, flags: 1, mediaIndex: o.mediaIndex || 0, sessionKey: this.sessionKey, from: this.id, to: o.to || '', group: o.group || '', payload }));
    return true;
  }
  /** Asks the server for a full frame of client from's source mediaIndex (protocol.md 4.7), on the video channel. */
  requestFullFrame(from, mediaIndex = 0) {
    const ws = this.channels.get('video');
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(encodeFrame({ kind: KIND.DATA, mediaType: 1, mediaIndex, sessionKey: this.sessionKey, from: this.id, to: from }));
    return true;
  }
  close() {
    for (const ws of [...this.channels.values(), ...this.pushes.values()]) ws.close();
    this.channels.clear(); this.pushes.clear();
  }
}
`;

/** The whole module, served as /camwire.js. */
export const CLIENT_JS = `${CODEC_JS}\n${VIDEO_JS}\n${CLIENT_CLASS_JS}`;
