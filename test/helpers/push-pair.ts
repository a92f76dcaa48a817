/**
 * A push pair for tests: a started Receiver listening on 127.0.0.1 (port 0), and a started Sender
 * aimed at it; both stop when the test ends (the Sender first).
 */
import type { TestContext } from 'node:test';
import { Receiver, Sender, type ReceiverOptions, type SenderOptions } from '../../src/index.js';

export async function pushPair(t: TestContext, rxOptions: ReceiverOptions, txOptions: Omit<SenderOptions, 'port'> = {}): Promise<{ rx: Receiver; tx: Sender }> {
  const rx = new Receiver({ host: '127.0.0.1', port: 0, ...rxOptions });
  await rx.start();
  t.after(() => rx.stop());
  const tx = new Sender({ protocol: rxOptions.protocol, host: '127.0.0.1', ...txOptions, port: rx.port });
  await tx.start();
  t.after(() => tx.stop());
  return { rx, tx };
}
