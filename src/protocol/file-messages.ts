/**
 * File-transfer messages: START, CHUNK, END and ABORT (docs/protocol.md, section 4.4).
 */
import { FileOp } from './constants.js';
import { bad, checkU48, Reader, utf8Prefix } from './payload-codec.js';

// ---------------------------------------------------------------- 4.4 file

/** One file-transfer message. */
export type FileMessage =
  | { op: 'start'; fileId: number; name: string; totalSize: number; offset: number }
  | { op: 'chunk'; fileId: number; offset: number; data: Buffer }
  | { op: 'end'; fileId: number; totalSize: number; sha256: Buffer }
  | { op: 'abort'; fileId: number; reason: string };

/** Encodes a file message (docs/protocol.md, section 4.4). A chunk's data is returned separately, uncopied. */
export function encodeFileMessage(m: FileMessage): [Buffer, Buffer?] {
  switch (m.op) {
    case 'start': {
      checkU48(m.totalSize, 'file size');
      checkU48(m.offset, 'file offset');
      const name = Buffer.from(m.name, 'utf8');
      if (name.length === 0 || name.length > 1024) throw new RangeError('file name must be 1..1024 bytes');
      const b = Buffer.allocUnsafe(1 + 4 + 6 + 6 + 2 + name.length);
      b[0] = FileOp.START;
      b.writeUInt32BE(m.fileId, 1);
      b.writeUIntBE(m.totalSize, 5, 6);
      b.writeUIntBE(m.offset, 11, 6);
      b.writeUInt16BE(name.length, 17);
      name.copy(b, 19);
      return [b];
    }
    case 'chunk': {
      checkU48(m.offset, 'chunk offset');
      const b = Buffer.allocUnsafe(11);
      b[0] = FileOp.CHUNK;
      b.writeUInt32BE(m.fileId, 1);
      b.writeUIntBE(m.offset, 5, 6);
      return [b, m.data];
    }
    case 'end': {
      if (m.sha256.length !== 32) throw new RangeError('sha256 must be 32 bytes');
      checkU48(m.totalSize, 'file size');
      const b = Buffer.allocUnsafe(1 + 4 + 6 + 32);
      b[0] = FileOp.END;
      b.writeUInt32BE(m.fileId, 1);
      b.writeUIntBE(m.totalSize, 5, 6);
      m.sha256.copy(b, 11);
      return [b];
    }
    case 'abort': {
      const reason = utf8Prefix(m.reason, 1024);
      const b = Buffer.allocUnsafe(5 + 2 + reason.length);
      b[0] = FileOp.ABORT;
      b.writeUInt32BE(m.fileId, 1);
      b.writeUInt16BE(reason.length, 5);
      reason.copy(b, 7);
      return [b];
    }
  }
}

/** Decodes a file message; a chunk's data is a view into the payload. */
export function decodeFileMessage(p: Buffer): FileMessage {
  const r = new Reader(p, 'file');
  const op = r.u8();
  const fileId = r.u32();
  switch (op) {
    case FileOp.START: {
      const totalSize = r.u48();
      const offset = r.u48();
      const nameLen = r.u16();
      if (nameLen === 0 || nameLen > 1024) throw bad('file: name length out of range');
      const name = r.str(nameLen);
      r.end();
      if (offset > totalSize) throw bad('file: start offset beyond the file size');
      return { op: 'start', fileId, name, totalSize, offset };
    }
    case FileOp.CHUNK: {
      const offset = r.u48();
      return { op: 'chunk', fileId, offset, data: r.rest() };
    }
    case FileOp.END: {
      const totalSize = r.u48();
      const sha256 = Buffer.from(r.bytes(32));
      r.end();
      return { op: 'end', fileId, totalSize, sha256 };
    }
    case FileOp.ABORT: {
      const reason = r.str(r.u16());
      r.end();
      return { op: 'abort', fileId, reason };
    }
    default:
      throw bad(`file: unknown operation ${op}`);
  }
}

/** Bytes of a CHUNK's header (op, file id, offset) before its data. */
const CHUNK_HEADER = 11;

/**
 * A CHUNK whose payload is given as views of the reads its frame spanned (Frame.raw, the frame
 * header cut off the first): its data as those views, not joined. Undefined when the payload is
 * not a CHUNK or its header does not sit whole in the first view (decode the joined payload then).
 */
export function decodeFileChunkViews(views: readonly Buffer[]): { op: 'chunk'; fileId: number; offset: number; data: Buffer[] } | undefined {
  const first = views[0];
  if (first === undefined || first.length < CHUNK_HEADER || first[0] !== FileOp.CHUNK) return undefined;
  const fileId = first.readUInt32BE(1);
  const offset = first.readUIntBE(5, 6);
  const data = first.length > CHUNK_HEADER ? [first.subarray(CHUNK_HEADER)] : [];
  for (let i = 1; i < views.length; i++) if (views[i].length > 0) data.push(views[i]);
  return { op: 'chunk', fileId, offset, data };
}
