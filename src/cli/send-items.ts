/**
 * `camwire send --command / --stdin / --file`: one-shot items, each waiting for its
 * acknowledgement, in that order; a signal before the end says what was not delivered
 * (docs/cli.md, camwire send and Signals).
 */
import path from 'node:path';
import { CamwireError, type Sender } from '../index.js';
import { DEFAULT_MAX_PAYLOAD } from '../protocol/constants.js';
import { parseInteger, parseParams, UsageError } from './args.js';
import { EXIT } from './common.js';
import type { SendFlags } from './send-command.js';
import { StatusLine } from './sinks.js';

/** Bytes as MB (10^6) with one decimal, as the progress line shows them. */
function mb(n: number): string {
  return (n / 1e6).toFixed(1);
}

/** Sends the items `f` asks for; resolves with the exit code (OK, or 130 / 143 for a signal). `guarded` races each wait with the connection watch. */
export async function sendItems(sender: Sender, f: SendFlags, guarded: <T>(p: Promise<T>) => Promise<T>, mediaIndex: number): Promise<number> {
  // Ctrl-C or SIGTERM before the items are acknowledged: say what was not delivered and how to
  // finish it, stop the links cleanly, exit 130 / 143 (docs/cli.md, Signals).
  let pending = '';
  const interrupted = new Promise<number>((resolve) => {
    const on = (signal: NodeJS.Signals, code: number) => (): void => {
      process.once(signal, () => process.exit(EXIT.FAILED));
      resolve(code);
    };
    process.once('SIGINT', on('SIGINT', EXIT.SIGINT));
    process.once('SIGTERM', on('SIGTERM', EXIT.SIGTERM));
  });
  const items = async (): Promise<number> => {
    if (f.command) {
      pending = `command ${f.command} was not acknowledged`;
      await guarded(sender.sendCommand({ name: f.command, params: parseParams(f.param) }, { mediaIndex }));
      process.stdout.write(`command ${f.command} acknowledged\n`);
    }
    if (f.stdin) {
      pending = 'standard input was not sent';
      // One data blob carries at most maxPayload (docs/limits.md): more is said at once, not read to its end.
      const tooBig = (): UsageError => new UsageError(`--stdin: standard input is more than one data blob carries (${DEFAULT_MAX_PAYLOAD} bytes): save it to a file and send it with --file`);
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const c of process.stdin) {
        chunks.push(c as Buffer);
        size += (c as Buffer).length;
        if (size > DEFAULT_MAX_PAYLOAD) throw tooBig();
      }
      await guarded(sender.sendData(Buffer.concat(chunks), { mediaIndex })).catch((err: unknown) => {
        // Within the bytes, but not with the message's header.
        throw err instanceof RangeError ? tooBig() : err;
      });
      process.stdout.write(`data (${chunks.reduce((n, c) => n + c.length, 0)} bytes) acknowledged\n`);
    }
    if (f.file) {
      const name = path.basename(f.file);
      pending = `${name} was not sent`;
      bar = new StatusLine();
      sender.on('fileProgress', (p) => {
        bar!.progress(p.name, p.offset + p.acked, p.size);
        pending = `${p.name} is not complete (${mb(p.offset + p.acked)} of ${mb(p.size)} MB acknowledged); run the same command again to finish it (a receiver with --files resumes from its ${p.name}.part)`;
      });
      const results = await guarded(sender.sendFile(f.file, { offset: f.offset ? parseInteger('--offset', f.offset, 0, Number.MAX_SAFE_INTEGER) : 0, mediaIndex }));
      bar.done();
      for (const r of results) process.stdout.write(`file ${r.name}: ${r.bytesSent} bytes from offset ${r.offset}, sha256 ${r.sha256} verified by the receiver\n`);
    }
    return EXIT.OK;
  };
  let bar: StatusLine | undefined;
  // A server with nowhere to send an item says so (src/server/router.ts); the flags that fix it are ours to name.
  const work = items().catch((err: unknown) => {
    if (err instanceof CamwireError && !f.to && !f.group && /no addressee, no group and no default receivers/.test(err.message)) {
      throw new CamwireError(err.code, `${err.message}: give --to CLIENT or --group GROUP`, { cause: err });
    }
    throw err;
  });
  // Lost the race to a signal: its rejection (the links stopped under it) is not news.
  work.catch(() => {});
  try {
    const code = await Promise.race([work, interrupted]);
    if (code !== EXIT.OK) {
      bar?.done();
      process.stderr.write(`error: interrupted: ${pending}\n`);
    }
    return code;
  } finally {
    await sender.stop();
  }
}
