import { randomUUID } from 'node:crypto';
import type {
  AppendResult,
  EventStore,
  ExpectedRevision,
  NewEvent,
  Position,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
  SubscribeOptions,
  Subscription,
} from '../../../domain/ports/event-store.ts';
import { comparePositions, DuplicateEventIdError, WrongExpectedRevisionError } from '../../../domain/ports/event-store.ts';
import type { SqlClient, SqlExecutor } from '../../sql/sql-client.ts';
import { eventStoreSchemaSql, readModelTransactionName } from './schema.ts';
import { committedAt, stageTrace } from '../../../projections/stage-trace.ts';

interface EventRow {
  seq: string | number;
  tx: string;
  event_id: string;
  stream_id: string;
  revision: string | number;
  type: string;
  data: Record<string, unknown>;
  metadata: RecordedEvent['metadata'];
}

/**
 * The transaction id below which every transaction that could write events has ended: the oldest one still
 * running, leaving out those known to run in another database of the server (they cannot write here, and a
 * long report elsewhere must not hold Kefu back), and read-model transactions (see readModelTransactionName). A
 * running transaction whose database is not known counts.
 */
const horizonSql = `SELECT coalesce(
    (SELECT min(x) FROM pg_snapshot_xip(pg_current_snapshot()) AS x
      WHERE NOT EXISTS (
        SELECT 1 FROM pg_stat_activity a
        WHERE a.backend_xid = x::xid
          AND ((a.datname IS NOT NULL AND a.datname <> current_database()) OR a.application_name = '${readModelTransactionName}'))),
    pg_snapshot_xmax(pg_current_snapshot()))`;

/**
 * PGlite is one connection whose callers take turns (a transaction holds the turn to its end): no transaction
 * is ever running while a read runs, so every one below the snapshot's xmax has ended. Its planning of
 * pg_stat_activity cost a live read 1-7 ms (about 0.4 ms without it), on every change.
 */
const pgliteHorizonSql = 'SELECT pg_snapshot_xmax(pg_current_snapshot())';

const columns = 'seq::text AS seq, tx_id::text AS tx, event_id::text AS event_id, stream_id, revision, type, data, metadata';

function toRecorded(r: EventRow): RecordedEvent {
  return {
    id: r.event_id,
    streamId: r.stream_id,
    revision: Number(r.revision),
    type: r.type,
    data: r.data,
    metadata: r.metadata,
    position: { commit: BigInt(r.tx), prepare: BigInt(r.seq) },
  };
}

/**
 * A JSON value as it comes back from a jsonb column: object keys in jsonb's order (shorter first, then by their
 * UTF-8 bytes). Events handed to readers from memory (see PostgresEventStore.appended) must be the ones a read
 * would give, down to the order of their keys.
 */
export function asReadFromJsonb(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(asReadFromJsonb);
  const keys = Object.keys(value);
  sortJsonbKeys(keys);
  const out: Record<string, unknown> = {};
  for (const k of keys) out[k] = asReadFromJsonb((value as Record<string, unknown>)[k]);
  return out;
}

// eslint-disable-next-line no-control-regex
const ascii = /^[\x00-\x7f]*$/;

/**
 * Keys in jsonb's order, in place. An event's objects have a few ASCII keys (every appended event's data and
 * metadata pass here, issue 11): an insertion sort that checks each key for ASCII once, not Array.prototype.sort
 * with a comparator that tested both keys at each comparison (and a work array per object).
 */
function sortJsonbKeys(keys: string[]): void {
  if (keys.length > 24 || !keys.every((k) => ascii.test(k))) {
    keys.sort(jsonbKeyOrder);
    return;
  }
  for (let i = 1; i < keys.length; i++) {
    const k = keys[i]!;
    let j = i - 1;
    for (; j >= 0; j--) {
      const o = keys[j]!;
      if (o.length < k.length || (o.length === k.length && o < k)) break;
      keys[j + 1] = o;
    }
    keys[j + 1] = k;
  }
}

function jsonbKeyOrder(a: string, b: string): number {
  if (ascii.test(a) && ascii.test(b)) return a.length !== b.length ? a.length - b.length : a < b ? -1 : a > b ? 1 : 0;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length !== y.length ? x.length - y.length : Buffer.compare(x, y);
}

const positionKey = (p: Position | null) => (p ? `${p.commit}:${p.prepare}` : '-');
const samePosition = (a: Position | null, b: Position | null) => (a === null || b === null ? a === b : comparePositions(a, b) === 0);

/** Events of one commit of this store's and the position right before them (see PostgresEventStore.appended). */
interface Handed {
  prev: Position | null;
  events: RecordedEvent[];
}

/** What one call of the append functions wrote (one transaction), as far as handing it out goes. */
interface Written {
  /** The transaction's id. */
  tx: string;
  /** Its last event. */
  end: Position;
  /** Every event it wrote, as a read gives them; null when not known (seqs not consecutive, say). */
  events: RecordedEvent[] | null;
  /**
   * What the function saw once the events were written: the last event below the transaction then (prev) and
   * the lower transactions still running (lower); undefined when it could not tell (see schema.ts).
   */
  check: { prev: Position | null; lower: string[] } | undefined;
}

