// Runs projections: each reads all events from its checkpoint and writes its rows and its new checkpoint
// in one transaction, then publishes its changes on the bus. One process among those sharing a database
// runs a given projection (a lease); a checkpoint check inside each transaction keeps even two runners
// (a rebuild from the command line beside a running server) from applying an event twice.
import { sql, type RawBuilder, type Transaction } from 'kysely';
import type { Bus } from '../domain/ports/bus.ts';
import type { EventStore, Position, RecordedEvent, Subscription } from '../domain/ports/event-store.ts';
import { comparePositions, positionFromString, positionToString } from '../domain/ports/event-store.ts';
import type { Lease, SqlClient } from '../adapters/sql/sql-client.ts';
import { preparedMark } from '../adapters/sql/kysely-dialect.ts';
import { readModelTransactionName } from '../adapters/eventstore/postgres/schema.ts';
import type { Projection, ReadModel } from './projection.ts';
import type { ReadModelDb } from './read-model-db.ts';
import { committedAt, stageTrace } from './stage-trace.ts';
import { instanceOfEvent, isTransientFailure, listParkedParts, parkPart, ReadModelParkedError, retryParkedPart, type ParkedPart, type RetryOutcome } from './parked-parts.ts';

export interface Logger {
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
}

export interface ProjectionRunnerDeps {
  store: EventStore;
  db: ReadModel;
  /**
   * Where the live projections' batches (and their checkpoint moves) run, default `db`: on PostgreSQL a pool of
   * their own (main.ts), so that a batch that chat sends settle on, and that publishes their messages, never
   * queues for a connection behind the requests waiting for it (issue 11: in the chat bench the shared pool had
   * every connection taken a third of the time, and a batch waited for one p50 100-500 ms).
   */
  liveDb?: ReadModel;
  sql: SqlClient;
  bus: Bus;
  projections: Projection[];
  logger: Logger;
  /** Events per transaction while catching up. */
  batchSize?: number;
  /** How often a process without a lease tries to take it, and polls checkpoints held elsewhere. */
  leaseRetryMs?: number;
  /**
   * The live fan-out's frames in flight (null: none). A projection that only stores applies its batch after the
   * live projections' batches of the same events were published and after these frames were written: on PGlite
   * (one thread) its statements would otherwise run in the turns between the fan-out's slices, and the last
   * subscribers of a change would wait for the reports' statements. At most `yieldMaxMs` per batch.
   */
  yieldTo?: () => Promise<void> | null;
  /** The longest a batch of a projection that only stores waits for the live ones (default 100 ms). */
  yieldMaxMs?: number;
  /**
   * A batch with nothing for a projection moves its checkpoint row later (see Running.skippedTo): the first after
   * a quiet spell at once, later ones at most once per this many ms, all the projections' in one statement
   * (default 20, the poll of a waiter in another process).
   */
  skipMoveMs?: number;
}

export class CheckpointMoved extends Error {}

/** The checkpoints of the projections named, in one read (absent: none yet). */
async function readCheckpoints(db: ReadModel, names: string[]): Promise<Map<string, Position | null>> {
  const rows = await db.selectFrom('kefu_projection_checkpoints').select(['name', 'position']).where('name', 'in', names).execute();
  return new Map(rows.map((r) => [r.name, r.position ? positionFromString(r.position) : null]));
}

/** Several leases at once where the client can (one statement), else one by one. */
async function takeLeases(sql: SqlClient, keys: string[]): Promise<Map<string, Lease>> {
  if (sql.tryLeases) return sql.tryLeases(keys);
  const taken = new Map<string, Lease>();
  for (const k of keys) {
    const lease = await sql.tryLease(k);
    if (lease) taken.set(k, lease);
  }
  return taken;
}

export async function readCheckpoint(db: ReadModel, name: string): Promise<Position | null> {
  const row = await db.selectFrom('kefu_projection_checkpoints').select('position').where('name', '=', name).executeTakeFirst();
  return row?.position ? positionFromString(row.position) : null;
}

/** What a batch did: the bus messages to publish after commit, and the parts it found or left parked. */
export interface BatchOutcome {
  messages: { topic: string; message: unknown }[];
  /** Instances whose part is parked, as the checkpoint row said when the batch applied (null: not read). */
  parkedInstances: string[] | null;
  /** Parts this batch parked (an event of theirs failed). */
  parked: ParkedPart[];
}

/**
 * Applies `events` to `projection` in one transaction, if its checkpoint is still `from`. Events of parked
 * instances are held (skipped; a retry replays them). If an event fails, the events are applied again one at
 * a time: the failing event parks its instance's part and the others are applied.
 */
export async function applyBatch(
  db: ReadModel,
  projection: Projection,
  from: Position | null,
  events: RecordedEvent[],
  /** Moves a checkpoint when the batch has nothing for the projection (the runner groups these); default: one UPDATE. */
  moveAlone?: CheckpointMover,
  /** Runs the batch's transaction, maybe together with other projections' (the runner's); default: its own. */
  transactions?: SharedTransactions,
): Promise<BatchOutcome> {
  const last = events[events.length - 1]!;
  const relevant = events.filter((e) => projection.eventTypes.has(e.type));
  await ensureCheckpointRow(db, projection.name);
  if (relevant.length === 0) {
    // Nothing for this projection: only the checkpoint moves, in one statement.
    if (!(await (moveAlone ?? new CheckpointMoves(db)).move(projection.name, from, last.position))) throw refusedCheckpoint(db, projection.name);
    return { messages: [], parkedInstances: null, parked: [] };
  }
  try {
    return { ...(await applyInTransaction(db, projection, from, last.position, relevant, transactions)), parked: [] };
  } catch (err) {
    if (err instanceof CheckpointMoved || isTransientFailure(err)) throw err;
    return applyOneByOne(db, projection, from, events);
  }
}

