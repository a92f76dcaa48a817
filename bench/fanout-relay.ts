/**
 * The camwire relay child of the fan-out bench (bench/fanout.ts): a MediaServer in a process of its
 * own, answering the bench's control requests as the raw relay child does (fanout-raw.ts). It
 * loads nothing of the harness but that control channel, as lean as the raw relay's, so its RSS
 * is the server's: the package itself (dist/, bundled, as users load it), or with
 * --fanout-server-import=index|module the modules as tsc compiled them (build/src).
 */
import os from 'node:os';
import path from 'node:path';
import { HOST, serveControl } from './fanout-raw.js';
import { loadCamwire, type Camwire } from './lib.js';

async function camwireRelay(): Promise<void> {
  if (process.env.CAMWIRE_FANOUT_GC_EXPERIMENT) setInterval(() => (globalThis as { gc?: (o?: object) => void }).gc?.(process.env.CAMWIRE_FANOUT_GC_MINOR ? { type: 'minor' } : undefined), Number(process.env.CAMWIRE_FANOUT_GC_EXPERIMENT)).unref();
  const how = process.env.CAMWIRE_FANOUT_IMPORT;
  const lib: Pick<Camwire, 'MediaServer'> & Partial<Pick<Camwire, 'SqliteStore' | 'WebViewer'>> =
    how === 'module' ? await import('../src/server/media-server.js') : await loadCamwire(how === 'index' ? 'build' : 'package');
  const { MediaServer } = lib;
  // --fanout-store=sqlite: a SqliteStore in a temp dir of this child, removed when it stops or exits.
  let store: import('../src/server/store/store.js').ServerStore | undefined;
  let storeDir: string | undefined;
  if (process.env.CAMWIRE_FANOUT_STORE === 'sqlite') {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const SqliteStore = lib.SqliteStore ?? (await import('../src/server/store/sqlite-store.js')).SqliteStore;
    const dir = (storeDir = mkdtempSync(path.join(os.tmpdir(), 'camwire-fanout-store-')));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    store = new SqliteStore({ dir });
  }
  // Every reader connects from 127.0.0.1: no per-address limits (500 readers exceed the default 256,
  // and their joins the 32 handshakes per address), as the raw relay has none.
  const server = new MediaServer({ host: HOST, httpPort: false, udpPort: false, store, limits: { maxConnectionsPerIp: 0, maxPendingPerIp: 0 } });
  await server.start();
  // CAMWIRE_FANOUT_VIEWER=1: the server taps its video for a web viewer nobody watches, as `camwire server` does.
  if (process.env.CAMWIRE_FANOUT_VIEWER === '1') new (lib.WebViewer ?? (await import('../src/web/viewer.js')).WebViewer)(server);
  let online = 0;
  /** Counters of clients that went offline (the server forgets them: keepClientInfo is off). */
  const gone = { writes: 0, dropped: 0 };
  /** Reader channels the server closed with an error (a stalled reader after timeouts.video). */
  let cut = 0;
  server.on('clientConnected', () => online++);
  server.on('clientDisconnected', (c) => {
    online--;
    gone.writes += c.out.video.frames;
    gone.dropped += c.dropped.video;
  });
  server.on('disconnect', (ev) => {
    if (ev.error && ev.clientId?.startsWith('r')) cut++;
  });
  serveControl({
    info: () => ({ port: server.ports.tcp, readers: online }),
    counters: () => {
      const s = server.stats();
      let framesIn = 0;
      let writes = gone.writes;
      let dropped = gone.dropped;
      for (const c of s.clients) {
        framesIn += c.in.video.frames;
        writes += c.out.video.frames;
        dropped += c.dropped.video;
      }
      return { framesIn, writes, dropped, cut, unrouted: s.unrouted.video };
    },
    stop: async () => {
      await server.stop();
      if (storeDir) (await import('node:fs')).rmSync(storeDir, { recursive: true, force: true });
    },
  });
}

camwireRelay().catch((err) => {
  console.error(err);
  process.exit(1);
});