/** A commit of this store's waiting for the outcome of lower transactions that ran when it was written. */
interface PendingHand {
  written: Written & { events: RecordedEvent[]; check: NonNullable<Written['check']> };
  wakesBefore: number;
  /** This store's calls in flight when its call returned: one of them may be a lower transaction. */
  waitingFor: Set<number>;
}

function eventsJson(events: NewEvent[]): string {
  return JSON.stringify(events.map((e) => ({ id: e.id, type: e.type, data: e.data, metadata: e.metadata })));
}

/** Polls at least this often while live, to notice aborted transactions that held readers back. */
const idlePollMs = 500;

/** Handed commits kept (see PostgresEventStore.handed). */
const maxHanded = 256;

export interface PostgresEventStoreOptions {
  /** Subscriptions re-read after a wake-up; this many ms apart at most while idle. */
  idlePollMs?: number;
  /**
   * Append calls of this store in flight at once (default 2). Appends that arrive while that many are in
   * flight wait, and go together as one `kefu_append_many` call: one transaction, one commit flush for all.
   * (1 batches the most, but then one call waiting for a row lock holds up every append of the process; with 2
   * the bench measured the same rates.)
   */
  maxAppendsInFlight?: number;
  /** At most this many appends in one batched call (default 64)... */
  maxBatchAppends?: number;
  /** ...and about this many bytes of event JSON (default 1 MiB; a bigger single append goes alone). */
  maxBatchBytes?: number;
  /**
   * The NOTIFY that wakes subscribers in other processes goes out at most once per this many ms (default 5):
   * the first append after a quiet spell notifies at once, later ones share one trailing notify.
   */
  notifyIntervalMs?: number;
  /**
   * Where the SQL client can count the processes listening (SqlClient.listenerCount), this store asks at most
   * once per this many ms (default 1000) and sends no NOTIFY while it alone listens, or nobody does. A process
   * that starts listening meanwhile is told at the next check; its subscribers poll until then (idlePollMs).
   */
  listenerCheckMs?: number;
  /**
   * Send appends as named statements on the node-postgres pool (default true): parsed and planned once per
   * connection, not on every call. These go to the pool itself, past any wrapper of the SqlClient; set false
   * to send them through `sql.query` (say, to time them, or behind a pooler that cannot keep prepared statements).
   */
  namedStatements?: boolean;
  /**
   * Hand this store's own appended events to its subscribers from memory when the append function says they
   * directly follow a known position (default true; see finished). False: every subscriber reads them back.
   */
  serveOwnAppends?: boolean;
}

/** An append waiting for (or in) a batch. */
interface PendingAppend {
  streamId: string;
  expectedRevision: ExpectedRevision;
  /** The events as kefu_append takes them (a JSON array). */
  payload: string;
  /** How many events the payload holds. */
  count: number;
  firstId: string;
  /** When it was queued (performance.now(); stage timings only). */
  queuedAt: number;
  resolve: (r: AppendResult) => void;
  reject: (e: unknown) => void;
}

interface AppendRow {
  next_revision: string | number;
  tx: string;
  last_seq: string | number;
  first_seq: string | number | null;
  lower_tx: string | null;
  prev_tx: string | null;
  prev_seq: string | number | null;
}

interface AppendManyRow {
  item: number;
  status: number;
  next_revision: string | number | null;
  tx: string | null;
  last_seq: string | number | null;
  first_seq: string | number | null;
  lower_tx: string | null;
  prev_tx: string | null;
  prev_seq: string | number | null;
}

const appendSql = 'SELECT next_revision, tx, last_seq, first_seq, lower_tx, prev_tx, prev_seq FROM kefu_append($1, $2, $3::jsonb)';
const appendManySql =
  'SELECT item, status, next_revision, tx, last_seq, first_seq, lower_tx, prev_tx, prev_seq FROM kefu_append_many($1::text[], $2::text[], $3::jsonb)';

/**
 * The events an append wrote, as a read would give them: null unless the call wrote them (first_seq set) with
 * consecutive seqs (another session's draw from the sequence can land between two of them).
 */
function writtenEvents(streamId: string, payload: string, count: number, row: { next_revision: unknown; tx: unknown; last_seq: unknown; first_seq: unknown }): RecordedEvent[] | null {
  if (row.first_seq === null || row.first_seq === undefined) return null;
  const first = BigInt(row.first_seq as string);
  if (BigInt(row.last_seq as string) - first + 1n !== BigInt(count)) return null;
  const tx = BigInt(row.tx as string);
  const last = Number(row.next_revision);
  const parsed = JSON.parse(payload) as NewEvent[];
  if (parsed.length !== count) return null;
  return parsed.map((e, i) => ({
    id: e.id,
    streamId,
    revision: last - count + 1 + i,
    type: e.type,
    data: asReadFromJsonb(e.data) as RecordedEvent['data'],
    metadata: asReadFromJsonb(e.metadata) as RecordedEvent['metadata'],
    position: { commit: tx, prepare: first + BigInt(i) },
  }));
}

