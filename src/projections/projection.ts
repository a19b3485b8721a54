import type { Kysely, RawBuilder, Transaction } from 'kysely';
import type { RecordedEvent } from '../domain/ports/event-store.ts';
import type { ReadModelDb } from './read-model-db.ts';

/** Bus messages a projection wants sent once its transaction has committed. */
export interface ChangeSink {
  publish(topic: string, message: unknown): void;
  /**
   * Runs `fn` once the batch's transaction has committed, never if it rolls back (a projection keeping the rows
   * it wrote between batches keeps only committed ones). Absent where nothing tells of the commit: then nothing is kept.
   */
  committed?(fn: () => void): void;
}

export interface Projection {
  readonly name: string;
  /** Tables this projection owns; a rebuild empties them. */
  readonly tables: readonly (keyof ReadModelDb & string)[];
  /**
   * Its changes feed live views that people watch as they happen (agentStatusChanged): its batches commit in a
   * transaction of their own, at once, instead of waiting in one shared with projections that only store.
   */
  readonly live?: boolean;
  /**
   * Events per transaction while it catches up or is rebuilt, when more than the runner's (5,000) pay: a
   * projection that folds a batch in memory and writes each of its rows once a batch writes a row fewer times
   * the more events a batch holds. Live batches stay small.
   */
  readonly catchUpBatchSize?: number;
  /** Event types it reads; others only move its checkpoint. */
  readonly eventTypes: ReadonlySet<string>;
  /** Applies one event inside the batch's transaction. Must be idempotent. */
  apply?(trx: Transaction<ReadModelDb>, event: RecordedEvent, changes: ChangeSink): Promise<void>;
  /** Or applies all of a batch's events it reads (in order) at once, for projections that see many events. */
  applyBatch?(trx: Transaction<ReadModelDb>, events: RecordedEvent[], changes: ChangeSink): Promise<void>;
  /**
   * A live batch's writes as one statement, when it needs no read (issue 10): a data-modifying statement (the
   * body of a CTE) that writes only when the CTE `moved`, the batch's guarded checkpoint move, has a row. The
   * runner sends both as one statement outside a transaction (atomic all the same): one round trip, and on PGlite
   * one call on the main thread, instead of BEGIN, the move, the writes and COMMIT. Publishes and `committed`
   * as applyBatch does; the runner drops them if it falls back to applyBatch. null: apply the batch with applyBatch.
   * Several bodies: each its own CTE of the one statement, in order (PostgreSQL takes a data-modifying WITH only at
   * a statement's top level, so a body cannot hold one); each must itself write only when `moved` has a row.
   */
  batchStatement?(events: RecordedEvent[], changes: ChangeSink): RawBuilder<unknown> | readonly RawBuilder<unknown>[] | null;
  /**
   * One step of work the projection does beside its batches (a long recount), in a transaction of its own:
   * true if it did some (and may have more), false if there is none. The process running the projection calls
   * it between batches until false (after a batch, and once when it starts: a crash leaves the work where it
   * stopped); a rebuild runs it to the end.
   */
  backgroundStep?(db: ReadModel): Promise<boolean>;
  /**
   * Forgets what it keeps in memory between batches (rows it wrote, read again instead): called when a runner
   * starts running it (another process may have run it meanwhile), before a rebuild, and when a parked part was
   * retried (its held events were applied, maybe by another process).
   */
  reset?(): void;
}


export type ReadModel = Kysely<ReadModelDb>;
