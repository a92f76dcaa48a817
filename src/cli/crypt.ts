/**
 * `--encrypt-key` / `--decrypt-key` (docs/cli.md): AES-256-GCM media hooks with a key read from a
 * file. Each payload becomes a random 12-byte IV, the 16-byte tag and the ciphertext, with no
 * additional data, so any application with the key can read it (docs/api.md, Media hooks).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type { MediaHook } from '../events.js';
import { UsageError } from './args.js';

const IV = 12;
const TAG = 16;

/** A 256-bit key from `file`: 32 raw bytes, or 64 hex digits, or base64 of 32 bytes (surrounding white space ignored). */
export function readKey(flag: string, file: string): Buffer {
  let raw: Buffer;
  try {
    raw = fs.readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`${flag}: cannot read ${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message}`);
  }
  if (raw.length === 32) return raw;
  const text = raw.toString('latin1').trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  if (/^[A-Za-z0-9+/]{43}=?$/.test(text)) {
    const b = Buffer.from(text, 'base64');
    if (b.length === 32) return b;
  }
  throw new UsageError(`${flag}: ${file} is not a 256-bit key: give 32 bytes, 64 hex digits or base64 of 32 bytes (head -c 32 /dev/urandom > ${file})`);
}

/** Encrypts each payload with AES-256-GCM: IV (12 bytes), tag (16 bytes), ciphertext. */
export function encryptHook(key: Buffer): MediaHook<unknown> {
  return (p) => {
    const iv = randomBytes(IV);
    const c = createCipheriv('aes-256-gcm', key, iv);
    const body = Buffer.concat([c.update(p), c.final()]);
    return Buffer.concat([iv, c.getAuthTag(), body]);
  };
}

/** Decrypts what encryptHook made; throws on a wrong key or altered bytes (the frame is dropped, a decode error). */
export function decryptHook(key: Buffer): MediaHook<unknown> {
  return (p) => {
    if (p.length < IV + TAG) throw new RangeError(`${p.length} bytes cannot be an AES-256-GCM payload (IV and tag alone are ${IV + TAG})`);
    const d = createDecipheriv('aes-256-gcm', key, p.subarray(0, IV));
    d.setAuthTag(p.subarray(IV, IV + TAG));
    return Buffer.concat([d.update(p.subarray(IV + TAG)), d.final()]);
  };
}
