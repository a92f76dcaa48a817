/**
 * `camwire send --encoding change`: the change-detection flags turned into the Sender's `video`
 * option, and the video source's JPEG frames turned into the raw pixels sendVideoPixels takes
 * (decoded with sharp, one frame at a time: a frame that comes while one is decoding is skipped).
 */
import type { Sender, VideoEncodingOptions } from '../index.js';
import { decodeToRgb } from '../media/change/image-codec.js';
import { parseInteger, UsageError } from './args.js';

export interface ChangeFlags {
  encoding: string;
  lossless?: boolean;
  pixelColorThreshold?: string;
  pixelColorThresholdRgb?: string;
  minChangeAreaSize?: string;
  fullFrameInterval?: string;
  frameDifferenceInterval?: string;
  quality: string;
}

/** The Sender's `video` option, or undefined for whole frames. Throws a UsageError naming the flag. */
export function videoEncoding(f: ChangeFlags): VideoEncodingOptions | undefined {
  if (f.encoding !== 'change') {
    const stray = (['lossless', 'pixelColorThreshold', 'pixelColorThresholdRgb', 'minChangeAreaSize', 'fullFrameInterval', 'frameDifferenceInterval'] as const).find((k) => f[k] !== undefined);
    if (stray) throw new UsageError(`--${stray.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())} needs --encoding change`);
    return undefined;
  }
  const v: VideoEncodingOptions = { encoding: 'change', imageType: f.lossless ? 'png' : 'jpeg', quality: parseInteger('--quality', f.quality, 1, 100) };
  if (f.pixelColorThreshold !== undefined) v.pixelColorThreshold = parseInteger('--pixel-color-threshold', f.pixelColorThreshold, -1, 765);
  if (f.pixelColorThresholdRgb !== undefined) {
    const parts = f.pixelColorThresholdRgb.split(',');
    if (parts.length !== 3) throw new UsageError('--pixel-color-threshold-rgb takes R,G,B (three numbers, e.g. 10,10,20)');
    [v.pixelColorThresholdR, v.pixelColorThresholdG, v.pixelColorThresholdB] = parts.map((p) => parseInteger('--pixel-color-threshold-rgb', p, 0, 255));
    v.pixelColorThreshold ??= -1;
  }
  if (f.minChangeAreaSize !== undefined) v.minChangeAreaSize = parseInteger('--min-change-area-size', f.minChangeAreaSize, 0, 0x7fffffff);
  if (f.fullFrameInterval !== undefined) v.fullFrameInterval = parseInteger('--full-frame-interval', f.fullFrameInterval, 0, 0x7fffffff);
  if (f.frameDifferenceInterval !== undefined) v.frameDifferenceInterval = parseInteger('--frame-difference-interval', f.frameDifferenceInterval, 0, 0x7fffffff);
  return v;
}

/**
 * A function that sends each JPEG frame of a source as raw pixels (change mode); `sent` is told
 * the bytes that went out. Frames that come while one is being decoded and diffed are skipped.
 */
export function pixelSender(sender: Sender, mediaIndex: number, sent: (bytes: number) => void, failed: (err: Error) => void): (jpeg: Buffer, timestamp?: number) => void {
  let busy = false;
  return (jpeg, timestamp = Date.now()) => {
    if (busy) return;
    busy = true;
    decodeToRgb(jpeg, 16384 * 16384)
      .then((img) => sender.sendVideoPixels(img.data, { width: img.width, height: img.height, format: 'rgb', mediaIndex, timestamp }))
      .then(
        (r) => sent(r.bytes),
        (err: Error) => failed(err),
      )
      .finally(() => (busy = false));
  };
}
