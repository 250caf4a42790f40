export * from './progress.js';
export * from './runs.js';
export * from './shards.js';
export * from './tx.js';
export * from './types.js';