/**
 * A projection's transaction commits without waiting for its WAL flush (PostgreSQL's asynchronous commit): its
 * changes reach subscribers one disk flush sooner (live views), and the disk's flushes are left to what must be
 * durable before it is answered (event appends, a WeChat push kept before its `success`), which then wait behind
 * fewer of them. Safe for a read model: the rows and the checkpoint are lost or kept together, and a later
 * synchronous commit (the next append) flushes them; a crash can lose only the last such batches, which are
 * applied again from the durable events. Visible to every reader at once, as usual. Evaluated in a statement of
 * the transaction (RETURNING), so it costs no statement of its own. The same statement names the transaction a
 * read-model one (readModelTransactionName, until it ends): it writes no events, so the event readers' horizon
 * and the appends' lower_tx do not wait for it.
 */
const asynchronousCommit = sql<string>`set_config('synchronous_commit', 'off', true) || set_config('application_name', ${sql.lit(readModelTransactionName)}, true)`;

// The checkpoint moved elsewhere, or its row was deleted by a rebuild: look for the row again next time.
function refusedCheckpoint(db: ReadModel, name: string): CheckpointMoved {
  checkpointRows.get(db)?.delete(name);
  return new CheckpointMoved();
}

async function applyInTransaction(
  db: ReadModel,
  projection: Projection,
  from: Position | null,
  to: Position,
  relevant: RecordedEvent[],
  transactions?: SharedTransactions,
): Promise<Omit<BatchOutcome, 'parked'>> {
  let messages: { topic: string; message: unknown }[] = [];
  let onCommit: (() => void)[] = [];
  const guard: CheckpointGuard = { name: projection.name, from: from ? positionToString(from) : null, to: positionToString(to) };
  const work = async (trx: Transaction<ReadModelDb>, movedAlready?: { parked_instances: string[] }) => {
    // Run again from the start if a shared transaction failed: nothing of a failed try is kept.
    messages = [];
    onCommit = [];
    // The guarded move comes first: its row lock is held to the end of the transaction, so a second runner's
    // move (or a retry of a parked part) waits, then finds the checkpoint moved. It returns the parked
    // instances as they are under that lock. In a shared transaction it was made already, with the other
    // batches' moves in one statement (movedAlready).
    // Its values inlined (sql.lit: the projection's name and positions): the transaction's BEGIN goes in the same round trip.
    const moved =
      movedAlready ??
      (
        await sql<{ parked_instances: string[] }>`UPDATE kefu_projection_checkpoints SET position = ${sql.lit(guard.to)}, updated_at = now()
          WHERE name = ${sql.lit(projection.name)} AND ${guard.from === null ? sql`position IS NULL` : sql`position = ${sql.lit(guard.from)}`}
          RETURNING parked_instances, ${asynchronousCommit} AS commit_flush`.execute(trx)
      ).rows[0];
    if (!moved) throw refusedCheckpoint(db, projection.name);
    const parked = moved.parked_instances;
    forgetIfUnparked(projection, parked);
    const due = parked.length === 0 ? relevant : relevant.filter((e) => !parked.includes(instanceOfEvent(e)));
    if (due.length === 0) return parked;
    const sink = { publish: (topic: string, message: unknown) => messages.push({ topic, message }), committed: (fn: () => void) => onCommit.push(fn) };
    if (projection.applyBatch) await projection.applyBatch(trx, due, sink);
    else for (const event of due) await projection.apply!(trx, event, sink);
    return parked;
  };
  // Live, nothing parked when the projection last looked: the move and the writes as one statement if it can.
  if (!transactions && projection.batchStatement && parkedSeen.get(projection)?.length === 0) {
    const sink = { publish: (topic: string, message: unknown) => messages.push({ topic, message }), committed: (fn: () => void) => onCommit.push(fn) };
    const writes = projection.batchStatement(relevant, sink);
    if (writes) {
      let moved = false;
      try {
        // Refused (moved elsewhere, a part parked meanwhile): nothing was written; the transaction below tells which.
        // Prepared (its text the same at every batch: the positions are parameters): PostgreSQL parsed and
        // analyzed this CTE statement again at each send's batch, a good part of its CPU per chat message.
        const done = await sql<{ commit_flush: string }>`${sql.raw(preparedMark)}WITH moved AS (UPDATE kefu_projection_checkpoints SET position = ${guard.to}::text, updated_at = now()
            WHERE name = ${projection.name}::text AND ${guard.from === null ? sql`position IS NULL` : sql`position = ${guard.from}::text`} AND cardinality(parked_instances) = 0
            RETURNING ${asynchronousCommit} AS commit_flush), ${sql.join(
              (Array.isArray(writes) ? writes : [writes]).map((w: RawBuilder<unknown>, i) => sql`${sql.raw(i === 0 ? 'written' : `written_${i}`)} AS (${w})`),
            )}
          SELECT commit_flush FROM moved`.execute(db);
        moved = done.rows.length === 1;
      } catch (err) {
        if (err instanceof CheckpointMoved || isTransientFailure(err)) throw err;
      }
      if (moved) {
        for (const fn of onCommit) fn();
        return { messages, parkedInstances: [] };
      }
      messages = [];
      onCommit = [];
    }
  }
  const parkedInstances = transactions ? await transactions.run(work, guard) : await db.transaction().execute((trx) => work(trx));
  for (const fn of onCommit) fn();
  return { messages, parkedInstances };
}

