import type { Kysely, Transaction } from 'kysely';
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
  /** Event types it reads; others only move its checkpoint. */
  readonly eventTypes: ReadonlySet<string>;
  /** Applies one event inside the batch's transaction. Must be idempotent. */
  apply?(trx: Transaction<ReadModelDb>, event: RecordedEvent, changes: ChangeSink): Promise<void>;
  /** Or applies all of a batch's events it reads (in order) at once, for projections that see many events. */
  applyBatch?(trx: Transaction<ReadModelDb>, events: RecordedEvent[], changes: ChangeSink): Promise<void>;
  /**
   * Forgets what it keeps in memory between batches (rows it wrote, read again instead): called when a runner
   * starts running it (another process may have run it meanwhile), before a rebuild, and when a parked part was
   * retried (its held events were applied, maybe by another process).
   */
  reset?(): void;
}


export type ReadModel = Kysely<ReadModelDb>;
