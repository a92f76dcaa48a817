/**
 * Load for the drain tests: video from `from` to a group at about 30 frames/s, and commands from
 * `from` to `to` one after the other, each acknowledged or refused, while `to` moves between nodes.
 */
import type { TestContext } from 'node:test';
import type { TestClient } from './server-client.js';
import { until } from './wait.js';

export interface GroupLoad {
  /** When each video frame reached `to` (performance.now()). */
  frameTimes: number[];
  /** Commands `to` received. */
  received: Set<string>;
  /** Commands `from` had acknowledged. */
  acked: string[];
  /** Commands refused back to `from`. */
  refused(): number;
  /** Stops sending; resolves when the last command settled. */
  stop(): Promise<void>;
  /** The longest gap between two video frames, ms. */
  longestGap(): number;
}

/** Starts the load and resolves once both video and commands flow. */
export async function groupLoad(t: TestContext, from: TestClient, to: TestClient, group: string): Promise<GroupLoad> {
  const frameTimes: number[] = [];
  to.rx.on('video', () => frameTimes.push(performance.now()));
  const video = setInterval(() => from.tx.sendVideoFrame(Buffer.alloc(20_000, 5), { group, width: 64, height: 64 }), 33);
  t.after(() => clearInterval(video));
  const received = new Set<string>();
  to.rx.on('command', (c) => received.add(c.name));
  const acked: string[] = [];
  let refused = 0;
  let sending = true;
  t.after(() => (sending = false));
  const commands = (async () => {
    for (let i = 0; sending; i++) {
      try {
        await from.tx.sendCommand({ name: `c${i}` }, { to: to.id });
        acked.push(`c${i}`);
      } catch (err) {
        refused++;
        if (refused <= 3) process.stdout.write(`# refused: ${(err as Error).message}\n`);
        // A refusal can come at once: let the event loop turn.
        await new Promise((r) => setImmediate(r));
      }
    }
  })();
  await until(() => frameTimes.length >= 5 && acked.length >= 5, { on: [[to.rx, 'video'], [to.rx, 'command']], what: 'load flowing' });
  return {
    frameTimes,
    received,
    acked,
    refused: () => refused,
    async stop() {
      sending = false;
      clearInterval(video);
      await commands;
    },
    longestGap: () => Math.max(...frameTimes.slice(1).map((x, i) => x - frameTimes[i])),
  };
}