/** The parked instances each projection's last batch found, to tell when one was retried (and unparked). */
const parkedSeen = new WeakMap<Projection, string[]>();

/**
 * A part unparked since the projection's last batch had its held events applied by a retry, maybe in another
 * process: rows the projection keeps in memory may be older than the table's, so it forgets them (reset).
 */
function forgetIfUnparked(projection: Projection, parked: string[]): void {
  const before = parkedSeen.get(projection);
  if (before === parked || (before?.length === 0 && parked.length === 0)) return;
  parkedSeen.set(projection, parked);
  if (before?.some((instanceId) => !parked.includes(instanceId))) projection.reset?.();
}

/** A batch's guarded checkpoint move: from `from` (null: none yet) to `to`, refused if the row is elsewhere. */
export interface CheckpointGuard {
  name: string;
  from: string | null;
  to: string;
}

type SharedWork<T> = (trx: Transaction<ReadModelDb>, moved?: { parked_instances: string[] }) => Promise<T>;

/** Moves a projection's checkpoint from `from` to `to` with nothing else: false if it was not at `from`. */
export interface CheckpointMover {
  move(name: string, from: Position | null, to: Position): Promise<boolean>;
}

interface PendingMove extends CheckpointGuard {
  done: (moved: boolean) => void;
  failed: (err: unknown) => void;
  /** Never made in a shared transaction (SharedTransactions.move's joinsTransactions false). */
  apart?: boolean;
}

/**
 * Batches of several projections that are ready at once (woken by the same commit) applied in one transaction
 * instead of one each: one BEGIN and one COMMIT for all, and their guarded checkpoint moves in one statement
 * (each row still moves only from the position its batch expects). Each batch keeps its own outcome: if the
 * shared transaction fails (a checkpoint moved elsewhere, an event that does not apply, the database), nothing
 * of it was written, and each batch runs again in its own transaction and gets the outcome it would have had alone.
 */
export class SharedTransactions implements CheckpointMover {
  private readonly db: ReadModel;
  /** Where moves that join no transaction go (the runner's liveDb, default `db`). */
  private readonly aloneDb: ReadModel;
  private pending: { work: SharedWork<unknown>; guard: CheckpointGuard | undefined; done: (v: unknown) => void; failed: (err: unknown) => void }[] = [];
  private moves: PendingMove[] = [];
  private scheduled = false;
  /** Transactions run, and batches they carried (for tests and the bench). */
  readonly counts = { transactions: 0, batches: 0 };

  constructor(db: ReadModel, aloneDb: ReadModel = db) {
    this.db = db;
    this.aloneDb = aloneDb;
  }