/** What a call's lower_tx, prev_tx and prev_seq say (see Written.check). */
function checkOf(row: { lower_tx: string | null; prev_tx: string | null; prev_seq: string | number | null }): Written['check'] {
  if (row.lower_tx === null) return undefined;
  const prev = row.prev_tx === null || row.prev_seq === null ? null : { commit: BigInt(row.prev_tx), prepare: BigInt(row.prev_seq) };
  return { prev, lower: row.lower_tx === '' ? [] : row.lower_tx.split(',') };
}

/** A named (prepared once per connection) statement, where the client is a node-postgres pool. */
interface NamedQueryPool {
  query(config: { name: string; text: string; values: unknown[] }): Promise<{ rows: unknown[] }>;
}

export async function migrateEventStore(sql: SqlClient): Promise<void> {
  await sql.transaction(async (tx) => {
    // Several processes may start at once against one database.
    await tx.query('SELECT pg_advisory_xact_lock(1801807221, 1)');
    // Readers do not wait for transactions named so (readModelTransactionName): if Kefu's own connections carried
    // the name (application_name in DATABASE_URL, or PGAPPNAME), an append's late commit could be read past.
    const { rows } = await tx.query<{ name: string }>(`SELECT current_setting('application_name') AS name`);
    if (rows[0]?.name === readModelTransactionName) {
      throw new Error(`the database connection's application_name is "${readModelTransactionName}", the name Kefu gives its read-model transactions only: choose another (DATABASE_URL's application_name, PGAPPNAME)`);
    }
    await tx.script(eventStoreSchemaSql);
  });
}

/** The event store on PostgreSQL or PGlite: one implementation, the same SQL. */
export class PostgresEventStore implements EventStore {
  readonly name: string;
  private readonly sql: SqlClient;
  private readonly pollMs: number;
  private generation = 0;
  /**
   * Subscription reads in flight, by generation, position and size. Subscribers woken by the same commit
   * mostly stand at the same position (caught up, at the head): they share one query instead of each
   * running its own. A read joins only one started in the same generation, so it never misses a commit
   * it was woken for.
   */
  private readonly sharedReads = new Map<string, { maxCount: number; read: Promise<RecordedEvent[]> }>();
  /** Reads of the current generation that came back whole (see sharedRead). */
  private wholeReads: { generation: number; after: Position | null; events: RecordedEvent[] }[] = [];
  private waiters = new Set<() => void>();
  /** The wait of the current generation for each time-out (see waitForChange). */
  private readonly sharedWaits = new Map<number, { generation: number; promise: Promise<boolean> }>();
  private unlisten: Promise<() => Promise<void>> | null = null;
  private readonly subscriptions = new Set<Subscription>();
  private closed = false;
  private notifying = false;
  private notifyAgain = false;
  private notifyTimer: ReturnType<typeof setTimeout> | null = null;
  private lastNotifyAt = -Infinity;
  private readonly notifyIntervalMs: number;
  private readonly listenerCheckMs: number;
  /** Whether another process listens, as last checked (true until checked: a notice too many costs little). */
  private othersListen = true;
  private listenersCheckedAt = -Infinity;
  private checkingListeners = false;
  /** This store's LISTEN (and its advisory lock, which listenerCount counts) is in place. */
  private listening = false;
  private readonly maxInFlight: number;
  private readonly maxBatchAppends: number;
  private readonly maxBatchBytes: number;
  private readonly queued: PendingAppend[] = [];
  private inFlight = 0;
  /** This store's name on its notices (their payload): it ignores its own, and wakes on other processes'. */
  private readonly origin = randomUUID();
  /** The pool, for named statements (PostgreSQL only; PGlite goes through `sql`). */
  private readonly namedPool: NamedQueryPool | null;
  /** See horizonSql and pgliteHorizonSql. */
  private readonly horizon: string;
  /** readAll's statement (its horizon is the store's): sent as the prepared statement kefu_read_all on PostgreSQL. */
  private readonly readAllSql: string;
  private readonly serveOwn: boolean;
  /**
   * This store's commits whose events directly follow a known position, by that position (positionKey): a
   * subscriber standing there takes them without a read. Facts that never go stale (every transaction that
   * could have written between had ended); the oldest are dropped past maxHanded.
   */
  private readonly handed = new Map<string, { events: RecordedEvent[]; end: Position }>();
  /** The last event of all handed commits. */
  private handedEnd: Position | null = null;
  /**
   * Wake-ups that handed nothing (another process's notice, an append of this store's whose events were not
   * handed, a stop): see appended.
   */
  private unexplainedWakes = 0;
  /**
   * In this generation, a subscriber standing at this position has every event there is to see: any event past
   * it wakes the store again (see appended). A read is only needed after the next wake-up, or on a poll.
   */
  private tip: { generation: number; position: Position } | null = null;
  /** The last event of each of this store's recent commits, by transaction id (see tryHand). */
  private readonly ownEnds = new Map<string, Position>();
  /** This store's append calls in flight, by number. */
  private readonly callsOut = new Set<number>();
  private calls = 0;
  private pendingHands: PendingHand[] = [];

