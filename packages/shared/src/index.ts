export * from './migrations.js';
export * from './schema.js';
export * from './settings.js';
