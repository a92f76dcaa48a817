/**
 * Starts a real HTTP proxy (Debian's tinyproxy) on a free loopback port for HTTP-mode tests.
 * .ci/run installs tinyproxy; locally: `apt-get install tinyproxy`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface Proxy {
  url: string;
  port: number;
  /** Every request line the proxy logged (to prove traffic went through it). */
  requests(): string[];
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

/** Starts tinyproxy; resolves when it accepts connections. */
export async function startProxy(): Promise<Proxy> {
  const bin = ['/usr/bin/tinyproxy', '/usr/sbin/tinyproxy'].find((p) => fs.existsSync(p));
  if (!bin) throw new Error('tinyproxy is not installed: apt-get install tinyproxy (.ci/run does this)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-proxy-'));
  const port = await freePort();
  const log = path.join(dir, 'tinyproxy.log');
  fs.writeFileSync(
    path.join(dir, 'tinyproxy.conf'),
    [`Port ${port}`, 'Listen 127.0.0.1', 'Timeout 600', 'MaxClients 500', 'LogLevel Connect', `LogFile "${log}"`, 'Allow 127.0.0.1', 'DisableViaHeader Yes', ''].join('\n'),
  );
  const child: ChildProcess = spawn(bin, ['-d', '-c', path.join(dir, 'tinyproxy.conf')], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // Ready when a TCP connect succeeds; tinyproxy has no other readiness signal with a log file.
  const deadline = Date.now() + 10000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) break;
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`tinyproxy did not start on port ${port}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests: () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter((l) => /Request \(file descriptor/.test(l)) : []),
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