  constructor(sql: SqlClient, options: PostgresEventStoreOptions = {}) {
    this.sql = sql;
    this.name = sql.kind;
    this.horizon = sql.kind === 'pglite' ? pgliteHorizonSql : horizonSql;
    this.readAllSql = `SELECT ${columns} FROM kefu_events
       WHERE (tx_id, seq) > ($1::text::xid8, $2::bigint) AND tx_id < (${this.horizon})
       ORDER BY kefu_events.tx_id, kefu_events.seq LIMIT $3`;
    this.pollMs = options.idlePollMs ?? idlePollMs;
    this.notifyIntervalMs = options.notifyIntervalMs ?? 5;
    this.listenerCheckMs = options.listenerCheckMs ?? 1000;
    this.maxInFlight = Math.max(1, options.maxAppendsInFlight ?? 2);
    this.maxBatchAppends = Math.max(1, options.maxBatchAppends ?? 64);
    this.maxBatchBytes = Math.max(1, options.maxBatchBytes ?? 1024 * 1024);
    const poolQuery = (sql.raw as { query?: unknown } | undefined)?.query;
    this.namedPool = sql.kind === 'postgres' && options.namedStatements !== false && typeof poolQuery === 'function' ? (sql.raw as unknown as NamedQueryPool) : null;
    this.serveOwn = options.serveOwnAppends !== false;
  }

  /**
   * Appends through the store's queue: sent at once if fewer than `maxAppendsInFlight` appends are in flight,
   * else batched with the others that wait (see kefu_append_many in schema.ts). Each append keeps its own
   * outcome: a batch neighbour's conflict never fails it.
   */
  async appendToStream(streamId: string, events: NewEvent[], options: { expectedRevision: ExpectedRevision }): Promise<AppendResult> {
    if (events.length === 0) throw new Error('appendToStream needs at least one event');
    const payload = eventsJson(events);
    return new Promise<AppendResult>((resolve, reject) => {
      this.queued.push({ streamId, expectedRevision: options.expectedRevision, payload, count: events.length, firstId: events[0]!.id, queuedAt: stageTrace.enabled ? performance.now() : 0, resolve, reject });
      this.pump();
    });
  }

  /** Appends inside a transaction the caller holds (used by tests of late commits, and by multi-step writers). */
  async appendWith(db: SqlExecutor, streamId: string, events: NewEvent[], expectedRevision: ExpectedRevision): Promise<AppendResult> {
    if (events.length === 0) throw new Error('appendToStream needs at least one event');
    const own = db === this.sql;
    const { result } = await this.appendOne(db, streamId, expectedRevision, eventsJson(events), events.length, own, false);
    if (own) this.appended(null);
    else this.wake();
    return result;
  }

  /** Sends queued appends while fewer than maxInFlight calls are out. */
  private pump(): void {
    while (this.inFlight < this.maxInFlight && this.queued.length > 0) {
      let bytes = this.queued[0]!.payload.length;
      let take = 1;
      while (take < this.queued.length && take < this.maxBatchAppends) {
        const next = this.queued[take]!.payload.length;
        if (bytes + next > this.maxBatchBytes) break;
        bytes += next;
        take++;
      }
      const batch = this.queued.splice(0, take);
      this.inFlight++;
      void this.send(batch)
        // send settles every append itself; this only catches a bug in it (settling twice is a no-op).
        .catch((err: unknown) => {
          for (const a of batch) a.reject(err);
        })
        .finally(() => {
          this.inFlight--;
          this.pump();
        });
    }
  }

