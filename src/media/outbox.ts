/**
 * Sender-side queues, one per link and media type, each with its type's delivery policy
 * (docs/behaviour.md, section 1): video keeps only the latest frame per media index, audio keeps a
 * short queue and drops the oldest, commands/files/data wait for an acknowledgement and are
 * refused with an error when the queue is full. None grows without limit.
 */
export * from './outbox-common.js';
export * from './media-outbox.js';
export * from './reliable-outbox.js';
