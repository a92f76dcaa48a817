/**
 * Peer addresses as one string (issue 10, "Addresses"): schemes, default ports, IPv6, and
 * the messages of malformed ones; the CLI's `--server`/`--from` parser on top.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseDialAddress, UsageError } from '../../src/cli/args.js';
import { ConfigError, parsePeerAddress, Receiver, Sender } from '../../src/index.js';

describe('parsePeerAddress', () => {
  test('schemes set the protocol; a host without a port takes that protocol\'s default server port', () => {
    const cases: Array<[string, string, string, number, boolean]> = [
      ['tcp://cam.example:7000', 'tcp', 'cam.example', 7000, false],
      ['tcp://cam.example', 'tcp', 'cam.example', 7700, false],
      ['udp://10.0.0.5', 'udp', '10.0.0.5', 7701, false],
      ['udp://10.0.0.5:9000', 'udp', '10.0.0.5', 9000, false],
      ['http://server', 'http', 'server', 7780, false],
      ['http://server:80', 'http', 'server', 80, false],
      ['https://server', 'http', 'server', 7780, true],
      ['https://server:443/', 'http', 'server', 443, true],
      ['TCP://[::1]:7700', 'tcp', '::1', 7700, false],
      ['tcp://[::1]', 'tcp', '::1', 7700, false],
    ];
    for (const [v, protocol, host, port, tls] of cases) {
      const a = parsePeerAddress(v);
      assert.deepEqual([a.protocol, a.host, a.port, a.tls, a.explicitProtocol], [protocol, host, port, tls, true], v);
    }
  });

  test('plain host:port keeps working; a bare host takes the given protocol\'s default port', () => {
    assert.deepEqual(parsePeerAddress('127.0.0.1:7800'), { protocol: 'tcp', host: '127.0.0.1', port: 7800, tls: false, explicitProtocol: false });
    assert.deepEqual(parsePeerAddress('[::1]:7800', 'http'), { protocol: 'http', host: '::1', port: 7800, tls: false, explicitProtocol: false });
    assert.equal(parsePeerAddress('server.example', 'http').port, 7780);
    assert.equal(parsePeerAddress('server.example', 'udp').port, 7701);
    assert.equal(parsePeerAddress('server.example').port, 7700);
  });

  test('malformed addresses are ConfigErrors that name the option and show the accepted forms', () => {
    for (const v of ['', 'sctp://host:1', 'tcp://host:70000', 'host:abc', 'host:0', 'tcp://user:pw@host:1', 'http://host:1/path', 'tcp://:7700']) {
      assert.throws(
        () => parsePeerAddress(v, 'tcp', 'server'),
        (e: unknown) => e instanceof ConfigError && e.code === 'CW_ERR_CONFIG_INVALID' && /^option server: .*use tcp:\/\/host:port/.test((e as Error).message),
        v,
      );
    }
  });

  test('Sender and Receiver take `server`; it may not contradict protocol, host or port', () => {
    assert.throws(() => new Sender({ server: 'udp://h:1', protocol: 'tcp' }), /option server: udp:\/\/h:1 says udp, but protocol is tcp/);
    assert.throws(() => new Sender({ server: 'tcp://h:1', port: 2 }), /give either server or host and port/);
    // A Receiver given `server` pulls from it; udp cannot be pulled.
    assert.throws(() => new Receiver({ server: 'udp://h:1' }), /udp works only sender-to-receiver/);
    assert.doesNotThrow(() => new Receiver({ server: 'https://h' }));
  });
});

describe('parseDialAddress (--server, --from)', () => {
  test('just a port dials 127.0.0.1; the scheme and --protocol must agree', () => {
    assert.deepEqual(parseDialAddress('--server', '7800', undefined), { protocol: 'tcp', host: '127.0.0.1', port: 7800, tls: false, explicitProtocol: false });
    assert.equal(parseDialAddress('--server', 'udp://h:9', 'udp').protocol, 'udp');
    assert.equal(parseDialAddress('--server', 'h', 'http').port, 7780);
    assert.throws(() => parseDialAddress('--server', 'udp://h:9', 'tcp'), (e: unknown) => e instanceof UsageError && /^--server udp:\/\/h:9 says udp, but --protocol is tcp/.test((e as Error).message));
    assert.throws(() => parseDialAddress('--from', 'h:x', undefined), (e: unknown) => e instanceof UsageError && /^--from: expected host:port/.test((e as Error).message));
  });
});
