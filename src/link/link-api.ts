/**
 * The FrameLink contract (what roles see of a link, whatever the transport), its options and
 * constants; BaseLink (frame-link.ts) implements the shared part.
 */
import type { EventEmitter } from 'node:events';
import { ProtocolError, type CamwireError } from '../errors.js';
import type { FrameInit, Frame } from '../protocol/frame.js';
import type { LinkClock } from './link-clock.js';
import type { Liveness } from './liveness.js';
import type { RecyclingArena } from '../protocol/recycling-arena.js';
import type { FrameArena } from '../protocol/fan-encoding.js';

/** How a link ended. */
export interface CloseInfo {
  /** Close code (docs/protocol.md, section 7). */
  code: number;
  reason: string;
  /** The error behind an abnormal close, undefined for a normal one. */
  error?: CamwireError;
  /** True when the peer closed (sent CLOSE or hung up). */
  byPeer: boolean;
}

/** Events of every FrameLink. */
export interface FrameLinkEvents {
  frame: [frame: Frame];
  /** The backlog fell below the high-water mark: send more. */
  drain: [];
  /** Emitted exactly once. */
  close: [info: CloseInfo];
}

/** The transport a link runs on. */
export type { TransportName } from '../protocol/constants.js';
import type { TransportName } from '../protocol/constants.js';

/** A frame-carrying connection. */
export interface FrameLink extends EventEmitter<FrameLinkEvents> {
  readonly transport: TransportName;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** False when frames may be lost (UDP): reliable types then retransmit. */
  readonly reliable: boolean;
  /** Bytes accepted by send() and not yet handed to the OS (those of the current turn included). */
  readonly backlog: number;
  /**
   * Of the backlog, the bytes sent in the current event-loop turn: a stream link gathers them
   * (corked) and writes them at the end of the turn, in one system call.
   */
  readonly turnBytes: number;
  readonly closed: boolean;
  /** Fields stamped on the link's own control frames (PING, PONG, CLOSE). */
  tag: { sessionKey?: bigint; mediaType?: number; from?: string };
  /** Fail when queued bytes make no progress for this long (0 = never). */
  stallMs: number;
  /** How many bytes the pump lets wait in the link before it leaves frames in their outbox. */
  readonly pumpBacklog: number;
  /**
   * Sends a frame, stamped with `sessionKey` (default: the frame's own) without changing `f`.
   * Returns false when the backlog is above the high-water mark (wait for 'drain').
   */
  send(f: FrameInit, sessionKey?: bigint): boolean;
  /**
   * Writes frames already encoded with this link's stamp (a FrameBatch's pieces, `bytes` in all)
   * as they are. Returns false as send() does. Only links that write bytes as given have it
   * (stream links); others take frames through send().
   */
  writeEncoded?(pieces: readonly Buffer[], bytes: number, holder?: EncodedHolder): boolean;
  /** Sends CLOSE (when possible) and ends the link. Idempotent. */
  close(code: number, reason: string): void;
  /** Queues incoming frames instead of emitting them, until release(). */
  hold(): void;
  /** Emits the frames queued since hold(), then resumes normal delivery. */
  release(): void;
  /** Ends the link because of an error, telling the peer the error's close code. */
  fail(error: CamwireError, code?: number): void;
  /**
   * Shares the keepalive and dead timer of the other links of its peer session (liveness.ts,
   * docs/protocol.md 3.4) instead of its own. False for a link without those timers (HTTP).
   */
  joinLiveness(g: Liveness): boolean;
}

/** Options shared by links. */
export interface LinkOptions {
  /** Largest frame payload accepted. @default 8 MiB */
  maxPayload?: number;
  /** Backlog above which send() returns false. @default 256 KiB */
  highWaterMark?: number;
  /** Send a PING after this much silence; 0 disables. @default 5000 */
  keepaliveMs?: number;
  /** Close the link when nothing arrives for this long; 0 disables. @default 15000 */
  deadMs?: number;
  /** The clock that runs the link's checks; an owner gives one to all its links. @default a clock of the link's own */
  clock?: LinkClock;
  /**
   * Where a stream link encodes the small frames it sends on its own (stream-link.ts); an owner
   * gives one to all its links. @default an arena of the link's own, made on first use
   */
  smallFrames?: RecyclingArena;
  /**
   * Where a UDP link writes the headers of the frames it sends in one datagram (udp-link.ts); an
   * owner gives one to all its links. @default an arena of the link's own, made on first use
   */
  datagramHeads?: FrameArena;
  /**
   * True for a link its peer dialed (a listener's): it sends its own PINGs only after a longer
   * silence (pingAfter), so that on an idle link the dialing side pings and this one only
   * answers (docs/protocol.md 3.4). @default false
   */
  accepted?: boolean;
}

/**
 * How long a link waits in silence before it pings: keepaliveMs on the side that dialed; on the
 * side that accepted, half its dead timer, within [keepaliveMs, 3 × keepaliveMs], so that a
 * dialing peer (which pings after keepaliveMs, plus up to two ticks of its clock) pings first and
 * this side only answers. With the defaults (5000, 15000): 7500 ms.
 */
export function pingAfter(keepaliveMs: number, deadMs: number, accepted: boolean): number {
  if (!accepted || !keepaliveMs || !deadMs) return keepaliveMs;
  return Math.min(Math.max(keepaliveMs, Math.floor(deadMs / 2)), 3 * keepaliveMs);
}

export const DEFAULT_HIGH_WATER_MARK = 256 * 1024;

/**
 * Bytes a link may hold unsent before the pump leaves frames in their outbox. Small on purpose:
 * video waits in its latest-wins slot, not in a socket buffer, so a slow peer sees fresh frames.
 */
export const PUMP_BACKLOG = 64 * 1024;

/** Where a link's peer is. */
export interface LinkPeer {
  transport: TransportName;
  remoteAddress: string;
  remotePort: number;
}

/**
 * Calls `report` once if `link` ends because its peer broke the protocol (a ProtocolError raised
 * on our side), whichever layer noticed. The one place bad input becomes a role's event.
 */
export function onProtocolFailure(link: FrameLink, report: ProtocolFailureReport): void {
  // 'close' is emitted exactly once, with the link as `this`: on() costs less per link than
  // once()'s wrapper, and one listener per `report` (a listener's) serves all its links, with no
  // closure per link (memory per idle channel, bench/FANOUT.md).
  let listener = failureListeners.get(report);
  if (!listener) {
    listener = function (this: FrameLink, info: CloseInfo): void {
      if (info.error instanceof ProtocolError && !info.byPeer) {
        report(info.error, { transport: this.transport, remoteAddress: this.remoteAddress, remotePort: this.remotePort });
      }
    };
    failureListeners.set(report, listener);
  }
  link.on('close', listener);
}

type ProtocolFailureReport = (err: ProtocolError, peer: LinkPeer) => void;

/** onProtocolFailure's 'close' listener for each `report`. */
const failureListeners = new WeakMap<ProtocolFailureReport, (this: FrameLink, info: CloseInfo) => void>();

/**
 * What encoded pieces given to writeEncoded() may lie in memory that is written again once no write
 * holds it (FrameBatch.hold): a link that writes them later than the call takes a hold per write.
 */
export interface EncodedHolder {
  hold(): (() => void) | undefined;
}
