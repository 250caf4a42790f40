export * from './process-shard.js';
export * from './settings.js';
export * from './worker.js';
