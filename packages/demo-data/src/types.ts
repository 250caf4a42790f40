// The package's data shapes in one place, so generation and insertion agree on them without importing
// each other.

import type { TableRef } from '@backfill/engine/db';
import type { Logger } from '@backfill/engine/logger';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export type DemoLevel = 'debug' | 'info' | 'warn' | 'error';

export interface DemoRow {
  runId: string;
  timestamp: Date;
  level: DemoLevel;
  eventType: string;
  message: string | null;
  data: JsonValue | null;
}

export interface GenerateOptions {
  /** Any safe integer; the same seed always yields the same rows. Default 1. */
  seed?: number;
  /** Index of the first row: rows are addressable, so `startIndex: k` continues where k rows ended. */
  startIndex?: number;
}

/** A DemoRow with its timestamp as epoch milliseconds (the insert path formats it itself). */
export type RawRow = Omit<DemoRow, 'timestamp'> & { ms: number };

export interface InsertDemoOptions {
  table?: TableRef;
  /** Number of rows, 1..100,000,000. */
  rows: number;
  seed?: number;
  /** Explicit ids spread over a much larger range (clusters and gaps); the sequence is advanced after. */
  sparse?: boolean;
  /** Rows per INSERT statement (default 10,000). */
  batchRows?: number;
  onProgress?: (done: number, total: number) => void;
  /** Says when the table had to be created. */
  logger?: Logger;
}

export interface DemoDataSummary {
  rows: number;
  /** Smallest and largest id inserted (decimal strings: bigint). */
  minId: string;
  maxId: string;
  seconds: number;
  /** True when the table did not exist and was created with LEGACY_RUN_LOGS_DDL. */
  createdTable: boolean;
}