  private async send(batch: PendingAppend[]): Promise<void> {
    // Wake-ups from here on may be for events above this call's, which it cannot hand out (see appended).
    const wakesBefore = this.unexplainedWakes;
    const call = ++this.calls;
    this.callsOut.add(call);
    const sentAt = stageTrace.enabled ? performance.now() : 0;
    if (stageTrace.enabled) {
      for (const a of batch) stageTrace.since('append.1.queued', a.queuedAt);
      stageTrace.add('append.batch', batch.length);
      stageTrace.add('append.inFlight', this.inFlight);
      const pool = this.sql.raw as { waitingCount?: number; idleCount?: number } | undefined;
      if (pool?.waitingCount !== undefined) stageTrace.add('pool.waiting', pool.waitingCount);
      if (pool?.idleCount !== undefined) stageTrace.add('pool.idle', pool.idleCount);
    }
    if (batch.length === 1) {
      const a = batch[0]!;
      let outcome: { result: AppendResult; written: Written | null };
      try {
        outcome = await this.appendOne(this.sql, a.streamId, a.expectedRevision, a.payload, a.count, true, this.serveOwn);
        stageTrace.since('append.2.call', sentAt);
      } catch (err) {
        a.reject(err);
        this.finished(call, 'none', wakesBefore);
        return;
      }
      a.resolve(outcome.result);
      this.finished(call, outcome.written, wakesBefore);
      return;
    }
    // Stream order (stable: one stream's appends keep their order), so that batches in flight at once, here
    // or in other processes, lock stream rows in one order and cannot deadlock each other.
    const items = batch.map((a, i) => ({ a, i })).sort((x, y) => (x.a.streamId < y.a.streamId ? -1 : x.a.streamId > y.a.streamId ? 1 : x.i - y.i)).map((x) => x.a);
    let rows: AppendManyRow[];
    try {
      rows = await this.run<AppendManyRow>(this.sql, 'kefu_append_many', appendManySql, [
        items.map((a) => a.streamId),
        items.map((a) => String(a.expectedRevision)),
        `[${items.map((a) => a.payload).join(',')}]`,
      ]);
      stageTrace.since('append.2.call', sentAt);
    } catch (err) {
      if (typeof (err as { code?: unknown }).code !== 'string') {
        // No answer from the server (a lost connection): whether the batch committed is unknown, as it is
        // for a single append. The caller's retry with the same event ids is idempotent.
        for (const a of items) a.reject(err);
        this.finished(call, 'none', wakesBefore);
        return;
      }
      // The server refused the whole call and rolled it back (one append's later event id used elsewhere, a
      // deadlock with another writer, ...): nothing was written. Each append goes again on its own, in order,
      // and gets the outcome it would have had alone.
      let any = false;
      for (const a of items) {
        try {
          a.resolve((await this.appendOne(this.sql, a.streamId, a.expectedRevision, a.payload, a.count, true, false)).result);
          any = true;
        } catch (e) {
          a.reject(e);
        }
      }
      this.finished(call, any ? null : 'none', wakesBefore);
      return;
    }
    let any = false;
    const answered = new Set<number>();
    // The events this call wrote (one transaction), to hand out if every append that wrote gave them.
    let written: RecordedEvent[] | null = this.serveOwn ? [] : null;
    let tx: string | null = null;
    let end: Position | null = null;
    let check: Written['check'];
    for (const row of rows) {
      if (row.item === -1) {
        check = checkOf(row);
        continue;
      }
      const a = items[row.item]!;
      answered.add(row.item);
      if (row.status === 0) {
        any = true;
        const position = { commit: BigInt(row.tx!), prepare: BigInt(row.last_seq!) };
        a.resolve({ nextRevision: Number(row.next_revision), position });
        if (row.first_seq !== null) {
          if (tx !== null && tx !== row.tx) written = null;
          tx = row.tx;
          if (!end || comparePositions(position, end) > 0) end = position;
          const events = written ? writtenEvents(a.streamId, a.payload, a.count, row) : null;
          written = events && written ? written.concat(events) : null;
        }
      } else if (row.status === 1) {
        const actual = Number(row.next_revision);
        a.reject(new WrongExpectedRevisionError(a.streamId, a.expectedRevision, actual < 0 ? 'no_stream' : actual));
      } else {
        a.reject(new DuplicateEventIdError(`event id ${a.firstId} was already appended elsewhere`));
      }
    }
    items.forEach((a, i) => {
      if (!answered.has(i)) a.reject(new Error(`kefu_append_many returned no result for append ${i}`));
    });
    if (written) {
      // One transaction: its events in seq order, each after the one before.
      const w = written.sort((x, y) => comparePositions(x.position, y.position));
      if (w.some((e, i) => i > 0 && comparePositions(w[i - 1]!.position, e.position) >= 0)) written = null;
    }
    this.finished(call, tx !== null && end ? { tx, end, events: written, check } : any ? null : 'none', wakesBefore);
  }

  /**
   * One append with kefu_append; `retryRace`: an identical append racing this one is waited out once.
   * `describe`: also what it wrote (null: nothing, an earlier identical append's retry; or not asked).
   */
  private async appendOne(
    db: SqlExecutor,
    streamId: string,
    expectedRevision: ExpectedRevision,
    payload: string,
    count: number,
    retryRace: boolean,
    describe: boolean,
  ): Promise<{ result: AppendResult; written: Written | null }> {
    for (let attempt = 0; ; attempt++) {
      try {
        const row = (await this.run<AppendRow>(db, 'kefu_append', appendSql, [streamId, String(expectedRevision), payload]))[0]!;
        const result = { nextRevision: Number(row.next_revision), position: { commit: BigInt(row.tx), prepare: BigInt(row.last_seq) } };
        if (!describe || row.first_seq === null) return { result, written: null };
        return { result, written: { tx: row.tx, end: result.position, events: writtenEvents(streamId, payload, count, row), check: checkOf(row) } };
      } catch (err) {
        const e = err as { code?: string; detail?: string; constraint?: string };
        if (e.code === 'KF001') {
          const actual = e.detail === undefined || e.detail === '-1' || e.detail === 'created concurrently' ? 'no_stream' : Number(e.detail);
          throw new WrongExpectedRevisionError(streamId, expectedRevision, actual);
        }
        if (e.code === 'KF002') throw new DuplicateEventIdError((err as Error).message);
        // Two identical retries raced: the second sees the first's ids now and is idempotent.
        if (e.code === '23505' && e.constraint === 'kefu_events_event_id' && attempt === 0 && retryRace) continue;
        if (e.code === '23505' && e.constraint === 'kefu_events_stream_revision') {
          throw new WrongExpectedRevisionError(streamId, expectedRevision, 'no_stream');
        }
        throw err;
      }
    }
  }

  /** Runs a statement of the store (appends, readAll): named (parsed and planned once per connection) on its own pool. */
  private async run<R>(db: SqlExecutor, name: string, text: string, values: unknown[]): Promise<R[]> {
    if (db === this.sql && this.namedPool) return (await this.namedPool.query({ name, text, values })).rows as R[];
    return (await db.query<R>(text, values)).rows;
  }

