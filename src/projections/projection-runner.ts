// Runs projections: each reads all events from its checkpoint and writes its rows and its new checkpoint
// in one transaction, then publishes its changes on the bus. One process among those sharing a database
// runs a given projection (a lease); a checkpoint check inside each transaction keeps even two runners
// (a rebuild from the command line beside a running server) from applying an event twice.
import { EventEmitter } from 'node:events';
import { sql } from 'kysely';
import type { Bus } from '../domain/ports/bus.ts';
import type { EventStore, Position, RecordedEvent, Subscription } from '../domain/ports/event-store.ts';
import { comparePositions, positionFromString, positionToString } from '../domain/ports/event-store.ts';
import type { Lease, SqlClient } from '../adapters/sql/sql-client.ts';
import type { Projection, ReadModel } from './projection.ts';

export interface Logger {
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
}

export interface ProjectionRunnerDeps {
  store: EventStore;
  db: ReadModel;
  sql: SqlClient;
  bus: Bus;
  projections: Projection[];
  logger: Logger;
  /** Events per transaction while catching up. */
  batchSize?: number;
  /** How often a process without a lease tries to take it, and polls checkpoints held elsewhere. */
  leaseRetryMs?: number;
}

export class CheckpointMoved extends Error {}

export async function readCheckpoint(db: ReadModel, name: string): Promise<Position | null> {
  const row = await db.selectFrom('kefu_projection_checkpoints').select('position').where('name', '=', name).executeTakeFirst();
  return row?.position ? positionFromString(row.position) : null;
}

/**
 * Applies `events` to `projection` in one transaction, if its checkpoint is still `from`. Returns the
 * bus messages to publish after commit.
 */
export async function applyBatch(
  db: ReadModel,
  projection: Projection,
  from: Position | null,
  events: RecordedEvent[],
  /** Moves a checkpoint when the batch has nothing for the projection (the runner groups these); default: one UPDATE. */
  moveAlone?: CheckpointMoves,
): Promise<{ topic: string; message: unknown }[]> {
  const out: { topic: string; message: unknown }[] = [];
  const last = events[events.length - 1]!;
  const relevant = events.filter((e) => projection.eventTypes.has(e.type));
  // The checkpoint moved elsewhere, or its row was deleted by a rebuild: look for the row again next time.
  const refused = () => {
    checkpointRows.get(db)?.delete(projection.name);
    return new CheckpointMoved();
  };
  await ensureCheckpointRow(db, projection.name);
  if (relevant.length === 0) {
    // Nothing for this projection: only the checkpoint moves, in one statement.
    if (!(await (moveAlone ?? new CheckpointMoves(db)).move(projection.name, from, last.position))) throw refused();
    return out;
  }
  await db.transaction().execute(async (trx) => {
    // The guarded move comes first: its row lock is held to the end of the transaction, so a second runner's
    // move waits, then finds the checkpoint moved.
    const moved = await trx
      .updateTable('kefu_projection_checkpoints')
      .set({ position: positionToString(last.position), updated_at: new Date() })
      .where('name', '=', projection.name)
      .where((eb) => (from === null ? eb('position', 'is', null) : eb('position', '=', positionToString(from))))
      .executeTakeFirst();
    if (moved.numUpdatedRows !== 1n) throw refused();
    const sink = { publish: (topic: string, message: unknown) => out.push({ topic, message }) };
    if (projection.applyBatch) await projection.applyBatch(trx, relevant, sink);
    else for (const event of relevant) await projection.apply!(trx, event, sink);
  });
  return out;
}

/**
 * Checkpoint moves of batches with nothing to write, grouped: when one commit wakes a dozen projections
 * that ignore its events, their checkpoints move in one statement instead of a dozen. Each move is still
 * guarded by the position its runner expects; a move whose guard fails reports false.
 */
export class CheckpointMoves {
  private readonly db: ReadModel;
  private pending: { name: string; from: string | null; to: string; done: (moved: boolean) => void; failed: (err: unknown) => void }[] = [];
  private scheduled = false;

