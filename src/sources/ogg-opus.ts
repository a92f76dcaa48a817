/**
 * OggOpusPackets: turns an Ogg Opus stream (ffmpeg's `-c:a libopus -f ogg` output) into Opus
 * packets, whatever the chunk boundaries (RFC 3533 pages, RFC 7845 mapping). The OpusHead and
 * OpusTags header packets are read, not emitted. Bounded: a packet over `maxPacket` is an error.
 */

/** One Opus packet with its end position in 48 kHz samples (from the page's granule position). */
export interface OpusPacket {
  data: Buffer;
  /** Sample rate of the original input, from OpusHead (informational; Opus decodes at 48 kHz). */
  inputSampleRate: number;
  channels: number;
}

const CAPTURE = Buffer.from('OggS');
const PAGE_HEADER = 27;

export class OggOpusPackets {
  readonly #onPacket: (p: OpusPacket) => void;
  readonly #maxPacket: number;
  #buf: Buffer = Buffer.alloc(0);
  #partial: Buffer[] = [];
  #partialLength = 0;
  #headers = 0;
  #channels = 0;
  #rate = 48000;

  constructor(onPacket: (p: OpusPacket) => void, o: { maxPacket?: number } = {}) {
    this.#onPacket = onPacket;
    this.#maxPacket = o.maxPacket ?? 64 * 1024;
  }

  /** Feeds bytes; throws on a stream that is not Ogg. */
  push(chunk: Buffer): void {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : chunk;
    for (;;) {
      if (this.#buf.length < PAGE_HEADER) return;
      if (!this.#buf.subarray(0, 4).equals(CAPTURE)) throw new Error('not an Ogg stream (no OggS capture pattern)');
      if (this.#buf[4] !== 0) throw new Error(`unsupported Ogg version ${this.#buf[4]}`);
      const segments = this.#buf[26];
      if (this.#buf.length < PAGE_HEADER + segments) return;
      const table = this.#buf.subarray(PAGE_HEADER, PAGE_HEADER + segments);
      let body = 0;
      for (const s of table) body += s;
      const end = PAGE_HEADER + segments + body;
      if (this.#buf.length < end) return;
      const continued = (this.#buf[5] & 0x01) !== 0;
      if (!continued) {
        this.#partial = [];
        this.#partialLength = 0;
      }
      let o = PAGE_HEADER + segments;
      for (const s of table) {
        this.#partial.push(this.#buf.subarray(o, o + s));
        this.#partialLength += s;
        o += s;
        if (this.#partialLength > this.#maxPacket) throw new Error(`Ogg packet larger than ${this.#maxPacket} bytes`);
        // A lacing value under 255 ends the packet.
        if (s < 255) this.#packet(Buffer.concat(this.#partial, this.#partialLength));
      }
      this.#buf = this.#buf.subarray(end);
    }
  }

  #packet(p: Buffer): void {
    this.#partial = [];
    this.#partialLength = 0;
    if (this.#headers === 0) {
      if (p.length < 19 || p.toString('latin1', 0, 8) !== 'OpusHead') throw new Error('first Ogg packet is not OpusHead');
      this.#channels = p[9];
      this.#rate = p.readUInt32LE(12) || 48000;
      this.#headers++;
      return;
    }
    if (this.#headers === 1) {
      this.#headers++; // OpusTags
      return;
    }
    this.#onPacket({ data: Buffer.from(p), inputSampleRate: this.#rate, channels: this.#channels });
  }
}
