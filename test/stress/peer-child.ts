/**
 * A MediaServer client in a process of its own, for the stress suite's fault cases (faults.ts):
 * the case kills it with SIGKILL and starts it again. Started with an IPC channel and one JSON
 * argument (PeerArgs); reports over IPC. Does nothing without an IPC channel (node --test runs
 * every file under build/test/).
 *
 * - `file-receiver` (client `rcv`): pulls files from the server into `dir`, reports `fileEnd`.
 * - `file-sender` (client `snd`): sends `file` to `rcv` and, like an application that must get
 *   its file across, sends it again after a failure (200 ms later, for at most 120 s); the
 *   receiver's `.part` makes each new attempt resume. Reports progress, failures and the result.
 * - `command-receiver` (client `cmd-rcv`): appends the `n` of every command to `log`, before the
 *   command is acknowledged (the listener runs first), so the log holds at least what was acked.
 */
import fs from 'node:fs';
import { Receiver, Sender, type CamwireError } from '../../src/index.js';

export interface PeerArgs {
  role: 'file-receiver' | 'file-sender' | 'command-receiver';
  /** The server's TCP port. */
  port: number;
  dir?: string;
  file?: string;
  log?: string;
}

const send = (m: unknown): void => void process.send!(m);
const reconnect = { initialDelayMs: 100, maxDelayMs: 500 };
const server = (port: number) => ({ protocol: 'tcp' as const, host: '127.0.0.1', port });

async function receiver(a: PeerArgs, clientId: string, types: Array<'file' | 'command'>): Promise<Receiver> {
  const rx = new Receiver({ protocol: 'tcp', connection: 'receiver-to-sender', senders: [{ host: '127.0.0.1', port: a.port }], clientId, receiveMediaTypes: types, reconnect, ...(a.dir ? { fileDir: a.dir } : {}) });
  rx.once('sessionConnected', () => send({ ready: true }));
  await rx.start();
  return rx;
}

async function main(): Promise<void> {
  const a = JSON.parse(process.argv[2]!) as PeerArgs;
  if (a.role === 'file-receiver') {
    const rx = await receiver(a, 'rcv', ['file']);
    rx.on('fileEnd', (e) => send({ fileEnd: { ok: e.ok, offset: e.offset, error: e.error?.message } }));
  } else if (a.role === 'command-receiver') {
    const rx = await receiver(a, 'cmd-rcv', ['command']);
    const fd = fs.openSync(a.log!, 'a');
    rx.on('command', (c) => fs.writeSync(fd, `${String(c.params.n)}\n`));
  } else {
    const tx = new Sender({ ...server(a.port), clientId: 'snd', reconnect });
    await tx.start();
    let mark = -1;
    tx.on('fileProgress', (p) => {
      const mib = Math.floor((p.offset + p.acked) / 1048576);
      if (mib === mark) return;
      mark = mib;
      send({ progress: { offset: p.offset, acked: p.offset + p.acked } });
    });
    send({ ready: true });
    const deadline = Date.now() + 120_000;
    for (let attempt = 1; ; attempt++) {
      mark = -1;
      try {
        const [r] = await tx.sendFile(a.file!, { to: 'rcv' });
        send({ done: { offset: r!.offset, size: r!.size, attempt } });
        return;
      } catch (err) {
        send({ failed: `${(err as CamwireError).code ?? ''} ${(err as Error).message}` });
        if (Date.now() > deadline) return void send({ gaveUp: true });
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }
}

if (process.send && !process.env.NODE_TEST_CONTEXT) {
  // The suite that started it is gone (it ended, or gave up on a case): so is this peer.
  process.on('disconnect', () => process.exit(0));
  main().catch((err) => {
    console.error('peer child failed:', err);
    process.exit(1);
  });
}
