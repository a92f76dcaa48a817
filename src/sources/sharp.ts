/**
 * sharp (libvips), the test pattern's JPEG encoder: an optional dependency, imported on first
 * use, so camwire costs no libvips unless a pattern is drawn (and installs without it).
 */
import { CamwireError, ErrorCode } from '../errors.js';

/** The test pattern needs the optional package sharp, and it is not installed or cannot load (CW_ERR_SHARP_MISSING). */
export class SharpMissingError extends CamwireError {
  constructor(cause: unknown) {
    const e = cause as NodeJS.ErrnoException;
    const missing = e?.code === 'ERR_MODULE_NOT_FOUND' || /Cannot find (package|module) 'sharp'/.test(String(e?.message));
    super(
      ErrorCode.SHARP_MISSING,
      `the test pattern needs the optional package sharp, which ${missing ? 'is not installed' : `cannot load (${String(e?.message).split('\n')[0]})`}: run npm install sharp`,
      { cause },
    );
  }
}

/**
 * sharp, imported on first use. Rejects with SharpMissingError. Typed loosely on purpose: the
 * declarations camwire ships must not need sharp's types, since a consumer may not have it.
 */
export async function loadSharp(): Promise<{ default: unknown }> {
  try {
    return await import('sharp');
  } catch (err) {
    throw new SharpMissingError(err);
  }
}
