/**
 * Headers of a run of frames that differ only in their per-frame fields (docs/protocol.md, 2.1):
 * the frames a push lane or a channel sends carry the same kind, media type, ids, session key and
 * (a stream's video) media header; only flags, media index, seq, payload length and timestamp
 * change. The header is encoded in full once, then copied and patched. Pure functions over Buffers.
 */
import { KNOWN_FLAGS, type Kind } from './constants.js';
import { encodeHeader, type FrameInit } from './frame.js';
import { put16, put32, putF64, setAt } from './bytes.js';

/** A media header longer than this is compared by identity only (a stream's shared header). */
const COMPARE_PREFIX = 64;

/** The last header encoded, reused while the next frames share its constant fields. */
export class HeaderTemplate {
  #bytes: Buffer | undefined;
  #kind: Kind | undefined;
  #mediaType = 0;
  #from: string | undefined;
  #to: string | undefined;
  #group: string | undefined;
  #prefix: Buffer | undefined;
  #key: bigint | undefined;

  /**
   * The header length of `f` sent with `sessionKey` (its media header included); makes the
   * template `f`'s. Throws a RangeError for a frame that cannot be encoded (as encodeHeader).
   */
  use(f: FrameInit, sessionKey: bigint | undefined): number {
    const t = this.#bytes;
    if (
      t === undefined ||
      f.kind !== this.#kind ||
      (f.mediaType ?? 0) !== this.#mediaType ||
      (f.from ?? '') !== this.#from ||
      (f.to ?? '') !== this.#to ||
      (f.group ?? '') !== this.#group ||
      (sessionKey ?? 0n) !== this.#key ||
      !samePrefix(f.prefix, this.#prefix)
    ) {
      this.#bytes = encodeHeader(f, 0, f.prefix, sessionKey);
      this.#kind = f.kind;
      this.#mediaType = f.mediaType ?? 0;
      this.#from = f.from ?? '';
      this.#to = f.to ?? '';
      this.#group = f.group ?? '';
      this.#key = sessionKey ?? 0n;
      this.#prefix = f.prefix;
      return this.#bytes.length;
    }
    return t.length;
  }

  /**
   * Writes the header of `f` for a payload of `payloadLength` bytes (not counting the media
   * header) at `buf[at..]`; use() must have been called for `f` just before.
   */
  write(buf: Buffer, at: number, f: FrameInit, payloadLength: number): void {
    const t = this.#bytes!;
    const flags = f.flags ?? 0;
    const mediaIndex = f.mediaIndex ?? 0;
    if ((flags & ~KNOWN_FLAGS) !== 0 || !(flags >= 0)) throw new RangeError(`unknown flags ${flags}`);
    if (!Number.isInteger(mediaIndex) || mediaIndex < 0 || mediaIndex > 0xffff) throw new RangeError(`media index ${mediaIndex} is outside 0..65535`);
    if (at < 0 || at + t.length > buf.length) throw new RangeError(`a header of ${t.length} bytes does not fit at ${at}`);
    // Checked above: plain byte stores (bytes.ts: Buffer's own methods are not inlined).
    setAt(buf, t, at);
    buf[at + 5] = flags;
    put16(buf, at + 6, mediaIndex);
    put32(buf, at + 8, (f.seq ?? 0) >>> 0);
    put32(buf, at + 12, payloadLength + (f.prefix?.length ?? 0));
    putF64(buf, at + 24, f.timestamp ?? 0);
  }
}

function samePrefix(a: Buffer | undefined, b: Buffer | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a.length !== b.length || a.length > COMPARE_PREFIX) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
