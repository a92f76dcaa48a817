/**
 * UDP datagram socket: bind, send, receive. Knows nothing about frames or media types.
 */
import dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { AddressInUseError, ErrorCode, TransportError } from '../errors.js';

/** Options of a datagram socket. */
export interface DatagramOptions {
  /** Address to bind; `::` binds both families where the OS allows. @default '0.0.0.0' or '::' for IPv6 peers */
  host?: string;
  /** Port to bind; 0 picks a free one. @default 0 */
  port?: number;
  /** 'udp4' or 'udp6'. @default derived from host */
  type?: 'udp4' | 'udp6';
  /** Kernel receive buffer; large frames arrive as bursts of datagrams. @default 4 MiB */
  recvBufferSize?: number;
  /** Kernel send buffer. @default 4 MiB */
  sendBufferSize?: number;
}

/** Opens and binds a UDP socket. */
export function bindDatagram(o: DatagramOptions): Promise<dgram.Socket> {
  const type = o.type ?? (o.host && net.isIPv6(o.host) ? 'udp6' : 'udp4');
  const sock = dgram.createSocket({ type, reuseAddr: false });
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      sock.close();
      if (err.code === 'EADDRINUSE') {
        reject(new AddressInUseError(o.host ?? '*', o.port ?? 0, 'UDP port', { cause: err }));
        return;
      }
      reject(new TransportError(ErrorCode.TRANSPORT_CONNECT, `cannot bind UDP ${o.host ?? '*'}:${o.port ?? 0}: ${err.message}`, { cause: err }));
    };
    sock.once('error', onError);
    sock.bind(o.port ?? 0, o.host, () => {
      sock.off('error', onError);
      // Buffer sizes are a hint: the kernel may cap them (net.core.rmem_max); that is not an error.
      try {
        sock.setRecvBufferSize(o.recvBufferSize ?? 4 * 1024 * 1024);
        sock.setSendBufferSize(o.sendBufferSize ?? 4 * 1024 * 1024);
      } catch {
        /* capped by the OS */
      }
      resolve(sock);
    });
  });
}

/** Which socket type reaches `host` (an IP literal or a name resolved later as IPv4). */
export function datagramTypeFor(host: string): 'udp4' | 'udp6' {
  return net.isIPv6(host) ? 'udp6' : 'udp4';
}

/**
 * The IP address that datagrams for `host` go to: `host` itself when it is an IP literal, else
 * its first address of `family`, looked up once. A name handed to `dgram` is looked up again for
 * every datagram (on libuv's thread pool, where lookups can finish out of order), so a link
 * resolves its peer when it is made. Rejects with CW_ERR_TRANSPORT_CONNECT naming the host when
 * the name does not resolve, and with CW_ERR_TRANSPORT_TIMEOUT after `timeoutMs`.
 */
export async function resolveDatagramHost(host: string, family: 4 | 6, timeoutMs: number): Promise<string> {
  if (net.isIP(host)) return host;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new TransportError(ErrorCode.TRANSPORT_TIMEOUT, `looking up UDP host ${host} took more than ${timeoutMs} ms; check the name server, or give an IP address`)),
      timeoutMs,
    );
  });
  try {
    const { address } = await Promise.race([lookup(host, { family }), late]);
    return address;
  } catch (err) {
    if (err instanceof TransportError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new TransportError(ErrorCode.TRANSPORT_CONNECT, `cannot resolve UDP host ${host} to an IPv${family} address (${code}); check the name, or give an IP address`, { cause: err });
  } finally {
    clearTimeout(timer);
  }
}
