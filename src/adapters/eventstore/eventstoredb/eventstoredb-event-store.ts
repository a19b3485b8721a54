// The event store on EventStoreDB, through the official gRPC client (@eventstore/db-client v6).
//
// Streams map one to one onto EventStoreDB streams; the port's global order is EventStoreDB's $all, with
// EventStoreDB's own system events ($-prefixed types and streams) left out. Event ids are passed through, so an
// append retried with the same ids is made idempotent by the server itself.
import {
  ANY,
  BACKWARDS,
  END,
  ErrorType,
  EventStoreDBClient,
  FORWARDS,
  NO_STREAM,
  START,
  STREAM_EXISTS,
  excludeSystemEvents,
  isCommandError,
  jsonEvent,
} from '@eventstore/db-client';
import type {
  AllStreamSubscription,
  AppendExpectedRevision,
  CurrentRevision,
  Position as EsdbPosition,
  ReadPosition,
  ReadRevision,
  ResolvedEvent,
} from '@eventstore/db-client';
import type {
  AppendResult,
  EventMetadata,
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
import { comparePositions, WrongExpectedRevisionError } from '../../../domain/ports/event-store.ts';

// ---------------------------------------------------------------------------------------------------------------
// Mapping between the port and the client. Pure functions, exported for unit tests.

/** The port's expected revision as the client's. */
export function toEsdbExpectedRevision(expected: ExpectedRevision): AppendExpectedRevision {
  switch (expected) {
    case 'any':
      return ANY;
    case 'no_stream':
      return NO_STREAM;
    case 'stream_exists':
      return STREAM_EXISTS;
    default:
      if (!Number.isSafeInteger(expected) || expected < 0) throw new RangeError(`Not a stream revision: ${String(expected)}`);
      return BigInt(expected);
  }
}

/** The client's current revision of a stream (from a wrong-expected-version error) as the port's. */
export function fromEsdbCurrentRevision(current: CurrentRevision): number | 'no_stream' {
  if (current === NO_STREAM || current < 0n) return 'no_stream';
  return Number(current);
}

/** The port's exclusive `after` as the client's read position: START for none. */
export function toEsdbReadPosition(after: Position | null | undefined): ReadPosition {
  return after ? { commit: after.commit, prepare: after.prepare } : START;
}

export function fromEsdbPosition(p: EsdbPosition): Position {
  return { commit: p.commit, prepare: p.prepare };
}

/** The port's inclusive fromRevision as the client's: the first event forwards, the last backwards, by default. */
export function toEsdbReadRevision(fromRevision: number | undefined, direction: 'forwards' | 'backwards'): ReadRevision {
  if (fromRevision === undefined) return direction === 'backwards' ? END : START;
  if (!Number.isSafeInteger(fromRevision) || fromRevision < 0) throw new RangeError(`Not a stream revision: ${String(fromRevision)}`);
  return BigInt(fromRevision);
}

/** EventStoreDB's own events (stats, projections, stream metadata, links): never part of the port's $all. */
export function isSystemEvent(e: { type: string; streamId: string }): boolean {
  return e.type.startsWith('$') || e.streamId.startsWith('$');
}

/** The client's error as the port's when it is a concurrency conflict; any other error unchanged. */
export function toPortError(err: unknown, streamId: string, expected: ExpectedRevision): unknown {
  if (err instanceof Error && isCommandError(err) && err.type === ErrorType.WRONG_EXPECTED_VERSION) {
    return new WrongExpectedRevisionError(streamId, expected, fromEsdbCurrentRevision(err.actualVersion));
  }
  return err;
}

export function isStreamNotFound(err: unknown): boolean {
  return err instanceof Error && isCommandError(err) && err.type === ErrorType.STREAM_NOT_FOUND;
}

type EsdbRecorded = NonNullable<ResolvedEvent['event']>;

/** A recorded event from the client as the port's. Needs the event's position (EventStoreDB 22.6 and later). */
export function toRecordedEvent(e: EsdbRecorded): RecordedEvent {
  if (!e.position) throw new Error(`EventStoreDB returned event ${e.id} without its position (the server must be 22.6 or later)`);
  if (!e.isJson) throw new Error(`Event ${e.id} in stream ${e.streamId} is not JSON`);
  return {
    id: e.id,
    streamId: e.streamId,
    revision: Number(e.revision),
    type: e.type,
    data: e.data as Record<string, unknown>,
    metadata: e.metadata as unknown as EventMetadata,
    position: fromEsdbPosition(e.position),
  };
}

// ---------------------------------------------------------------------------------------------------------------

/** Events per page when reading $all, a range that also has to step over system events. */
const minPageSize = 100;
const maxPageSize = 4096;
/** Wait before resubscribing after a subscription failed. */
const resubscribeDelayMs = 1000;

/** A failure that ends a subscription: the subscriber's own, or an event that cannot be delivered. */
class Fatal {
  readonly cause: unknown;
  constructor(cause: unknown) {
    this.cause = cause;
  }
}

async function collect<E>(read: AsyncIterable<E>): Promise<E[]> {
  const out: E[] = [];
  for await (const e of read) out.push(e);
  return out;
}

export class EventStoreDbEventStore implements EventStore {
  readonly name = 'EventStoreDB';
  private readonly client: EventStoreDBClient;
  private readonly subscriptions = new Set<Subscription>();

  /** @param connectionString e.g. `esdb://localhost:2113?tls=false` */
  constructor(connectionString: string) {
    this.client = EventStoreDBClient.connectionString(connectionString);
  }

  async appendToStream(streamId: string, events: NewEvent[], options: { expectedRevision: ExpectedRevision }): Promise<AppendResult> {
    if (events.length === 0) throw new Error('appendToStream needs at least one event');
    const expected = options.expectedRevision;
    const data = events.map((e) => jsonEvent({ id: e.id, type: e.type, data: e.data, metadata: e.metadata }));
    let result;
    try {
      result = await this.client.appendToStream(streamId, data, { expectedRevision: toEsdbExpectedRevision(expected) });
    } catch (err) {
      throw toPortError(err, streamId, expected);
    }
    // Only with `throwOnAppendFailure=false` in the connection string; the client's actual revision is then unreliable.
    if (!result.success) throw new WrongExpectedRevisionError(streamId, expected, fromEsdbCurrentRevision(result.nextExpectedRevision));
    const nextRevision = Number(result.nextExpectedRevision);
    // The port wants the position of the last event of this append. The append response's position is the
    // server's write position (and is missing on an idempotent retry), so read the event itself back.
    const [last] = await this.readStream(streamId, { fromRevision: nextRevision, maxCount: 1 });
    const position = last?.position ?? (result.position ? fromEsdbPosition(result.position) : null);
    if (!position) throw new Error(`EventStoreDB did not report a position for the append to ${streamId}`);
    return { nextRevision, position };
  }

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    const direction = options.direction ?? 'forwards';
    const read = this.client.readStream(streamId, {
      direction: direction === 'backwards' ? BACKWARDS : FORWARDS,
      fromRevision: toEsdbReadRevision(options.fromRevision, direction),
      ...(options.maxCount !== undefined ? { maxCount: options.maxCount } : {}),
    });
    let resolved: ResolvedEvent[];
    try {
      resolved = await collect(read);
    } catch (err) {
      if (isStreamNotFound(err)) return [];
      throw err;
    }
    return resolved.flatMap((r) => (r.event ? [toRecordedEvent(r.event)] : []));
  }

  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    const maxCount = options.maxCount ?? 1000;
    const out: RecordedEvent[] = [];
    if (maxCount <= 0) return out;
    // The port's `after` is exclusive; the server's fromPosition is taken to include the event at it. Anything at
    // or before `after` is dropped here, whichever it is, which also drops each next page's repeated first event.
    let after: Position | null = options.after ?? null;
    const pageSize = Math.min(Math.max(maxCount + 1, minPageSize), maxPageSize);
    for (;;) {
      const from: Position | null = after;
      const page = await this.readAllPage(FORWARDS, from, pageSize);
      for (const r of page) {
        const e = r.event;
        if (!e) continue;
        const position = fromEsdbPosition(e.position);
        if (after && comparePositions(position, after) <= 0) continue;
        after = position;
        if (isSystemEvent(e)) continue;
        out.push(toRecordedEvent(e));
        if (out.length >= maxCount) return out;
      }
      if (page.length < pageSize) return out;
      if (after === from) throw new Error('EventStoreDB returned a full page of $all without moving past the position read from');
    }
  }

  async headPosition(): Promise<Position | null> {
    let before: Position | null = null;
    for (;;) {
      // Backwards from END, then from the oldest position seen so far (dropped again if the server repeats it).
      const from: Position | null = before;
      const page = await this.readAllPage(BACKWARDS, from, minPageSize);
      for (const r of page) {
        const e = r.event;
        if (!e) continue;
        const position = fromEsdbPosition(e.position);
        if (before && comparePositions(position, before) >= 0) continue;
        before = position;
        if (!isSystemEvent(e)) return position;
      }
      if (page.length < minPageSize) return null;
      if (before === from) throw new Error('EventStoreDB returned a full page of $all without moving past the position read from');
    }
  }

  subscribeToAll(options: SubscribeOptions): Subscription {
    let stopped = false;
    let current: AllStreamSubscription | null = null;
    // Last position received from the server, system events included: where a resubscription continues.
    let seen: Position | null = options.after ?? null;
    // Position of the last event delivered to onEvent: what onCaughtUp reports.
    let delivered: Position | null = options.after ?? null;
    let caughtUp = false;
    const caughtUpNow = () => {
      if (caughtUp || stopped) return;
      caughtUp = true;
      options.onCaughtUp?.(delivered);
    };
    let wakeUp: (() => void) | null = null;
    const sleep = (ms: number) =>
      new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          wakeUp = null;
          resolve();
        };
        const timer = setTimeout(done, ms);
        wakeUp = done;
      });
    const release = async (sub: AllStreamSubscription | null) => {
      if (!sub) return;
      if (current === sub) current = null;
      await sub.unsubscribe().catch(() => undefined);
      // Cancelling the call does not end the client's stream; destroying it ends a pending `for await`.
      sub.destroy();
    };

    const subscription: Subscription = {
      stop: async () => {
        stopped = true;
        this.subscriptions.delete(subscription);
        wakeUp?.();
        await release(current);
        await running;
      },
    };

    const run = async () => {
      // Caught up at the latest once the newest event that existed at the start has been handled. Servers from
      // 23.10 on also say so themselves (the subscription's 'caughtUp' event): whichever comes first.
      let head: Position | null | undefined;
      const reachedHead = () => head === null || (head !== undefined && seen !== null && comparePositions(seen, head) >= 0);
      while (!stopped) {
        let sub: AllStreamSubscription | null = null;
        try {
          if (head === undefined) {
            head = await this.headPosition();
            if (reachedHead()) caughtUpNow();
            if (stopped) return;
          }
          const live = this.client.subscribeToAll(
            { fromPosition: toEsdbReadPosition(seen), filter: excludeSystemEvents() },
            options.batchSize ? { highWaterMark: options.batchSize } : {},
          );
          sub = current = live;
          // An error once the loop below has let go of the stream must not become an uncaught 'error' event.
          live.on('error', () => undefined);
          // Events taken from the stream and events handled; when the server says it has caught up, every event
          // taken by then or still buffered in the stream has to be handled before the subscriber is told so.
          let taken = 0;
          let handled = 0;
          let caughtUpAfter: number | null = null;
          live.once('caughtUp', () => {
            caughtUpAfter = taken + live.readableLength;
            if (handled >= caughtUpAfter) caughtUpNow();
          });
          for await (const r of live) {
            taken++;
            const e = r.event;
            if (e) {
              const position = fromEsdbPosition(e.position);
              // fromPosition is exclusive on the server; this also holds should a server repeat it.
              if (!seen || comparePositions(position, seen) > 0) {
                if (!isSystemEvent(e)) {
                  if (stopped) return;
                  try {
                    await options.onEvent(toRecordedEvent(e));
                  } catch (err) {
                    throw new Fatal(err);
                  }
                  delivered = position;
                }
                seen = position;
              }
            }
            handled++;
            if (stopped) return;
            if ((caughtUpAfter !== null && handled >= caughtUpAfter) || reachedHead()) caughtUpNow();
          }
          if (stopped) return;
          throw new Error('EventStoreDB ended the subscription to $all');
        } catch (err) {
          await release(sub);
          if (stopped) return;
          if (err instanceof Fatal) {
            // As with the PostgreSQL adapter, a failing subscriber (or an event it cannot be given) ends the
            // subscription rather than being skipped past.
            stopped = true;
            this.subscriptions.delete(subscription);
            options.onError?.(err.cause);
            return;
          }
          // The store failed (connection lost, server restarting): say so, then resubscribe after the last
          // position received.
          options.onError?.(err);
          await sleep(resubscribeDelayMs);
        }
      }
    };
    const running: Promise<void> = run().catch(() => {
      // Only onError itself can throw here; there is no one left to tell.
      stopped = true;
      this.subscriptions.delete(subscription);
    });
    this.subscriptions.add(subscription);
    return subscription;
  }

  async close(): Promise<void> {
    await Promise.all([...this.subscriptions].map((s) => s.stop()));
    await this.client.dispose();
  }

  private readAllPage(direction: typeof FORWARDS | typeof BACKWARDS, from: Position | null, maxCount: number) {
    const fromPosition = from ? toEsdbReadPosition(from) : direction === BACKWARDS ? END : START;
    return collect(this.client.readAll({ direction, fromPosition, maxCount }));
  }
}
