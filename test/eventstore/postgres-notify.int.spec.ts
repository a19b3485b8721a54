// The PostgreSQL event store wakes subscribers in other processes with a NOTIFY after its appends, and sends
// none while no other process listens (issue 11: a NOTIFY per append batch was a tenth of a chat message's
// statements on a single Kefu). Listening connections hold a shared advisory lock; listenerCount counts them.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresEventStore, migrateEventStore } from '../../src/adapters/eventstore/postgres/postgres-event-store.ts';
import { createPostgresClient, type SqlClient } from '../../src/adapters/sql/sql-client.ts';
import type { RecordedEvent } from '../../src/domain/ports/event-store.ts';
import { freshPostgresSchema, postgresUrl } from '../support/services.ts';

async function until(ok: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const event = () => ({ id: randomUUID(), type: 'Noted', data: {}, metadata: { correlationId: 'c', causationId: null, actor: 'test', instanceId: 'i', occurredAt: new Date().toISOString() } });

describe('PostgreSQL event store notices', () => {
  let db: Awaited<ReturnType<typeof freshPostgresSchema>>;
  /** A second "process": its own pool and listening connection on the same schema. */
  let other: SqlClient;

  beforeAll(async () => {
    db = await freshPostgresSchema();
    await migrateEventStore(db.client);
    other = createPostgresClient(postgresUrl, { schema: db.schema, max: 2 });
  });
  afterAll(async () => {
    await other?.close();
    await db?.drop();
  });

  it('counts the connections listening on a channel in its schema', async () => {
    const channel = `c_${randomUUID().slice(0, 8)}`;
    expect(await db.client.listenerCount!(channel)).toBe(0);
    const first = await db.client.listen(channel, () => undefined);
    const second = await other.listen(channel, () => undefined);
    expect(await db.client.listenerCount!(channel)).toBe(2);
    await first();
    await until(async () => (await other.listenerCount!(channel)) === 1, 'one listener left');
    await second();
    await until(async () => (await db.client.listenerCount!(channel)) === 0, 'no listener left');
  });

  it('sends no NOTIFY while no other process listens, and wakes one that does', async () => {
    const sent: string[] = [];
    const checks: number[] = [];
    // The writer's client, recording its NOTIFYs and its listener counts.
    const writerSql: SqlClient = {
      ...db.client,
      kind: 'postgres',
      raw: db.client.raw,
      query: (text, params) => {
        if (text.includes('pg_notify')) sent.push(text);
        return db.client.query(text, params);
      },
      listenerCount: async (channel) => {
        const n = await db.client.listenerCount!(channel);
        checks.push(n);
        return n;
      },
    };
    const writer = new PostgresEventStore(writerSql, { listenerCheckMs: 0, notifyIntervalMs: 0 });
    // Nobody listens: after the first count (0), no NOTIFY goes out.
    await writer.appendToStream(`s-${randomUUID()}`, [event()], { expectedRevision: 'no_stream' });
    await until(() => checks.length > 0, 'the first listener count');
    expect(checks[0]).toBe(0);
    await new Promise((r) => setImmediate(r));
    const before = sent.length;
    for (let i = 0; i < 5; i++) await writer.appendToStream(`s-${randomUUID()}`, [event()], { expectedRevision: 'no_stream' });
    expect(sent.length).toBe(before);

    // Another process subscribes; it polls only once a minute, so only a NOTIFY wakes it in time.
    const reader = new PostgresEventStore(other, { idlePollMs: 60_000 });
    const seen: RecordedEvent[] = [];
    let caughtUp = false;
    const sub = reader.subscribeToAll({
      onEvent: (e) => {
        seen.push(e);
      },
      onCaughtUp: () => {
        caughtUp = true;
      },
    });
    await until(async () => caughtUp && (await other.listenerCount!('kefu_events')) === 1, 'the reader listening');
    const stream = `s-${randomUUID()}`;
    // The writer counts again after each NOTIFY decision: its appends reach the reader once it has counted it.
    await writer.appendToStream(stream, [event()], { expectedRevision: 'no_stream' });
    let revision = 0;
    await until(async () => {
      if (seen.some((e) => e.streamId === stream && e.revision === revision)) return true;
      if (checks.at(-1) === 1) {
        await writer.appendToStream(stream, [event()], { expectedRevision: revision });
        revision++;
      }
      return false;
    }, 'the reader woken by a NOTIFY');
    expect(sent.length).toBeGreaterThan(before);
    await sub.stop();
    await reader.close();
    await writer.close();
  });
});