  /**
   * A checkpoint move of a batch with nothing to write: made in the guarded-move statement of a transaction
   * that starts in the same turn if there is one (no statement of its own), else with the turn's other such
   * moves in one statement on `aloneDb` (as CheckpointMoves does). `joinsTransactions` false (a live
   * projection's, which must not wait behind the shared transactions' statements): never in a transaction,
   * but still in the turn's one statement with the others' (one statement a change instead of one per pool).
   */
  move(name: string, from: Position | null, to: Position, joinsTransactions = true): Promise<boolean> {
    return new Promise((done, failed) => {
      this.moves.push({ name, from: from ? positionToString(from) : null, to: positionToString(to), done, failed, apart: !joinsTransactions });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => void this.flush());
  }

  /**
   * Runs `work` in a transaction, maybe shared. With `guard`, a shared transaction may make the batch's guarded
   * checkpoint move before `work` and hand it what the move returned; else (alone) `work` makes it itself.
   */
  run<T>(work: SharedWork<T>, guard?: CheckpointGuard): Promise<T> {
    return new Promise<T>((done, failed) => {
      this.pending.push({ work, guard, done: done as (v: unknown) => void, failed });
      this.schedule();
    });
  }

  private async flush(): Promise<void> {
    const group = this.pending;
    let moves = this.moves;
    this.pending = [];
    this.moves = [];
    this.scheduled = false;
    if (group.length === 0) return settleMoves(moves, moveCheckpoints(this.aloneDb, moves));
    // Moves kept out of transactions go in a statement of their own, beside the transaction.
    let apart: Promise<void> = Promise.resolve();
    if (moves.some((m) => m.apart)) {
      const kept = moves.filter((m) => m.apart);
      moves = moves.filter((m) => !m.apart);
      apart = settleMoves(kept, moveCheckpoints(this.aloneDb, kept));
    }
    try {
      await this.flushGroup(group, moves);
    } finally {
      await apart;
    }
  }

  private async flushGroup(group: SharedTransactions['pending'], moves: PendingMove[]): Promise<void> {
    if (group.length + moves.length > 1) {
      try {
        const results: unknown[] = [];
        let movedAlone = new Set<string>();
        await this.db.transaction().execute(async (trx) => {
          const moved = await moveGuarded(trx, [...group.flatMap((g) => (g.guard ? [g.guard] : [])), ...moves]);
          // A move alone whose checkpoint was elsewhere wrote nothing: it reports false, the others go on.
          movedAlone = new Set(moves.filter((m) => moved.has(m.name)).map((m) => m.name));
          for (const g of group) {
            if (!g.guard) {
              results.push(await g.work(trx));
              continue;
            }
            const row = moved.get(g.guard.name);
            // Moved elsewhere: the shared try is given up (rolled back), and this batch fails alone below.
            if (!row) throw new CheckpointMoved();
            results.push(await g.work(trx, row));
          }
        });
        this.counts.transactions++;
        this.counts.batches += group.length;
        group.forEach((g, i) => g.done(results[i]));
        for (const m of moves) m.done(movedAlone.has(m.name));
        return;
      } catch {
        // Each on its own below: its own outcome, whatever failed the shared one.
      }
    }
    const alone = moves.length > 0 ? settleMoves(moves, moveCheckpoints(this.aloneDb, moves)) : Promise.resolve();
    await Promise.all(
      group.map(async (g) => {
        try {
          const result = await this.db.transaction().execute((trx) => g.work(trx));
          this.counts.transactions++;
          this.counts.batches++;
          g.done(result);
        } catch (err) {
          g.failed(err);
        }
      }),
    );
    await alone;
  }
}

/** Settles each move with whether its checkpoint moved, or fails them all with the statement's error. */
async function settleMoves(moves: PendingMove[], moved: Promise<Set<string>>): Promise<void> {
  try {
    const names = await moved;
    for (const m of moves) m.done(names.has(m.name));
  } catch (err) {
    for (const m of moves) m.failed(err);
  }
}

/** Guarded checkpoint moves in one statement, outside any transaction: the names of those that moved. */
async function moveCheckpoints(db: ReadModel, moves: CheckpointGuard[]): Promise<Set<string>> {
  // The moves as one JSON parameter: one text for any number of them, prepared (parsed and planned once per
  // connection; it runs at about every commit under a chat load).
  const rows = JSON.stringify(moves.map((m) => ({ name: m.name, prev: m.from, next: m.to })));
  const r = await sql<{ name: string }>`${sql.raw(preparedMark)}UPDATE kefu_projection_checkpoints AS c SET position = v.next, updated_at = now()
    FROM json_to_recordset(${rows}::json) AS v(name text, prev text, next text)
    WHERE c.name = v.name AND c.position IS NOT DISTINCT FROM v.prev
    RETURNING c.name, ${asynchronousCommit} AS commit_flush`.execute(db);
  return new Set(r.rows.map((row) => row.name));
}

/**
 * The guarded checkpoint moves of a shared transaction in one statement: the parked instances of each row
 * that moved, by name. A guard whose row is not at its `from` is left out (as is a second guard on one name:
 * both cannot hold). A deadlock with another process's moves fails the shared try, whose batches go alone.
 */
async function moveGuarded(trx: Transaction<ReadModelDb>, guards: CheckpointGuard[]): Promise<Map<string, { parked_instances: string[] }>> {
  const moved = new Map<string, { parked_instances: string[] }>();
  if (guards.length === 0) return moved;
  const names = new Set<string>();
  const unique = guards.filter((g) => (names.has(g.name) ? false : (names.add(g.name), true)));
  // One text for any number of moves (one JSON parameter), marked: as the transaction's first statement it goes
  // as `BEGIN; EXECUTE` of its SQL-prepared form (kysely-dialect.ts), one round trip, planned once per connection.
  // With its values inlined in a VALUES list, PostgreSQL parsed and planned a new text at each transaction.
  const rows = JSON.stringify(unique.map((g) => ({ name: g.name, prev: g.from, next: g.to })));
  const r = await sql<{ name: string; parked_instances: string[] }>`${sql.raw(preparedMark)}UPDATE kefu_projection_checkpoints AS c SET position = v.next, updated_at = now()
    FROM json_to_recordset(${rows}::json) AS v(name text, prev text, next text)
    WHERE c.name = v.name AND c.position IS NOT DISTINCT FROM v.prev
    RETURNING c.name, c.parked_instances, ${asynchronousCommit} AS commit_flush`.execute(trx);
  for (const row of r.rows) moved.set(row.name, { parked_instances: row.parked_instances });
  return moved;
}

/** After a failed batch: each event for the projection in its own transaction; one that fails parks its part. */
async function applyOneByOne(db: ReadModel, projection: Projection, from: Position | null, events: RecordedEvent[]): Promise<BatchOutcome> {
  const outcome: BatchOutcome = { messages: [], parkedInstances: null, parked: [] };
  let at = from;
  for (let i = 0; i < events.length; i++) {
    const event = events[i]!;
    if (!projection.eventTypes.has(event.type)) {
      // Events for other projections go with the next one for this projection; the trailing ones alone.
      if (i < events.length - 1) continue;
      if (!(await new CheckpointMoves(db).move(projection.name, at, event.position))) throw refusedCheckpoint(db, projection.name);
      break;
    }
    try {
      const r = await applyInTransaction(db, projection, at, event.position, [event]);
      outcome.messages.push(...r.messages);
      outcome.parkedInstances = r.parkedInstances;
    } catch (err) {
      if (err instanceof CheckpointMoved || isTransientFailure(err)) throw err;
      const part = await parkPart(db, projection, at, event, err);
      if (!part) throw refusedCheckpoint(db, projection.name);
      outcome.parked.push(part);
    }
    at = event.position;
  }
  return outcome;
}

/**
 * Checkpoint moves of batches with nothing to write, grouped: when one commit wakes a dozen projections
 * that ignore its events, their checkpoints move in one statement instead of a dozen. Each move is still
 * guarded by the position its runner expects; a move whose guard fails reports false.
 */
export class CheckpointMoves implements CheckpointMover {
  private readonly db: ReadModel;
  private pending: PendingMove[] = [];
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
    await settleMoves(batch, moveCheckpoints(this.db, batch));
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
    // Replayed from zero, an event that still fails parks its part again.
    await trx.deleteFrom('kefu_projection_parked_parts').where('projection', '=', projection.name).execute();
  });
  checkpointRows.get(db)?.delete(projection.name);
  projection.reset?.();
  let from: Position | null = null;
  let count = 0;
  const read = (after: Position | null) => {
    const events = store.readAll({ after, maxCount: deps.batchSize ?? projection.catchUpBatchSize ?? 5000 });
    // Awaited by the next turn; a batch that fails first leaves it unread (its failure is the one thrown).
    events.catch(() => undefined);
    return events;
  };
  let next = read(from);
  for (;;) {
    const events = await next;
    if (events.length === 0) return count;
    // Read-ahead: the next batch is read while this one is applied (the store's read and the projection's
    // writes on two connections, Node's decoding of the one beside PostgreSQL's writing of the other).
    next = read(events[events.length - 1]!.position);
    await applyBatch(db, projection, from, events);
    // Work beside the batches (a recount the events started) done as it comes, while it is small (a zone set
    // early in the log is counted again over a few days' rows, not a year's), and to the end before the rebuild is.
    while (await projection.backgroundStep?.(db));
    from = events[events.length - 1]!.position;
    count += events.length;
  }
}

