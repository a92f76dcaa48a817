/**
 * bench/results.json: run.ts writes the point-to-point cases; each other bench merges its own
 * figures in under its key, keeping what the others wrote.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** <repo>/bench/results.json (this module runs from build/bench/). */
export const RESULTS_FILE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'results.json');

/** Merges `value` into bench/results.json under `key` (non-finite numbers become null); prints where. */
export function mergeResults(key: string, value: unknown): void {
  let all: Record<string, unknown> = {};
  if (existsSync(RESULTS_FILE)) {
    try {
      all = JSON.parse(readFileSync(RESULTS_FILE, 'utf8')) as Record<string, unknown>;
    } catch {
      all = {};
    }
  }
  all[key] = value;
  writeFileSync(RESULTS_FILE, JSON.stringify(all, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n');
  console.log(`Results merged into ${path.relative(process.cwd(), RESULTS_FILE) || RESULTS_FILE} (key "${key}")`);
}
