export * from './config.js';
export * from './db.js';
export * from './errors.js';
export * from './logger.js';
