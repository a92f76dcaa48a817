/**
 * For the media hook tests: real AES-256-GCM hooks (node:crypto), and a loopback TCP proxy that
 * records the bytes it carries both ways, to check what travels on the wire.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import net from 'node:net';
import type { AudioHookInfo, VideoHookInfo } from '../../src/index.js';

/** Additional data: what of the media header the ciphertext is bound to. */
function aad(info: VideoHookInfo | AudioHookInfo): Buffer {
  return Buffer.from('imageType' in info ? `v:${info.imageType}` : `a:${info.codec}`);
}

/** Encrypts: 12-byte IV, 16-byte tag, ciphertext. */
export function seal(key: Buffer): (p: Buffer, info: VideoHookInfo | AudioHookInfo) => Buffer {
  return (p, info) => {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', key, iv);
    c.setAAD(aad(info));
    const body = Buffer.concat([c.update(p), c.final()]);
    return Buffer.concat([iv, c.getAuthTag(), body]);
  };
}

/** Decrypts what seal() made; throws on a wrong key or altered bytes. */
export function open(key: Buffer): (p: Buffer, info: VideoHookInfo | AudioHookInfo) => Buffer {
  return (p, info) => {
    const d = createDecipheriv('aes-256-gcm', key, p.subarray(0, 12));
    d.setAAD(aad(info));
    d.setAuthTag(p.subarray(12, 28));
    return Buffer.concat([d.update(p.subarray(28)), d.final()]);
  };
}

/**
 * The same, asynchronous, finishing out of order: each call waits 0..9 ms, set by the payload's
 * last byte, so a later frame often finishes before an earlier one.
 */
export function later<I>(hook: (p: Buffer, info: I) => Buffer): (p: Buffer, info: I) => Promise<Buffer> {
  return (p, info) => new Promise((resolve, reject) => {
    setTimeout(() => {
      try {
        resolve(hook(p, info));
      } catch (err) {
        reject(err);
      }
    }, p.length ? p[p.length - 1] % 10 : 0);
  });
}

/** A proxy to `targetPort` that records every byte: `up` toward the target, `down` from it. */
export interface CaptureProxy {
  port: number;
  up: Buffer[];
  down: Buffer[];
  /** Whether `needle` occurs in the bytes recorded so far (either way). */
  carried(needle: Buffer): boolean;
  close(): Promise<void>;
}

export function captureProxy(targetPort: number): Promise<CaptureProxy> {
  const up: Buffer[] = [];
  const down: Buffer[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const target = net.connect(targetPort, '127.0.0.1');
    sockets.add(client).add(target);
    client.on('data', (b: Buffer) => up.push(b)).pipe(target);
    target.on('data', (b: Buffer) => down.push(b)).pipe(client);
    const kill = (): void => {
      client.destroy();
      target.destroy();
    };
    client.on('error', kill).on('close', kill);
    target.on('error', kill).on('close', kill);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({
        port: (server.address() as net.AddressInfo).port,
        up,
        down,
        carried: (needle) => Buffer.concat(up).includes(needle) || Buffer.concat(down).includes(needle),
        close: () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      });
    });
  });
}