  /**
   * After a commit of the store's own: wake subscribers here and in other processes. `handed`: the commit's
   * events directly follow `prev` in the global order (see finished: nothing can ever commit between), so a
   * subscriber standing at prev takes them from memory (sharedRead). And when no wake-up handed nothing since
   * this call was sent (`wakesBefore`), a subscriber that reached the last of them (or of the handed commits
   * that follow on) has seen every event there is in this generation (the tip): an event above it is a commit
   * that got its transaction id after this call was sent, of this store's (it wakes the store when its call
   * returns) or of another process's (whose notice comes after its commit, so after this call was sent, and not
   * before this wake-up, as no unexplained wake came since), and each wakes the store again, so subscribers read
   * then. Correctness never rests on timing: a notice that came in meanwhile only costs the read this saves.
   */
  private appended(handed: Handed | null, wakesBefore = -1): void {
    if (!handed || !this.serveOwn) {
      this.wake();
      this.notifyOthers();
      return;
    }
    const end = handed.events[handed.events.length - 1]!.position;
    stageTrace.since('append.3.handed', committedAt.get(handed.events[0]!));
    this.handed.set(positionKey(handed.prev), { events: handed.events, end });
    if (this.handed.size > maxHanded) this.handed.delete(this.handed.keys().next().value!);
    if (!this.handedEnd || comparePositions(end, this.handedEnd) > 0) this.handedEnd = end;
    this.wake(true);
    if (this.unexplainedWakes === wakesBefore) {
      let at = end;
      for (let next = this.handed.get(positionKey(at)); next; next = this.handed.get(positionKey(at))) at = next.end;
      // A handed commit past the chain (an event of another process's between) woke the store already: read.
      if (comparePositions(at, this.handedEnd) >= 0) this.tip = { generation: this.generation, position: at };
    }
    this.notifyOthers();
  }

  /**
   * A call of this store's returned: what it wrote (null: something not described, or nothing new; 'none': it
   * failed). Its events are handed out when every lower transaction that ran when they were written is known:
   * a commit of this store's whose last event is known (ownEnds). The events right before them are then the
   * last of those or the last the function saw committed below, whichever is later: every other lower
   * transaction had ended, and these committed all they wrote. A lower transaction not yet known may be one of
   * this store's calls still in flight: the commit waits for them (its readers could not read it before they
   * end anyway), and wakes its subscribers without handing if none of them was it.
   */
  private finished(call: number, written: Written | null | 'none', wakesBefore: number): void {
    this.callsOut.delete(call);
    if (stageTrace.enabled && written && written !== 'none' && written.events) {
      const now = performance.now();
      for (const e of written.events) committedAt.set(e, now);
    }
    if (written === null) this.appended(null);
    else if (written !== 'none') {
      this.ownEnds.set(written.tx, written.end);
      if (this.ownEnds.size > maxHanded) this.ownEnds.delete(this.ownEnds.keys().next().value!);
      const { events, check } = written;
      if (this.serveOwn && events && check) {
        const pending: PendingHand = { written: { ...written, events, check }, wakesBefore, waitingFor: new Set(this.callsOut) };
        if (!this.tryHand(pending)) {
          if (pending.waitingFor.size > 0) this.pendingHands.push(pending);
          else this.appended(null);
        }
      } else this.appended(null);
    }
    if (this.pendingHands.length === 0) return;
    const still: PendingHand[] = [];
    for (const p of this.pendingHands) {
      p.waitingFor.delete(call);
      if (this.tryHand(p)) continue;
      if (p.waitingFor.size === 0) this.appended(null);
      else still.push(p);
    }
    this.pendingHands = still;
  }

  /** Hands out a commit whose lower transactions are all known (see finished); false if one is not. */
  private tryHand(p: PendingHand): boolean {
    let prev = p.written.check.prev;
    for (const tx of p.written.check.lower) {
      const end = this.ownEnds.get(tx);
      if (!end) return false;
      if (prev === null || comparePositions(end, prev) > 0) prev = end;
    }
    this.appended({ prev, events: p.written.events }, p.wakesBefore);
    return true;
  }

