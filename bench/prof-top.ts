/**
 * Top self-time functions of V8 CPU profiles (node --cpu-prof; the fan-out bench's
 * --fanout-prof=DIR writes one per relay child).
 *
 *   node build/bench/prof-top.js [--top=25] [--by=function|file] FILE.cpuprofile [...]
 *
 * Self time of a function = the time of the samples taken while it was the innermost frame
 * (timeDeltas summed), over all the files given, grouped by function name + file + line (or
 * by file). Printed as ms and as % of the non-idle time ('(idle)' is the event loop waiting).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const args = process.argv.slice(2);
const top = Number(args.find((a) => a.startsWith('--top='))?.slice(6) ?? 25);
const byFile = args.includes('--by=file');
const files = args.filter((a) => !a.startsWith('--'));
if (files.length === 0) {
  console.error('usage: node build/bench/prof-top.js [--top=25] [--by=function|file] FILE.cpuprofile [...]');
  process.exit(2);
}

const self = new Map<string, number>();
let total = 0;
let idle = 0;
const short = (url: string): string => {
  if (!url) return '';
  const u = url.replace(/^file:\/\//, '');
  const i = u.indexOf('/build/');
  if (i >= 0) return u.slice(i + 7);
  const n = u.indexOf('node_modules/');
  if (n >= 0) return u.slice(n);
  return u.startsWith('node:') ? u : path.basename(u);
};
for (const f of files) {
  const p = JSON.parse(readFileSync(f, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  for (let i = 0; i < p.samples.length; i++) {
    const dt = (p.timeDeltas[i] ?? 0) / 1000;
    const n = byId.get(p.samples[i]);
    if (!n) continue;
    const c = n.callFrame;
    total += dt;
    if (c.functionName === '(idle)') {
      idle += dt;
      continue;
    }
    const key = byFile ? short(c.url) || c.functionName : `${c.functionName || '(anonymous)'}  ${short(c.url)}${c.url ? `:${c.lineNumber + 1}` : ''}`;
    self.set(key, (self.get(key) ?? 0) + dt);
  }
}
const busy = total - idle;
console.log(`${files.length} profile(s): ${(total / 1000).toFixed(2)} s sampled, ${(idle / 1000).toFixed(2)} s idle, ${(busy / 1000).toFixed(2)} s busy\n`);
console.log('  self ms   % busy  function  file:line');
const rows = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
for (const [k, ms] of rows) console.log(`${ms.toFixed(1).padStart(9)}  ${((100 * ms) / busy).toFixed(1).padStart(6)}%  ${k}`);
