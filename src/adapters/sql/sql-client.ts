// One small SQL interface over node-postgres and PGlite, so the event store, migrations and read models
// run the same SQL on a PostgreSQL server and on the embedded PGlite.
import pg from 'pg';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setImmediate as nextTurn } from 'node:timers';
import { Worker } from 'node:worker_threads';
import type { PGlite } from '@electric-sql/pglite';
import { stageTrace } from '../../projections/stage-trace.ts';
import { lockDataDir, type DataDirLock } from './data-dir-lock.ts';
import { withBomKeepingTextDecoder } from './pglite-bom.ts';
import type { PgliteReply, PgliteRequest, WorkerError } from './pglite-worker.ts';

/**
 * `reserved`: on PostgreSQL a connection of a small pool of its own (two), for work that the requests holding the
 * shared pool wait for (the live projections' batches: issue 11), so that it never queues behind them. PGlite has
 * one connection: ignored.
 */
export interface ConnectionOptions {
  reserved?: boolean;
}

export interface SqlResult<R> {
  rows: R[];
  rowCount: number;
}

export interface SqlExecutor {
  /**
   * `name`: on PostgreSQL a prepared statement of that name (parsed once per connection, its plan cached as the
   * server decides); the same name must always come with the same text. PGlite: ignored.
   */
  query<R = Record<string, unknown>>(text: string, params?: unknown[], name?: string): Promise<SqlResult<R>>;
  /** Runs several statements with no parameters (DDL scripts). */
  script(text: string): Promise<void>;
  /**
   * PostgreSQL, a held connection (withConnection): one object per server session, the same at each checkout
   * of it (what SQL PREPAREd on it lasts with). Absent elsewhere.
   */
  readonly session?: object;
}

export interface SqlClient extends SqlExecutor {
  readonly kind: 'postgres' | 'pglite';
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  /** Holds one connection for `fn` (PGlite: the only one, so nothing else runs meanwhile). */
  withConnection<T>(fn: (conn: SqlExecutor) => Promise<T>, options?: ConnectionOptions): Promise<T>;
  /** Calls `onNotify` for each NOTIFY on `channel` (from any process). Returns an unlisten function. */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  /**
   * How many connections listen on `channel` through `listen` in this schema, this process's included
   * (PostgreSQL: each listening connection holds a shared advisory lock that names the channel). Absent where
   * it cannot be told: then a NOTIFY always goes out.
   */
  listenerCount?(channel: string): Promise<number>;
  /**
   * Runs `fn` while holding a lease named `key` (a PostgreSQL session advisory lock), so that one process
   * among many sharing the database does the work. Resolves to false at once if another holder has it.
   */
  tryLease(key: string): Promise<Lease | null>;
  /**
   * Tries several leases at once and returns those taken (PostgreSQL: one statement on the process's lease
   * connection). A process that holds none of them pays one statement per try, not a connection per key.
   */
  tryLeases?(keys: string[]): Promise<Map<string, Lease>>;
  /** The underlying pool or PGlite (null: PGlite on its worker thread). */
  readonly raw: pg.Pool | PGlite | null;
  close(): Promise<void>;
}

export interface Lease {
  release(): Promise<void>;
  /** Resolves if the lease is lost (its connection died). */
  lost: Promise<void>;
}

/** The advisory lock class of listening connections (leases use 0x6b656675, 'kefu'). */
const listenLockClass = 0x6b656676;

/**
 * A statement on a checked-out client through node-postgres's callback API. Not `await client.query(text,
 * params)`: with the promise API each statement's result (its rows) survived V8's young-generation
 * collections and was promoted to the old generation, where it piled up as garbage until a full collection
 * (test/adapters/sql-client-promotion.int.spec.ts). Kysely checks out a client per statement, so every read
 * model query paid it: 200,000 call records read 100 at a time grew the heap by 89 MiB (pool.query, which
 * calls its client back the same way: 8 MiB), and their CSV export by 139 MiB (heap) and 200 MiB (resident
 * set) over idle; through this, 31 and 44 MiB. Errors keep their code and fields; their stack ends in
 * node-postgres's socket read instead of the caller.
 */
