/**
 * A Receiver's `video` option: composition of change-detection video (docs/api.md), validated,
 * and the composer built from it, whose full-frame requests go back on the link a frame came on.
 */
import type { MessageMeta, VideoFrame } from '../events.js';
import type { FrameLink } from '../link/frame-link.js';
import { VideoComposer } from '../media/change/video-composer.js';
import { invalid } from '../options.js';
import { fullFrameRequest } from '../protocol/full-frame.js';

/** The Receiver's `video` option. */
export interface VideoComposeOptions {
  /**
   * Compose change-detection video and deliver the whole picture per update: 'jpeg' or 'png'
   * images, or 'rgb' raw pixels (3 bytes per pixel, imageType 'rgb'). @default none: frames and
   * rectangles are delivered as received
   */
  compose?: 'jpeg' | 'png' | 'rgb';
  /** JPEG quality of composed pictures, 1..100. @default 80 */
  quality?: number;
  /** After a bad or lost rectangle: true = go on placing the next ones; false = show nothing new until the next full frame. @default false */
  ignoreCorruptedFrames?: boolean;
}

/** The composer the option asks for, or undefined. Throws a ConfigError naming a bad value. */
export function newVideoComposer(
  o: VideoComposeOptions | undefined,
  clientId: () => string,
  sessionKey: () => bigint,
  out: (v: VideoFrame, m: MessageMeta) => void,
): VideoComposer<FrameLink> | undefined {
  if (o?.compose === undefined) return undefined;
  if (!['jpeg', 'png', 'rgb'].includes(o.compose)) throw invalid('video.compose', `must be 'jpeg', 'png' or 'rgb' (got ${String(o.compose)})`);
  const quality = o.quality ?? 80;
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) throw invalid('video.quality', 'must be an integer in 1..100');
  if (o.ignoreCorruptedFrames !== undefined && typeof o.ignoreCorruptedFrames !== 'boolean') throw invalid('video.ignoreCorruptedFrames', 'must be a boolean');
  return new VideoComposer<FrameLink>({ output: o.compose, quality, ignoreCorruptedFrames: o.ignoreCorruptedFrames ?? false }, out, (m, link) => {
    // To the sender itself, or through a MediaServer to the frame's sender (`to`).
    link?.send(fullFrameRequest(m.mediaIndex, clientId(), m.from), sessionKey());
  });
}
