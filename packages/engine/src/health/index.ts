// Health gates: probes of the database's health, cached per process, and the decisions they lead to.
export * from './gates.js';
export * from './monitor.js';
export * from './probes.js';
export * from './window.js';
