/**
 * The web viewer's composition of change-detection sources (docs/behaviour.md): a source that
 * sends rectangles is composed into whole JPEG pictures, which the viewer's MJPEG streams and
 * snapshots show as from any other source. Sources that send only whole frames are not touched.
 * A rectangle before the viewer has a full frame of its source makes the server ask the sender
 * for one.
 */
import type { MessageMeta, VideoFrame } from '../events.js';
import { VideoComposer } from '../media/change/video-composer.js';
import type { MediaServer, VideoTap } from '../server/media-server.js';

/** Change-detection sources a viewer composes at once; beyond it the least recently started stops being composed. */
const MAX_SOURCES = 64;

export class ViewerCompose {
  readonly #composer: VideoComposer;
  /** Sources that sent a rectangle: their full frames go to the composer too. */
  readonly #change = new Set<string>();

  /**
   * @param out gets each composed picture of a change-detection source
   * @param wanted whether anyone watches the source now: pictures nobody watches are not encoded
   */
  constructor(server: MediaServer, out: (v: VideoTap) => void, wanted: (from: string, mediaIndex: number) => boolean) {
    this.#composer = new VideoComposer(
      { output: 'jpeg', quality: 80, ignoreCorruptedFrames: false, wanted: (m) => wanted(m.from, m.mediaIndex) },
      (v: VideoFrame, m: MessageMeta) => out({ from: m.from, mediaIndex: m.mediaIndex, imageType: v.imageType, width: v.width, height: v.height, keyframe: true, transformed: false, timestamp: v.timestamp, data: v.data, size: v.data.length }),
      (m) => void server.requestFullFrame(m.from, m.mediaIndex),
    );
  }

  /** True when the frame belongs to a change-detection source and was taken (its picture comes through `out`). */
  take(v: VideoTap): boolean {
    // An encrypted frame is no picture to compose: the viewer counts it and shows nothing.
    if (v.transformed) return false;
    const key = `${v.from}/${v.mediaIndex}`;
    if (!v.rect && !this.#change.has(key)) return false;
    if (v.rect && !this.#change.has(key)) {
      this.#change.add(key);
      if (this.#change.size > MAX_SOURCES) this.#change.delete(this.#change.values().next().value as string);
    }
    // The tap's bytes are a view of the received frame: the composer decodes later.
    const frame: VideoFrame = { data: Buffer.from(v.data), imageType: v.imageType, width: v.width, height: v.height, keyframe: v.keyframe, timestamp: v.timestamp };
    if (v.rect) frame.rect = v.rect;
    const meta = { from: v.from, mediaIndex: v.mediaIndex } as MessageMeta;
    this.#composer.handle(frame, meta);
    return true;
  }

  /** True for a source this viewer composes. */
  composes(from: string, mediaIndex: number): boolean {
    return this.#change.has(`${from}/${mediaIndex}`);
  }

  /** Someone started watching: a picture that changed while nobody did is encoded now. False when the last one is current. */
  refresh(from: string, mediaIndex: number): boolean {
    return this.#composer.refresh(from, mediaIndex);
  }

  close(): void {
    this.#composer.dispose();
  }
}
