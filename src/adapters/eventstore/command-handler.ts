// The one generic command handler: read the stream, fold, decide, append at the expected revision; on a
// concurrency conflict read again and decide again, a bounded number of times.
import { randomUUID } from 'node:crypto';
import type { CommandMetadata, Decider, DomainEvent } from '../../domain/decider.ts';
import { ConflictError, ValidationError } from '../../domain/errors.ts';
import type { EventStore, NewEvent, Position } from '../../domain/ports/event-store.ts';
import { WrongExpectedRevisionError } from '../../domain/ports/event-store.ts';
import { findUnstorableValue, pathToField } from '../../domain/values.ts';

export interface HandledCommand<State, Event> {
  state: State;
  /** The events this command appended; [] when it changed nothing. */
  events: Event[];
  /** Position of the last appended event, or null when nothing was appended. */
  position: Position | null;
}

interface Folded<State> {
  state: State;
  revision: number;
}

/**
 * Folded states by stream, so a command on a long stream reads only the events after the cached revision.
 * States are immutable values, so sharing them is safe.
 */
class StateCache {
  private readonly entries = new Map<string, Folded<unknown>>();
  private readonly max: number;
  constructor(max: number) {
    this.max = max;
  }
  get<State>(key: string): Folded<State> | undefined {
    const hit = this.entries.get(key);
    if (hit) {
      this.entries.delete(key);
      this.entries.set(key, hit);
    }
    return hit as Folded<State> | undefined;
  }
  set(key: string, value: Folded<unknown>): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    if (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
  }
}

/**
 * The last line of defence behind the edges' checks: an event holding anything a store or a read model
 * cannot hold (NUL, an unpaired surrogate, a date outside 0001-9999, a non-finite number, nesting past
 * maxValueDepth) is refused before it is appended, whatever door the command came through (API, SIP,
 * a process). The field is the path in the event's data (`reason`, `customer.name`) or `metadata.<key>`.
 */
export function refuseUnstorableEvent(event: { type: string; data: unknown; metadata?: unknown }): void {
  const inData = findUnstorableValue(event.data);
  if (inData) throw new ValidationError(pathToField(inData.path) || 'data', inData.problem);
  const inMetadata = event.metadata === undefined ? null : findUnstorableValue(event.metadata);
  if (inMetadata) throw new ValidationError(pathToField(['metadata', ...inMetadata.path]), inMetadata.problem);
}

export interface CommandHandlerOptions {
  /** Attempts after a concurrency conflict before giving up with CONFLICT. */
  retries?: number;
  cacheSize?: number;
}

export class CommandHandler {
  private readonly store: EventStore;
  private readonly retries: number;
  private readonly cache: StateCache;

  constructor(store: EventStore, options: CommandHandlerOptions = {}) {
    this.store = store;
    this.retries = options.retries ?? 10;
    this.cache = new StateCache(options.cacheSize ?? 20_000);
  }

  /**
   * The stream's folded state as this handler last saw it, without reading the stream; undefined if not cached.
   * It may be behind the stream (another writer appended since): fit only for what cannot change (who the
   * customer is) or what the next append checks again on the stream as it is.
   */
  peek<State>(streamId: string): { state: State; revision: number } | undefined {
    return this.cache.get<State>(streamId);
  }

  async load<State, Event extends DomainEvent>(
    streamId: string,
    decider: Pick<Decider<State, never, Event>, 'initialState' | 'evolve'>,
  ): Promise<Folded<State>> {
    const cached = this.cache.get<State>(streamId);
    const events = await this.store.readStream(streamId, cached ? { fromRevision: cached.revision + 1 } : {});
    let state = cached?.state ?? decider.initialState();
    let revision = cached?.revision ?? -1;
    for (const e of events) {
      state = decider.evolve(state, { type: e.type, data: e.data } as Event);
      revision = e.revision;
    }
    const folded = { state, revision };
    if (events.length > 0 || !cached) this.cache.set(streamId, folded);
    return folded;
  }

  async handle<State, Command extends { metadata: CommandMetadata }, Event extends DomainEvent>(
    streamId: string,
    decider: Decider<State, Command, Event>,
    command: Command,
  ): Promise<HandledCommand<State, Event>> {
    const metadata = {
      instanceId: command.metadata.instanceId,
      actor: command.metadata.actor,
      correlationId: command.metadata.correlationId,
      causationId: null,
      occurredAt: command.metadata.now,
    };
    const append = async (state: State, revision: number, events: Event[]): Promise<HandledCommand<State, Event>> => {
      const toAppend: NewEvent[] = events.map((e) => ({ id: randomUUID(), type: e.type, data: e.data as Record<string, unknown>, metadata }));
      for (const e of toAppend) refuseUnstorableEvent(e);
      const result = await this.store.appendToStream(streamId, toAppend, {
        expectedRevision: revision < 0 ? 'no_stream' : revision,
      });
      const newState = events.reduce(decider.evolve, state);
      this.cache.set(streamId, { state: newState, revision: result.nextRevision });
      return { state: newState, events, position: result.position };
    };
    // Optimistic: with the stream's folded state cached, decide on it and append at its revision without reading
    // the stream first. The expected revision makes that safe: the append succeeds only if nothing was appended
    // since, so the state decided on was the stream's. Any other outcome (another writer appended, the decider
    // refused or had nothing to do on a state that may be old) goes the usual way: read, decide, append.
    const cached = this.cache.get<State>(streamId);
    if (cached) {
      let events: Event[] | null;
      try {
        events = decider.decide(command, cached.state);
      } catch {
        events = null;
      }
      if (events && events.length > 0) {
        try {
          return await append(cached.state, cached.revision, events);
        } catch (err) {
          // A conflict, or events refused before any append (decided again on the stream as it is).
          if (!(err instanceof WrongExpectedRevisionError) && !(err instanceof ValidationError)) throw err;
        }
      }
    }
    for (let attempt = 0; ; attempt++) {
      const { state, revision } = await this.load(streamId, decider);
      const events = decider.decide(command, state);
      if (events.length === 0) return { state, events, position: null };
      try {
        return await append(state, revision, events);
      } catch (err) {
        if (!(err instanceof WrongExpectedRevisionError)) throw err;
        if (attempt >= this.retries) {
          throw new ConflictError(`${streamId} kept changing while this command was applied; try again`);
        }
        // Spread the retries of competing writers apart.
        await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 2 ** attempt)));
      }
    }
  }
}
