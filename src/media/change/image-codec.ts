/**
 * Raw pixels to and from images for change-detection video, with sharp (libvips), the optional
 * dependency the test pattern uses too: imported on first use; without it the call rejects
 * with SharpMissingError (CW_ERR_SHARP_MISSING).
 */
import { SharpMissingError } from '../../errors.js';

type SharpFn = typeof import('sharp').default;

/** What needs sharp, for the error message. */
const NEEDS = 'change-detection video (and sendVideoPixels)';

/** sharp, imported on first use. Rejects with SharpMissingError. */
export async function loadSharpFor(needs = NEEDS): Promise<SharpFn> {
  try {
    return ((await import('sharp')) as { default: unknown }).default as SharpFn;
  } catch (err) {
    throw new SharpMissingError(err, needs);
  }
}

/** Image types a change-mode source encodes with. */
export type ChangeImageType = 'jpeg' | 'png';

/** Encodes `channels`-byte pixels (3 RGB, 4 RGBA) as a JPEG (quality 1..100) or a lossless PNG. */
export async function encodePixels(pixels: Uint8Array, width: number, height: number, channels: 3 | 4, type: ChangeImageType, quality: number): Promise<Buffer> {
  const sharp = await loadSharpFor();
  const img = sharp(pixels, { raw: { width, height, channels } });
  // PNG: the fastest zlib level; change areas are small and PNG is chosen for exactness, not size.
  return type === 'png' ? img.png({ compressionLevel: 1, adaptiveFiltering: false }).toBuffer() : img.jpeg({ quality, chromaSubsampling: '4:2:0' }).toBuffer();
}

/** A decoded image: RGB pixels. */
export interface RgbImage {
  data: Buffer;
  width: number;
  height: number;
}

/**
 * Decodes an image to RGB pixels. `maxPixels` bounds what libvips will decode (an image whose
 * header claims more is refused before its pixels are allocated).
 */
export async function decodeToRgb(image: Buffer, maxPixels: number): Promise<RgbImage> {
  const sharp = await loadSharpFor('composing change-detection video');
  const { data, info } = await sharp(image, { limitInputPixels: Math.max(1, maxPixels), failOn: 'error' }).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new RangeError(`decoded image has ${info.channels} channels`);
  return { data, width: info.width, height: info.height };
}
