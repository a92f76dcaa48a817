/**
 * The library the benches measure: by default the package as users load it, dist/index.js (the
 * bundle `npm run build` writes, docs/architecture.md "The build"); with CAMWIRE_BENCH_IMPORT=build,
 * the modules one by one as tsc compiled them (build/src), to compare the two.
 *
 * The harness itself (raw parsers, baselines, drivers) keeps importing build/src: its protocol
 * codecs are pure functions, and nothing it builds is handed to the library's classes.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export type Camwire = typeof import('../src/index.js');

const DIST = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'index.js');

/** CAMWIRE_BENCH_IMPORT (or `how`) read: 'package' (unset or empty too) or 'build'; anything else ends the run. */
export function benchImport(how: string | undefined = process.env.CAMWIRE_BENCH_IMPORT): 'package' | 'build' {
  if (how === undefined || how === '' || how === 'package') return 'package';
  if (how === 'build') return 'build';
  throw new Error(`CAMWIRE_BENCH_IMPORT=${how}: use package (dist/, the default) or build (build/src)`);
}

/** What loadCamwire() loads, for the benches' headers. */
export function describeCamwire(how?: string): string {
  return benchImport(how) === 'build' ? 'build/src, the modules one by one as tsc compiled them (CAMWIRE_BENCH_IMPORT=build)' : 'the package as built, dist/index.js (CAMWIRE_BENCH_IMPORT=build: build/src)';
}

/** `how`: as benchImport() reads it. */
export async function loadCamwire(how?: string): Promise<Camwire> {
  if (benchImport(how) === 'build') return import('../src/index.js');
  if (!fs.existsSync(DIST)) throw new Error(`the bench measures the package as built, and ${DIST} is missing: run npm run build first (npm run bench does)`);
  return (await import(pathToFileURL(DIST).href)) as Camwire;
}
