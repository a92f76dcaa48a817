/**
 * What test/e2e/operator-user.test.ts shares: a camwire command run in a folder of its own (as an
 * operator runs it from a shell, with the default ./camwire-data), config files in a temp folder,
 * and the commands of a ```sh block of a doc.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { CLI, ROOT, run } from './cli.js';
import { within } from './wait.js';

/** A process run by a test: its output so far, a wait for a line, and its exit. */
export interface Proc {
  stdout(): string;
  stderr(): string;
  /** Resolves with the first match of `re` in stdout or stderr; rejects, naming `re`, after `ms` or when the process exits first. */
  waitFor(re: RegExp, ms?: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit code (null: killed by a signal), or rejects after `ms`. */
  exit(ms?: number): Promise<number | null>;
  kill(signal: NodeJS.Signals): void;
}

/** Runs `file args` in `cwd` (helpers/cli.ts `run`); killed after the test if still running. */
export function proc(t: TestContext, file: string, args: string[], o: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Proc {
  const c = run(t, file, args, { cwd: o.cwd ?? ROOT, env: o.env ?? process.env });
  return {
    stdout: c.stdout,
    stderr: c.stderr,
    waitFor: c.waitFor,
    exit: (ms = 15000) => within(c.exited, ms, `the exit of ${file} ${args.join(' ')}\nstdout: ${c.stdout()}\nstderr: ${c.stderr()}`),
    kill: (signal) => void c.child.kill(signal),
  };
}

/** A fresh folder, removed after the test. */
export function folder(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-operator-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * `camwire ...args` started in `cwd` with the environment of a shell: no CAMWIRE_* variables
 * but those of `extraEnv`, so a server keeps its state in `cwd`/camwire-data unless told otherwise.
 */
export function camwireIn(t: TestContext, cwd: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}): Proc {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CAMWIRE_')) env[k] = v;
  return proc(t, process.execPath, [CLI, ...args], { cwd, env: { ...env, ...extraEnv } });
}

/** Writes a config file into `dir`; returns its path. */
export function configFile(dir: string, name: string, yaml: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, yaml);
  return file;
}

/** The commands of the `n`th ```sh block of a file under docs/, one per line, comments and `&` stripped. */
export function shBlock(doc: string, n = 0): string[] {
  const text = fs.readFileSync(path.join(ROOT, 'docs', doc), 'utf8');
  const block = [...text.matchAll(/```sh\n([\s\S]*?)```/g)][n];
  if (!block) throw new Error(`docs/${doc} has no ${n + 1}th sh block`);
  return block[1]
    .split('\n')
    .map((l) => l.replace(/\s+#.*$/, '').replace(/\s*&\s*$/, '').trim())
    .filter((l) => l && !l.startsWith('#'));
}
