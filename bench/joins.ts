/**
 * Joins on a cold and a warm server: the idle bench's servers (a MediaServer, and the raw Node
 * server beside it) take --channels pull channels, which then all close, and again, --rounds
 * times in one server process. The first round is what `--cases=idle` measures (a fresh
 * process: the interpreter, inline caches and the optimizing compiler warm up on the joins);
 * the later ones are a server that has run before (bench/FANOUT.md, "The joins: a cold server").
 *
 *   node build/bench/joins.js [--channels=4000] [--rounds=3]
 *
 * CAMWIRE_IDLE_SERVER_FLAGS="--trace-opt ..." (environment): more node flags for both server
 * children, as in the idle bench (e.g. V8's tiering flags, to see what a cold join is made of).
 *
 * Prints, per round and server: the time the first 500 channels took to be welcomed, all of them,
 * and the server's CPU per join (user + system).
 */
import { fork } from 'node:child_process';
import { rpc, SELF } from './idle.js';

const args = process.argv.slice(2);
const opt = (name: string, d: number): number => Number(args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? d);
const channels = opt('channels', 4000);
const rounds = opt('rounds', 3);
const DRAIN_TIMEOUT_MS = 30_000;

interface JoinRound {
  firstBatchMs: number;
  allMs: number;
  cpuUsPerJoin: number;
}

async function joins(server: 'server' | 'raw'): Promise<JoinRound[]> {
  const srv = fork(SELF, [server, '', ''], { execArgv: ['--expose-gc', ...(process.env.CAMWIRE_IDLE_SERVER_FLAGS ?? '').split(' ').filter(Boolean)], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const toServer = rpc(srv);
  const out: JoinRound[] = [];
  try {
    const port = (await toServer({ port: true }, 'port')) as number;
    for (let r = 0; r < rounds; r++) {
      const peers = fork(SELF, ['channels', 'answer'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      try {
        await toServer({ joinMark: true }, 'joinMarked');
        const opened = (await rpc(peers)({ open: channels, port }, 'opened')) as { ms: number; firstBatchMs: number };
        const joined = (await toServer({ joinRead: true }, 'joinRead')) as { cpuMs: number };
        out.push({ firstBatchMs: opened.firstBatchMs, allMs: opened.ms, cpuUsPerJoin: (joined.cpuMs * 1000) / channels });
      } finally {
        peers.kill();
      }
      // The next round starts on an empty server: every channel of this one closed.
      const deadline = Date.now() + DRAIN_TIMEOUT_MS;
      for (;;) {
        const links = (await toServer({ links: true }, 'links')) as number;
        if (links === 0) break;
        if (Date.now() > deadline) throw new Error(`joins bench: ${server} still has ${links} links ${DRAIN_TIMEOUT_MS} ms after its channels' process exited`);
        await new Promise((res) => setTimeout(res, 100));
      }
    }
  } finally {
    srv.kill();
  }
  return out;
}

const cw = await joins('server');
const raw = await joins('raw');
console.log(`\nJoins: ${channels} pull channels per round, ${rounds} rounds in one server process (round 1: a fresh process)`);
console.log('round  first 500 s  raw      x raw   all s   raw     CPU µs/join  raw   x raw');
for (let r = 0; r < rounds; r++) {
  const a = cw[r];
  const b = raw[r];
  const x = (u: number, v: number): string => `${(u / v).toFixed(2)}x`;
  console.log(
    `${String(r + 1).padStart(5)}  ${(a.firstBatchMs / 1000).toFixed(3).padStart(11)}  ${(b.firstBatchMs / 1000).toFixed(3)}  ${x(a.firstBatchMs, b.firstBatchMs).padStart(6)}  ${(a.allMs / 1000).toFixed(2).padStart(6)}  ${(b.allMs / 1000).toFixed(2).padStart(6)}  ${a.cpuUsPerJoin.toFixed(0).padStart(11)}  ${b.cpuUsPerJoin.toFixed(0).padStart(4)}  ${x(a.cpuUsPerJoin, b.cpuUsPerJoin).padStart(6)}`,
  );
}
