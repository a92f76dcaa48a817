/**
 * A child process of the file bench (files.ts): the receiving end, or the relay, so that the
 * sender in the parent and this side each have their own process (and core).
 *
 *   raw-rx   a net server: every byte of a connection goes to a file write stream, with SHA-256
 *   cw-rx    a camwire Receiver (push, TCP) with fileDir
 *   server   a camwire MediaServer (TCP)
 *   reader   a camwire Receiver pulling from the server as client "reader", with fileDir
 *
 * Talks to the parent over IPC: { port } when listening, { ready } when connected, then
 * { done: { sha256, cpuMs, sysMs } } when a file is complete and verified (sysMs: the kernel's part).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { loadCamwire } from './lib.js';

const [mode, dir, serverPort] = process.argv.slice(2);
const send = (m: object): void => void process.send!(m);
const sysMs = (since: NodeJS.CpuUsage): number => process.cpuUsage(since).system / 1000;
const cpuMs = (since: NodeJS.CpuUsage): number => {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1000;
};
let cpu0 = process.cpuUsage();
// The parent ends a profiled child with SIGINT: exiting normally writes its CPU profile.
process.on('SIGINT', () => process.exit(0));
process.on('message', (m: { start?: boolean }) => {
  if (m.start) cpu0 = process.cpuUsage();
});

async function main(): Promise<void> {
  if (mode === 'raw-rx') {
    const srv = net.createServer((s) => {
      const hash = createHash('sha256');
      const out = fs.createWriteStream(path.join(dir, 'raw.out'));
      s.on('data', (d: Buffer) => hash.update(d));
      s.pipe(out);
      out.on('finish', () => send({ done: { sha256: hash.digest('hex'), cpuMs: cpuMs(cpu0), sysMs: sysMs(cpu0) } }));
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    send({ port: (srv.address() as net.AddressInfo).port });
  } else if (mode === 'cw-rx' || mode === 'reader') {
    // The package as users load it (bench/lib.ts); the raw mode loads none of camwire.
    const { Receiver } = await loadCamwire();
    const rx =
      mode === 'cw-rx'
        ? new Receiver({ protocol: 'tcp', host: '127.0.0.1', port: 0, fileDir: dir })
        : new Receiver({ protocol: 'tcp', connection: 'receiver-to-sender', senders: [{ host: '127.0.0.1', port: Number(serverPort) }], clientId: 'reader', receiveMediaTypes: ['file'], fileDir: dir });
    rx.on('fileEnd', (e) => send(e.ok ? { done: { sha256: e.sha256, cpuMs: cpuMs(cpu0), sysMs: sysMs(cpu0) } } : { failed: e.error?.message ?? 'not ok' }));
    await rx.start();
    if (mode === 'reader') await rx.whenConnected();
    send(mode === 'cw-rx' ? { port: rx.port } : { ready: true });
  } else if (mode === 'server') {
    const { MediaServer } = await loadCamwire();
    const s = new MediaServer({ host: '127.0.0.1', tcpPort: 0, httpPort: false, udpPort: false });
    await s.start();
    send({ port: s.ports.tcp });
    process.on('message', (m: { cpu?: boolean }) => {
      if (m.cpu) send({ cpuMs: cpuMs(cpu0) });
    });
  } else throw new Error(`unknown mode ${mode}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
