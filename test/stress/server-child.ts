/**
 * The stress suite's MediaServer, in a process of its own so that its file descriptors and RSS
 * are its own. Started by run.ts with an IPC channel; does nothing without one (node --test
 * runs every file under build/test/).
 */
import { MediaServer, type MediaServerOptions } from '../../src/index.js';

type Request = { op: 'rss' | 'metrics' | 'stop'; id: number };

async function main(): Promise<void> {
  const opts = JSON.parse(process.argv[2] ?? '{}') as MediaServerOptions;
  const s = new MediaServer({ host: '127.0.0.1', tcpPort: 0, httpPort: 0, udpPort: 0, ...opts });
  await s.start();
  process.on('message', (m: Request) => {
    void (async () => {
      if (m.op === 'rss') process.send!({ id: m.id, value: process.memoryUsage().rss });
      else if (m.op === 'metrics') process.send!({ id: m.id, value: await s.metrics.metrics() });
      else if (m.op === 'stop') {
        await s.stop();
        process.send!({ id: m.id, value: 'stopped' }, () => process.exit(0));
      }
    })();
  });
  process.on('disconnect', () => void s.stop().finally(() => process.exit(0)));
  process.send!({ ready: true, ports: s.ports });
}

if (process.send && !process.env.NODE_TEST_CONTEXT) {
  main().catch((err) => {
    console.error('server child failed:', err);
    process.exit(1);
  });
}
