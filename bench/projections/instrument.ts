// Where catch-up time goes: thin timing wrappers around the SQL client, the event store's readAll, the
// projection's applyBatch and the bus. They only add a performance.now() pair per call (a few thousand calls
// per catch-up), and they wrap Kefu's objects without changing what those do.
import { performance } from 'node:perf_hooks';
import type { SqlClient, SqlExecutor } from '../../src/adapters/sql/sql-client.ts';
import type { Bus } from '../../src/domain/ports/bus.ts';
import type { PostgresEventStore } from '../../src/adapters/eventstore/postgres/postgres-event-store.ts';
import type { Projection } from '../../src/projections/projection.ts';

/** Milliseconds and calls per key, added up. */
export class Timings {
  private readonly totals = new Map<string, { ms: number; calls: number }>();

  add(key: string, ms: number): void {
    const t = this.totals.get(key) ?? { ms: 0, calls: 0 };
    t.ms += ms;
    t.calls++;
    this.totals.set(key, t);
  }

  ms(key: string): number {
    return this.totals.get(key)?.ms ?? 0;
  }

  calls(key: string): number {
    return this.totals.get(key)?.calls ?? 0;
  }

  reset(): void {
    this.totals.clear();
  }

  async time<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const t = performance.now();
    try {
      return await fn();
    } finally {
      this.add(key, performance.now() - t);
    }
  }
}

/** What a statement does, from its text (kysely quotes identifiers; the event store writes plain SQL). */
export function classify(text: string): string {
  const head = text.trimStart().slice(0, 12).toUpperCase();
  if (head.startsWith('BEGIN')) return 'sql:begin';
  if (head.startsWith('COMMIT')) return 'sql:commit';
  if (head.startsWith('ROLLBACK')) return 'sql:rollback';
  if (text.includes('kefu_projection_checkpoints')) return 'sql:checkpoint';
  if (/^\s*select[\s\S]*from kefu_events/i.test(text)) return 'sql:read-events';
  if (/^\s*select[\s\S]*from "agents"/i.test(text)) return 'sql:agents-select';
  if (/^\s*insert into "agents"/i.test(text)) return 'sql:agents-upsert';
  return 'sql:other';
}

function timedExecutor(inner: SqlExecutor, timings: Timings): SqlExecutor {
  return {
    query: (text, params) => timings.time(classify(text), () => inner.query(text, params)),
    script: (text) => timings.time('sql:other', () => inner.script(text)),
  };
}

/** The same client, with every statement's time (from call to result) added to `timings` by kind. */
export function timedSql(inner: SqlClient, timings: Timings): SqlClient {
  const exec = timedExecutor(inner, timings);
  return {
    kind: inner.kind,
    raw: inner.raw,
    query: exec.query,
    script: exec.script,
    transaction: (fn) => inner.transaction((tx) => fn(timedExecutor(tx, timings))),
    withConnection: (fn) => inner.withConnection((conn) => fn(timedExecutor(conn, timings))),
    listen: (channel, onNotify) => inner.listen(channel, onNotify),
    tryLease: (key) => inner.tryLease(key),
    close: () => inner.close(),
  };
}

/**
 * Times the store's readAll. Replaces the method on the instance, so that reads the store makes for its own
 * subscriptions (`this.readAll`) are timed too.
 */
export function timeReadAll(store: PostgresEventStore, timings: Timings): void {
  const readAll = store.readAll.bind(store);
  store.readAll = (options) => timings.time('readAll', () => readAll(options));
}

/** The projection with its applyBatch timed; `batchStarts` gets the start time of each batch. */
export function timedProjection(projection: Projection, timings: Timings, batchStarts: number[]): Projection {
  const applyBatch = projection.applyBatch!.bind(projection);
  return {
    name: projection.name,
    tables: projection.tables,
    eventTypes: projection.eventTypes,
    applyBatch: (trx, events, changes) => {
      batchStarts.push(performance.now());
      return timings.time('applyBatch', () => applyBatch(trx, events, changes));
    },
  };
}

export function timedBus(bus: Bus, timings: Timings): Bus {
  return {
    name: bus.name,
    publish: (topic, message) => timings.time('bus:publish', () => bus.publish(topic, message)),
    subscribe: (topic, onMessage) => bus.subscribe(topic, onMessage),
    close: () => bus.close(),
  };
}
