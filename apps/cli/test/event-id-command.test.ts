// `backfill event-id`, run as the operator runs it: the compiled CLI in a child process, rows on stdin.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { eventId } from '@backfill/shared/event-id';
import { describe, expect, it } from 'vitest';
import { eventIdStream } from '../src/commands/event-id.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const bin = fileURLToPath(new URL('../bin/backfill.js', import.meta.url));

const vectors = JSON.parse(
  readFileSync(new URL('../../../packages/shared/test/golden-vectors.json', import.meta.url), 'utf8'),
) as { name: string; input: Record<string, unknown>; event_id: string }[];

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function backfill(stdin: string, ...args: string[]): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, 'event-id', ...args], {
      cwd: repo,
      env: { ...process.env, LOG_LEVEL: 'silent' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      stdout += s;
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.on('error', () => {}); // the child may exit (e.g. --help) before reading everything
    child.stdin.end(stdin);
  });
}

const lines = (s: string) => s.split('\n').filter((l) => l !== '');

const row = (overrides: Record<string, unknown> = {}) =>
  JSON.stringify({
    id: 1,
    timestamp: '2024-05-01T12:00:00Z',
    run_id: '6f1c2b9e-3a4d-4e5f-8a7b-9c0d1e2f3a4b',
    event_type: 'step.finished',
    level: 'info',
    message: 'ok',
    data: { a: 1, b: 'x' },
    ...overrides,
  });
const SIMPLE_ID = '391c7731-843c-5dec-bb21-1d59cd2065d1'; // golden vector "simple object data"

describe('backfill event-id', () => {
  it('prints the golden event_ids, one per line, in input order, and exits 0', async () => {
    const input = vectors.map((v) => JSON.stringify(v.input)).join('\n') + '\n';
    const res = await backfill(input);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(lines(res.stdout)).toEqual(vectors.map((v) => v.event_id));
  });

  it('reports bad lines on stderr with line number and field, skips blank lines, continues, exits 2', async () => {
    const input = [
      row(), // 1
      '', // 2 blank
      row({ run_id: 'nope' }), // 3
      '{"run_id": ', // 4
      '   ', // 5 blank
      '[1,2]', // 6
      row().replace('"a":1', '"a":[1,{"b":1e400}]'), // 7: 1e400 parses to Infinity
      row({ event_type: 5 }), // 8
      row({ message: null, data: null }), // 9
      '42', // 10
      row({ level: undefined }), // 11: JSON.stringify drops it -> missing
      row(), // 12
    ].join('\n');
    const res = await backfill(input);
    expect(res.code).toBe(2);
    expect(lines(res.stdout)).toEqual([
      SIMPLE_ID,
      eventId(JSON.parse(row({ message: null, data: null }))),
      SIMPLE_ID,
    ]);
    const errors = lines(res.stderr);
    expect(errors).toHaveLength(7);
    expect(errors[0]).toBe('line 3: run_id: not a UUID ("nope")');
    expect(errors[1]).toMatch(/^line 4: invalid JSON \(/);
    expect(errors[2]).toBe('line 6: not a JSON object (array)');
    expect(errors[3]).toBe('line 7: data.a[1].b: not a finite number (Infinity)');
    expect(errors[4]).toBe('line 8: event_type: not a string (number)');
    expect(errors[5]).toBe('line 10: not a JSON object (number)');
    expect(errors[6]).toMatch(/^line 11: level: missing/);
  });

  it('accepts CRLF line endings, a byte order mark and no final newline; empty input exits 0', async () => {
    const res = await backfill(
      `\ufeff${row()}\r\n\r\n${row({ run_id: '6F1C2B9E-3A4D-4E5F-8A7B-9C0D1E2F3A4B' })}`,
    );
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toBe(`${SIMPLE_ID}\n${SIMPLE_ID}\n`);

    const empty = await backfill('');
    expect(empty).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  it('streams a large input and keeps the order', async () => {
    const count = 60_000;
    const rows: string[] = [];
    for (let i = 0; i < count; i++) {
      rows.push(
        row({
          id: i,
          message: i % 7 === 0 ? null : `message ${i} ✓`,
          data: { i, nested: { list: [i, i / 3, `s${i}`], flag: i % 2 === 0 }, emoji: '😀' },
        }),
      );
    }
    const res = await backfill(rows.join('\n') + '\n');
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const out = lines(res.stdout);
    expect(out).toHaveLength(count);
    for (const i of [0, 1, 7, 12_345, 59_999]) expect(out[i]).toBe(eventId(JSON.parse(rows[i]!)));
    expect(new Set(out).size).toBe(count);
  });

  it('stops quietly with exit code 0 when stdout is closed early (| head)', async () => {
    const input = Array.from({ length: 100_000 }, (_, i) => row({ id: i, data: { i } })).join('\n');
    const res = await new Promise<Result & { first: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [bin, 'event-id'], { cwd: repo });
      let first = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (s: string) => {
        if (!first) {
          first = s.split('\n')[0]!;
          child.stdout.destroy(); // like `head -1` exiting
        }
      });
      child.stderr.setEncoding('utf8').on('data', (s: string) => {
        stderr += s;
      });
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout: '', stderr, first }));
      child.stdin.on('error', () => {});
      child.stdin.end(input);
    });
    expect(res.first).toBe(eventId(JSON.parse(row({ id: 0, data: { i: 0 } }))));
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
  });

  it('has a --help with an example', async () => {
    const res = await backfill('', '--help');
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/Usage: backfill event-id/);
    expect(res.stdout).toMatch(/Example:/);
    expect(res.stdout).toMatch(/line N: <field>: <reason>/);
  });
});

describe('eventIdStream (in process)', () => {
  it('honours backpressure of a slow output and keeps every line in order', async () => {
    const input = Array.from({ length: 20_000 }, (_, i) => row({ data: { i } }));
    const chunks: string[] = [];
    const slow = new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _enc, done) {
        chunks.push(chunk.toString());
        setImmediate(done);
      },
    });
    const errors: string[] = [];
    const errorSink = new Writable({
      write(chunk: Buffer, _enc, done) {
        errors.push(chunk.toString());
        done();
      },
    });
    const summary = await eventIdStream(Readable.from([`${input.join('\n')}\nnot json\n`]), slow, errorSink);
    expect(summary).toEqual({ ok: 20_000, bad: 1 });
    const out = lines(chunks.join(''));
    expect(out).toHaveLength(20_000);
    expect(out[19_999]).toBe(eventId(JSON.parse(input[19_999]!)));
    expect(errors.join('')).toMatch(/^line 20001: invalid JSON/);
  });
});
