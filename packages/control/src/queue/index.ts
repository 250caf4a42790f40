// The BullMQ wiring in one place: names, job schema and options, connections, enqueueing.
export * from './connection.js';
export * from './enqueue.js';
export * from './jobs.js';
export * from './names.js';
export * from './transport.js';
