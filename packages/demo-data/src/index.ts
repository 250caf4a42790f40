// @backfill/demo-data's public surface: realistic legacy run_logs rows (as the old tool wrote them,
// without event_id), generated deterministically from a seed and inserted fast. Importers depend on
// exactly these names; the modules behind them are free to change.

export { LEGACY_RUN_LOGS_DDL, legacyRunLogsDdl } from './ddl.js';
export { generateDemoRows } from './generate.js';
export { insertDemoRows } from './insert.js';
export { DEMO_DEFAULT_BATCH_ROWS, DEMO_MAX_ROWS } from './limits.js';
export { mulberry32 } from './prng.js';
export { sparseIdAllocator } from './sparse-ids.js';
export type {
  DemoDataSummary,
  DemoLevel,
  DemoRow,
  GenerateOptions,
  InsertDemoOptions,
  JsonValue,
} from './types.js';
