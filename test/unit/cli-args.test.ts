/**
 * CLI argument parsers: byte sizes, durations.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseBytes, parseDuration, UsageError } from '../../src/cli/args.js';

describe('parseBytes', () => {
  test('numbers, K/M/G/T suffixes (powers of 1024, optional "iB"/"B"), and unlimited', () => {
    const cases: Array<[string, number]> = [
      ['1', 1],
      ['1048576', 1048576],
      ['500M', 500 * 1024 ** 2],
      ['8G', 8 * 1024 ** 3],
      ['8g', 8 * 1024 ** 3],
      ['2GiB', 2 * 1024 ** 3],
      ['64KB', 64 * 1024],
      ['1T', 1024 ** 4],
      ['unlimited', Infinity],
      ['none', Infinity],
    ];
    for (const [v, n] of cases) assert.equal(parseBytes('--max-file-size', v), n, v);
  });

  test('anything else is a usage error naming the flag', () => {
    for (const v of ['', '0', 'lots', '-5', '1.5G', '5X', 'G']) {
      assert.throws(() => parseBytes('--max-file-size', v), (e: unknown) => e instanceof UsageError && /^--max-file-size: expected a size/.test((e as Error).message), v);
    }
  });
});

describe('parseDuration', () => {
  test('ms, s, m, h, d; a bare number is seconds', () => {
    const cases: Array<[string, number]> = [['500ms', 500], ['60s', 60_000], ['60', 60_000], ['1.5s', 1500], ['10m', 600_000], ['12h', 43_200_000], ['7d', 604_800_000], ['2S', 2000]];
    for (const [v, n] of cases) assert.equal(parseDuration('--record-segment', v), n, v);
  });

  test('anything else is a usage error naming the flag', () => {
    for (const v of ['', '0', '0s', '-5s', 'soon', '5w', 's']) {
      assert.throws(() => parseDuration('--record-max-age', v), (e: unknown) => e instanceof UsageError && /^--record-max-age: expected a duration/.test((e as Error).message), v);
    }
  });
});
