// A client-side bound on a statement whose answer never comes (a partition, a black-holed network, a
// frozen server): while a statement is outstanding on a connection and nothing at all arrives on its
// socket for longer than the session's deadline, the socket is destroyed. Every query on it then fails
// with a connection error, which the batch engine treats like any lost connection (reconnect, resume
// from the last committed batch).
//
// Why not node-postgres' own `query_timeout`: it leaves the connection in use with the statement still
// running, and it routes the errors of streamed queries (pg.Query with row events) nowhere, so a failed
// batch read would hang. Destroying the socket is unambiguous: the server ends the session too (its
// transaction is rolled back), and the pool replaces the client.
//
// The deadline is the session's statement_timeout plus a margin: the server itself cancels anything
// slower, so that much silence means the answer is not coming.
import type pg from 'pg';

/** Silence beyond statement_timeout after which a statement's answer is given up on. */
export const SILENCE_MARGIN_MS = 5000;

/** Thrown into every query of a connection given up on; a connection failure (ETIMEDOUT). */
export class SessionSilentError extends Error {
  readonly code = 'ETIMEDOUT';
  constructor(ms: number) {
    super(
      `Connection terminated: no answer from PostgreSQL within ${ms} ms of sending a statement (network partition or hung server)`,
    );
    this.name = 'SessionSilentError';
  }
}

interface Watched {
  deadlineMs: number;
  outstanding: number;
  timer: NodeJS.Timeout | undefined;
  /** Bytes arrived: the silence starts again. */
  heard: () => void;
}

const watched = new WeakMap<pg.ClientBase, Watched>();

type AnyQuery = (...args: unknown[]) => unknown;

/**
 * Watches `client`: from now on, a statement outstanding with no byte received for `deadlineMs` destroys
 * the connection. Call once per client (a pool's 'connect' event); change the deadline with
 * setSilenceDeadline when the session's statement_timeout changes.
 */
export function watchSilence(client: pg.ClientBase, deadlineMs: number): void {
  if (watched.has(client)) {
    setSilenceDeadline(client, deadlineMs);
    return;
  }
  const state: Watched = { deadlineMs, outstanding: 0, timer: undefined, heard: () => {} };
  watched.set(client, state);
  const socket = (client as unknown as { connection?: { stream?: NodeJS.ReadWriteStream } }).connection
    ?.stream as (NodeJS.ReadWriteStream & { destroy(err?: Error): void }) | undefined;
  if (!socket) return;
  const arm = () => {
    clearTimeout(state.timer);
    state.timer = setTimeout(
      () => socket.destroy(new SessionSilentError(state.deadlineMs)),
      state.deadlineMs,
    );
    state.timer.unref();
  };
  const settle = () => {
    state.outstanding = Math.max(0, state.outstanding - 1);
    if (state.outstanding === 0) clearTimeout(state.timer);
  };
  state.heard = () => {
    if (state.outstanding > 0) arm();
  };
  // pg's own 'data' listener is wrapped rather than joined by a second one: pg-copy-streams (the batch
  // read) takes the socket's one listener away for a COPY and gives it back after. During a COPY it
  // reads the socket itself; its reader calls heardFrom for each chunk.
  const listeners = socket.listeners('data') as ((chunk: Buffer) => void)[];
  const pgOnData = listeners.length === 1 ? listeners[0]! : undefined;
  if (pgOnData) socket.removeListener('data', pgOnData);
  socket.on('data', (chunk: Buffer) => {
    state.heard();
    pgOnData?.(chunk);
  });
  socket.on('close', () => clearTimeout(state.timer));
  const query = client.query.bind(client) as AnyQuery;
  (client as unknown as { query: AnyQuery }).query = (...args: unknown[]) => {
    state.outstanding++;
    arm();
    const first = args[0] as { submit?: unknown; once?: (e: string, f: () => void) => void } | undefined;
    const last = args[args.length - 1];
    if (typeof last === 'function') {
      // Callback style (pg.Pool#query uses it).
      args[args.length - 1] = (...r: unknown[]) => {
        settle();
        return (last as AnyQuery)(...r);
      };
      return query(...args);
    }
    if (first && typeof first.submit === 'function' && typeof first.once === 'function') {
      // A submittable (pg.Query with row events): it ends or fails, once.
      let done = false;
      const once = () => {
        if (!done) {
          done = true;
          settle();
        }
      };
      first.once('end', once);
      first.once('error', once);
      return query(...args);
    }
    const result = query(...args) as Promise<unknown>;
    result.then(settle, settle);
    return result;
  };
}

/** Bytes of an outstanding statement arrived by another way than pg's parser (a COPY stream). */
export function heardFrom(client: pg.ClientBase): void {
  watched.get(client)?.heard();
}

/** The session's statement_timeout changed: silence is now judged against this deadline. */
export function setSilenceDeadline(client: pg.ClientBase, deadlineMs: number): void {
  const state = watched.get(client);
  if (state) state.deadlineMs = deadlineMs;
}

/** The deadline for a session whose statement_timeout is `statementTimeoutMs`. */
export const silenceDeadline = (statementTimeoutMs: number) =>
  Math.trunc(statementTimeoutMs) + SILENCE_MARGIN_MS;
