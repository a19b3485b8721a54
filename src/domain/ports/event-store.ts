// The event store port. Adapters: PostgreSQL and PGlite (src/adapters/eventstore/postgres), EventStoreDB
// (src/adapters/eventstore/eventstoredb). One conformance suite (test/eventstore) runs against each.

export interface EventMetadata {
  instanceId: string;
  actor: string;
  correlationId: string;
  causationId: string | null;
  occurredAt: string;
  [key: string]: unknown;
}

export interface NewEvent {
  /** A UUID. Appending the same ids again to the same stream is a no-op (idempotent retry). */
  id: string;
  type: string;
  data: Record<string, unknown>;
  metadata: EventMetadata;
}

/**
 * A position in the global order of all events. For PostgreSQL `commit` is the writing transaction's id
 * and `prepare` the event's sequence number; for EventStoreDB they are its commit and prepare positions.
 * Positions compare as (commit, prepare).
 */
export interface Position {
  commit: bigint;
  prepare: bigint;
}

export interface RecordedEvent {
  id: string;
  streamId: string;
  /** 0-based revision of the event in its stream. */
  revision: number;
  type: string;
  data: Record<string, unknown>;
  metadata: EventMetadata;
  position: Position;
}

/** `no_stream`: the stream must not exist; `stream_exists`: it must; a number: its last revision. */
export type ExpectedRevision = 'any' | 'no_stream' | 'stream_exists' | number;

export interface AppendResult {
  /** Revision of the last event now in the stream. */
  nextRevision: number;
  /** Position of the last appended event; every event up to it is visible to readers once they reach it. */
  position: Position;
}

export interface ReadStreamOptions {
  direction?: 'forwards' | 'backwards';
  /** Inclusive start; defaults to the first (forwards) or the last (backwards) event. */
  fromRevision?: number;
  maxCount?: number;
}

export interface ReadAllOptions {
  /** Exclusive: events strictly after this position. Omit to start at the beginning. */
  after?: Position | null;
  maxCount?: number;
}

export interface SubscribeOptions {
  /** Exclusive: deliver events strictly after this position; omit for everything. */
  after?: Position | null;
  /** Called once per event, in order; the next one waits for the returned promise. */
  onEvent: (event: RecordedEvent) => Promise<void> | void;
  /** Called with the position of the last event delivered when the subscription has caught up. */
  onCaughtUp?: (position: Position | null) => void;
  onError?: (error: unknown) => void;
  /** Events per read while catching up. */
  batchSize?: number;
}

export interface Subscription {
  /** Stops delivering; resolves once the event in hand, if any, has been handled. */
  stop(): Promise<void>;
}

export interface EventStore {
  readonly name: string;
  appendToStream(streamId: string, events: NewEvent[], options: { expectedRevision: ExpectedRevision }): Promise<AppendResult>;
  /** Returns [] for a stream that does not exist. */
  readStream(streamId: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;
  readAll(options?: ReadAllOptions): Promise<RecordedEvent[]>;
  /** Catch-up subscription to all events: delivers the past from `after`, then turns live, with no gap and no duplicate. */
  subscribeToAll(options: SubscribeOptions): Subscription;
  /** The position of the newest event that readers can see, or null for an empty store. */
  headPosition(): Promise<Position | null>;
  close(): Promise<void>;
}

export class WrongExpectedRevisionError extends Error {
  override readonly name = 'WrongExpectedRevisionError';
  readonly streamId: string;
  readonly expected: ExpectedRevision;
  readonly actual: number | 'no_stream';
  constructor(streamId: string, expected: ExpectedRevision, actual: number | 'no_stream') {
    super(`Stream ${streamId}: expected revision ${String(expected)}, actual ${String(actual)}`);
    this.streamId = streamId;
    this.expected = expected;
    this.actual = actual;
  }
}

/** An event id was already used for a different append. */
export class DuplicateEventIdError extends Error {
  override readonly name = 'DuplicateEventIdError';
}

export function comparePositions(a: Position, b: Position): number {
  if (a.commit !== b.commit) return a.commit < b.commit ? -1 : 1;
  if (a.prepare !== b.prepare) return a.prepare < b.prepare ? -1 : 1;
  return 0;
}

export function positionToString(p: Position): string {
  return `${p.commit}/${p.prepare}`;
}

export function positionFromString(s: string): Position {
  const m = /^(\d+)\/(\d+)$/.exec(s);
  if (!m) throw new Error(`Not a position: ${s}`);
  return { commit: BigInt(m[1]!), prepare: BigInt(m[2]!) };
}
