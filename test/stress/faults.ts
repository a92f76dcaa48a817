/**
 * The fault cases of the stress suite: reliable items through a MediaServer over lossy UDP, a
 * SIGKILL of each role during a file transfer, and 1,000 commands across receiver restarts. The
 * server and the killed clients run in processes of their own (server-child.ts, peer-child.ts).
 */
import { fork, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Receiver, Sender, type CamwireError } from '../../src/index.js';
import { LossyRelay } from '../helpers/lossy-relay.js';
import { figure, goal, here, sleep, startServer, type ServerChild } from './common.js';
import type { PeerArgs } from './peer-child.js';

const MiB = 1048576;
const reconnect = { initialDelayMs: 100, maxDelayMs: 500 };
/** Every message of every peer, after the peer's own listeners saw it. */
const bus = new EventEmitter();
const sha256 = (b: Buffer): string => crypto.createHash('sha256').update(b).digest('hex');

/** A client process of peer-child.ts. */
interface Peer {
  proc: ChildProcess;
  /** Calls `fn` with every message the peer sends from now on. */
  on(fn: (m: PeerMessage) => void): void;
  kill(): Promise<void>;
}

type PeerMessage = {
  ready?: boolean;
  progress?: { offset: number; acked: number };
  done?: { offset: number; size: number; attempt: number };
  failed?: string;
  gaveUp?: boolean;
  fileEnd?: { ok: boolean; offset: number; error?: string };
};

