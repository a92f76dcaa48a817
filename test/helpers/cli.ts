/**
 * Runs the camwire CLI as a user would: a spawned process on real ports, with helpers to wait
 * for a line of its output.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const CLI = path.join(ROOT, 'dist/cli/main.js');

export interface Cli {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first match of `re` in stdout (or stderr), waiting for it to appear. */
  waitFor(re: RegExp, ms?: number): Promise<RegExpMatchArray>;
  /**
   * Resolves with the exit code. Awaiting it arms a deadline (EXIT_WAIT_MS): a process still
   * running then is killed, resolves null, and its stderr says so, so that a test fails with the
   * process's output instead of waiting forever.
   */
  readonly exited: Promise<number | null>;
}

/** Data folders of the servers this test process starts (never the repository's ./camwire-data). */
let dataRoot: string | undefined;

/** How long a test waits for a CLI process to exit once it awaits `exited`. */
export const EXIT_WAIT_MS = 120_000;

/** A fresh, empty data folder for a CLI server; removed when the test process exits. */
export function dataDir(): string {
  if (!dataRoot) {
    const root = (dataRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-cli-data-')));
    process.once('exit', () => fs.rmSync(root, { recursive: true, force: true }));
  }
  return fs.mkdtempSync(path.join(dataRoot, 'd-'));
}

/**
 * Starts `camwire ...args`; it is killed after the test if still running. A server gets a fresh
 * data folder through CAMWIRE_DATA_DIR unless `env` gives one.
 */
export function cli(t: TestContext | undefined, args: string[], o: { stdin?: string | Buffer; env?: NodeJS.ProcessEnv } = {}): Cli {
  const env = { ...process.env, CAMWIRE_DATA_DIR: args[0] === 'server' ? dataDir() : '', ...o.env };
  return run(t, process.execPath, [CLI, ...args], { cwd: ROOT, env, stdin: o.stdin });
}

/** Starts `file args` in `o.cwd` with `o.env`: its output, a wait for a line, and its exit (as `cli()`); killed after the test if still running. */
export function run(t: TestContext | undefined, file: string, args: string[], o: { cwd: string; env: NodeJS.ProcessEnv; stdin?: string | Buffer }): Cli {
  const child = spawn(file, args, { cwd: o.cwd, env: o.env, stdio: ['pipe', 'pipe', 'pipe'] });
  const what = `${file === process.execPath ? 'camwire' : file} ${(file === process.execPath ? args.slice(1) : args).join(' ')}`;
  let out = '';
  let err = '';
  const waiters = new Set<() => void>();
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    for (const w of waiters) w();
  });
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    for (const w of waiters) w();
  });
  if (o.stdin !== undefined) child.stdin!.end(o.stdin);
  else child.stdin!.end();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t?.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let deadline: NodeJS.Timeout | undefined;
  const armed = (): Promise<number | null> => {
    if (!deadline && child.exitCode === null && child.signalCode === null) {
      deadline = setTimeout(() => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        err += `\n[test helper] ${what} did not exit within ${EXIT_WAIT_MS / 1000} s of being awaited: killed\n`;
        child.kill('SIGKILL');
      }, EXIT_WAIT_MS);
      deadline.unref();
      void exited.then(() => clearTimeout(deadline));
    }
    return exited;
  };
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    get exited() {
      return armed();
    },
    waitFor: (re, ms = 15000) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          const m = re.exec(out) ?? re.exec(err);
          if (m) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve(m);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for ${re} in ${what}\nstdout: ${out}\nstderr: ${err}`));
        }, ms);
        waiters.add(check);
        void exited.then(() => setImmediate(() => {
          if (waiters.has(check)) {
            check();
            if (waiters.has(check)) {
              clearTimeout(timer);
              waiters.delete(check);
              reject(new Error(`${what} exited before printing ${re}\nstdout: ${out}\nstderr: ${err}`));
            }
          }
        }));
        check();
      }),
  };
}

/** Starts `camwire server` on free ports; resolves with its ports and viewer URL. */
export async function cliServer(t: TestContext, extra: string[] = []): Promise<{ tcp: number; udp: number; http: number; url: string; proc: Cli }> {
  const proc = cli(t, ['server', '--host', '127.0.0.1', '--tcp-port', '0', '--udp-port', '0', '--http-port', '0', '--log-level', 'warn', ...extra]);
  const m = await proc.waitFor(/tcp (\d+), udp (\d+), http (\d+)/);
  const v = await proc.waitFor(/viewer: (\S+)/);
  return { tcp: Number(m[1]), udp: Number(m[2]), http: Number(m[3]), url: v[1], proc };
}
