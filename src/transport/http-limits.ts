/**
 * The time limits of an HTTP listener and their defaults, apart from the listener itself so that
 * options can name them without loading Node's HTTP modules (docs/architecture.md, memory).
 */

/**
 * Time limits of an HTTP listener: one per phase of a request, so that no connection holds a
 * server's resources for longer than its peer keeps sending (docs/limits.md).
 */
export interface HttpLimits {
  /**
   * The request line and headers must be complete within this, counted from the request's first
   * byte (from the connection for its first request). Also bounds the TLS handshake.
   */
  headersTimeoutMs: number;
  /**
   * A request body that sends no byte for this long ends: `408` if no answer was sent yet, then
   * the connection closes. Applies to every request with a body, streaming uploads included.
   */
  bodyIdleTimeoutMs: number;
  /**
   * A request body must be complete within this, counted from the end of its headers; streaming
   * requests (the listener's `streaming` test) are exempt. Answers `408` and closes.
   */
  requestTimeoutMs: number;
  /** A keep-alive connection with no request in progress closes after this long. */
  keepAliveTimeoutMs: number;
}

/** The defaults of HttpLimits (docs/limits.md says why). */
export const DEFAULT_HTTP_LIMITS: Readonly<HttpLimits> = Object.freeze({
  headersTimeoutMs: 10_000,
  bodyIdleTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
});
