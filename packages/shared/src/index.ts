export * from './migrations.js';
export * from './schema.js';
