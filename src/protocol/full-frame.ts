/**
 * The full-frame request (docs/protocol.md, 4.7): a DATA frame of media type video with an empty
 * payload, sent the other way on a video link, by the side that receives video to the side that
 * sends it. It asks for a whole picture of the source `mediaIndex` (of client `to`, through a
 * MediaServer) as soon as possible. An empty payload is never a video frame (4.1 needs at least
 * 7 bytes), and a peer that does not know the request ignores it: a Sender ignores DATA frames,
 * a MediaServer ignores DATA frames from its readers' channels.
 */
import { Kind, MediaType } from './constants.js';
import type { Frame, FrameInit } from './frame.js';
import { payloadLength } from './fan-encoding.js';

const EMPTY = Buffer.alloc(0);

/** A full-frame request for source `mediaIndex` of client `to` ('' = the peer itself). */
export function fullFrameRequest(mediaIndex: number, from: string, to: string): FrameInit {
  return { kind: Kind.DATA, mediaType: MediaType.video, mediaIndex, flags: 0, timestamp: Date.now(), from, to, group: '', payload: EMPTY };
}

/** True when `f` is a full-frame request. */
export function isFullFrameRequest(f: Frame): boolean {
  return f.kind === Kind.DATA && f.mediaType === MediaType.video && payloadLength(f) === 0;
}
