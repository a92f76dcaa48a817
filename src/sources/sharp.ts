/**
 * sharp (libvips), the test pattern's JPEG encoder: an optional dependency, imported on first
 * use, so camwire costs no libvips unless a pattern is drawn (and installs without it).
 */
import { SharpMissingError } from '../errors.js';

export { SharpMissingError };

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
