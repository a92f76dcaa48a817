/**
 * Starts a real HTTP proxy (Debian's tinyproxy) on a free loopback port for HTTP-mode tests.
 * .ci/run installs tinyproxy; locally: `apt-get install tinyproxy`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports.js';

export interface Proxy {
  url: string;
  port: number;
  /** Every request line the proxy logged (to prove traffic went through it). */
  requests(): string[];
  stop(): Promise<void>;
}


/** Options of {@link startProxy}. */
export interface ProxyOptions {
  /**
   * The only ports CONNECT may reach (tinyproxy's `ConnectPort`); `[443]` refuses a tunnel to a
   * test's port (403), as most proxies do by default. @default every port
   */
  connectPorts?: number[];
  /** Credentials the proxy requires (tinyproxy's `BasicAuth`; without them it answers 407). */
  basicAuth?: { user: string; password: string };
  /** The only client address the proxy serves (tinyproxy's `Allow`); another gets its 403 "Access denied" page. @default '127.0.0.1' */
  allow?: string;
}

/** Starts tinyproxy; resolves when it accepts connections. */
export async function startProxy(o: ProxyOptions = {}): Promise<Proxy> {
  const bin = ['/usr/bin/tinyproxy', '/usr/sbin/tinyproxy'].find((p) => fs.existsSync(p));
  if (!bin) throw new Error('tinyproxy is not installed: apt-get install tinyproxy (.ci/run does this)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-proxy-'));
  const port = await freePort();
  const log = path.join(dir, 'tinyproxy.log');
  fs.writeFileSync(
    path.join(dir, 'tinyproxy.conf'),
    [
      `Port ${port}`,
      'Listen 127.0.0.1',
      'Timeout 600',
      'MaxClients 500',
      'LogLevel Connect',
      `LogFile "${log}"`,
      `Allow ${o.allow ?? '127.0.0.1'}`,
      'DisableViaHeader Yes',
      ...(o.connectPorts ?? []).map((p) => `ConnectPort ${p}`),
      ...(o.basicAuth ? [`BasicAuth ${o.basicAuth.user} ${o.basicAuth.password}`] : []),
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(bin, ['-d', '-c', path.join(dir, 'tinyproxy.conf')], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // Ready when a TCP connect succeeds; tinyproxy has no other readiness signal with a log file.
  await accepting(child, port, 'tinyproxy');
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

/** Resolves once `port` accepts a TCP connection; rejects when `child` exits first or after 10 s. */
async function accepting(child: ChildProcess, port: number, name: string): Promise<void> {
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
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`${name} did not start on port ${port}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** An nginx reverse proxy in front of one port (the deployment most camwire servers sit behind). */
export interface ReverseProxy {
  port: number;
  /** Request lines of the access log (method and path), in order. */
  requests(): string[];
  /** The same with the status nginx answered, e.g. `GET /camwire/v1/upgrade 101` (a logged request ended). */
  answers(): string[];
  /** The access log's path (nginx opens it at start: fs.watch it to hear of each request that ends). */
  log: string;
  stop(): Promise<void>;
}

/**
 * Starts Debian's nginx as a reverse proxy to 127.0.0.1:`target`. `buffering: true` is nginx's
 * default: it reads a whole request body before passing the request on (proxy_request_buffering)
 * and a whole answer before returning it. `false` streams both ways.
 */
export function startNginx(target: number, o: { buffering: boolean }): Promise<ReverseProxy> {
  const onOff = o.buffering ? 'on' : 'off';
  return startNginxWith((port) =>
    [
      '  client_max_body_size 0;',
      `  server {`,
      `    listen 127.0.0.1:${port};`,
      '    location / {',
      `      proxy_pass http://127.0.0.1:${target};`,
      '      proxy_http_version 1.1;',
      '      proxy_set_header Connection "";',
      `      proxy_request_buffering ${onOff};`,
      `      proxy_buffering ${onOff};`,
      '      proxy_read_timeout 120s;',
      '    }',
      '  }',
    ].join('\n'),
  );
}

/**
 * Starts Debian's nginx with `http(port)` inside its `http { }` block (server blocks, maps...): it
 * must listen on 127.0.0.1:`port`. The rest (logs, temp paths, pid) lives in a folder of its own.
 */
export async function startNginxWith(http: (port: number) => string): Promise<ReverseProxy> {
  const bin = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => fs.existsSync(p));
  if (!bin) throw new Error('nginx is not installed: apt-get install nginx-light (.ci/run does this)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-nginx-'));
  fs.chmodSync(dir, 0o777);
  const port = await freePort();
  const log = path.join(dir, 'access.log');
  const conf = [
    'worker_processes 1;',
    'daemon off;',
    `pid ${dir}/nginx.pid;`,
    `error_log ${dir}/error.log warn;`,
    'events { worker_connections 512; }',
    'http {',
    `  log_format camwire '"$request" $status';`,
    `  access_log ${log} camwire;`,
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${dir}/${t};`),
    http(port),
    '}',
    '',
  ].join('\n');
  fs.writeFileSync(path.join(dir, 'nginx.conf'), conf);
  const child: ChildProcess = spawn(bin, ['-p', dir, '-c', path.join(dir, 'nginx.conf')], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await accepting(child, port, 'nginx');
  const lines = (): string[] => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n') : []);
  return {
    port,
    log,
    requests: () => lines().map((l) => /"(\w+ \S+) HTTP/.exec(l)?.[1]).filter((l): l is string => !!l),
    answers: () => lines().map((l) => /"(\w+ \S+) HTTP\S*" (\d+)/.exec(l)).filter((m): m is RegExpExecArray => !!m).map((m) => `${m[1]} ${m[2]}`),
    stop: async () => {
      child.kill('SIGQUIT');
      await exited;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A proxy front that mishandles CONNECT (see {@link startConnectTrap}). */
export interface ConnectTrap {
  port: number;
  url: string;
  /** CONNECT requests it got, and other connections it passed to the proxy behind it. */
  connects: number;
  passed: number;
  close(): Promise<void>;
}

/**
 * A TCP server on 127.0.0.1 that gathers each connection's first bytes until `complete(head)`,
 * then hands the connection to `first` (which answers, drops, or splices it on). `close()` ends the
 * server and every socket it holds (clients, and upstreams `first` added to `sockets`).
 */
export async function tcpFront(
  complete: (head: Buffer) => boolean,
  first: (client: net.Socket, head: Buffer, sockets: Set<net.Socket>) => void,
): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    let head = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      head = Buffer.concat([head, d]);
      if (!complete(head)) return;
      client.off('data', onData);
      first(client, head, sockets);
    };
    client.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Passes `client` on, byte for byte, to 127.0.0.1:`port`: `head` (what the client sent so far)
 * first, then both directions piped; either side closing closes the other. The upstream socket is
 * kept in `sockets` (for the caller's cleanup) while open.
 */
export function splice(client: net.Socket, port: number, head: Buffer, sockets: Set<net.Socket>): void {
  const upstream = net.connect(port, '127.0.0.1');
  sockets.add(upstream);
  upstream.on('close', () => (sockets.delete(upstream), client.destroy()));
  upstream.on('error', () => client.destroy());
  client.on('close', () => upstream.destroy());
  upstream.write(head);
  client.pipe(upstream);
  upstream.pipe(client);
}

/**
 * A front for the proxy on `behind` (tinyproxy) that breaks CONNECT: it answers a CONNECT with
 * bytes that are not HTTP (`garbage`) or never answers it (`silent`); any other request goes on,
 * byte for byte, to the proxy behind it. A proxy that mishandles tunnels but relays plain
 * requests, as some corporate proxies do.
 */
export async function startConnectTrap(behind: number, mode: 'garbage' | 'silent'): Promise<ConnectTrap> {
  const trap: ConnectTrap = { port: 0, url: '', connects: 0, passed: 0, close: async () => {} };
  const front = await tcpFront(
    (head) => head.length >= 8 || head.includes(0x0a),
    (client, head, sockets) => {
      if (head.subarray(0, 8).toString('latin1') === 'CONNECT ') {
        trap.connects++;
        if (mode === 'garbage') client.end('SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n\x00\x00\x01\x0c garbage\r\n\r\n');
        // silent: read and ignore whatever comes, answer nothing.
        else client.resume();
        return;
      }
      trap.passed++;
      splice(client, behind, head, sockets);
    },
  );
  trap.port = front.port;
  trap.close = front.close;
  trap.url = `http://127.0.0.1:${trap.port}`;
  return trap;
}
