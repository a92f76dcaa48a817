/**
 * The settings of change-detection video (docs/api.md, "Change-detection video"), named and
 * defaulted as the original's (TRVCamSender's PixelColorThreshold, PixelColorThresholdR/G/B,
 * MinChangeAreaSize, FullFrameInterval, FrameDifferenceInterval), and their validation.
 */

/** How a change-mode Sender finds and sends the changed parts of each frame. */
export interface ChangeSettings {
  /**
   * A pixel has changed when (|ΔR|+|ΔG|+|ΔB|)/3 exceeds it. Negative: the per-channel
   * thresholds below apply instead. @default 8
   */
  pixelColorThreshold?: number;
  /** With a negative pixelColorThreshold: a pixel has changed when |ΔR| exceeds it (or G, or B). @default 8 */
  pixelColorThresholdR?: number;
  /** @default 8 */
  pixelColorThresholdG?: number;
  /** @default 8 */
  pixelColorThresholdB?: number;
  /** A changed area with fewer changed pixels than this is not sent. @default 10 */
  minChangeAreaSize?: number;
  /** A full frame every N frames sent; 0 = only the first and those asked for. @default 0 */
  fullFrameInterval?: number;
  /**
   * Chains of N frames: a full frame, then N-1 differences, each from the frame before; 0 = no
   * limit on the chain (differences until fullFrameInterval or a request). @default 0
   */
  frameDifferenceInterval?: number;
}

/** The settings with their defaults. */
export type ResolvedChangeSettings = Required<ChangeSettings>;

export const CHANGE_DEFAULTS: ResolvedChangeSettings = Object.freeze({
  pixelColorThreshold: 8,
  pixelColorThresholdR: 8,
  pixelColorThresholdG: 8,
  pixelColorThresholdB: 8,
  minChangeAreaSize: 10,
  fullFrameInterval: 0,
  frameDifferenceInterval: 0,
});

/**
 * Fills in the defaults and checks the values; throws a RangeError naming the setting (the
 * roles turn it into a ConfigError).
 */
export function resolveChangeSettings(s: ChangeSettings = {}): ResolvedChangeSettings {
  const r = { ...CHANGE_DEFAULTS } as ResolvedChangeSettings;
  for (const k of Object.keys(CHANGE_DEFAULTS) as (keyof ChangeSettings)[]) {
    const v = s[k];
    if (v === undefined) continue;
    const signed = k === 'pixelColorThreshold';
    const max = k.startsWith('pixelColorThreshold') ? 765 : 0x7fffffff;
    if (typeof v !== 'number' || !Number.isInteger(v) || (!signed && v < 0) || v < -0x7fffffff || v > max) {
      throw new RangeError(`${k} must be an integer ${signed ? 'up to' : 'in 0..'}${max} (got ${String(v)})`);
    }
    r[k] = v;
  }
  return r;
}
