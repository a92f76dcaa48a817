/**
 * Payload codecs, one per message (docs/protocol.md, sections 3 and 4). Pure functions:
 * encoders return Buffers, decoders take a payload Buffer and return a value or throw
 * a ProtocolError with code CW_ERR_PROTOCOL_BAD_PAYLOAD.
 *
 * This module holds the CLOSE/NACK and ACK codecs and re-exports the others, so every codec
 * stays importable from here: media headers (media-headers.ts), commands (commands.ts), file
 * messages (file-messages.ts) and the HELLO/WELCOME handshake (handshake.ts).
 */
import { bad, checkU48, utf8Prefix } from './payload-codec.js';

export * from './media-headers.js';
export * from './commands.js';
export * from './file-messages.js';
export * from './handshake.js';

// ---------------------------------------------------------------- 3.4, 3.5 ack, nack, close

/** Encodes a CLOSE or NACK payload: a 16-bit code and a UTF-8 reason (docs/protocol.md, section 3.5). */
export function encodeReason(code: number, reason: string): Buffer {
  const r = utf8Prefix(reason, 1024);
  const b = Buffer.allocUnsafe(2 + r.length);
  b.writeUInt16BE(code);
  r.copy(b, 2);
  return b;
}

/** Decodes a CLOSE or NACK payload. */
export function decodeReason(p: Buffer): { code: number; reason: string } {
  if (p.length < 2 || p.length > 2 + 1024) throw bad('close/nack: bad length');
  return { code: p.readUInt16BE(0), reason: p.toString('utf8', 2) };
}

/** ACK payload: empty, or for a file START the offset the receiver wants to resume from. */
export function encodeAck(resumeOffset?: number): Buffer {
  if (resumeOffset === undefined) return Buffer.alloc(0);
  checkU48(resumeOffset, 'resume offset');
  const b = Buffer.allocUnsafe(6);
  b.writeUIntBE(resumeOffset, 0, 6);
  return b;
}

/** Decodes an ACK payload. */
export function decodeAck(p: Buffer): { resumeOffset?: number } {
  if (p.length === 0) return {};
  if (p.length !== 6) throw bad('ack: bad length');
  return { resumeOffset: p.readUIntBE(0, 6) };
}