  constructor(db: ReadModel) {
    this.db = db;
  }

  move(name: string, from: Position | null, to: Position): Promise<boolean> {
    return new Promise((done, failed) => {
      this.pending.push({ name, from: from ? positionToString(from) : null, to: positionToString(to), done, failed });
      if (this.scheduled) return;
      this.scheduled = true;
      setImmediate(() => void this.flush());
    });
  }

  private async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    this.scheduled = false;
    try {
      const rows = sql.join(batch.map((m) => sql`(${m.name}::text, ${m.from}::text, ${m.to}::text)`));
      const r = await sql<{ name: string }>`UPDATE kefu_projection_checkpoints AS c SET position = v.next, updated_at = now()
        FROM (VALUES ${rows}) AS v(name, prev, next)
        WHERE c.name = v.name AND c.position IS NOT DISTINCT FROM v.prev
        RETURNING c.name`.execute(this.db);
      const moved = new Set(r.rows.map((row) => row.name));
      for (const m of batch) m.done(moved.has(m.name));
    } catch (err) {
      for (const m of batch) m.failed(err);
    }
  }
}

/** Checkpoint rows created by this process (a row, once there, is never deleted except by a rebuild, which re-creates it). */
const checkpointRows = new WeakMap<ReadModel, Set<string>>();

async function ensureCheckpointRow(db: ReadModel, name: string): Promise<void> {
  let known = checkpointRows.get(db);
  if (!known) checkpointRows.set(db, (known = new Set()));
  if (known.has(name)) return;
  await db
    .insertInto('kefu_projection_checkpoints')
    .values({ name, position: null, updated_at: new Date() })
    .onConflict((c) => c.column('name').doNothing())
    .execute();
  known.add(name);
}

/** Empties a projection's tables and checkpoint and replays every event into it. */
export async function rebuildProjection(deps: { store: EventStore; db: ReadModel; projection: Projection; batchSize?: number }): Promise<number> {
  const { store, db, projection } = deps;
  await db.transaction().execute(async (trx) => {
    for (const table of projection.tables) await sql`DELETE FROM ${sql.table(table)}`.execute(trx);
    await trx.deleteFrom('kefu_projection_checkpoints').where('name', '=', projection.name).execute();
  });
  checkpointRows.get(db)?.delete(projection.name);
  let from: Position | null = null;
  let count = 0;
  for (;;) {
    const events = await store.readAll({ after: from, maxCount: deps.batchSize ?? 5000 });
    if (events.length === 0) return count;
    await applyBatch(db, projection, from, events);
    from = events[events.length - 1]!.position;
    count += events.length;
  }
}

interface Running {
  projection: Projection;
  lease: Lease;
  subscription: Subscription | null;
  position: Position | null;
}

export class ProjectionRunner {
  private readonly deps: ProjectionRunnerDeps;
  private readonly running = new Map<string, Running>();
  /** Last known checkpoint of every projection, run here or elsewhere. */
  private readonly known = new Map<string, Position | null>();
  private readonly progress = new EventEmitter();
  private readonly checkpointMoves: CheckpointMoves;
  private stopped = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(deps: ProjectionRunnerDeps) {
    this.deps = deps;
    this.checkpointMoves = new CheckpointMoves(deps.db);
    this.progress.setMaxListeners(0);
  }

  async start(): Promise<void> {
    await this.tick();
    this.timer = setInterval(() => void this.tick(), this.deps.leaseRetryMs ?? 2000);
    this.timer.unref();
  }

