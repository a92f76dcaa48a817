/**
 * The browser client's video painting (served inside /camwire.js, client-script.ts): VideoCanvas
 * composes change-detection video, VideoPainter decodes JPEG and compressed video (WebCodecs).
 * Plain browser JavaScript in a string, using browser APIs only.
 */
export const VIDEO_JS = String.raw`/**
 * Draws a video source on a canvas, composing change-detection video (protocol.md 4.1): a full
 * frame replaces the picture, a rectangle is drawn where it belongs. Nothing is drawn before the
 * first full frame; a rectangle outside the picture, of a size that disagrees, or that does not
 * decode is counted and dropped, and then (unless ignoreCorruptedFrames) nothing new is drawn
 * until the next full frame, which needFullFrame(v) is told to ask for.
 */
export class VideoCanvas {
  constructor(canvas, opts = {}) {
    this.canvas = canvas; this.ctx = canvas.getContext('2d');
    this.needFullFrame = opts.needFullFrame || (() => {});
    this.ignoreCorruptedFrames = !!opts.ignoreCorruptedFrames;
    this.ok = false; this.gen = 0; this.pending = 0; this.chain = Promise.resolve(); this.lastAsk = -Infinity; this.seq = 0;
    this.stats = { pictures: 0, placed: 0, refused: 0, waiting: 0, lost: 0, requests: 0 };
  }
  #ask(v) {
    const now = performance.now();
    if (now - this.lastAsk < 250) return;
    this.lastAsk = now; this.stats.requests++;
    this.needFullFrame(v);
  }
  #refuse(v, full) {
    this.stats.refused++;
    if (full || !this.ignoreCorruptedFrames) { this.ok = false; this.#ask(v); }
  }
  /** Takes one 'video' event's detail; resolves with true once drawn, false when dropped. */
  draw(v) {
    const full = v.keyframe && !v.rect;
    if (!full && !v.rect) return Promise.resolve(false); // a named codec's frame: not an image
    // Numbered frames (change detection): a gap before a rectangle means one was lost.
    const gap = v.seq > 0 && this.seq > 0 && v.seq !== (this.seq >= 0xffffffff ? 1 : this.seq + 1);
    if (v.seq > 0) this.seq = v.seq;
    if (gap && !full && this.ok) {
      this.stats.lost++;
      if (!this.ignoreCorruptedFrames) { this.ok = false; this.stats.waiting++; this.#ask(v); return Promise.resolve(false); }
    }
    if (full) { this.ok = true; this.gen++; } // what waits from before it is never drawn
    else if (!this.ok || this.pending >= 64) { this.stats.waiting++; this.ok = false; this.#ask(v); return Promise.resolve(false); }
    const gen = this.gen;
    this.pending++;
    const data = v.data.slice(); // the frame's bytes outlive the event
    const step = async () => {
      if (gen !== this.gen || (!full && !this.ok)) return false;
      let bmp;
      try { bmp = await createImageBitmap(new Blob([data], { type: 'image/' + v.imageType })); } catch { this.#refuse(v, full); return false; }
      try {
        if (gen !== this.gen) return false;
        const r = v.rect;
        if (full) {
          if (bmp.width !== v.width || bmp.height !== v.height) { this.#refuse(v, true); return false; }
          if (this.canvas.width !== v.width || this.canvas.height !== v.height) { this.canvas.width = v.width; this.canvas.height = v.height; }
          this.ctx.drawImage(bmp, 0, 0);
        } else {
          const bad = !this.ok || v.width !== this.canvas.width || v.height !== this.canvas.height || r.w < 1 || r.h < 1 || r.x + r.w > v.width || r.y + r.h > v.height || bmp.width !== r.w || bmp.height !== r.h;
          if (bad) { if (this.ok) this.#refuse(v, false); else this.stats.waiting++; return false; }
          this.ctx.drawImage(bmp, r.x, r.y);
          this.stats.placed++;
        }
        this.stats.pictures++;
        return true;
      } finally { bmp.close(); }
    };
    const p = this.chain.then(step).finally(() => this.pending--);
    this.chain = p.catch(() => false);
    return p;
  }
}

/** True when a compressed frame's bytes look like its codec: H.264 starts with a start code and a keyframe holds an SPS. */
function plausible(v) {
  const d = v.data;
  if (!v.imageType.startsWith('avc1.')) return d.length > 0;
  if (d.length < 5 || d[0] !== 0 || d[1] !== 0 || (d[2] !== 1 && !(d[2] === 0 && d[3] === 1))) return false;
  if (!v.keyframe) return true;
  for (let i = 0; i + 3 < d.length; i++) if (d[i] === 0 && d[i + 1] === 0 && d[i + 2] === 1 && (d[i + 3] & 0x1f) === 7) return true;
  return false;
}

/**
 * Paints a video source on a canvas: JPEG (and png/bmp) through createImageBitmap, compressed
 * video (a WebCodecs codec string as image type: avc1.*, vp8, vp09.*, av01.*) through WebCodecs'
 * VideoDecoder. Latest wins; a decoder starts and restarts at a keyframe, and is configured again
 * when the codec or the size changes. stats: frames decoded and painted, corrupt frames (dropped),
 * frames skipped, latency (ms from the capture timestamp to the painted frame). onStatus(text) says
 * why nothing can be shown ('' when it can); onPaint(stats) follows each painted frame.
 */
export class VideoPainter {
  constructor(canvas, onStatus = () => {}, onPaint = () => {}) {
    this.canvas = canvas; this.onStatus = onStatus; this.onPaint = onPaint;
    this.stats = { decoded: 0, corrupt: 0, skipped: 0, latency: 0, codec: '' };
    this.decoder = null; this.config = ''; this.needKey = true; this.busy = false; this.supported = new Map(); this.status = null; this.waiting = [];
  }
  #say(text) { if (text !== this.status) { this.status = text; this.onStatus(text); } }
  #paint(img, w, h, timestamp) {
    if (this.canvas.width !== w || this.canvas.height !== h) { this.canvas.width = w; this.canvas.height = h; }
    this.canvas.getContext('2d').drawImage(img, 0, 0, w, h);
    this.stats.decoded++;
    this.stats.latency = Date.now() - timestamp;
    this.#say('');
    this.onPaint(this.stats);
  }
  /** One frame: { imageType, width, height, data, timestamp, keyframe }. */
  push(v) {
    this.stats.codec = v.imageType;
    if (v.imageType === 'jpeg' || v.imageType === 'png' || v.imageType === 'bmp') return this.#image(v);
    if (typeof VideoDecoder === 'undefined') return this.#say('This browser has no WebCodecs (VideoDecoder), so it cannot show ' + v.imageType + ' video. Use a current Chrome, Edge or Chromium, on https or localhost.');
    if (!plausible(v)) { this.stats.corrupt++; this.needKey = true; return; }
    const config = v.imageType + ' ' + v.width + 'x' + v.height;
    if (this.waiting.length) { if (this.waiting.length < 300) this.waiting.push(v); else this.stats.skipped++; return; }
    if (this.needKey || config !== this.config || !this.decoder || this.decoder.state === 'closed') {
      if (!v.keyframe) { this.stats.skipped++; return; }
      const ok = this.supported.get(v.imageType);
      if (ok === undefined || ok === null) {
        // Asked once per codec; the frames until the answer wait (at most 300), then go on in order.
        if (ok === undefined) {
          this.supported.set(v.imageType, null);
          this.waiting = [];
          const answer = (yes) => { this.supported.set(v.imageType, yes); const w = this.waiting; this.waiting = []; for (const f of w) this.push(f); };
          VideoDecoder.isConfigSupported({ codec: v.imageType, codedWidth: v.width, codedHeight: v.height }).then((r) => answer(r.supported === true), () => answer(false));
        }
        if (this.waiting.length < 300) this.waiting.push(v); else this.stats.skipped++;
        return;
      }
      if (ok === false) return this.#say('This browser cannot decode ' + v.imageType + ' video (WebCodecs has no decoder for it).');
      if (!this.decoder || this.decoder.state === 'closed') {
        this.decoder = new VideoDecoder({
          output: (frame) => { this.#paint(frame, frame.displayWidth, frame.displayHeight, frame.timestamp / 1000); frame.close(); },
          error: () => { this.stats.corrupt++; this.needKey = true; this.decoder = null; },
        });
      }
      const c = { codec: v.imageType, codedWidth: v.width, codedHeight: v.height, optimizeForLatency: true };
      if (v.imageType.startsWith('avc1.')) c.avc = { format: 'annexb' };
      try { this.decoder.configure(c); } catch (err) { this.#say('Cannot decode ' + v.imageType + ': ' + err.message); this.decoder = null; return; }
      this.config = config; this.needKey = false;
    }
    // Latest wins: a decoder that falls behind skips to the next keyframe.
    if (this.decoder.decodeQueueSize > 4 && !v.keyframe) { this.needKey = true; this.stats.skipped++; return; }
    try {
      this.decoder.decode(new EncodedVideoChunk({ type: v.keyframe ? 'key' : 'delta', timestamp: Math.round(v.timestamp * 1000), data: v.data }));
    } catch { this.stats.corrupt++; this.needKey = true; }
  }
  async #image(v) {
    if (this.busy) { this.stats.skipped++; return; }
    this.busy = true;
    try {
      const bmp = await createImageBitmap(new Blob([v.data], { type: 'image/' + v.imageType }));
      this.#paint(bmp, bmp.width, bmp.height, v.timestamp);
      bmp.close();
    } catch { this.stats.corrupt++; }
    this.busy = false;
  }
  close() { if (this.decoder && this.decoder.state !== 'closed') this.decoder.close(); this.decoder = null; }
}
`;
