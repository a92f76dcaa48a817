/**
 * A push Sender's lanes: one PushLane per media type, with its outbox, made on first use and
 * dialled with the Sender's options and a HELLO naming the lane (docs/behaviour.md, section 3).
 */
import { randomBytes } from 'node:crypto';
import type { ConnectionEvent } from '../events.js';
import { MediaType, type MediaTypeName } from '../protocol/constants.js';
import type { DialOptions } from '../link/dial.js';
import type { LinkContext } from '../link/link-context.js';
import type { UdpEndpoint, UdpLink } from '../link/udp-link.js';
import { ReliableOutbox, type Outbox } from '../media/outbox.js';
import { CloseCode, type CamwireError } from '../errors.js';
import type { ReliableTarget } from './file-send.js';
import { PushLane, type LaneEventName } from '../media/push-lane.js';
import { newOutbox, pushHello, type SenderConfig } from './sender-config.js';
import { isFullFrameRequest } from '../protocol/full-frame.js';
import type { Redirect } from '../protocol/redirect.js';

/** What a lane needs from its Sender. */
export interface LaneHost {
  c: SenderConfig;
  links: LinkContext;
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

/** What a Sender gives its lanes (their outboxes are the lanes' own). */
export type LanesHost = Omit<LaneHost, 'outbox'> & {
  /** A lane's outbox asks for a full frame of source `mediaIndex` (change mode, after drops). */
  requestFullFrame(mediaIndex: number): void;
};

/** A push Sender's lanes and their outboxes, one of each per media type, made on first use. */
export class PushLanes {
  readonly #h: LaneHost;
  readonly #requestFullFrame: (mediaIndex: number) => void;
  readonly #lanes = new Map<MediaTypeName, PushLane>();
  readonly #outboxes = new Map<MediaTypeName, Outbox>();
  /** Where the lanes' next connections go after a redirect (shared by all of them). */
  readonly #route: { to?: Redirect } = {};

  constructor(h: LanesHost) {
    this.#requestFullFrame = h.requestFullFrame;
    this.#h = { ...h, outbox: (t) => this.outbox(t) };
  }

  /** The outbox of `type`'s lane. */
  outbox(type: MediaTypeName): Outbox {
    let ob = this.#outboxes.get(type);
    if (!ob) {
      ob = newOutbox(this.#h.c, type, (err) => this.#lanes.get(type)?.link?.fail(err, CloseCode.TIMEOUT), (i) => this.#requestFullFrame(i));
      this.#outboxes.set(type, ob);
    }
    return ob;
  }

  /** The lane of `type`. */
  lane(type: MediaTypeName): PushLane {
    let lane = this.#lanes.get(type);
    if (!lane) this.#lanes.set(type, (lane = newPushLane(this.#h, type, this.#h.c.o.reconnect ? this.#route : undefined)));
    return lane;
  }

  /** The reliable lane of `type` as a target of commands, data and file chunks. */
  target(type: 'command' | 'file' | 'data'): ReliableTarget {
    const ob = this.outbox(type) as ReliableOutbox;
    const lane = this.lane(type);
    return {
      submit: (init) => {
        const p = ob.submit(init);
        lane.kick();
        return p;
      },
      fileWindow: () => lane.fileWindow,
      room: () => ob.room,
    };
  }

  /** Adds each outbox's drops to `dropped`. */
  addDropped(dropped: Record<MediaTypeName, number>): void {
    for (const [t, ob] of this.#outboxes) dropped[t] += ob.dropped;
  }

  /** Closes every lane (its unacknowledged items reject with `err`). */
  close(err: CamwireError): void {
    for (const lane of this.#lanes.values()) lane.close(err);
  }

  /** Sends the lanes' next connections to `to` (with reconnect on), as a server's redirect does. */
  redirect(to: Redirect): void {
    if (this.#h.c.o.reconnect) this.#route.to = { host: to.host, port: to.port };
  }
}

/** A new push lane of `type`; `route` is where its connections go after a redirect (reconnect on). */
function newPushLane(h: LaneHost, type: MediaTypeName, route: { to?: Redirect } | undefined): PushLane {
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
    route,
    dialOptions: (signal): DialOptions => {
      const udp = h.udp();
      return {
        ...target,
        tls: o.tls,
        proxy: o.proxy,
        proxyTunnel: o.proxyTunnel,
        httpUpgrade: o.httpUpgrade,
        upgrades: h.links.httpUpgrades,
        timeoutMs: o.connectTimeoutMs,
        signal,
        link: h.links.linkOptions(),
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