  /** Resolves when every projection (or the named ones) has applied the event at `position`. */
  async waitFor(position: Position, options: { projections?: string[]; timeoutMs?: number } = {}): Promise<boolean> {
    const names = options.projections ?? this.deps.projections.map((p) => p.name);
    const reached = () => names.every((n) => {
      const p = this.known.get(n);
      return p != null && comparePositions(p, position) >= 0;
    });
    if (reached()) return true;
    const deadline = Date.now() + (options.timeoutMs ?? 10_000);
    while (Date.now() < deadline) {
      // Projections run by another process: poll their checkpoints; ours tell us as they move.
      const elsewhere = names.filter((n) => !this.running.has(n));
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, elsewhere.length > 0 ? 20 : 1000);
        function done() {
          clearTimeout(t);
          resolve();
        }
        this.progress.once('moved', done);
      });
      for (const n of elsewhere) this.known.set(n, await readCheckpoint(this.deps.db, n));
      if (reached()) return true;
    }
    return false;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    for (const r of this.running.values()) {
      await r.subscription?.stop();
      await r.lease.release();
    }
    this.running.clear();
  }

  /** Takes the lease of every projection not running here, and starts those it gets. */
  private async tick(): Promise<void> {
    for (const projection of this.deps.projections) {
      if (this.stopped || this.running.has(projection.name)) continue;
      let lease: Lease | null;
      try {
        lease = await this.deps.sql.tryLease(`projection:${projection.name}`);
      } catch (err) {
        this.deps.logger.warn({ err, projection: projection.name }, 'projection lease check failed');
        continue;
      }
      if (!lease) {
        this.known.set(projection.name, await readCheckpoint(this.deps.db, projection.name).catch(() => null));
        continue;
      }
      const r: Running = { projection, lease, subscription: null, position: null };
      this.running.set(projection.name, r);
      void lease.lost.then(() => this.restart(r, 'lease lost'));
      await this.run(r);
    }
  }

  private async restart(r: Running, why: string): Promise<void> {
    if (this.stopped || this.running.get(r.projection.name) !== r) return;
    this.deps.logger.warn({ projection: r.projection.name, why }, 'projection restarting');
    this.running.delete(r.projection.name);
    await r.subscription?.stop();
    await r.lease.release();
  }

  private async run(r: Running): Promise<void> {
    const { store, db, bus, logger } = this.deps;
    // Catching up, big transactions (the cost is per row touched, not per event); live, small and prompt.
    const catchUpBatch = this.deps.batchSize ?? 5000;
    const liveBatch = Math.min(500, catchUpBatch);
    let caughtUp = false;
    r.position = await readCheckpoint(db, r.projection.name);
    this.known.set(r.projection.name, r.position);
    let buffer: RecordedEvent[] = [];
    let flushing: Promise<void> = Promise.resolve();
    let timer: NodeJS.Timeout | null = null;

    const flush = (): Promise<void> => {
      if (timer) clearTimeout(timer);
      timer = null;
      flushing = flushing.then(async () => {
        if (buffer.length === 0) return;
        const events = buffer;
        buffer = [];
        try {
          const messages = await applyBatch(db, r.projection, r.position, events, this.checkpointMoves);
          r.position = events[events.length - 1]!.position;
          this.known.set(r.projection.name, r.position);
          this.progress.emit('moved');
          await Promise.all(messages.map((m) => bus.publish(m.topic, m.message).catch((err: unknown) => logger.warn({ err }, 'bus publish failed'))));
        } catch (err) {
          if (!(err instanceof CheckpointMoved)) logger.error({ err, projection: r.projection.name }, 'projection batch failed');
          // Start again from the stored checkpoint: nothing of this batch was written.
          void this.restart(r, err instanceof CheckpointMoved ? 'checkpoint moved elsewhere' : 'batch failed');
        }
      });
      return flushing;
    };

    r.subscription = store.subscribeToAll({
      after: r.position,
      batchSize: catchUpBatch,
      onCaughtUp: () => {
        caughtUp = true;
      },
      onEvent: async (event) => {
        buffer.push(event);
        if (buffer.length >= (caughtUp ? liveBatch : catchUpBatch)) await flush();
        else if (!timer) timer = setTimeout(() => void flush(), 0);
      },
      onError: (err) => logger.error({ err, projection: r.projection.name }, 'projection subscription failed'),
    });
  }
}