async function startPeer(args: PeerArgs): Promise<Peer> {
  const proc = fork(path.join(here, 'peer-child.js'), [JSON.stringify(args)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const fns: Array<(m: PeerMessage) => void> = [];
  proc.on('message', (m: PeerMessage) => {
    fns.forEach((fn) => fn(m));
    bus.emit('message');
  });
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${args.role} not ready within 15 s`)), 15_000);
    proc.once('exit', (code) => reject(new Error(`${args.role} exited with ${code}`)));
    fns.push((m) => m.ready && (clearTimeout(t), resolve()));
  });
  let killing = false;
  proc.on('exit', (code, signal) => void (!killing && console.log(`  (${args.role} exited unexpectedly: ${signal ?? code})`)));
  return {
    proc,
    on: (fn) => void fns.push(fn),
    async kill() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const gone = new Promise((r) => proc.once('exit', r));
      killing = true;
      proc.kill('SIGKILL');
      await gone;
    },
  };
}

/** Resolves when `cond()` holds, checked after each message of any peer; rejects after `ms`. */
function whenPeers(cond: () => boolean, ms: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (!cond()) return;
      clearTimeout(t);
      bus.off('message', check);
      resolve();
    };
    const t = setTimeout(() => {
      bus.off('message', check);
      reject(new Error(`${what}: not within ${ms / 1000} s`));
    }, ms);
    bus.on('message', check);
    check();
  });
}

function tmpDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `camwire-stress-${tag}-`));
}

// ------------------------------------------------------------------ lossy UDP through the server

/** 20 data items of 30 KB and a 1 MiB file over UDP with loss, through the server to a TCP reader. */
export async function lossyUdpCase(): Promise<void> {
  for (const loss of [0.05, 0.2]) {
    console.log(`\n# lossy UDP to the server: ${loss * 100}% loss both ways, 10% reordered, 1% duplicated`);
    const dir = tmpDir('udp');
    const server = await startServer();
    const relay = await LossyRelay.start({ target: { host: '127.0.0.1', port: server.ports.udp }, lossUp: loss, lossDown: loss, reorder: 0.1, duplicate: 0.01, seed: 7 + loss * 100 });
    const rx = new Receiver({ protocol: 'tcp', connection: 'receiver-to-sender', senders: [{ host: '127.0.0.1', port: server.ports.tcp }], clientId: 'lossy-rcv', receiveMediaTypes: ['data', 'file'], fileDir: dir, reconnect });
    const tx = new Sender({ protocol: 'udp', host: '127.0.0.1', port: relay.port, clientId: 'lossy-snd', reconnect });
    try {
      const seen = new Map<number, number>();
      rx.on('data', (d) => seen.set(d.readUInt32BE(0), (seen.get(d.readUInt32BE(0)) ?? 0) + 1));
      const up = new Promise((r) => rx.once('sessionConnected', r));
      await rx.start();
      await up;
      await tx.start();
      const N = 20;
      const t0 = performance.now();
      const items = Array.from({ length: N }, (_, i) => {
        const b = crypto.randomBytes(30 * 1024);
        b.writeUInt32BE(i, 0);
        return tx.sendData(b, { to: 'lossy-rcv' });
      });
      const settled = await Promise.allSettled(items);
      const acked = settled.filter((s) => s.status === 'fulfilled').length;
      const why = settled.flatMap((s) => (s.status === 'rejected' ? [(s.reason as CamwireError).code] : []));
      const once = [...seen.values()].filter((n) => n === 1).length;
      figure('data items acknowledged / delivered once', `${acked}/${N} / ${once}/${N} in ${((performance.now() - t0) / 1000).toFixed(1)} s${why.length ? ` (rejected: ${why.join(', ')})` : ''}`);
      goal(acked === N && once === N && seen.size === N, `${loss * 100}% loss: 20 data items of 30 KB each acknowledged and delivered exactly once (${once}/${N})`);
      const content = crypto.randomBytes(MiB);
      fs.writeFileSync(path.join(dir, 'src.bin'), content);
      const ended = new Promise<boolean>((r) => rx.on('fileEnd', (e) => e.name === 'one-mib.bin' && r(e.ok)));
      const t1 = performance.now();
      let fileOk = false;
      try {
        await tx.sendFile(path.join(dir, 'src.bin'), { to: 'lossy-rcv', name: 'one-mib.bin' });
        fileOk = (await ended) && sha256(fs.readFileSync(path.join(dir, 'one-mib.bin'))) === sha256(content);
        figure('1 MiB file', `${fileOk ? 'verified' : 'MISMATCH'} in ${((performance.now() - t1) / 1000).toFixed(1)} s`);
      } catch (err) {
        figure('1 MiB file', `failed: ${(err as Error).message}`);
      }
      const s = relay.stats;
      figure('datagrams dropped up / down', `${s.up.dropped}/${s.up.received} / ${s.down.dropped}/${s.down.received}`);
      goal(fileOk, `${loss * 100}% loss: a 1 MiB file arrives whole with a matching SHA-256 within its default deadlines`);
    } catch (err) {
      goal(false, `lossy UDP case (${loss * 100}%): ${(err as Error).message}`);
    } finally {
      await Promise.allSettled([tx.stop(), rx.stop()]);
      await relay.close();
      await server.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
}

// ------------------------------------------------------------------ SIGKILL during a file transfer

/**
 * A 96 MiB file from `snd` through the server to `rcv`; at a quarter acknowledged, one of the
 * three processes is killed with SIGKILL and started again. The sender sends the file again until
 * it is through; each new attempt must resume where the receiver's `.part` ends.
 */
export async function killDuringFileCase(): Promise<void> {
  const SIZE = 96 * MiB;
  for (const victim of ['receiver', 'sender', 'server'] as const) {
    console.log(`\n# SIGKILL of the ${victim} during a ${SIZE / MiB} MiB file transfer through the server`);
    const dir = tmpDir('kill');
    const src = path.join(dir, 'src.bin');
    const content = crypto.randomBytes(SIZE);
    fs.writeFileSync(src, content);
    const want = sha256(content);
    const inbox = path.join(dir, 'in');
    let server: ServerChild | undefined;
    const peers: Peer[] = [];
    try {
      server = await startServer();
      const ports = server.ports;
      const rcvArgs: PeerArgs = { role: 'file-receiver', port: ports.tcp, dir: inbox };
      const sndArgs: PeerArgs = { role: 'file-sender', port: ports.tcp, file: src };
      let acked = 0;
      let done: PeerMessage['done'];
      let failedAttempts = 0;
      let lastFailure = '';
      let verified = false;
      const watch = (p: Peer): Peer => {
        p.on((m) => {
          if (m.progress) acked = Math.max(acked, m.progress.acked);
          if (m.done) done = m.done;
          if (m.failed) failedAttempts++, (lastFailure = m.failed);
          if (m.fileEnd && !m.fileEnd.ok) lastFailure = `receiver: ${m.fileEnd.error}`;
          if (m.fileEnd?.ok) verified = true;
        });
        peers.push(p);
        return p;
      };
      let rcv = watch(await startPeer(rcvArgs));
      let snd = watch(await startPeer(sndArgs));
      const t0 = performance.now();
      await whenPeers(() => acked >= SIZE / 4 || done !== undefined, 60_000, 'a quarter of the file acknowledged');
      if (done) throw new Error('the transfer ended before the kill: make the file larger');
      const ackedAtKill = acked;
      if (victim === 'receiver') {
        await rcv.kill();
        rcv = watch(await startPeer(rcvArgs));
      } else if (victim === 'sender') {
        await snd.kill();
        snd = watch(await startPeer(sndArgs));
      } else {
        await server.kill();
        server = await startServer({ tcpPort: ports.tcp, httpPort: ports.http, udpPort: ports.udp });
      }
      await whenPeers(() => done !== undefined && verified, 150_000, 'the file through after the restart').catch((err: Error) => {
        throw new Error(`${err.message} (${failedAttempts} attempts failed, the last: ${lastFailure})`);
      });
      const got = fs.readFileSync(path.join(inbox, 'src.bin'));
      const match = sha256(got) === want;
      figure('killed at / resumed at', `${(ackedAtKill / MiB).toFixed(1)} MiB acknowledged / ${(done!.offset / MiB).toFixed(1)} MiB (attempt ${done!.attempt}, ${failedAttempts} failed)`);
      figure('whole transfer', `${((performance.now() - t0) / 1000).toFixed(1)} s`);
      goal(match && !fs.existsSync(path.join(inbox, 'src.bin.part')), `${victim} killed: the file arrives whole (SHA-256 matches)`);
      goal(done!.offset >= ackedAtKill && done!.offset > 0, `${victim} killed: the transfer resumes, and no acknowledged byte is sent again (resumed at ${done!.offset} >= ${ackedAtKill})`);
    } catch (err) {
      goal(false, `SIGKILL of the ${victim}: ${(err as Error).message}`);
    } finally {
      await Promise.allSettled(peers.map((p) => p.kill()));
      await server?.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
}

// ------------------------------------------------------------------ commands across restarts

/**
 * 1,000 commands, 8 in flight, from a sender to a receiver through the server; the receiver is
 * killed with SIGKILL and started again at 250, 500 and 750 acknowledged. The sender sends a
 * refused command again (the receiver is away) until it is acknowledged. None may be lost; one
 * can arrive twice only if it was in flight at a kill (delivered, then its ACK lost with the
 * process), so at most 8 a kill.
 */
export async function commandsAcrossRestartsCase(): Promise<void> {
  const N = 1000;
  const WINDOW = 8;
  const KILLS = [250, 500, 750];
  console.log(`\n# ${N} commands across ${KILLS.length} receiver kills (SIGKILL), ${WINDOW} in flight`);
  const dir = tmpDir('cmd');
  const log = path.join(dir, 'log');
  const server = await startServer();
  const args: PeerArgs = { role: 'command-receiver', port: server.ports.tcp, log };
  let rcv: Peer | undefined;
  const tx = new Sender({ protocol: 'tcp', host: '127.0.0.1', port: server.ports.tcp, clientId: 'cmd-snd', reconnect });
  try {
    rcv = await startPeer(args);
    await tx.start();
    const acked = new Set<number>();
    let retries = 0;
    let next = 0;
    let restarts: Promise<void> = Promise.resolve();
    let killed = 0;
    const t0 = performance.now();
    const worker = async (): Promise<void> => {
      while (next < N) {
        const n = next++;
        const deadline = performance.now() + 60_000;
        for (;;) {
          try {
            await tx.sendCommand({ name: 'n', params: { n } }, { to: 'cmd-rcv' });
            acked.add(n);
            break;
          } catch (err) {
            if (performance.now() > deadline) throw new Error(`command ${n} not acknowledged within 60 s: ${(err as Error).message}`);
            retries++;
            await sleep(100);
          }
        }
        if (killed < KILLS.length && acked.size >= KILLS[killed]!) {
          killed++;
          const old = rcv!;
          restarts = restarts.then(async () => {
            await old.kill();
            rcv = await startPeer(args);
          });
        }
      }
    };
    await Promise.all(Array.from({ length: WINDOW }, worker));
    await restarts;
    const counts = new Map<number, number>();
    for (const l of fs.readFileSync(log, 'utf8').split('\n')) if (l) counts.set(Number(l), (counts.get(Number(l)) ?? 0) + 1);
    const lost = [...acked].filter((n) => !counts.has(n));
    const twice = [...counts.values()].filter((c) => c > 1).length;
    figure('acknowledged / delivered', `${acked.size}/${N} / ${counts.size} distinct in ${((performance.now() - t0) / 1000).toFixed(1)} s, ${retries} sends refused and retried`);
    figure('delivered twice (in flight at a kill)', String(twice));
    goal(acked.size === N && lost.length === 0, `${N} commands across receiver kills: all acknowledged, none lost (${lost.length} lost)`);
    goal(twice <= WINDOW * KILLS.length, `a command arrives twice only if it was in flight at a kill (${twice} <= ${WINDOW * KILLS.length})`);
  } catch (err) {
    goal(false, `commands across restarts: ${(err as Error).message}`);
  } finally {
    await tx.stop();
    await rcv?.kill();
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
