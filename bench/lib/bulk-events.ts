// Bulk loading of a generated event log into the PostgreSQL event store (bench seeds: millions of events in
// minutes). Rows go in as the store lays them out (schema.ts): `kefu_events` rows with their stream's
// revisions, a transaction per batch (one tx_id, seq in the batch's order: a projection reads them in that
// order), and one `kefu_streams` row per stream holding its last revision, so Kefu appends after them as
// after its own. A batch is one COPY … FROM STDIN (text format); the next batch is built while the last one
// is written. Into an empty `kefu_events` the table's constraints (primary key, unique event id, unique
// stream revision) are dropped first and made again at the end from their own definitions: one sorted index
// build each instead of millions of random B-tree inserts (the event id index is a random uuid's).
import pg from 'pg';
import type { SqlClient } from '../../src/adapters/sql/sql-client.ts';

/** One event as `kefu_events` holds it. */
export interface EventRow {
  id: string;
  streamId: string;
  revision: number;
  type: string;
  data: object;
  metadata: object;
}

// COPY in the text format (tab-separated columns, one row a line). Rows of one COPY take their seq in line order.
// On a loaded 2-CPU machine about 1.7 times as fast as INSERT … SELECT FROM jsonb_array_elements of the batch,
// which was twice as fast as unnest() of six arrays (PostgreSQL parses array literals slowly).
const copySql = 'COPY kefu_events (event_id, stream_id, revision, type, data, metadata) FROM STDIN';

/** A value as a COPY text field: JSON text never holds a raw tab or line end (JSON escapes them), only backslashes to double. */
const field = (s: string) => (s.includes('\\') ? s.replaceAll('\\', '\\\\') : s);

/** node-postgres's Query, sending `data` when the server asks for the COPY's rows. */
const Query = (pg as unknown as { Query: new (text: string) => { on(event: 'end' | 'error', f: (x: unknown) => void): void } }).Query;
class CopyIn extends Query {
  private readonly data: Buffer;
  constructor(text: string, data: Buffer) {
    super(text);
    this.data = data;
  }
  handleCopyInResponse(connection: { sendCopyFromChunk(chunk: Buffer): void; endCopyFrom(): void }): void {
    connection.sendCopyFromChunk(this.data);
    connection.endCopyFrom();
  }
}

function copyIn(client: pg.PoolClient, data: Buffer): Promise<void> {
  const query = new CopyIn(copySql, data);
  return new Promise((resolve, reject) => {
    query.on('end', () => resolve());
    query.on('error', reject);
    (client as unknown as { query(q: object): void }).query(query);
  });
}

export class BulkEventWriter {
  private readonly sql: SqlClient;
  private readonly batchSize: number;
  private buffer: EventRow[] = [];
  private writing: Promise<void> = Promise.resolve();
  /** Constraints dropped for the load (name, definition), made again by finish(). */
  private dropped: { name: string; definition: string }[] = [];
  written = 0;

  private readonly pool: pg.Pool;

  /** `sql`: a PostgreSQL client (COPY goes through its node-postgres pool). */
  constructor(sql: SqlClient, options: { batchSize?: number } = {}) {
    if (sql.kind !== 'postgres') throw new Error('BulkEventWriter writes to PostgreSQL only');
    this.sql = sql;
    this.pool = sql.raw as pg.Pool;
    this.batchSize = Math.max(1, options.batchSize ?? 20_000);
  }

  /** Drops the event table's constraints when it is empty (see the file's comment). */
  async start(): Promise<void> {
    const empty = await this.sql.query<{ empty: boolean }>('SELECT NOT EXISTS (SELECT 1 FROM kefu_events) AS empty');
    if (!empty.rows[0]!.empty) return;
    const constraints = await this.sql.query<{ name: string; definition: string }>(
      `SELECT conname AS name, pg_get_constraintdef(oid) AS definition FROM pg_constraint WHERE conrelid = 'kefu_events'::regclass AND contype IN ('p', 'u') ORDER BY contype, conname`,
    );
    this.dropped = constraints.rows;
    for (const c of this.dropped) await this.sql.query(`ALTER TABLE kefu_events DROP CONSTRAINT ${quoteIdent(c.name)}`);
  }

  /** Adds rows (in the order they are to be read); a full batch is written (after the one before). */
  async add(rows: EventRow[]): Promise<void> {
    for (const r of rows) this.buffer.push(r);
    while (this.buffer.length >= this.batchSize) await this.send(this.buffer.splice(0, this.batchSize));
  }

  /** Writes what is left, makes the constraints again and the streams' rows; returns the events written. */
  async finish(log: (m: string) => void = () => undefined): Promise<number> {
    if (this.buffer.length > 0) await this.send(this.buffer.splice(0));
    await this.writing;
    const t0 = performance.now();
    // One session with room to sort in memory (the defaults, 64 MB and 4 MB, sort millions of rows on disk).
    const client = await this.pool.connect();
    try {
      await client.query(`SET maintenance_work_mem = '256MB'`);
      await client.query(`SET work_mem = '256MB'`);
      for (const c of this.dropped) await client.query(`ALTER TABLE kefu_events ADD CONSTRAINT ${quoteIdent(c.name)} ${c.definition}`);
      this.dropped = [];
      await client.query(
        `INSERT INTO kefu_streams (stream_id, revision) SELECT stream_id, max(revision) FROM kefu_events GROUP BY stream_id
         ON CONFLICT (stream_id) DO UPDATE SET revision = greatest(kefu_streams.revision, excluded.revision)`,
      );
      await client.query('ANALYZE kefu_events');
      await client.query('ANALYZE kefu_streams');
    } finally {
      await client.query('RESET maintenance_work_mem; RESET work_mem').catch(() => undefined);
      client.release();
    }
    log(`constraints, stream rows and statistics made in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return this.written;
  }

  /** Waits for the batch in flight, then starts this one (one write in flight: the caller builds the next meanwhile). */
  private async send(rows: EventRow[]): Promise<void> {
    await this.writing;
    const text = rows.map((r) => `${r.id}\t${r.streamId}\t${r.revision}\t${r.type}\t${field(JSON.stringify(r.data))}\t${field(JSON.stringify(r.metadata))}\n`).join('');
    this.writing = (async () => {
      const client = await this.pool.connect();
      try {
        await copyIn(client, Buffer.from(text));
      } finally {
        client.release();
      }
      this.written += rows.length;
    })();
    // Reported by the next send or by finish, not as an unhandled rejection meanwhile.
    this.writing.catch(() => undefined);
  }
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
