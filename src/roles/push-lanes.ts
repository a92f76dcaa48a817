/**
 * A push Sender's lane of one media type: its PushLane, dialled with the Sender's options and a
 * HELLO naming the lane (docs/behaviour.md, section 3).
 */
import { randomBytes } from 'node:crypto';
import type { ConnectionEvent } from '../events.js';
import { MediaType, type MediaTypeName } from '../protocol/constants.js';
import type { DialOptions } from '../link/dial.js';
import type { LinkClock } from '../link/link-clock.js';
import type { UdpEndpoint, UdpLink } from '../link/udp-link.js';
import type { Outbox } from '../media/outbox.js';
import { PushLane, type LaneEventName } from '../media/push-lane.js';
import { pushHello, type SenderConfig } from './sender-config.js';
import { isFullFrameRequest } from '../protocol/full-frame.js';
import type { Redirect } from '../protocol/redirect.js';

/** Each Sender's route, shared by its lanes (by its config: one per Sender). */
const routes = new WeakMap<SenderConfig, { to?: Redirect }>();

/** What a lane needs from its Sender. */
export interface LaneHost {
  c: SenderConfig;
  clock: LinkClock;
  sessionKey(): bigint;
  renewSessionKey(): void;
  outbox(type: MediaTypeName): Outbox;
  emit(name: LaneEventName, ev: ConnectionEvent): void;
  onDropped(type: MediaTypeName, n: number): void;
  /** The Sender's UDP socket, when it pushes over UDP. */
  udp(): UdpEndpoint | undefined;
  /** The UDP link of each media type code, for the frames the socket receives. */
  udpLinks: Map<number, UdpLink>;
  /** The receiver asked for a full frame of source `mediaIndex` (protocol.md 4.7). */
  fullFrameRequested(mediaIndex: number): void;
}

/** The link options of every link of a Sender. */
export function senderLinkOptions(c: SenderConfig, clock: LinkClock): DialOptions['link'] {
  return { maxPayload: c.o.maxPayload, keepaliveMs: c.o.keepaliveMs, deadMs: c.o.deadMs, pollMs: c.o.pollMs, clock };
}

/** A new push lane of `type`. */
export function newPushLane(h: LaneHost, type: MediaTypeName): PushLane {
  const o = h.c.o;
  const code = MediaType[type];
  const target = { transport: o.protocol, host: o.host ?? '127.0.0.1', port: o.port };
  // The reliable queue's id, the same in the HELLO of each of its links (pushHello).
  const laneId = type === 'command' || type === 'file' || type === 'data' ? randomBytes(8).toString('hex') : undefined;
  return new PushLane({
    type,
    outbox: h.outbox(type),
    target,
    sessionKey: h.sessionKey,
    renewSessionKey: h.renewSessionKey,
    idleMs: h.c.idleMs,
    timeoutMs: o.timeouts[type],
    reconnect: o.reconnect,
    emit: h.emit,
    onDropped: (n) => h.onDropped(type, n),
    onPeerFrame: type === 'video' ? (f) => isFullFrameRequest(f) && h.fullFrameRequested(f.mediaIndex) : undefined,
    // With reconnect on, a server's redirect (a draining cluster node) is followed by all its lanes.
    route: o.reconnect ? route(h.c) : undefined,
    dialOptions: (signal): DialOptions => {
      const udp = h.udp();
      return {
        ...target,
        tls: o.tls,
        proxy: o.proxy,
        proxyTunnel: o.proxyTunnel,
        timeoutMs: o.connectTimeoutMs,
        signal,
        link: senderLinkOptions(h.c, h.clock),
        hello: pushHello(h.c, type, h.sessionKey(), laneId),
        udp: udp && {
          endpoint: udp,
          attach: (link) => {
            link.tag = { sessionKey: h.sessionKey(), mediaType: code };
            h.udpLinks.set(code, link);
            return () => {
              if (h.udpLinks.get(code) === link) h.udpLinks.delete(code);
            };
          },
        },
      };
    },
  });
}

/** Sends the next connections of a Sender's lanes to `to` (with reconnect on), as a server's redirect does. */
export function redirectLanes(c: SenderConfig, to: Redirect): void {
  if (c.o.reconnect) route(c).to = { host: to.host, port: to.port };
}

function route(c: SenderConfig): { to?: Redirect } {
  let r = routes.get(c);
  if (!r) routes.set(c, (r = {}));
  return r;
}
