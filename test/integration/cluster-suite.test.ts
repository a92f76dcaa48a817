/**
 * The MediaServer suite (server.test.ts, mode C) again on a cluster of three MediaServers over a
 * real nats-server (docs/cluster.md), each client on a node chosen at random. The choice is
 * seeded: the seed is printed, and CAMWIRE_CLUSTER_SEED=<seed> repeats a run's placement (each
 * test draws from the seed and its own name, so one test run alone places its clients the same).
 */
import { useCluster } from '../helpers/server-client.js';

const seed = useCluster(3);
console.log(`cluster suite: CAMWIRE_CLUSTER_SEED=${seed}`);
await import('./server.test.js');
