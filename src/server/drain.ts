/**
 * Draining a MediaServer (docs/cluster.md, Drain): for rolling upgrades. The server stops taking
 * connections (a load balancer then sends new clients to another server) and refuses HELLOs, then
 * asks its clients to reconnect elsewhere one at a time (their links close with 1001, which
 * clients answer by reconnecting), keeping their contact lists and temporary group memberships for
 * their next server. It resolves once every link closed, or after `timeoutMs`.
 */
import type { FrameLink } from '../link/frame-link.js';
import type { LinkListener } from '../link/listener.js';
import type { Logger } from '../options.js';
import type { Admission } from './admission.js';
import type { ClusterPort } from './cluster/cluster.js';
import type { Directory } from './directory.js';

export interface DrainParts {
  listeners: Iterable<LinkListener>;
  admission: Admission;
  directory: Directory;
  cluster: ClusterPort | undefined;
  logger: Logger;
}

export interface DrainOptions {
  /** Pause between two clients. */
  intervalMs: number;
  /** Longest wait for the last links to close and, in a cluster, for the clients to be online on other nodes. */
  timeoutMs: number;
}

export async function drainServer(p: DrainParts, o: DrainOptions): Promise<void> {
  for (const l of p.listeners) l.stopAccepting();
  p.cluster?.leaving();
  const clients = [...p.directory.all()].filter((c) => c.connected);
  p.logger.info({ clients: clients.length, intervalMs: o.intervalMs }, 'draining: asking clients to reconnect elsewhere');
  // In a cluster, this node leaves only once its readers are online elsewhere (or the time is up):
  // until then it is alive, so their temporary group memberships are not dropped as a dead node's.
  const arrived: Array<Promise<boolean>> = [];
  for (const c of clients) {
    if (p.cluster && c.online) arrived.push(p.cluster.movedAway(c.id, o.timeoutMs));
    // In a cluster: told which node to reconnect to (the least loaded other live node).
    p.admission.drainClient(c, p.cluster?.elsewhere());
    // Paced, so the other servers take the clients one at a time.
    if (o.intervalMs > 0) await new Promise((r) => setTimeout(r, o.intervalMs));
  }
  let timer: NodeJS.Timeout | undefined;
  const closed = (l: FrameLink): Promise<void> => (l.closed ? Promise.resolve() : new Promise((r) => l.once('close', () => r())));
  await Promise.race([Promise.all([...p.admission.links].map(closed)), new Promise((r) => (timer = setTimeout(r, o.timeoutMs)))]);
  clearTimeout(timer);
  const moved = (await Promise.all(arrived)).filter(Boolean).length;
  if (p.cluster) p.logger.info({ moved, readers: arrived.length }, 'drained: readers online on other nodes');
}
