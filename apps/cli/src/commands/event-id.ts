// `backfill event-id`: event_id v1 of rows given as JSON lines on stdin, one id per line on stdout, in order.
// A bad line prints nothing on stdout and `line N: <field>: <reason>` on stderr; the exit code is then 2.
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { ExitCode } from '@backfill/engine/cli';
import { tryEventId } from '@backfill/shared/event-id';
import type { Command } from 'commander';

export interface EventIdStreamSummary {
  /** Lines that got an event_id. */
  ok: number;
  /** Lines that were not a valid row (reported on `errors`). */
  bad: number;
}

const FLUSH_AT = 64 * 1024;

const isEpipe = (err: unknown) => (err as NodeJS.ErrnoException | undefined)?.code === 'EPIPE';

/**
 * Reads JSON rows, one per line, from `input`; writes one event_id per good line to `out` (same order) and one
 * message per bad line to `errors`. Blank lines are skipped. Handles inputs of any size (streams line by line,
 * honours backpressure). If `out` is closed early (EPIPE, e.g. `| head`), stops reading and returns quietly.
 */
export async function eventIdStream(
  input: Readable,
  out: Writable,
  errors: Writable,
): Promise<EventIdStreamSummary> {
  const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  let outputError: unknown;
  const onOutputError = (err: unknown) => {
    outputError ??= err;
    lines.close();
  };
  out.on('error', onOutputError);
  const write = async (chunk: string) => {
    if (out.write(chunk)) return;
    const waiting = new AbortController(); // removes the listener that did not fire
    try {
      await Promise.race([
        once(out, 'drain', { signal: waiting.signal }),
        once(out, 'close', { signal: waiting.signal }),
      ]);
    } catch (err) {
      onOutputError(err); // `once` rejects when the stream emits 'error' while we wait
    } finally {
      waiting.abort();
    }
  };

  let lineNo = 0;
  let ok = 0;
  let bad = 0;
  let pending = '';
  const reject = (message: string) => {
    bad++;
    errors.write(`line ${lineNo}: ${message}\n`);
  };
  try {
    for await (let line of lines) {
      if (outputError) break;
      lineNo++;
      if (lineNo === 1 && line.charCodeAt(0) === 0xfeff) line = line.slice(1); // UTF-8 byte order mark
      if (line.trim() === '') continue;
      let row: unknown;
      try {
        row = JSON.parse(line);
      } catch (err) {
        reject(`invalid JSON (${(err as Error).message})`);
        continue;
      }
      if (typeof row !== 'object' || row === null || Array.isArray(row)) {
        reject(`not a JSON object (${row === null ? 'null' : Array.isArray(row) ? 'array' : typeof row})`);
        continue;
      }
      const result = tryEventId(row);
      if (!result.ok) {
        reject(result.error.message);
        continue;
      }
      ok++;
      pending += result.eventId + '\n';
      if (pending.length >= FLUSH_AT) {
        await write(pending);
        pending = '';
      }
    }
    if (pending && !outputError) await write(pending);
  } finally {
    out.off('error', onOutputError);
    if (isEpipe(outputError)) out.on('error', () => {}); // later EPIPEs of the same closed pipe
  }
  if (outputError && !isEpipe(outputError)) throw outputError;
  return { ok, bad };
}

export function registerEventId(program: Command): void {
  program
    .command('event-id')
    .description(
      'Compute event_id v1 for rows read as JSON lines on stdin: prints one event_id per line on stdout, in ' +
        'input order. Pure: touches no database.',
    )
    .addHelpText(
      'after',
      `
Each line is one JSON object with the run_logs columns run_id, event_type, level, message and data (message
and data may be null; other columns such as id or timestamp are ignored). Blank lines are skipped.
A bad line (invalid JSON, not an object, or a row without a valid event_id) prints nothing on stdout and
"line N: <field>: <reason>" on stderr; processing continues and the exit code is 2 (otherwise 0).

event_id = UUIDv5(5dd057ff-48ed-4ea7-998f-0816c58d51ff, RFC 8785 JSON of {run_id, event_type, level,
message, data}); see packages/shared/SPEC.md.

Example:
  $ echo '{"run_id":"6f1c2b9e-3a4d-4e5f-8a7b-9c0d1e2f3a4b","event_type":"step.finished","level":"info","message":"ok","data":{"a":1,"b":"x"}}' \\
      | backfill event-id
  391c7731-843c-5dec-bb21-1d59cd2065d1

  $ psql -Atc "SELECT row_to_json(r) FROM run_logs r LIMIT 10" | backfill event-id`,
    )
    .action(async () => {
      const { bad } = await eventIdStream(process.stdin, process.stdout, process.stderr);
      if (bad > 0) process.exitCode = ExitCode.usage;
    });
}
