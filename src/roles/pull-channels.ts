/**
 * A pull Sender's served channels: the HELLO check of a receiver's channel (role, addressee,
 * `maxChannels`, stopping), its WELCOME, and the channel's life until its link closes
 * (docs/behaviour.md, section 4).
 */
import { CamwireError, CloseCode, DeliveryError, ErrorCode, TransportError } from '../errors.js';
import type { ConnectionEvent } from '../events.js';
import { mediaTypeName, type MediaTypeName } from '../protocol/constants.js';
import type { Frame } from '../protocol/frame.js';
import { isFullFrameRequest } from '../protocol/full-frame.js';
import { acceptedEvent, awaitHello, welcomeLink, type HelloDeadlines } from '../link/accept.js';
import type { FrameLink } from '../link/frame-link.js';
import type { LivenessGroups } from '../link/liveness.js';
import { ReliableOutbox, type Outbox } from '../media/outbox.js';
import { ServedChannel } from '../media/served-channel.js';
import type { ResolvedCommon } from '../options.js';

/** What accepting a channel needs from its Sender. */
export interface PullHost {
  o: ResolvedCommon;
  maxChannels: number;
  sessionKey(): bigint;
  started(): boolean;
  /** Channels open now, all types. */
  channelCount(): number;
  channels: Record<MediaTypeName, Set<ServedChannel>>;
  /** Called when a channel of the type opens (sends waiting for one go on). */
  waiters: Record<MediaTypeName, Set<() => void>>;
  newOutbox(type: MediaTypeName, onTimeout: (err: CamwireError) => void): Outbox;
  onDropped(type: MediaTypeName, n: number): void;
  emit(name: 'connecting' | 'connected' | 'connectError' | 'disconnect', ev: ConnectionEvent): void;
  /** A video channel's receiver asked for a full frame of source `mediaIndex` (protocol.md 4.7). */
  fullFrameRequested(mediaIndex: number): void;
  /** The shared keepalive and dead timers of receiver sessions (docs/protocol.md 3.4). */
  liveness: LivenessGroups;
  /** The Sender's HELLO deadlines (its LinkContext). */
  hellos: HelloDeadlines;
}

/** A receiver opened a link to this pull Sender: expect a HELLO for one channel. */
export function acceptPullChannel(h: PullHost, link: FrameLink): void {
  awaitHello(h.hellos, link, h.o.connectTimeoutMs, (f: Frame, hello) => {
    const type = mediaTypeName(f.mediaType)!;
    const ev = acceptedEvent(link, f, h.sessionKey());
    h.emit('connecting', ev);
    let refusal: string | undefined;
    if (hello.role !== 'pull') refusal = 'this sender serves pull channels (receiver-to-sender); it does not take pushes';
    else if (f.to && h.o.clientId && f.to !== h.o.clientId) refusal = `this sender is ${JSON.stringify(h.o.clientId)}, not ${JSON.stringify(f.to)}`;
    else if (h.channelCount() >= h.maxChannels) refusal = `too many channels (${h.maxChannels})`;
    else if (!h.started()) refusal = 'sender is stopping';
    if (refusal) {
      const err = new CamwireError(ErrorCode.DELIVERY_REFUSED, refusal);
      link.close(CloseCode.REFUSED, refusal);
      h.emit('connectError', { ...ev, error: err });
      return;
    }
    welcomeLink(link, f, { sessionKey: h.sessionKey(), id: h.o.clientId, stallMs: h.o.timeouts[type] }, ev, (out) => h.emit('disconnect', out));
    const outbox = h.newOutbox(type, (err) => link.fail(err, CloseCode.TIMEOUT));
    const ch = new ServedChannel(link, type, outbox, h.sessionKey());
    if (type === 'video') link.on('frame', (g: Frame) => isFullFrameRequest(g) && h.fullFrameRequested(g.mediaIndex));
    h.channels[type].add(ch);
    h.liveness.join(link, { clientId: f.from, sessionKey: f.sessionKey, transport: link.transport, remoteAddress: link.remoteAddress });
    link.on('close', (info) => {
      h.channels[type].delete(ch);
      h.onDropped(type, outbox.dropped);
      if (outbox instanceof ReliableOutbox) {
        outbox.failAll(info.error ?? new TransportError(ErrorCode.TRANSPORT_CLOSED, `channel closed: ${info.code} ${info.reason}`));
        outbox.dispose();
      }
    });
    h.emit('connected', ev);
    for (const w of [...h.waiters[type]]) w();
  });
}

/**
 * Resolves once `channels` holds a channel: at once when it does; else when a receiver opens one
 * (its `waiters` are called), within `timeoutMs` (DeliveryError DELIVERY_TIMEOUT). A waiter
 * called while there is still none (the Sender stopping) rejects with DELIVERY_CLOSED.
 */
export function waitForChannel(channels: ReadonlySet<unknown>, waiters: Set<() => void>, type: MediaTypeName, timeoutMs: number): Promise<void> {
  if (channels.size > 0) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const w = (): void => {
      clearTimeout(timer);
      waiters.delete(w);
      if (channels.size > 0) resolve();
      else reject(new DeliveryError(ErrorCode.DELIVERY_CLOSED, 'sender stopped', 0));
    };
    const timer = setTimeout(() => {
      waiters.delete(w);
      reject(new DeliveryError(ErrorCode.DELIVERY_TIMEOUT, `no receiver opened a ${type} channel within ${timeoutMs} ms`, 0));
    }, timeoutMs);
    waiters.add(w);
  });
}
