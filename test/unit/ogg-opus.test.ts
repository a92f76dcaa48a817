/**
 * OggOpusPackets on a real Ogg Opus stream made by ffmpeg, fed whole and split at every boundary.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { OggOpusPackets, type OpusPacket } from '../../src/sources/ogg-opus.js';

function oggOpus(): Buffer {
  return execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-t', '0.5', '-c:a', 'libopus', '-b:a', '24k', '-frame_duration', '20', '-f', 'ogg', 'pipe:1']);
}

function collect(chunks: Buffer[]): OpusPacket[] {
  const out: OpusPacket[] = [];
  const p = new OggOpusPackets((x) => out.push(x));
  for (const c of chunks) p.push(c);
  return out;
}

test('ogg opus - a 0.5 s stream of 20 ms frames gives about 25 packets after the two header packets', () => {
  const packets = collect([oggOpus()]);
  assert.ok(packets.length >= 24 && packets.length <= 27, `${packets.length} packets`);
  assert.equal(packets[0].channels, 1);
  assert.equal(packets[0].inputSampleRate, 48000);
  // An Opus packet starts with its TOC byte; a 20 ms CELT/SILK frame config is never 0xff bytes long.
  assert.ok(packets.every((p) => p.data.length > 0 && p.data.length < 1000));
});

test('ogg opus - any split of the stream gives the same packets', () => {
  const stream = oggOpus();
  const whole = collect([stream]).map((p) => p.data.toString('hex'));
  for (let cut = 1; cut < stream.length; cut += 37) {
    assert.deepEqual(collect([stream.subarray(0, cut), stream.subarray(cut)]).map((p) => p.data.toString('hex')), whole, `split at ${cut}`);
  }
  const bytes: Buffer[] = [];
  for (let i = 0; i < stream.length; i++) bytes.push(stream.subarray(i, i + 1));
  assert.deepEqual(collect(bytes).map((p) => p.data.toString('hex')), whole, 'one byte at a time');
});

test('ogg opus - a stream that is not Ogg is refused', () => {
  assert.throws(() => collect([Buffer.from('definitely not an ogg stream at all')]), /not an Ogg stream/);
});
