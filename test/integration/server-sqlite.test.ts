/**
 * The whole MediaServer suite again, each server on a SqliteStore in its own folder: the
 * server behaves the same whichever store keeps its state (docs/architecture.md, the store).
 */
import { useStore } from '../helpers/server-client.js';

useStore('sqlite');
await import('./server.test.js');