function queryOn(client: pg.PoolClient, text: string, params?: unknown[], name?: string): Promise<pg.QueryResult> {
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, r: pg.QueryResult | pg.QueryResult[]) => (err ? reject(err) : resolve(Array.isArray(r) ? r[r.length - 1]! : r));
    if (name !== undefined) client.query({ name, text, values: params ?? [] }, done);
    // Several statements in one simple query (kysely-dialect's BEGIN with a transaction's first statement): the last one's result.
    else client.query(text, params as unknown[], done);
  });
}

// node-postgres returns int8 as string by default; the code casts positions to text where it needs exact values.
export function createPostgresClient(connectionString: string, options: { max?: number; schema?: string } = {}): SqlClient {
  const pool = new pg.Pool({
    connectionString,
    max: options.max ?? 10,
    // JIT off: Kefu's statements are short, and PostgreSQL's row estimates for set-returning functions (a
    // batch's rows as json_populate_recordset, generate_series) put small statements over jit_above_cost, so a
    // one-row upsert of the reports projection spent 150-420 ms compiling (every presence change waited for it).
    options: `-c jit=off${options.schema ? ` -c search_path=${options.schema}` : ''}`,
  });
  // An idle client that errors (server restart) must not crash the process; the pool replaces it.
  pool.on('error', () => undefined);
  let reserved: pg.Pool | null = null;
  const reservedPool = (): pg.Pool => {
    if (reserved) return reserved;
    reserved = new pg.Pool({ connectionString, max: 2, options: `-c jit=off${options.schema ? ` -c search_path=${options.schema}` : ''}` });
    reserved.on('error', () => undefined);
    return reserved;
  };
  const leases = new LeaseConnection({ connectionString, ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}) });
  return {
    kind: 'postgres',
    raw: pool,
    async query<R>(text: string, params?: unknown[]) {
      const r = await pool.query(text, params as unknown[]);
      return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
    },
    async script(text) {
      await pool.query(text);
    },
    async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const tx: SqlExecutor = {
          async query<R>(text: string, params?: unknown[]) {
            const r = await queryOn(client, text, params);
            return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
          },
          async script(text) {
            await client.query(text);
          },
        };
        const result = await fn(tx);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    },
    async withConnection(fn, options) {
      const acquireAt = stageTrace.enabled ? performance.now() : 0;
      const client = await (options?.reserved ? reservedPool() : pool).connect();
      stageTrace.since('pool.acquire', acquireAt || undefined);
      try {
        return await fn({
          session: client,
          async query<R>(text: string, params?: unknown[], name?: string) {
            const r = await queryOn(client, text, params, name);
            return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
          },
          async script(text) {
            await client.query(text);
          },
        });
      } finally {
        client.release();
      }
    },
    async listen(channel, onNotify) {
      const client = new pg.Client({ connectionString, ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}) });
      client.on('error', () => undefined);
      await client.connect();
      client.on('notification', (n) => {
        if (n.channel === channel) onNotify(n.payload ?? '');
      });
      await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      // Held as long as this connection listens: listenerCount counts these, so a notifier can tell nobody listens.
      await client.query('SELECT pg_advisory_lock_shared($1, hashtext(current_schema() || \'/\' || $2))', [listenLockClass, channel]);
      return async () => {
        await client.end().catch(() => undefined);
      };
    },
    async listenerCount(channel) {
      const r = await pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_locks
         WHERE locktype = 'advisory' AND granted AND objsubid = 2
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND classid = $1::int::oid AND objid = hashtext(current_schema() || '/' || $2)::oid`,
        [listenLockClass, channel],
      );
      return r.rows[0]?.n ?? 0;
    },
    tryLease: async (key) => (await leases.tryMany([key])).get(key) ?? null,
    tryLeases: (keys) => leases.tryMany(keys),
    async close() {
      await leases.close();
      await pool.end();
      await reserved?.end();
    },
  };
}

/**
 * The leases of one PostgreSQL client: session advisory locks all held on one kept connection, tried together
 * in one statement. A process that holds none (another process runs the projections) tried each of its twenty
 * or so keys every two seconds with a new connection of its own (a connection set-up, a statement and a
 * teardown each, forty backend starts a second from a process doing nothing); now one statement per try on
 * a connection kept open. Losing the connection loses every lease on it, as each lease's own connection did:
 * their holders restart, and the next try opens a new one. Keys held here are not tried again (an advisory
 * lock is reentrant within its session, so the server alone would grant a second taker in this process).
 */
class LeaseConnection {
  private conn: Promise<pg.Client> | null = null;
  private readonly held = new Map<string, { lost: () => void }>();
  private closed = false;
  private readonly config: pg.ClientConfig;
  /**
   * Tries and releases run one at a time: a pg client given a query while another runs queues it but warns
   * (deprecated, gone in pg 9), and two overlapping tries of one key would both be granted by the reentrant
   * session lock, so the check of what is held here and the try must not interleave.
   */
  private turn: Promise<unknown> = Promise.resolve();

  private inTurn<T>(work: () => Promise<T>): Promise<T> {
    const run = this.turn.then(work, work);
    this.turn = run.catch(() => undefined);
    return run;
  }

  constructor(config: pg.ClientConfig) {
    this.config = config;
  }

  private connect(): Promise<pg.Client> {
    if (this.conn) return this.conn;
    const client = new pg.Client(this.config);
    const opening = (async () => {
      let gone = false;
      const drop = () => {
        if (gone) return;
        gone = true;
        if (this.conn === opening) this.conn = null;
        const lost = [...this.held.values()];
        this.held.clear();
        for (const l of lost) l.lost();
        void client.end().catch(() => undefined);
      };
      client.on('error', drop);
      client.on('end', drop);
      try {
        await client.connect();
      } catch (err) {
        drop();
        throw err;
      }
      return client;
    })();
    this.conn = opening;
    return opening;
  }

  tryMany(keys: string[]): Promise<Map<string, Lease>> {
    return this.inTurn(() => this.tryManyNow(keys));
  }

  private async tryManyNow(keys: string[]): Promise<Map<string, Lease>> {
    const taken = new Map<string, Lease>();
    const wanted = [...new Set(keys)].filter((k) => !this.held.has(k));
    if (wanted.length === 0 || this.closed) return taken;
    const opening = this.connect();
    const client = await opening;
    // Advisory locks are per database: the key names the schema too, so Kefus in two schemas of one database
    // (tests, or tenants of a shared server) never take each other's leases.
    const r = await client.query<{ key: string; ok: boolean }>(
      "SELECT key, pg_try_advisory_lock($1, hashtext(current_schema() || '/' || key)) AS ok FROM unnest($2::text[]) AS key",
      [0x6b656675, wanted],
    );
    // The connection died meanwhile: whatever it took went with it.
    if (this.conn !== opening) return taken;
    for (const { key, ok } of r.rows) {
      if (!ok) continue;
      let markLost!: () => void;
      const lost = new Promise<void>((resolve) => (markLost = resolve));
      const entry = { lost: markLost };
      this.held.set(key, entry);
      taken.set(key, {
        lost,
        release: async () => {
          if (this.held.get(key) !== entry) return;
          this.held.delete(key);
          await this.inTurn(() => client.query("SELECT pg_advisory_unlock($1, hashtext(current_schema() || '/' || $2))", [0x6b656675, key])).catch(() => undefined);
        },
      });
    }
    return taken;
  }

  async close(): Promise<void> {
    this.closed = true;
    const conn = this.conn;
    if (!conn) return;
    const client = await conn.catch(() => null);
    await client?.end().catch(() => undefined);
  }
}

/**
 * PGlite on this thread (KEFU_PGLITE_WORKER=off): its queries resolve as microtasks: a change's append, its projections'
 * transactions and what follows them would run as one stretch without giving the event loop a turn (measured:
 * 20-30 ms of CPU in one loop iteration for one presence change). Before each statement, once the work since
 * the loop's last turn has gone on for this long, the statement waits for the next turn (setImmediate), so
 * requests, timers and sockets get theirs. Transactions stay whole: the connection's queue is held meanwhile.
 */
const pgliteSliceMs = 2;

/**
 * Tells whether the current run of work (since the event loop last reached its check phase) has gone on for
 * `sliceMs`, and if so yields one turn. One setImmediate per run marks its end; nothing else is spent while runs
 * are short. (A yield from the poll phase resumes in the same iteration's check phase, so timers may see up to two
 * slices between their turns.)
 */
export function timeSlicer(sliceMs: number): { yieldIfLong(): Promise<void> } {
  let runStart = -1;
  const endOfRun = () => {
    runStart = -1;
  };
  const startRun = () => {
    runStart = performance.now();
    nextTurn(endOfRun);
  };
  return {
    async yieldIfLong() {
      if (runStart < 0) return startRun();
      if (performance.now() - runStart < sliceMs) return;
      await new Promise<void>((resolve) => nextTurn(resolve));
      // endOfRun was queued first, so it has run: this is a new run.
      startRun();
    },
  };
}

/** What the PGlite client needs of PGlite, on this thread or on its worker thread. */
interface PgliteEngine {
  query<R>(text: string, params?: unknown[]): Promise<SqlResult<R>>;
  exec(text: string): Promise<void>;
  /** Calls `onNotify` for each NOTIFY on `channel`; once per channel. */
  listen(channel: string, onNotify: (payload: string) => void): Promise<void>;
  close(): Promise<void>;
  readonly raw: PGlite | null;
  /** Whether statements run on this thread, so that long runs of them must give the event loop its turns. */
  readonly inThread: boolean;
}

async function inThreadEngine(dataDir: string | null): Promise<PgliteEngine> {
  const { PGlite } = await import('@electric-sql/pglite');
  const db = await withBomKeepingTextDecoder(() => PGlite.create(dataDir ? path.join(dataDir, 'pg') : undefined));
  return {
    raw: db,
    inThread: true,
    async query<R>(text: string, params?: unknown[]) {
      const r = await db.query<R>(text, params);
      return { rows: r.rows, rowCount: r.affectedRows ?? r.rows.length };
    },
    async exec(text) {
      await db.exec(text);
    },
    async listen(channel, onNotify) {
      await db.listen(channel, onNotify);
    },
    close: () => db.close(),
  };
}

const pgliteWorkers = new WeakMap<SqlClient, Worker>();

/** The worker thread a PGlite client runs on (tests: to make it crash). */
export function pgliteWorkerOf(client: SqlClient): Worker | undefined {
  return pgliteWorkers.get(client);
}

/**
 * An error from the worker thread as the caller would have had it on this thread: a real Error with PostgreSQL's
 * fields (code, detail, constraint, ...) as own properties, and the worker's stack.
 */
function errorFromWorker(e: WorkerError): Error {
  const err = new Error(e.message);
  Object.assign(err, e.fields);
  err.name = e.name;
  if (e.stack) err.stack = `${e.stack}\n    at (the PGlite worker thread)`;
  return err;
}

/**
 * A parameter for the worker thread. Structured cloning keeps plain values, Dates, typed arrays (a Buffer arrives
 * as a Uint8Array of its bytes), bigints, plain objects and arrays as PGlite on this thread would serialize them;
 * an instance of another class would arrive as a plain object of its own fields (no toJSON, no toString), which
 * PGlite would then write differently: refused, as a statement error, rather than stored otherwise.
 */
function cloneableParam(p: unknown, i: number): unknown {
  if (typeof p !== 'object' || p === null || p instanceof Date || ArrayBuffer.isView(p) || Array.isArray(p)) return p;
  const proto: unknown = Object.getPrototypeOf(p);
  if (proto === Object.prototype || proto === null) return p;
  throw new TypeError(`SQL parameter $${i + 1} is a ${(p as object).constructor?.name ?? 'class instance'}: PGlite on its worker thread takes plain values, Dates, typed arrays, plain objects and arrays`);
}

/**
 * PGlite on a worker thread (pglite-worker.ts): its WASM execution (a kefu_append's 2-3 ms) and its synchronous
 * file writes (tens of ms on a busy disk) block that thread, not this one. Statements and rows cross by
 * structured clone (PGlite parses the types there: Dates, Uint8Arrays, JSON values arrive as such). The worker
 * keeps the process alive only while a request is pending. If it dies, every pending and later request fails
 * with the reason. Measured (load 6-11): a small statement's round trip p50 85-155 us in-thread, 173-273 us here;
 * the live bench's main-thread CPU per change 20-25 -> 13.5-19.7 ms, both threads' CPU per change unchanged.
 */
async function workerEngine(dataDir: string | null): Promise<PgliteEngine & { worker: Worker }> {
  const worker = new Worker(new URL('./pglite-worker.ts', import.meta.url), { workerData: { kefuPglite: true, dataDir } });
  worker.unref();
  const pending = new Map<number, { resolve: (r: PgliteResult) => void; reject: (err: Error) => void }>();
  const notifyHandlers = new Map<string, (payload: string) => void>();
  let nextId = 1;
  let gone: Error | null = null;
  const fail = (err: Error) => {
    if (gone) return;
    gone = err;
    const waiting = [...pending.values()];
    pending.clear();
    for (const p of waiting) p.reject(err);
  };
  worker.on('message', (m: PgliteReply) => {
    if (!('id' in m)) {
      notifyHandlers.get(m.channel)?.(m.payload);
      return;
    }
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (pending.size === 0) worker.unref();
    if (m.ok) p.resolve(m);
    else p.reject(errorFromWorker(m.error));
  });
  worker.on('error', (err) => fail(new Error(`The PGlite worker thread failed: ${err.message}`, { cause: err })));
  worker.on('exit', (code) => fail(new Error(`The PGlite worker thread exited (code ${code})`)));
  const request = (m: DistributiveOmit<PgliteRequest, 'id'>): Promise<PgliteResult> =>
    new Promise((resolve, reject) => {
      if (gone) return reject(gone);
      const id = nextId++;
      if (pending.size === 0) worker.ref();
      pending.set(id, { resolve, reject });
      try {
        worker.postMessage({ ...m, id });
      } catch (err) {
        // A parameter that cannot be cloned (a function).
        pending.delete(id);
        if (pending.size === 0) worker.unref();
        reject(err as Error);
      }
    });
  return {
    raw: null,
    inThread: false,
    worker,
    async query<R>(text: string, params?: unknown[]) {
      const r = await request({ op: 'query', text, params: params?.map(cloneableParam) });
      return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
    },
    async exec(text) {
      await request({ op: 'exec', text });
    },
    async listen(channel, onNotify) {
      notifyHandlers.set(channel, onNotify);
      await request({ op: 'listen', channel });
    },
    async close() {
      if (!gone) await request({ op: 'close' });
      await worker.terminate();
    },
  };
}

type PgliteResult = Extract<PgliteReply, { ok: true }>;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export interface PgliteOptions {
  /**
   * Runs PGlite on a worker thread (the default; KEFU_PGLITE_WORKER=off for this thread). On this thread each
   * statement blocks the event loop for its whole execution, file writes included.
   */
  worker?: boolean;
}

/**
 * PGlite is one connection in this process, on a worker thread by default. Every query and transaction takes a
 * turn through one queue on this thread, so a transaction never sees another caller's statements. A lock file keeps a second process off the data
 * directory, which PGlite itself does not do.
 */
export async function createPgliteClient(dataDir: string | null, options: PgliteOptions = {}): Promise<SqlClient> {
  let lock: DataDirLock | null = null;
  if (dataDir) {
    mkdirSync(dataDir, { recursive: true });
    lock = lockDataDir(dataDir);
  }
  let db: PgliteEngine;
  let worker: Worker | undefined;
  try {
    if (options.worker ?? true) {
      const engine = await workerEngine(dataDir);
      db = engine;
      worker = engine.worker;
    } else {
      db = await inThreadEngine(dataDir);
    }
  } catch (err) {
    lock?.release();
    throw err;
  }
  try {
    // A text value that starts with U+FEFF (a chat message, a name) must come back as stored.
    const bom = await db.query<{ t: string }>('SELECT $1::text AS t', ['\uFEFF']);
    if (bom.rows[0]?.t !== '\uFEFF') throw new Error('PGlite drops a leading U+FEFF from text values (its protocol reader strips a BOM)');
  } catch (err) {
    await db.close().catch(() => undefined);
    lock?.release();
    throw err;
  }
  const slicer = db.inThread ? timeSlicer(pgliteSliceMs) : null;
  let queue: Promise<unknown> = Promise.resolve();
  const turn = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = queue.then(fn, fn);
    queue = run.catch(() => undefined);
    return run;
  };
  const exec = async <R>(text: string, params?: unknown[]): Promise<SqlResult<R>> => {
    await slicer?.yieldIfLong();
    return db.query<R>(text, params);
  };
  const script = async (text: string): Promise<void> => {
    await slicer?.yieldIfLong();
    await db.exec(text);
  };
  const listeners = new Map<string, Set<(p: string) => void>>();
  const client: SqlClient = {
    kind: 'pglite',
    raw: db.raw,
    query: (text, params) => turn(() => exec(text, params)),
    script: (text) => turn(() => script(text)),
    transaction: (fn) =>
      turn(async () => {
        await db.exec('BEGIN');
        try {
          const result = await fn({ query: exec, script });
          await db.exec('COMMIT');
          return result;
        } catch (err) {
          await db.exec('ROLLBACK').catch(() => undefined);
          throw err;
        }
      }),
    withConnection: (fn) => turn(() => fn({ query: exec, script })),
    async listen(channel, onNotify) {
      // Only this process can write to PGlite, so NOTIFY is delivered in process by PGlite itself.
      let set = listeners.get(channel);
      if (!set) {
        set = new Set();
        listeners.set(channel, set);
        await db.listen(channel, (payload) => {
          for (const l of listeners.get(channel) ?? []) l(payload);
        });
      }
      set.add(onNotify);
      return async () => {
        set.delete(onNotify);
      };
    },
    async tryLease() {
      // One process owns the data directory, so it holds every lease.
      return { lost: new Promise<void>(() => undefined), release: async () => undefined };
    },
    async tryLeases(keys) {
      return new Map(keys.map((k) => [k, { lost: new Promise<void>(() => undefined), release: async () => undefined }]));
    },
    async close() {
      await queue.catch(() => undefined);
      await db.close();
      lock?.release();
    },
  };
  if (worker) pgliteWorkers.set(client, worker);
  return client;
}

/**
 * `sql` with every connection taken reserved (ConnectionOptions): a kysely over it runs on the reserved pool. The
 * client's own withConnection is looked up at each call, so a wrapper put on it later (a test's watcher) sees these too.
 */
export function reservedView(sql: SqlClient): SqlClient {
  const view = Object.create(sql) as SqlClient;
  view.withConnection = (fn) => sql.withConnection(fn, { reserved: true });
  return view;
}
