/**
 * Internal modules, exported for tests, benchmarks and sibling tools. Not a stable API.
 */
export * from './protocol/constants.js';
export * from './protocol/frame.js';
export * from './protocol/fan-encoding.js';
export * from './protocol/parser.js';
export * from './protocol/messages.js';
export * from './protocol/fragment.js';
export * from './link/frame-link.js';
export * from './link/stream-link.js';
export * from './link/http-link.js';
export * from './link/udp-link.js';
export * from './link/listener.js';
export * from './link/dial.js';
export * from './media/outbox.js';
export * from './media/inbound.js';
export * from './transport/http.js';
export * from './transport/http-server.js';
export * from './transport/tcp.js';
export * from './options.js';
