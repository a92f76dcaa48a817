/**
 * What the stress suite's cases share: the report (a figure per measurement, a goal per bound),
 * the MediaServer in a child process of its own (server-child.ts), and small helpers.
 */
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MediaServerOptions } from '../../src/index.js';

export const here = path.dirname(fileURLToPath(import.meta.url));
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Goals missed so far. */
export const failures: string[] = [];
/** Goals checked so far. */
export const checked = { goals: 0 };

/** Prints one measured figure. */
export function figure(name: string, value: string): void {
  console.log(`  ${name.padEnd(44)} ${value}`);
}

/** Checks one goal: prints it, and remembers a miss (the suite then exits 1). */
export function goal(ok: boolean, what: string): void {
  checked.goals++;
  console.log(`  ${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures.push(what);
}

// ------------------------------------------------------------------ the server child

export interface ServerChild {
  proc: ChildProcess;
  ports: { tcp: number; http: number; udp: number };
  fds(): number;
  rss(): Promise<number>;
  metrics(): Promise<string>;
  stop(): Promise<void>;
  /** SIGKILL: the server has no chance to say goodbye. Resolves when the process is gone. */
  kill(): Promise<void>;
}

/** Starts a MediaServer (loopback, every port 0 unless `o` says otherwise) in a process of its own. */
export async function startServer(o: MediaServerOptions = {}): Promise<ServerChild> {
  const proc = fork(path.join(here, 'server-child.js'), [JSON.stringify(o)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let seq = 0;
  const waiting = new Map<number, (v: unknown) => void>();
  const ports = await new Promise<ServerChild['ports']>((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`server child exited with ${code}`)));
    proc.on('message', (m: { ready?: boolean; ports?: ServerChild['ports']; id?: number; value?: unknown }) => {
      if (m.ready) resolve(m.ports!);
      else if (m.id !== undefined) waiting.get(m.id)?.(m.value), waiting.delete(m.id);
    });
  });
  const ask = <T>(op: string): Promise<T> =>
    new Promise((resolve, reject) => {
      if (!proc.connected) return reject(new Error('server child is gone'));
      const id = ++seq;
      waiting.set(id, resolve as (v: unknown) => void);
      proc.send({ op, id });
    });
  return {
    proc,
    ports,
    fds: () => fs.readdirSync(`/proc/${proc.pid}/fd`).length,
    rss: () => ask<number>('rss'),
    metrics: () => ask<string>('metrics'),
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      await Promise.race([ask('stop').catch(() => {}), sleep(5000)]);
      if (proc.exitCode === null) proc.kill('SIGKILL');
      await exited;
    },
    async kill() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGKILL');
      await exited;
    },
  };
}

/** Sum of a counter's samples in a /metrics text, by label value. */
export function counter(text: string, name: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{')) continue;
    const label = /="([^"]*)"/.exec(line)?.[1] ?? '';
    out[label] = (out[label] ?? 0) + Number(line.split(' ').pop());
  }
  return out;
}

/** The soft open-file limit of this process. */
export function fdLimit(): number {
  const line = fs.readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
  const v = line?.split(/\s+/)[3];
  return v === 'unlimited' ? Infinity : Number(v);
}
