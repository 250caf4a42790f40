// The ledger: runs, shards and their history in PostgreSQL, the source of truth.
export * from './events.js';
export * from './progress.js';
export * from './runs.js';
export * from './shards.js';
export * from './states.js';
export * from './tx.js';
export * from './types.js';
export * from './workers.js';
