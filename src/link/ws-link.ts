/**
 * Frame links over WebSocket (docs/protocol.md, section 10): each binary message carries exactly
 * one frame. Browsers use them to be ordinary camwire clients; the HTTP port of any listening
 * role accepts them at /camwire/v1/ws.
 */
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { ErrorCode, ProtocolError, TransportError } from '../errors.js';
import { DEFAULT_MAX_PAYLOAD, FIXED_HEADER_SIZE, MAX_ID_BYTES } from '../protocol/constants.js';
import { decodeFrame } from '../protocol/frame.js';
import { BaseLink, type LinkOptions } from './frame-link.js';

/** Path of the WebSocket endpoint. */
export const WS_PATH = '/camwire/v1/ws';
/** After our close frame, the peer has this long to answer it before the socket is cut. */
export const WS_CLOSE_WAIT_MS = 1000;

/** A link over one WebSocket. */
export class WsLink extends BaseLink {
  readonly transport = 'ws' as const;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly #ws: WebSocket;
  readonly #maxPayload: number;

  constructor(ws: WebSocket, req: http.IncomingMessage, o: LinkOptions = {}) {
    super(o);
    this.#ws = ws;
    this.remoteAddress = req.socket.remoteAddress ?? '';
    this.remotePort = req.socket.remotePort ?? 0;
    this.#maxPayload = o.maxPayload ?? DEFAULT_MAX_PAYLOAD;
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) {
        this.fail(new ProtocolError(ErrorCode.PROTOCOL_BAD_HEADER, 'camwire WebSocket messages are binary frames'));
        return;
      }
      let frame;
      try {
        frame = decodeFrame(data, this.#maxPayload);
      } catch (err) {
        this.fail(err as ProtocolError);
        return;
      }
      this.receive(frame);
    });
    ws.on('error', (err) => this.lost(new TransportError(ErrorCode.TRANSPORT_CLOSED, `WebSocket error: ${err.message}`, { cause: err })));
    ws.on('close', () => this.lost(new TransportError(ErrorCode.TRANSPORT_CLOSED, 'WebSocket closed by the peer')));
    this.startTimers();
  }

  get backlog(): number {
    return this.#ws.bufferedAmount;
  }

  protected write(h: Buffer, p: Buffer): void {
    if (this.#ws.readyState !== this.#ws.OPEN) return;
    // One message per frame: the header and the payload go out as one binary message.
    this.#ws.send(p.length ? Buffer.concat([h, p], h.length + p.length) : h, { binary: true }, (err) => {
      if (!err && this.#ws.bufferedAmount < this.highWaterMark) this.emit('drain');
    });
  }

  protected teardown(graceful: boolean): void {
    if (!graceful) {
      this.#ws.terminate();
      return;
    }
    this.#ws.close(1000);
    // `ws` waits 30 s for the peer's close frame; a peer that ignores the handshake (or stopped
    // reading) must not hold the socket that long.
    const cut = setTimeout(() => this.#ws.terminate(), WS_CLOSE_WAIT_MS);
    cut.unref();
    this.#ws.once('close', () => clearTimeout(cut));
  }
}

/** Accepts WebSocket upgrades at WS_PATH on an HTTP server and hands out WsLinks. */
export class WsAcceptor {
  readonly #wss: WebSocketServer;

  constructor(o: LinkOptions, onLink: (link: WsLink) => void) {
    const max = (o.maxPayload ?? DEFAULT_MAX_PAYLOAD) + FIXED_HEADER_SIZE + 3 * MAX_ID_BYTES;
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: max, perMessageDeflate: false });
    this.#wss.on('connection', (ws: WebSocket, req: http.IncomingMessage) => onLink(new WsLink(ws, req, o)));
  }

  /** Handles an 'upgrade' event; returns false (leaving the socket alone) for other paths. */
  upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): boolean {
    if ((req.url ?? '').split('?')[0] !== WS_PATH) return false;
    socket.on('error', () => {});
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#wss.emit('connection', ws, req));
    return true;
  }

  close(): void {
    for (const ws of this.#wss.clients) ws.terminate();
    this.#wss.close();
  }
}
