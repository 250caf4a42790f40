export * from './migrations.js';
export * from './queue.js';
export * from './schema.js';
