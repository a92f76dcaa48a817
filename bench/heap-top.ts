/**
 * Top allocation sites of sampling heap profiles (the fan-out bench's
 * CAMWIRE_FANOUT_HEAP_SAMPLE=DIR writes one per relay child, DIR/<relay>-<pid>.heapsample.json).
 *
 *   node build/bench/heap-top.js [--top=25] [--depth=3] FILE.heapsample.json [...]
 *
 * Each site is a function (name, file, line) with the `depth` frames that called it; its size is
 * the sampled bytes allocated there (self size), summed over the files given, in MiB.
 */
import { readFileSync } from 'node:fs';

interface HeapNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children?: HeapNode[];
}

const args = process.argv.slice(2);
const top = Number(args.find((a) => a.startsWith('--top='))?.slice(6) ?? 25);
const depth = Number(args.find((a) => a.startsWith('--depth='))?.slice(8) ?? 3);
const files = args.filter((a) => !a.startsWith('--'));
if (files.length === 0) {
  console.error('usage: node build/bench/heap-top.js [--top=25] [--depth=3] FILE.heapsample.json [...]');
  process.exit(2);
}

const name = (n: HeapNode): string => {
  const cf = n.callFrame;
  return `${cf.functionName || '(anonymous)'} ${cf.url.split('/').slice(-2).join('/')}:${cf.lineNumber + 1}`;
};
const sites = new Map<string, number>();
let total = 0;
const walk = (n: HeapNode, stack: string[]): void => {
  const here = name(n);
  if (n.selfSize) {
    const key = [here, ...stack.slice(-depth).reverse()].join(' <- ');
    sites.set(key, (sites.get(key) ?? 0) + n.selfSize);
    total += n.selfSize;
  }
  for (const c of n.children ?? []) walk(c, [...stack, here]);
};
for (const f of files) walk((JSON.parse(readFileSync(f, 'utf8')) as { head: HeapNode }).head, []);

const mib = (b: number): string => (b / 1048576).toFixed(2).padStart(7);
console.log(`${mib(total)} MiB sampled in all`);
for (const [k, v] of [...sites].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${mib(v)}  ${k}`);
