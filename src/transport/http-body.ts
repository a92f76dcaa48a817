/**
 * Reading a request body within a bound, and the mark a time limit leaves on a request; apart
 * from the listener (http-server.ts) so that request handlers do not load Node's HTTP modules.
 */
import type http from 'node:http';
import { ErrorCode, TransportError } from '../errors.js';

const TIMED_OUT = Symbol('camwire.httpTimedOut');

/** The error a time limit ended this request with, if one did. */
export function requestTimedOut(req: http.IncomingMessage): TransportError | undefined {
  return (req as http.IncomingMessage & { [TIMED_OUT]?: TransportError })[TIMED_OUT];
}

/** Marks `req` as ended by a time limit (the listener's guard). */
export function markTimedOut(req: http.IncomingMessage, err: TransportError): void {
  (req as http.IncomingMessage & { [TIMED_OUT]?: TransportError })[TIMED_OUT] = err;
}

/**
 * Reads a request body of at most `max` bytes. Rejects with a TransportError
 * (and stops reading) when it is larger, so a hostile client cannot make us allocate.
 */
export function readBody(req: http.IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? -1);
    if (declared > max) {
      reject(new TransportError(ErrorCode.TRANSPORT_BODY_TOO_LARGE, `request body of ${declared} bytes exceeds ${max}`));
      return;
    }
    const chunks: Buffer[] = [];
    let n = 0;
    const onData = (c: Buffer): void => {
      n += c.length;
      if (n > max) {
        req.off('data', onData);
        reject(new TransportError(ErrorCode.TRANSPORT_BODY_TOO_LARGE, `request body exceeds ${max} bytes`));
        return;
      }
      chunks.push(c);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks, n)));
    // A request a time limit ended rejects with that limit's error (CW_ERR_TRANSPORT_TIMEOUT).
    req.once('error', (err) => reject(requestTimedOut(req) ?? err));
    req.once('aborted', () => reject(requestTimedOut(req) ?? new TransportError(ErrorCode.TRANSPORT_CLOSED, 'request aborted')));
  });
}
