// The batch engine: read a keyset batch, compute event ids, write them with one guarded UPDATE.
export * from './apply-batch.js';
export * from './batch-size.js';
export * from './binary-array.js';
export * from './binary-copy.js';
export * from './bounds.js';
export * from './compute.js';
export * from './event-id-column.js';
export * from './missing-event-id.js';
export * from './process-range.js';
export * from './rate-limit.js';
export * from './read-batch.js';
export * from './retry-policy.js';
export * from './run.js';
export * from './verify.js';
