/**
 * makeDir: `fs.mkdirSync(dir, { recursive: true })` without its endless loop. Node's recursive
 * mkdir retries forever where the kernel answers ENOENT under a folder that exists (procfs, sysfs:
 * `--data-dir /proc/x` hung the server at start, silently). This creates the missing folders one
 * by one, top down, so such a path fails at once with the kernel's error.
 */
import fs from 'node:fs';
import path from 'node:path';

/** Creates `dir` and any missing parents; nothing when it exists. Throws the fs error (ENOENT, ENOTDIR, EACCES...). */
export function makeDir(dir: string): void {
  const missing: string[] = [];
  let d = path.resolve(dir);
  while (!fs.existsSync(d)) {
    missing.push(d);
    const up = path.dirname(d);
    if (up === d) break;
    d = up;
  }
  for (let i = missing.length - 1; i >= 0; i--) {
    try {
      fs.mkdirSync(missing[i]);
    } catch (err) {
      // Made meanwhile by someone else: fine, if it is a folder.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || !fs.statSync(missing[i]).isDirectory()) throw err;
    }
  }
  if (missing.length === 0 && !fs.statSync(d).isDirectory()) {
    throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${dir}'`), { code: 'ENOTDIR', path: dir });
  }
}