interface Waiter {
  position: Position;
  instanceId: string | undefined;
  wake: () => void;
}

interface Running {
  projection: Projection;
  lease: Lease;
  subscription: Subscription | null;
  /** Where the checkpoint row stands (the guard of the next batch's move). */
  position: Position | null;
  /**
   * Past `position`: the last event of batches with nothing for the projection, not yet written to its row. Such a
   * batch moved the row on its own (a statement for every batch of a commit with nothing for it: about 0.3 per chat
   * message); now the next batch with something to write moves it in its guarded move, or writeSkipped does a
   * moment later. Waiters here are told at once; a restart reads those events again and skips them again.
   */
  skippedTo?: Position | null;
  /** Writes skippedTo to the row, after the batches in flight (none once halted, unless `atStop`). */
  writeSkipped?: (atStop?: boolean) => Promise<void>;
  /** Set once a batch failed or the lease was lost: events still delivered must not be applied after a gap. */
  halted?: boolean;
  /** A batch or a move failed: what the runner holds in memory is not to be written. */
  failed?: boolean;
}

export class ProjectionRunner {
  private readonly deps: ProjectionRunnerDeps;
  private readonly running = new Map<string, Running>();
  /** Last known checkpoint of every projection, run here or elsewhere. */
  private readonly known = new Map<string, Position | null>();
  /** Instances whose part is parked, of each projection run here (a hint: waitFor confirms it in the table). */
  private readonly parked = new Map<string, Set<string>>();
  /**
   * waitFor's waiters by the projections they wait for: a projection's move wakes only its own waiters whose
   * event it has reached (or whose instance it parked), not every waiter on every projection's move (with a
   * few thousand sends waiting, each of a commit's dozen moves woke them all, each to set up its wait again).
   */
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly checkpointMoves: CheckpointMoves;
  /**
   * The live projections' checkpoint moves of skipped events, with liveDb (null: they share `transactions`): in
   * the statement of the turn's other skipped moves on liveDb, never in a shared transaction (which would hold
   * a live projection's next batch behind the statements of the projections that only store).
   */
  private readonly liveMoves: CheckpointMover | null;
  readonly transactions: SharedTransactions;
  private stopped = false;
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;
  /** One per live projection with events buffered or a batch in flight: settled once they are published. */
  private readonly liveHolds = new Set<Promise<void>>();
  /** The wait of the projections that only store (afterLive), shared by those that start it in the meantime. */
  private liveWait: Promise<void> | null = null;
  /** Projections with skipped events not yet written to their rows, the timer that writes them, and its last run. */
  private readonly skipped = new Set<Running>();
  private skipTimer: NodeJS.Timeout | null = null;
  private skipMovedAt = -Infinity;

  constructor(deps: ProjectionRunnerDeps) {
    this.deps = deps;
    this.checkpointMoves = new CheckpointMoves(deps.db);
    const apartDb = deps.liveDb && deps.liveDb !== deps.db ? deps.liveDb : null;
    // Skipped moves of live and other projections written in one turn go in one statement (on liveDb, if any).
    this.transactions = new SharedTransactions(deps.db, apartDb ?? deps.db);
    this.liveMoves = apartDb ? { move: (name, from, to) => this.transactions.move(name, from, to, false) } : null;
  }

  async start(): Promise<void> {
    await this.tick();
    this.timer = setInterval(() => void this.tick(), this.deps.leaseRetryMs ?? 2000);
    this.timer.unref();
  }

