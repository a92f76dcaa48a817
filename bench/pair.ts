/**
 * A "pair" is one sending end and one receiving end of a transport, living in this process.
 * The drivers in drive.ts only see this interface, so camwire and the raw baselines are
 * measured by exactly the same code.
 */

/** One sender/receiver pair under test. */
export interface Pair {
  /** Name printed in the tables. */
  readonly label: string;
  /** True when the transport may lose frames (UDP): the drivers then time out missing frames. */
  readonly lossy: boolean;
  /** Called with the payload of each frame the receiving end gets (set by the drivers). */
  handler: (data: Buffer) => void;
  /** Hands one frame to the sending end. Must not keep a reference it mutates. */
  send(payload: Buffer): void;
  /** Frames the sending end dropped by policy so far (camwire's latest-wins), cumulative. */
  dropped(): number;
  /** Transport-specific counters, cumulative (e.g. incomplete UDP frames). */
  extra(): Record<string, number>;
  /** Closes every socket of the pair. */
  close(): Promise<void>;
}

const SMALL = { width: 160, height: 120 };
const MEDIUM = { width: 640, height: 480 };
const LARGE = { width: 1920, height: 1080 };

/** Nominal picture size for a payload size (only carried in the video header). */
export function dimsFor(size: number): { readonly width: number; readonly height: number } {
  return size <= 4 * 1024 ? SMALL : size <= 256 * 1024 ? MEDIUM : LARGE;
}

/** Sends a bench payload as a JPEG video frame with its nominal picture size: one options literal per frame, as an application writes it. */
export function sendVideo(tx: { sendVideoFrame(data: Buffer, o: { imageType: 'jpeg'; width: number; height: number }): void }, p: Buffer): void {
  const d = dimsFor(p.length);
  tx.sendVideoFrame(p, { imageType: 'jpeg', width: d.width, height: d.height });
}