  /** The handed events that follow `after`, commit after commit (at most about maxCount), and where they end. */
  private handedAfter(after: Position | null, maxCount: number): { events: RecordedEvent[]; end: Position } | null {
    let next = this.handed.get(positionKey(after));
    if (!next) return null;
    let events = next.events;
    let end = next.end;
    while (events.length < maxCount && (next = this.handed.get(positionKey(end)))) {
      events = events.concat(next.events);
      end = next.end;
    }
    return { events, end };
  }

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    const backwards = options.direction === 'backwards';
    const params: unknown[] = [streamId];
    let where = 'stream_id = $1';
    if (options.fromRevision !== undefined) {
      params.push(options.fromRevision);
      where += backwards ? ' AND revision <= $2' : ' AND revision >= $2';
    }
    let limit = '';
    if (options.maxCount !== undefined) {
      params.push(options.maxCount);
      limit = ` LIMIT $${params.length}`;
    }
    const r = await this.sql.query<EventRow>(
      `SELECT ${columns} FROM kefu_events WHERE ${where} ORDER BY kefu_events.revision ${backwards ? 'DESC' : 'ASC'}${limit}`,
      params,
    );
    return r.rows.map(toRecorded);
  }

  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    const after = options.after ?? { commit: 0n, prepare: 0n };
    // Named (one text per store, every value a parameter): the horizon's pg_stat_activity made PostgreSQL's parse
    // and plan of it about a third of the statement's CPU (one backend: 630-830 -> 410-450 us), at every
    // subscriber's read under a chat load.
    const rows = await this.run<EventRow>(this.sql, 'kefu_read_all', this.readAllSql, [after.commit.toString(), after.prepare.toString(), options.maxCount ?? 1000]);
    return rows.map(toRecorded);
  }

  /**
   * readAll for subscriptions, shared by those asking in the same generation (see sharedReads): the same
   * position and size (or the first events of a larger read from the same position), or a later position than a read of this generation that came back whole (fewer events
   * than it asked for: every event past its start that it could see), whose events past the position it takes
   * when there are some.
   */
  private async sharedRead(generation: number, after: Position | null, maxCount: number, poll: boolean): Promise<{ events: RecordedEvent[]; whole: boolean }> {
    const known = poll ? null : this.readFromMemory(generation, after, maxCount);
    if (known) return known;
    const events = await this.sharedReadStored(generation, after, maxCount);
    return { events, whole: events.length < maxCount };
  }

  /**
   * sharedRead from memory: this store's handed commits, and "nothing past the tip" (see appended); null when
   * the database must be read. Synchronous, so that a subscriber takes a commit it was handed without a promise.
   */
  private readFromMemory(generation: number, after: Position | null, maxCount: number): { events: RecordedEvent[]; whole: boolean } | null {
    const tip = this.tip && this.tip.generation === generation ? this.tip.position : null;
    const handed = this.handedAfter(after, maxCount);
    if (handed) {
      const events = handed.events.length > maxCount ? handed.events.slice(0, maxCount) : handed.events;
      return { events, whole: events.length < maxCount && tip !== null && samePosition(tip, handed.end) };
    }
    if (tip && samePosition(tip, after)) return { events: [], whole: true };
    return null;
  }

  private async sharedReadStored(generation: number, after: Position | null, maxCount: number): Promise<RecordedEvent[]> {
    const from = `${generation}/${after ? `${after.commit}:${after.prepare}` : '-'}`;
    const key = `${from}/${maxCount}`;
    const same = this.sharedReads.get(key);
    if (same) return same.read;
    // A larger read from the same position in flight (projections read 5,000 at a time, the router 500): its
    // first maxCount events are what this read would get, so the commit costs one query, not one per size.
    for (const [k, r] of this.sharedReads) {
      if (r.maxCount > maxCount && k.startsWith(from) && k.length > from.length && k[from.length] === '/') {
        const events = await r.read;
        return events.length > maxCount ? events.slice(0, maxCount) : events;
      }
    }
    if (after) {
      const whole = this.wholeReads.find((r) => r.generation === generation && (r.after === null || comparePositions(r.after, after) <= 0));
      // Only events: "nothing past yours" is always asked of the database (the read may be older than what the
      // asker saw, and a poll must look again).
      const past = whole ? whole.events.filter((e) => comparePositions(e.position, after) > 0) : [];
      if (past.length > 0) return past.length > maxCount ? past.slice(0, maxCount) : past;
    }
    const read = this.readAll({ after, maxCount });
    this.sharedReads.set(key, { maxCount, read });
    const forget = () => this.sharedReads.delete(key);
    read.then(forget, forget);
    const events = await read;
    if (events.length > 0 && events.length < maxCount) {
      // Kept for this generation only: a later one drops it.
      if (this.wholeReads.length > 0 && this.wholeReads[0]!.generation !== generation) this.wholeReads = [];
      if (this.generation === generation) this.wholeReads.push({ generation, after, events });
    }
    return events;
  }

  async headPosition(): Promise<Position | null> {
    const r = await this.sql.query<{ tx: string; seq: string }>(
      `SELECT tx_id::text AS tx, seq::text AS seq FROM kefu_events
       WHERE tx_id < (${this.horizon}) ORDER BY kefu_events.tx_id DESC, kefu_events.seq DESC LIMIT 1`,
    );
    const row = r.rows[0];
    return row ? { commit: BigInt(row.tx), prepare: BigInt(row.seq) } : null;
  }

  subscribeToAll(options: SubscribeOptions): Subscription {
    const batchSize = options.batchSize ?? 500;
    let stopped = false;
    let position: Position | null = options.after ?? null;
    let caughtUp = false;
    // After a wait that timed out: read the database (a poll), whatever memory says.
    let poll = false;
    const run = (async () => {
      this.ensureListening();
      while (!stopped) {
        const seen = this.generation;
        let batch: RecordedEvent[];
        let whole: boolean;
        try {
          const known = poll ? null : this.readFromMemory(seen, position, batchSize);
          ({ events: batch, whole } = known ?? (await this.sharedRead(seen, position, batchSize, poll)));
        } catch (err) {
          if (stopped || this.closed) return;
          options.onError?.(err);
          await this.waitForChange(seen, 1000);
          continue;
        }
        poll = false;
        // Indexed: an iterator held across the awaits below would be an object per event.
        for (let i = 0; i < batch.length; i++) {
          const event = batch[i]!;
          if (stopped) return;
          // Awaited only when the subscriber returns a promise: every event goes to each of a process's ~18
          // subscribers, and an await of nothing cost a promise and a microtask each time (issue 11: ~5 % of
          // what a chat message allocates, and so of how often the young generation is scavenged).
          const taking = options.onEvent(event);
          if (taking) await taking;
          position = event.position;
        }
        if (whole) {
          if (!caughtUp) {
            caughtUp = true;
            options.onCaughtUp?.(position);
          }
          poll = !(await this.waitForChange(seen, this.pollMs));
        }
      }
    })().catch((err: unknown) => {
      stopped = true;
      options.onError?.(err);
    });
    const subscription: Subscription = {
      stop: async () => {
        stopped = true;
        this.wake();
        this.subscriptions.delete(subscription);
        await run;
      },
    };
    this.subscriptions.add(subscription);
    return subscription;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.notifyTimer) {
      clearTimeout(this.notifyTimer);
      this.notifyTimer = null;
    }
    await Promise.all([...this.subscriptions].map((s) => s.stop()));
    if (this.unlisten) await (await this.unlisten)();
  }

  private ensureListening(): void {
    if (this.unlisten) return;
    // A notice this store sent comes back to it too: its appends woke its subscribers already (appended()).
    this.unlisten = this.sql.listen('kefu_events', (payload) => {
      if (payload !== this.origin) this.wake();
    });
    this.unlisten.then(
      () => {
        this.listening = true;
      },
      () => undefined,
    );
  }

  /**
   * Tells subscribers in other processes that events were committed. Coalesced: at most one NOTIFY is on its
   * way, and at most one starts per `notifyIntervalMs`; appends meanwhile share the next one (sent when the
   * interval is over, so none is lost). Subscribers also poll, so a lost notice only delays.
   */
  notifyOthers(): void {
    if (this.sql.kind === 'pglite' || this.closed) return; // PGlite: one process, wake() has told everyone
    if (!this.othersMayListen()) return;
    if (this.notifying || this.notifyTimer) {
      this.notifyAgain = true;
      return;
    }
    const wait = this.lastNotifyAt + this.notifyIntervalMs - performance.now();
    if (wait > 0) {
      this.notifyTimer = setTimeout(() => {
        this.notifyTimer = null;
        this.notifyAgain = false;
        this.notifyOthers();
      }, wait);
      return;
    }
    this.notifying = true;
    this.lastNotifyAt = performance.now();
    void this.sql
      .query("SELECT pg_notify('kefu_events', $1)", [this.origin])
      .catch(() => undefined)
      .finally(() => {
        this.notifying = false;
        if (this.notifyAgain && !this.closed) {
          this.notifyAgain = false;
          this.notifyOthers();
        }
      });
  }

  /**
   * Whether a NOTIFY may have a listener in another process: as last counted (listenerCount), counted again in
   * the background once the last count is `listenerCheckMs` old. Counts this store's own listening connection
   * out only if it was in place before the count began; when unsure, others listen.
   */
  private othersMayListen(): boolean {
    const count = this.sql.listenerCount?.bind(this.sql);
    if (!count) return true;
    if (!this.checkingListeners && performance.now() - this.listenersCheckedAt >= this.listenerCheckMs) {
      this.checkingListeners = true;
      const own = this.listening ? 1 : 0;
      void count('kefu_events')
        .then(
          (n) => {
            this.othersListen = n > own;
          },
          () => {
            this.othersListen = true;
          },
        )
        .finally(() => {
          this.listenersCheckedAt = performance.now();
          this.checkingListeners = false;
        });
    }
    return this.othersListen;
  }

  /** `explained`: by events handed from memory (see appended). */
  private wake(explained = false): void {
    this.generation++;
    if (!explained) this.unexplainedWakes++;
    this.wholeReads = [];
    const waiters = this.waiters;
    this.waiters = new Set();
    for (const w of waiters) w();
  }

  /**
   * Resolves true on a wake-up (or when closed), false when `timeoutMs` passed without one.
   * One wait per generation and time-out, shared by every subscriber that waits in it (a process's ~18, each
   * after each commit: a promise, two closures and a timer each before, issue 11). A subscriber that joins a
   * wait late may time out (poll the database) up to timeoutMs early: polls only back up wake-ups.
   */
  private waitForChange(seen: number, timeoutMs: number): Promise<boolean> {
    if (this.generation !== seen || this.closed) return Promise.resolve(true);
    const shared = this.sharedWaits.get(timeoutMs);
    if (shared !== undefined && shared.generation === seen) return shared.promise;
    const wait = {
      generation: seen,
      promise: new Promise<boolean>((resolve) => {
        const done = (woken: boolean) => {
          clearTimeout(timer);
          this.waiters.delete(wake);
          if (this.sharedWaits.get(timeoutMs) === wait) this.sharedWaits.delete(timeoutMs);
          resolve(woken);
        };
        const wake = () => done(true);
        const timer = setTimeout(() => done(false), timeoutMs);
        this.waiters.add(wake);
      }),
    };
    this.sharedWaits.set(timeoutMs, wait);
    return wait.promise;
  }
}