  /**
   * Resolves when every projection (or the named ones) has applied the event at `position`, or false after
   * the timeout. With `instanceId` (the event's instance), throws ReadModelParkedError at once if that
   * instance's part of one of them is parked from before the event: the event is held, not applied.
   */
  async waitFor(position: Position, options: { projections?: string[]; timeoutMs?: number; stallMs?: number; instanceId?: string } = {}): Promise<boolean> {
    const names = options.projections ?? this.deps.projections.map((p) => p.name);
    // With stallMs the wait also ends when none of those still short of the position has moved for that long
    // (stuck, not busy): one that has reached it moving on says nothing of the others.
    const stallMs = options.stallMs ?? Infinity;
    const seen = () =>
      names
        .map((n) => {
          const p = this.known.get(n);
          return p != null && comparePositions(p, position) >= 0 ? 'reached' : `${String(p?.commit ?? '-')}:${String(p?.prepare ?? '-')}`;
        })
        .join(',');
    const reached = () => names.every((n) => {
      const p = this.known.get(n);
      return p != null && comparePositions(p, position) >= 0;
    });
    const failIfHeld = async () => {
      const instanceId = options.instanceId;
      if (instanceId === undefined) return;
      // Projections run here say whether they hold parts of this instance; others are asked in the table.
      const suspects = names.filter((n) => !this.running.has(n) || this.parked.get(n)?.has(instanceId));
      if (suspects.length === 0) return;
      const held = (await listParkedParts(this.deps.db, { instanceId, projections: suspects })).filter(
        (p) => p.heldAfter === null || comparePositions(position, p.heldAfter) > 0,
      );
      if (held.length > 0) throw new ReadModelParkedError(held);
    };
    await failIfHeld();
    if (reached()) {
      stageTrace.add('settle.at-once', 0);
      return true;
    }
    const waitStart = stageTrace.enabled ? performance.now() : 0;
    const deadline = Date.now() + (options.timeoutMs ?? 10_000);
    let lastSeen = seen();
    let movedAt = Date.now();
    const until = () => Math.min(deadline, movedAt + stallMs);
    let wake: () => void = () => undefined;
    const waiter: Waiter = { position, instanceId: options.instanceId, wake: () => wake() };
    for (const n of names) {
      let set = this.waiters.get(n);
      if (!set) this.waiters.set(n, (set = new Set()));
      set.add(waiter);
    }
    try {
      while (Date.now() < until()) {
        // Projections run by another process: poll their checkpoints; ours tell us as they move (and at least
        // once a second, should one start or stop running here meanwhile).
        const elsewhere = names.filter((n) => !this.running.has(n));
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, Math.max(0, Math.min(elsewhere.length > 0 ? 20 : 1000, until() - Date.now())));
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        wake = () => undefined;
        for (const n of elsewhere) this.known.set(n, await readCheckpoint(this.deps.db, n));
        await failIfHeld();
        if (reached()) {
          stageTrace.since('settle.waited', waitStart);
          return true;
        }
        const now = seen();
        if (now !== lastSeen) {
          lastSeen = now;
          movedAt = Date.now();
        }
      }
      return false;
    } finally {
      for (const n of names) this.waiters.get(n)?.delete(waiter);
    }
  }

  /**
   * Before a batch of a projection that only stores: the live projections' batches published and the live
   * fan-out's frames written (yieldTo), at most yieldMaxMs. Null when nothing is in flight.
   */
  private afterLive(): Promise<void> | null {
    if (this.liveWait) return this.liveWait;
    const first = this.liveHolds.size === 0 ? (this.deps.yieldTo?.() ?? null) : null;
    if (this.liveHolds.size === 0 && !first) return null;
    let timer: NodeJS.Timeout | undefined;
    const capped = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.deps.yieldMaxMs ?? 100)));
    let over = false;
    const live = (async () => {
      if (first) await first;
      while (!over) {
        if (this.liveHolds.size > 0) await Promise.all([...this.liveHolds]);
        const gate = this.deps.yieldTo?.();
        if (!gate && this.liveHolds.size === 0) return;
        if (gate) await gate;
      }
    })();
    const wait = Promise.race([live, capped]).finally(() => {
      over = true;
      clearTimeout(timer);
      this.liveWait = null;
    });
    this.liveWait = wait;
    return wait;
  }

  /** After a batch of `name` here: wakes the waiters it concerns (see waiters). */
  private moved(name: string): void {
    const waiting = this.waiters.get(name);
    if (!waiting || waiting.size === 0) return;
    const at = this.known.get(name);
    const parked = this.parked.get(name);
    for (const w of waiting) {
      if ((at != null && comparePositions(at, w.position) >= 0) || (w.instanceId !== undefined && parked?.has(w.instanceId))) w.wake();
    }
  }

  /**
   * Replays the held events of `instanceId`'s parked part of the projection named `projection` and unparks
   * it if they all apply; null if no such part is parked. Works whichever process runs the projection.
   */
  async retryParkedPart(projection: string, instanceId: string): Promise<RetryOutcome | null> {
    const p = this.deps.projections.find((x) => x.name === projection);
    if (!p) return null;
    const outcome = await retryParkedPart({ store: this.deps.store, db: this.deps.db, bus: this.deps.bus, projection: p, instanceId });
    if (outcome?.resumed) {
      this.parked.get(projection)?.delete(instanceId);
      this.deps.logger.info({ projection, instanceId, appliedEvents: outcome.appliedEvents }, 'parked projection part retried and resumed');
    } else if (outcome) {
      this.deps.logger.warn({ projection, instanceId, eventId: outcome.part.eventId, error: outcome.part.error }, 'retry of a parked projection part failed; it stays parked');
    }
    return outcome;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    // A tick under way finishes starting what it took, so that its subscriptions are stopped below.
    await this.ticking?.catch(() => undefined);
    if (this.skipTimer) clearTimeout(this.skipTimer);
    this.skipTimer = null;
    this.skipped.clear();
    for (const r of this.running.values()) {
      // A batch still gathering is dropped, not applied after the stop (its events stay after the checkpoint).
      r.halted = true;
      await r.subscription?.stop();
      // Skipped events are written, so that the next start does not read them again.
      await r.writeSkipped?.(true);
      await r.lease.release();
    }
    this.running.clear();
  }

  /** Has `r`'s skipped events written soon: at once after a quiet spell, else at most once per skipMoveMs. */
  private skipLater(r: Running): void {
    this.skipped.add(r);
    if (this.skipTimer || this.stopped) return;
    const wait = Math.max(0, this.skipMovedAt + (this.deps.skipMoveMs ?? 20) - performance.now());
    this.skipTimer = setTimeout(() => {
      const write = (): void => {
        this.skipTimer = null;
        if (this.stopped) return;
        this.skipMovedAt = performance.now();
        const due = [...this.skipped];
        this.skipped.clear();
        // In the same turn: their moves go in one statement (or in the guarded move of a transaction starting now).
        for (const s of due) void s.writeSkipped?.();
      };
      // Nobody waits for these rows (waiters were told when the events were skipped): they are written after the
      // live projections' batches were published and the fan-out's frames written, as a batch of a projection
      // that only stores (afterLive); on PGlite (one thread) the statement would otherwise run between the
      // fan-out's slices. The timer stays set meanwhile: later skips join this write.
      const live = this.afterLive();
      if (live) void live.then(write, write);
      else write();
    }, wait);
  }

  /**
   * Takes the lease of every projection not running here, and starts those it gets. All in one try (one
   * statement on PostgreSQL) and the checkpoints of those run elsewhere in one read: a process whose
   * projections another process runs spends two statements per leaseRetryMs, and takes them over at its
   * next try once their holder's lease connection is gone. A tick still running when the next is due is not
   * doubled.
   */
  private tick(): Promise<void> {
    if (this.ticking) return this.ticking;
    const t = this.tickOnce().finally(() => {
      this.ticking = null;
    });
    this.ticking = t;
    return t;
  }

  private async tickOnce(): Promise<void> {
    const free = this.deps.projections.filter((p) => !this.running.has(p.name));
    if (this.stopped || free.length === 0) return;
    const key = (p: Projection) => `projection:${p.name}`;
    let leases: Map<string, Lease>;
    try {
      leases = await takeLeases(this.deps.sql, free.map(key));
    } catch (err) {
      this.deps.logger.warn({ err, projections: free.map((p) => p.name) }, 'projection lease check failed');
      return;
    }
    const taken: Running[] = [];
    for (const projection of free) {
      const lease = leases.get(key(projection));
      if (!lease) continue;
      if (this.stopped || this.running.has(projection.name)) {
        await lease.release();
        continue;
      }
      const r: Running = { projection, lease, subscription: null, position: null };
      this.running.set(projection.name, r);
      void lease.lost.then(() => this.restart(r, 'lease lost'));
      taken.push(r);
    }
    const elsewhere = free.filter((p) => !leases.has(key(p))).map((p) => p.name);
    if (elsewhere.length > 0) {
      const at = await readCheckpoints(this.deps.db, elsewhere).catch(() => null);
      for (const n of elsewhere) this.known.set(n, at?.get(n) ?? null);
    }
    for (const r of taken) {
      try {
        await this.run(r);
      } catch (err) {
        // Its lease goes back; the next tick tries again (here or in another process).
        this.deps.logger.warn({ err, projection: r.projection.name }, 'projection failed to start');
        await this.restart(r, 'start failed');
      }
    }
  }

  private async restart(r: Running, why: string): Promise<void> {
    r.halted = true;
    if (this.stopped || this.running.get(r.projection.name) !== r) return;
    this.deps.logger.warn({ projection: r.projection.name, why }, 'projection restarting');
    this.running.delete(r.projection.name);
    await r.subscription?.stop();
    await r.lease.release();
  }

  private async run(r: Running): Promise<void> {
    const { store, db, bus, logger } = this.deps;
    // A live projection's batches and moves on liveDb's connections (the same database).
    const batchDb = r.projection.live ? (this.deps.liveDb ?? db) : db;
    const skipMoves: CheckpointMover = r.projection.live && this.liveMoves ? this.liveMoves : this.transactions;
    // Catching up, big transactions (the cost is per row touched, not per event); live, small and prompt.
    const catchUpBatch = this.deps.batchSize ?? r.projection.catchUpBatchSize ?? 5000;
    const liveBatch = Math.min(500, catchUpBatch);
    let caughtUp = false;
    r.projection.reset?.();
    r.position = await readCheckpoint(db, r.projection.name);
    this.known.set(r.projection.name, r.position);
    const parkedParts = await listParkedParts(db, { projections: [r.projection.name] });
    this.parked.set(r.projection.name, new Set(parkedParts.map((p) => p.instanceId)));
    if (parkedParts.length > 0) {
      logger.warn({ projection: r.projection.name, instances: parkedParts.map((p) => p.instanceId) }, 'projection has parked parts: their events are held until an operator retries them');
    }
    let buffer: RecordedEvent[] = [];
    let flushing: Promise<void> = Promise.resolve();
    let timer: NodeJS.Timeout | NodeJS.Immediate | null = null;

    // The projection's work beside its batches, a step at a time in the same queue: a batch waits for one step at most.
    let stepQueued = false;
    const background = (): void => {
      const step = r.projection.backgroundStep;
      if (!step || stepQueued || r.halted) return;
      stepQueued = true;
      flushing = flushing.then(async () => {
        stepQueued = false;
        if (r.halted) return;
        try {
          if (await step.call(r.projection, db)) setImmediate(background);
        } catch (err) {
          logger.warn({ err, projection: r.projection.name }, 'projection background step failed; tried again in a second');
          setTimeout(background, 1000).unref();
        }
      });
    };
    background();
    // A live projection's events not yet published: the projections that only store wait for them (afterLive).
    let hold: { done: Promise<void>; release: () => void } | null = null;
    const holdLive = () => {
      if (!r.projection.live || hold) return;
      let release!: () => void;
      const done = new Promise<void>((resolve) => (release = resolve));
      hold = { done, release };
      this.liveHolds.add(done);
    };
    const releaseLive = () => {
      if (!hold || (buffer.length > 0 && !r.halted)) return;
      this.liveHolds.delete(hold.done);
      hold.release();
      hold = null;
    };

    const flush = (): Promise<void> => {
      if (timer) {
        if ('refresh' in timer) clearTimeout(timer);
        else clearImmediate(timer);
      }
      timer = null;
      flushing = flushing.then(async () => {
        // After a failed batch, later ones would skip its events: the restart reads them again instead.
        if (r.halted) buffer = [];
        if (buffer.length === 0) return releaseLive();
        if (!buffer.some((e) => r.projection.eventTypes.has(e.type))) {
          // Nothing to write: the row moves later (skippedTo), waiters here are told now.
          r.skippedTo = buffer[buffer.length - 1]!.position;
          buffer = [];
          this.known.set(r.projection.name, r.skippedTo);
          this.moved(r.projection.name);
          this.skipLater(r);
          background();
          return releaseLive();
        }
        // Live only: catching up, nobody waits for a change's frames, and the batches are big.
        if (!r.projection.live && caughtUp) {
          const waitedAt = stageTrace.enabled ? performance.now() : 0;
          const live = this.afterLive();
          if (live) {
            await live;
            stageTrace.since(`run.${r.projection.name}.afterLive`, waitedAt);
          }
        }
        if (r.halted) buffer = [];
        if (buffer.length === 0) return;
        const events = buffer;
        buffer = [];
        const last = events[events.length - 1]!.position;
        const t0 = committedAt.get(events[0]!);
        const tag = `run.${r.projection.name}`;
        stageTrace.since(`${tag}.1.start`, t0);
        if (t0 !== undefined) stageTrace.add(`${tag}.batch`, events.length);
        try {
          // A batch with nothing for the projection moves its checkpoint in the shared transaction's statement, if one starts.
          // A live projection's batch with something to write goes in a transaction of its own: it does not wait for the others' statements.
          // From the row's position: the batch's guarded move carries the skipped events' move too.
          const txAt = stageTrace.enabled ? performance.now() : 0;
          const { messages, parkedInstances, parked } = await applyBatch(batchDb, r.projection, r.position, events, skipMoves, r.projection.live ? undefined : this.transactions);
          if (stageTrace.enabled) stageTrace.since(`${tag}.txMs`, txAt);
          r.position = last;
          r.skippedTo = null;
          this.known.set(r.projection.name, r.position);
          const held = parkedInstances ? new Set(parkedInstances) : (this.parked.get(r.projection.name) ?? new Set<string>());
          for (const part of parked) {
            held.add(part.instanceId);
            // Logged once, here: the part's later events are held silently until a retry.
            logger.error(
              { projection: part.projection, instanceId: part.instanceId, eventId: part.eventId, eventType: part.eventType, streamId: part.streamId, error: part.error },
              'projection parked one instance\'s part after an event it could not apply; other instances go on',
            );
          }
          this.parked.set(r.projection.name, held);
          stageTrace.since(`${tag}.2.applied`, t0);
          this.moved(r.projection.name);
          background();
          const pubAt = stageTrace.enabled ? performance.now() : 0;
          const publishing = Promise.all(messages.map((m) => bus.publish(m.topic, m.message).catch((err: unknown) => logger.warn({ err }, 'bus publish failed'))));
          if (stageTrace.enabled && messages.length > 0) {
            stageTrace.since(`${tag}.publishSyncMs`, pubAt);
            stageTrace.add(`${tag}.publishCount`, messages.length);
          }
          await publishing;
          if (messages.length > 0) stageTrace.since(`${tag}.3.published`, t0);
        } catch (err) {
          r.halted = true;
          r.failed = true;
          if (!(err instanceof CheckpointMoved)) logger.error({ err, projection: r.projection.name }, 'projection batch failed');
          // Start again from the stored checkpoint: nothing of this batch was written.
          void this.restart(r, err instanceof CheckpointMoved ? 'checkpoint moved elsewhere' : 'batch failed');
        }
        releaseLive();
      });
      return flushing;
    };

    r.writeSkipped = (atStop = false): Promise<void> => {
      flushing = flushing.then(async () => {
        const to = r.skippedTo;
        if (!to || r.failed || (r.halted && !atStop)) return;
        let moved: boolean;
        try {
          // A projection that never had anything to write has no row yet.
          await ensureCheckpointRow(batchDb, r.projection.name);
          moved = await skipMoves.move(r.projection.name, r.position, to);
        } catch (err) {
          moved = false;
          if (!atStop) logger.error({ err, projection: r.projection.name }, 'projection checkpoint move failed');
        }
        if (!moved) {
          r.halted = true;
          r.failed = true;
          if (!atStop) void this.restart(r, 'checkpoint moved elsewhere');
          return;
        }
        r.position = to;
        if (r.skippedTo === to) r.skippedTo = null;
      });
      return flushing;
    };

    r.subscription = store.subscribeToAll({
      after: r.position,
      batchSize: catchUpBatch,
      onCaughtUp: () => {
        caughtUp = true;
      },
      // Not async: a promise only when the subscription must wait (a full batch being written), not for each event.
      onEvent: (event) => {
        if (stageTrace.enabled) stageTrace.since(`run.${r.projection.name}.0.deliver`, committedAt.get(event));
        buffer.push(event);
        holdLive();
        if (buffer.length >= (caughtUp ? liveBatch : catchUpBatch)) return flush();
        // A live projection's batch goes in this turn's check phase, not after the next timers (>= 1 ms).
        if (!timer) timer = r.projection.live && caughtUp ? setImmediate(() => void flush()) : setTimeout(() => void flush(), 0);
        return undefined;
      },
      onError: (err) => logger.error({ err, projection: r.projection.name }, 'projection subscription failed'),
    });
  }
}
