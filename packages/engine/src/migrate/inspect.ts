// Reading the live shape of run_logs: the production table may have been created by another tool.
import type pg from 'pg';
import type { TableRef } from '../db.js';
import { SchemaError } from '../errors.js';

export interface ColumnInfo {
  name: string;
  type: string; // format_type(), e.g. "character varying", "text", "uuid"
}

export async function tableColumns(client: pg.ClientBase, table: TableRef): Promise<Map<string, ColumnInfo>> {
  const { rows } = await client.query<{ name: string; type: string }>(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type
       FROM pg_attribute a
       JOIN pg_class c ON c.oid = a.attrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped`,
    [table.schema, table.name],
  );
  return new Map(rows.map((r) => [r.name, r]));
}

const REQUIRED: Record<string, RegExp> = {
  id: /^(bigint|integer)$/,
  run_id: /^(uuid|text|character varying.*)$/,
  event_type: /^(text|character varying.*)$/,
  level: /^(text|character varying.*)$/,
  message: /^(text|character varying.*)$/,
  data: /^(jsonb|json)$/,
};

const TEXT_TYPE = /^(text|character varying(\(\d+\))?)$/;
const PADDED_TYPE = /^(character|bpchar)(\(\d+\))?$/;

export interface ShapeReport {
  /** Warnings an operator should read (accepted, but not what the schema declares). */
  warnings: string[];
  hasEventId: boolean;
}

/**
 * Checks that the table has every column event-id v1 reads, with a usable type. Throws SchemaError
 * naming what is wrong; returns warnings for accepted deviations (e.g. event_id as text).
 */
export function checkRunLogsShape(table: TableRef, columns: Map<string, ColumnInfo>): ShapeReport {
  const where = `${table.schema}.${table.name}`;
  if (columns.size === 0)
    throw new SchemaError(`table ${where} does not exist (run \`backfill migrate\` first)`);
  const problems: string[] = [];
  for (const [name, pattern] of Object.entries(REQUIRED)) {
    const col = columns.get(name);
    if (!col) problems.push(`missing column ${name}`);
    else if (!pattern.test(col.type)) problems.push(`column ${name} has type ${col.type}`);
  }
  if (problems.length) {
    throw new SchemaError(`table ${where} does not have the shape event-id v1 reads: ${problems.join('; ')}`);
  }
  const warnings: string[] = [];
  const eventId = columns.get('event_id');
  if (eventId && eventId.type !== 'character varying') {
    if (PADDED_TYPE.test(eventId.type)) {
      throw new SchemaError(
        `column ${where}.event_id is ${eventId.type}: a blank-padded type changes the ids it stores ` +
          '(compared as padded text, every id would read back different); alter it to varchar or text',
      );
    }
    const m = TEXT_TYPE.exec(eventId.type);
    if (!m) {
      throw new SchemaError(
        `column ${where}.event_id exists with type ${eventId.type}; it must be a text type (varchar, text)`,
      );
    }
    const fixedLen = /\((\d+)\)/.exec(m[2] ?? '')?.[1];
    if (fixedLen && Number(fixedLen) < 36) {
      throw new SchemaError(`column ${where}.event_id is ${eventId.type}: too short for a 36-character UUID`);
    }
    warnings.push(
      `column ${where}.event_id already exists as ${eventId.type} (schema says varchar): accepted`,
    );
  }
  return { warnings, hasEventId: Boolean(eventId) };
}
