/**
 * Frame links over HTTP (docs/protocol.md, section 6): every exchange is an ordinary POST,
 * so links pass HTTP proxies. A link is opened by POST /camwire/v1/open and named by the
 * x-camwire-link response header; frames go up in request bodies and come down in response
 * bodies; one long-poll request per link waits for frames to come down.
 *
 * This module re-exports the parts, so everything stays importable from here: the shared wire
 * conventions (http-wire.ts), the client side (http-client-link.ts) and the server side
 * (http-server-link.ts).
 */
export { DOWN_ACK_HEADER, DOWN_HEADER, HTTP_PREFIX, isStreamUpload, LINK_HEADER, parseBody, STREAM_SUFFIX, UP_HEADER } from './http-wire.js';
export * from './http-client-link.js';
export * from './http-server-link.js';
