/**
 * Media for recording and ingest tests, made with the system's ffmpeg: JPEG images, H.264 access
 * units (Annex B, cut at ffmpeg's access unit delimiters), Opus packets; a paced sender; ffprobe.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { AccessUnits, avcCodecString, findSps, isIdr } from '../../src/protocol/h264.js';
import { JpegSplitter } from '../../src/protocol/jpeg-splitter.js';
import { OggOpusPackets } from '../../src/sources/ogg-opus.js';

const exec = promisify(execFile);

async function ffmpegOut(args: string[]): Promise<Buffer> {
  const { stdout } = await exec('ffmpeg', ['-hide_banner', '-loglevel', 'error', ...args], { encoding: 'buffer', maxBuffer: 1 << 28 });
  return stdout;
}

/** A video frame as a test sends it. */
export interface TestFrame {
  data: Buffer;
  imageType: string;
  keyframe: boolean;
  width: number;
  height: number;
}

/** `n` JPEG images of testsrc2. */
export async function jpegFrames(n: number, width = 320, height = 240): Promise<TestFrame[]> {
  const out: TestFrame[] = [];
  const s = new JpegSplitter((j) => out.push({ data: Buffer.from(j), imageType: 'jpeg', keyframe: true, width, height }));
  s.push(await ffmpegOut(['-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=15`, '-frames:v', String(n), '-q:v', '5', '-f', 'mjpeg', 'pipe:1']));
  return out;
}

/** `n` H.264 access units of testsrc2 (no B-frames, an IDR every `gop`), per the frame convention. */
export async function h264Frames(n: number, o: { width?: number; height?: number; gop?: number } = {}): Promise<TestFrame[]> {
  const width = o.width ?? 320;
  const height = o.height ?? 240;
  const units: Buffer[] = [];
  const s = new AccessUnits((au) => units.push(Buffer.from(au)));
  s.push(await ffmpegOut(['-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=15`, '-frames:v', String(n), '-c:v', 'libx264', '-preset', 'veryfast', '-bf', '0', '-g', String(o.gop ?? 15), '-pix_fmt', 'yuv420p', '-bsf:v', 'h264_metadata=aud=insert', '-f', 'h264', 'pipe:1']));
  s.flush();
  const imageType = avcCodecString(findSps(units[0])!);
  return units.map((data) => ({ data, imageType, keyframe: isIdr(data), width, height }));
}

/** `n` VP9 frames of testsrc2 (one IVF frame each; no hidden frames), per the frame convention. */
export async function vp9Frames(n: number, width = 320, height = 240): Promise<TestFrame[]> {
  const ivf = await ffmpegOut(['-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=15`, '-frames:v', String(n), '-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8', '-g', '15', '-auto-alt-ref', '0', '-lag-in-frames', '0', '-pix_fmt', 'yuv420p', '-f', 'ivf', 'pipe:1']);
  const out: TestFrame[] = [];
  for (let at = ivf.readUInt16LE(6); at + 12 <= ivf.length; ) {
    const size = ivf.readUInt32LE(at);
    const data = Buffer.from(ivf.subarray(at + 12, at + 12 + size));
    at += 12 + size;
    // Profile 0 uncompressed header: frame_marker(2) profile(2) show_existing_frame(1) frame_type(1), 0 = key.
    out.push({ data, imageType: 'vp09.00.10.08', keyframe: ((data[0] >> 2) & 1) === 0, width, height });
  }
  return out;
}

/** `n` 20 ms Opus packets of a 440 Hz sine, mono 48 kHz. */
export async function opusPackets(n: number): Promise<Buffer[]> {
  const out: Buffer[] = [];
  const ogg = new OggOpusPackets((p) => out.push(Buffer.from(p.data)));
  ogg.push(await ffmpegOut(['-f', 'lavfi', '-i', `sine=f=440:d=${Math.ceil((n * 20) / 1000) + 1}`, '-ac', '1', '-ar', '48000', '-c:a', 'libopus', '-frame_duration', '20', '-f', 'ogg', 'pipe:1']));
  return out.slice(0, n);
}

/** 20 ms of mono 48 kHz PCM s16le (a quiet ramp). */
export function pcmChunk(i: number): Buffer {
  const b = Buffer.alloc(960 * 2);
  for (let k = 0; k < 960; k++) b.writeInt16LE(((k + i * 960) % 200) * 20, k * 2);
  return b;
}

/**
 * Calls `video(i, now)` at `fps` and `audio(j, now)` every 20 ms, on the wall clock (drift-free
 * schedule), until `frames` video frames went; resolves with the first and last video send times.
 * The first frame (and chunk) go at once; the schedule starts when `ready` resolves (a push
 * Sender's lanes connect on their first frame, and a frame offered meanwhile would replace it).
 */
export async function paced(frames: number, fps: number, video: (i: number, now: number) => void, audio?: (j: number, now: number) => void, ready?: Promise<unknown>): Promise<{ first: number; last: number }> {
  const first = Date.now();
  video(0, first);
  audio?.(0, first);
  await ready;
  return new Promise((resolve) => {
    const t0 = Date.now() - 1000 / fps;
    const a0 = Date.now() - 20;
    let i = 1;
    let j = 1;
    const tick = (): void => {
      const now = Date.now();
      while (audio && a0 + j * 20 <= now) audio(j++, now);
      while (i < frames && t0 + (i * 1000) / fps <= now) video(i++, now);
      if (i >= frames) return resolve({ first, last: now });
      setTimeout(tick, Math.max(1, Math.min(t0 + (i * 1000) / fps, audio ? a0 + j * 20 : Infinity) - Date.now()));
    };
    tick();
  });
}

/**
 * Resolves when a push Sender's lanes of these types are connected; rejects after `ms`, or at the
 * first failed connect of a lane still down (on loopback to a peer that listens, a failure is the
 * finding: a push lane retries only at its next send, which `paced` holds back until the lanes are up).
 */
export function lanesUp(
  tx: { on(ev: 'connected' | 'connectError', fn: (e: { mediaTypes: string[]; error?: Error }) => void): unknown },
  types: string[],
  ms = 20_000,
): Promise<void> {
  const left = new Set(types);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`lanes ${[...left].join(', ')} not connected within ${ms} ms`)), ms);
    tx.on('connected', (e) => {
      for (const t of e.mediaTypes) left.delete(t);
      if (left.size === 0) {
        clearTimeout(timer);
        resolve();
      }
    });
    tx.on('connectError', (e) => {
      if (!e.mediaTypes.some((t) => left.has(t))) return;
      clearTimeout(timer);
      reject(new Error(`lane ${e.mediaTypes.join(', ')} failed to connect: ${e.error?.message}`));
    });
  });
}

/** What ffprobe says of a file's streams (frames counted by decoding) and its duration. */
export interface Probe {
  duration: number;
  video?: { codec: string; frames: number; width: number; height: number };
  audio?: { codec: string; sampleRate: number; channels: number };
}

export async function ffprobe(file: string): Promise<Probe> {
  const { stdout } = await exec('ffprobe', ['-v', 'error', '-count_frames', '-show_entries', 'format=duration:stream=codec_type,codec_name,nb_read_frames,width,height,sample_rate,channels', '-of', 'json', file]);
  const j = JSON.parse(stdout) as { format: { duration: string }; streams: Array<Record<string, string | number>> };
  const v = j.streams.find((s) => s.codec_type === 'video');
  const a = j.streams.find((s) => s.codec_type === 'audio');
  return {
    duration: Number(j.format.duration),
    video: v && { codec: String(v.codec_name), frames: Number(v.nb_read_frames), width: Number(v.width), height: Number(v.height) },
    audio: a && { codec: String(a.codec_name), sampleRate: Number(a.sample_rate), channels: Number(a.channels) },
  };
}
