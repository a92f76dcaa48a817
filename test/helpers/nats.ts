/**
 * A real nats-server with JetStream for cluster tests: on a free loopback port, its store in a
 * temporary folder, stopped after the test. Ready when it logs that it is (with a deadline).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { freePort } from './ports.js';
export { freePort } from './ports.js';

export interface Nats {
  url: string;
  port: number;
  /** Kills it (SIGKILL); resolves once it exited. */
  kill(): Promise<void>;
  /** Starts it again on the same port and store; resolves once it is ready. */
  restart(): Promise<void>;
}


function run(port: number, dir: string, timeoutMs: number): Promise<ChildProcess> {
  const p = spawn('nats-server', ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`nats-server not ready after ${timeoutMs} ms:\n${log}`));
    }, timeoutMs);
    p.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    p.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`nats-server exited (${code}):\n${log}`));
    });
    p.stderr!.setEncoding('utf8');
    p.stderr!.on('data', (chunk: string) => {
      if (log.length < 20000) log += chunk;
      if (log.includes('Server is ready')) {
        clearTimeout(timer);
        p.removeAllListeners('exit');
        resolve(p);
      }
    });
  });
}

/** Starts nats-server -js on a free port; killed after the test. */
export async function startNats(t: TestContext, timeoutMs = 10000): Promise<Nats> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-nats-'));
  const port = await freePort();
  let p: ChildProcess;
  try {
    p = await run(port, dir, timeoutMs);
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const kill = async (): Promise<void> => {
    if (p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await gone;
  };
  // Its folder goes once it has exited (it writes there until then).
  t.after(async () => {
    await kill();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    kill,
    restart: async () => {
      await kill();
      p = await run(port, dir, timeoutMs);
    },
  };
}
