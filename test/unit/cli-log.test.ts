/**
 * The CLI's log lines: readable on a terminal, JSON in a pipe or with --log-format json.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import { logger, prettyLine } from '../../src/cli/log.js';
import { progressNumbers, progressText } from '../../src/cli/sinks.js';

function capture(tty: boolean): PassThrough & { isTTY?: boolean; text(): string } {
  const s = new PassThrough() as PassThrough & { isTTY?: boolean; text(): string };
  let out = '';
  s.on('data', (d: Buffer) => (out += d.toString()));
  s.isTTY = tty;
  s.text = () => out;
  return s;
}

describe('cli log', () => {
  test('prettyLine: time, level, message, then key=value (errors by message and code)', () => {
    const line = prettyLine(JSON.stringify({ level: 40, time: '2026-11-30T21:56:53.759Z', msg: 'cannot connect; retrying in 0.5 s', to: '127.0.0.1:7700', err: { message: 'connect ECONNREFUSED', code: 'CW_ERR_TRANSPORT_CONNECT' }, retryInMs: 500 }));
    assert.equal(line, '21:56:53 WARN  cannot connect; retrying in 0.5 s  to=127.0.0.1:7700 err="connect ECONNREFUSED (CW_ERR_TRANSPORT_CONNECT)" retryInMs=500');
    assert.equal(prettyLine('not json\n'), 'not json');
  });

  test('auto: pretty on a terminal, JSON otherwise; json and pretty force either', async () => {
    const cases: Array<[boolean, 'auto' | 'json' | 'pretty', boolean]> = [
      [true, 'auto', true],
      [false, 'auto', false],
      [true, 'json', false],
      [false, 'pretty', true],
    ];
    for (const [tty, format, pretty] of cases) {
      const s = capture(tty);
      logger('info', format, s).info({ client: 'cam1' }, 'client online');
      await new Promise((r) => setImmediate(r));
      const out = s.text();
      if (pretty) assert.match(out, /^(\r\x1b\[K)?\d\d:\d\d:\d\d (\x1b\[32m)?INFO (\x1b\[0m)? client online {2}client=cam1\n$/, `${tty} ${format}`);
      else assert.deepEqual(JSON.parse(out), { ...JSON.parse(out), level: 30, msg: 'client online', client: 'cam1' }, `${tty} ${format}`);
    }
  });
});

describe('progress numbers', () => {
  test('MB, MB/s since the start, and the time left', () => {
    const p = progressNumbers(12_600_000, 30_000_000, 2000, 10_000_000);
    assert.deepEqual(p, { percent: 42, doneMb: '12.6', totalMb: '30.0', mbPerS: '5.0', left: '4 s' });
    assert.equal(progressText('big.iso', p), 'big.iso 42% 12.6/30.0 MB, 5.0 MB/s, 4 s left');
    assert.equal(progressNumbers(0, 8e9, 1000, 1e6).left, '2 h 13 min');
    assert.equal(progressNumbers(0, 1e8, 1000, 1e6).left, '1 min 40 s');
    assert.equal(progressNumbers(5, 10, 0, 0).left, '?');
  });
});
