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
import { DuplicateEventIdError, WrongExpectedRevisionError } from '../../../domain/ports/event-store.ts';
import type { SqlClient, SqlExecutor } from '../../sql/sql-client.ts';
import { eventStoreSchemaSql } from './schema.ts';

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
 * long report elsewhere must not hold Kefu back). A running transaction whose database is not known counts.
 */
const horizonSql = `SELECT coalesce(
    (SELECT min(x) FROM pg_snapshot_xip(pg_current_snapshot()) AS x
      WHERE NOT EXISTS (
        SELECT 1 FROM pg_stat_activity a
        WHERE a.backend_xid = x::xid AND a.datname IS NOT NULL AND a.datname <> current_database())),
    pg_snapshot_xmax(pg_current_snapshot()))`;

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

/** Polls at least this often while live, to notice aborted transactions that held readers back. */
const idlePollMs = 500;

export interface PostgresEventStoreOptions {
  /** Subscriptions re-read after a wake-up; this many ms apart at most while idle. */
  idlePollMs?: number;
}

export async function migrateEventStore(sql: SqlClient): Promise<void> {
  await sql.transaction(async (tx) => {
    // Several processes may start at once against one database.
    await tx.query('SELECT pg_advisory_xact_lock(1801807221, 1)');
    await tx.script(eventStoreSchemaSql);
  });
}

/** The event store on PostgreSQL or PGlite: one implementation, the same SQL. */
export class PostgresEventStore implements EventStore {
  readonly name: string;
  private readonly sql: SqlClient;
  private readonly pollMs: number;
  private generation = 0;
  private waiters = new Set<() => void>();
  private unlisten: Promise<() => Promise<void>> | null = null;
  private readonly subscriptions = new Set<Subscription>();
  private closed = false;
  private notifying = false;
  private notifyAgain = false;

  constructor(sql: SqlClient, options: PostgresEventStoreOptions = {}) {
    this.sql = sql;
    this.name = sql.kind;
    this.pollMs = options.idlePollMs ?? idlePollMs;
  }

  async appendToStream(streamId: string, events: NewEvent[], options: { expectedRevision: ExpectedRevision }): Promise<AppendResult> {
    return this.appendWith(this.sql, streamId, events, options.expectedRevision);
  }

  /** Appends inside a transaction the caller holds (used by tests of late commits, and by multi-step writers). */
  async appendWith(db: SqlExecutor, streamId: string, events: NewEvent[], expectedRevision: ExpectedRevision): Promise<AppendResult> {
    if (events.length === 0) throw new Error('appendToStream needs at least one event');
    const payload = JSON.stringify(events.map((e) => ({ id: e.id, type: e.type, data: e.data, metadata: e.metadata })));
    for (let attempt = 0; ; attempt++) {
      try {
        const r = await db.query<{ next_revision: string | number; tx: string; last_seq: string | number }>(
          'SELECT next_revision, tx, last_seq FROM kefu_append($1, $2, $3::jsonb)',
          [streamId, String(expectedRevision), payload],
        );
        const row = r.rows[0]!;
        this.wake();
        if (db === this.sql) this.notifyOthers();
        return { nextRevision: Number(row.next_revision), position: { commit: BigInt(row.tx), prepare: BigInt(row.last_seq) } };
      } catch (err) {
        const e = err as { code?: string; detail?: string; constraint?: string };
        if (e.code === 'KF001') {
          const actual = e.detail === undefined || e.detail === '-1' || e.detail === 'created concurrently' ? 'no_stream' : Number(e.detail);
          throw new WrongExpectedRevisionError(streamId, expectedRevision, actual);
        }
        if (e.code === 'KF002') throw new DuplicateEventIdError((err as Error).message);
        // Two identical retries raced: the second sees the first's ids now and is idempotent.
        if (e.code === '23505' && e.constraint === 'kefu_events_event_id' && attempt === 0 && db === this.sql) continue;
        if (e.code === '23505' && e.constraint === 'kefu_events_stream_revision') {
          throw new WrongExpectedRevisionError(streamId, expectedRevision, 'no_stream');
        }
        throw err;
      }
    }
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
    const r = await this.sql.query<EventRow>(
      `SELECT ${columns} FROM kefu_events
       WHERE (tx_id, seq) > ($1::text::xid8, $2::bigint) AND tx_id < (${horizonSql})
       ORDER BY kefu_events.tx_id, kefu_events.seq LIMIT $3`,
      [after.commit.toString(), after.prepare.toString(), options.maxCount ?? 1000],
    );
    return r.rows.map(toRecorded);
  }

  async headPosition(): Promise<Position | null> {
    const r = await this.sql.query<{ tx: string; seq: string }>(
      `SELECT tx_id::text AS tx, seq::text AS seq FROM kefu_events
       WHERE tx_id < (${horizonSql}) ORDER BY kefu_events.tx_id DESC, kefu_events.seq DESC LIMIT 1`,
    );
    const row = r.rows[0];
    return row ? { commit: BigInt(row.tx), prepare: BigInt(row.seq) } : null;
  }

  subscribeToAll(options: SubscribeOptions): Subscription {
    const batchSize = options.batchSize ?? 500;
    let stopped = false;
    let position: Position | null = options.after ?? null;
    let caughtUp = false;
    const run = (async () => {
      this.ensureListening();
      while (!stopped) {
        const seen = this.generation;
        let batch: RecordedEvent[];
        try {
          batch = await this.readAll({ after: position, maxCount: batchSize });
        } catch (err) {
          if (stopped || this.closed) return;
          options.onError?.(err);
          await this.waitForChange(seen, 1000);
          continue;
        }
        for (const event of batch) {
          if (stopped) return;
          await options.onEvent(event);
          position = event.position;
        }
        if (batch.length < batchSize) {
          if (!caughtUp) {
            caughtUp = true;
            options.onCaughtUp?.(position);
          }
          await this.waitForChange(seen, this.pollMs);
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
    await Promise.all([...this.subscriptions].map((s) => s.stop()));
    if (this.unlisten) await (await this.unlisten)();
  }

  private ensureListening(): void {
    if (this.unlisten) return;
    this.unlisten = this.sql.listen('kefu_events', () => this.wake());
    this.unlisten.catch(() => undefined);
  }

  /**
   * Tells subscribers in other processes that events were committed. Coalesced: while one NOTIFY is on its
   * way, any number of appends share the next one. Subscribers also poll, so a lost notice only delays.
   */
  notifyOthers(): void {
    if (this.sql.kind === 'pglite') return; // one process: wake() has told everyone
    if (this.notifying) {
      this.notifyAgain = true;
      return;
    }
    this.notifying = true;
    void this.sql
      .query("SELECT pg_notify('kefu_events', '')")
      .catch(() => undefined)
      .finally(() => {
        this.notifying = false;
        if (this.notifyAgain && !this.closed) {
          this.notifyAgain = false;
          this.notifyOthers();
        }
      });
  }

  private wake(): void {
    this.generation++;
    const waiters = this.waiters;
    this.waiters = new Set();
    for (const w of waiters) w();
  }

  private waitForChange(seen: number, timeoutMs: number): Promise<void> {
    if (this.generation !== seen || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.waiters.add(done);
    });
  }
}
