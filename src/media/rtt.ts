/**
 * Round-trip time estimation (RFC 6298) for the retransmission timeout of a reliable queue over
 * an unreliable link (docs/protocol.md, section 5.3).
 */

/** Smoothed round-trip time and its variation, from samples of items sent once (Karn's rule). */
export class RttEstimator {
  /** Smoothed round-trip time (ms); undefined until the first sample. */
  srtt: number | undefined;
  /** Its variation (ms). */
  rttvar = 0;

  /** One round-trip sample (RFC 6298): srtt and rttvar, alpha 1/8, beta 1/4. */
  sample(r: number): void {
    if (this.srtt === undefined) {
      this.srtt = r;
      this.rttvar = r / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - r);
      this.srtt = 0.875 * this.srtt + 0.125 * r;
    }
  }

  /** srtt + 4 x rttvar clamped to `min`..`max`, or `initial` before the first sample. */
  rto(initial: number, min: number, max: number): number {
    if (this.srtt === undefined) return initial;
    return Math.min(max, Math.max(min, this.srtt + 4 * this.rttvar));
  }
}
