export * from './context.js';
export * from './control.js';
export * from './finalize.js';
export * from './queues.js';
export * from './redis.js';
export * from './start.js';
export * from './status.js';
