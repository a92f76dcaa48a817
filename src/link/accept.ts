/**
 * The accepting side of the handshake: wait for a HELLO on a new link, then let the owner
 * decide. A link that sends anything else, or nothing in time, is closed with a typed error.
 */
import { CloseCode, ErrorCode, ProtocolError } from '../errors.js';
import { Kind, MediaType } from '../protocol/constants.js';
import type { Frame } from '../protocol/frame.js';
import { decodeHello, type Hello } from '../protocol/messages.js';
import type { FrameLink } from './frame-link.js';
import type { ConnectionEvent } from '../events.js';
import type { FrameInit } from '../protocol/frame.js';
import { encodeJson } from '../protocol/messages.js';
import { AGENT } from '../options.js';

/** The WELCOME's payload, the same for every link (encoded once; never changed). */
const WELCOME_PAYLOAD = encodeJson({ agent: AGENT });

/**
 * Accepts a link whose HELLO was admitted: stamps the link's own frames, sends the WELCOME
 * (returned, to repeat it over UDP), and raises `disconnect` (with the error, if any) when the
 * link ends. The caller raises `connected`.
 */
export function welcomeLink(
  link: FrameLink,
  hello: Frame,
  self: { sessionKey: bigint; id: string; stallMs: number; fileWindow?: number },
  ev: ConnectionEvent,
  onDisconnect: (ev: ConnectionEvent) => void,
): FrameInit {
  // A file link's WELCOME says how much file data the acceptor takes unacknowledged (protocol.md 3.2).
  const fileWindow = hello.mediaType === MediaType.file && self.fileWindow ? self.fileWindow : undefined;
  link.tag = { sessionKey: self.sessionKey, mediaType: hello.mediaType };
  link.stallMs = self.stallMs;
  const welcome: FrameInit = { kind: Kind.WELCOME, mediaType: hello.mediaType, sessionKey: self.sessionKey, from: self.id, to: hello.from, timestamp: Date.now(), payload: fileWindow === undefined ? WELCOME_PAYLOAD : encodeJson({ agent: AGENT, fileWindow }) };
  link.send(welcome);
  link.on('close', (info) => onDisconnect(info.error ? { ...ev, error: info.error } : { ...ev }));
  return welcome;
}

/**
 * The connection event of the accepting side (docs/behaviour.md, section 2): no media types, the
 * peer's key as remoteSessionKey, and `sessionKey` as the role says (0 for receivers and servers).
 */
export function acceptedEvent(link: FrameLink, hello: Frame, sessionKey: bigint): ConnectionEvent {
  return {
    sessionKey,
    mediaTypes: [],
    remoteSessionKey: hello.sessionKey,
    transport: link.transport,
    remoteAddress: link.remoteAddress,
    remotePort: link.remotePort,
    clientId: hello.from,
  };
}

/**
 * Calls `onHello` with the first frame if it is a valid HELLO; otherwise fails the link with a
 * ProtocolError (which the listener reports through onProtocolFailure).
 */
export function awaitHello(
  link: FrameLink,
  timeoutMs: number,
  onHello: (f: Frame, hello: Hello) => void,
  /** UDP: a DATA frame may come first when the HELLO datagram was lost; it counts as an implicit push HELLO. */
  implicitPush = false,
): void {
  const done = (): void => {
    clearTimeout(timer);
    link.off('frame', onFrame);
    link.off('close', onClose);
  };
  const bad = (err: ProtocolError): void => {
    done();
    link.fail(err);
  };
  const onFrame = (f: Frame): void => {
    if (f.kind === Kind.HELLO) {
      let hello: Hello;
      try {
        hello = decodeHello(f.payload);
      } catch (err) {
        bad(err as ProtocolError);
        return;
      }
      if (f.mediaType < 1 || f.mediaType > 5) {
        bad(new ProtocolError(ErrorCode.PROTOCOL_BAD_MEDIA_TYPE, 'HELLO names no media type', CloseCode.UNEXPECTED_MESSAGE));
        return;
      }
      done();
      onHello(f, hello);
    } else if (implicitPush && f.kind === Kind.DATA) {
      done();
      onHello(f, { role: 'push' });
      link.emit('frame', f);
    } else {
      bad(new ProtocolError(ErrorCode.PROTOCOL_UNEXPECTED, `expected HELLO, got message kind ${f.kind}`, CloseCode.UNEXPECTED_MESSAGE));
    }
  };
  const onClose = (): void => done();
  const timer = setTimeout(
    () => bad(new ProtocolError(ErrorCode.PROTOCOL_HANDSHAKE_TIMEOUT, `no HELLO within ${timeoutMs} ms`, CloseCode.HANDSHAKE_TIMEOUT)),
    timeoutMs,
  );
  timer.unref();
  link.on('frame', onFrame);
  link.on('close', onClose);
}
