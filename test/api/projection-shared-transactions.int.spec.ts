// Batches of several projections ready at once share one transaction (issue 11: one BEGIN and COMMIT for the
// contacts, chat records, reports and webhooks batches a chat message wakes), yet each keeps its own outcome:
// when one of them cannot apply (its checkpoint moved elsewhere, an event that fails), nothing of the shared
// transaction stays, the others are applied on their own, and the failing one fails as it would alone.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../src/domain/ports/event-store.ts';
import { applyBatch, CheckpointMoved, readCheckpoint, SharedTransactions } from '../../src/projections/projection-runner.ts';
import type { Projection } from '../../src/projections/projection.ts';
import { startTestKefu, type TestKefu } from '../support/kefu.ts';
import { wantPostgres } from '../support/services.ts';

function event(type: string, n: number): RecordedEvent {
  return {
    id: `e-${n}`,
    streamId: 'test-stream',
    revision: n,
    type,
    data: { n },
    metadata: { correlationId: 'c', causationId: null, actor: 'test', instanceId: 'i', occurredAt: new Date(0).toISOString() },
    position: { commit: BigInt(n), prepare: 0n },
  };
}

describe('shared projection transactions', async () => {
  // PostgreSQL when the machine has it (its row locks are what the guard relies on), else the embedded database.
  const database = (await wantPostgres()) ? 'postgres' : 'pglite';
  let t: TestKefu;
  const table = `shared_tx_${process.pid}`;
  /** A projection writing a row per event, through its transaction; `failOn`: an event number it cannot apply. */
  const projection = (name: string, failOn?: number): Projection => ({
    name: `${name}_${process.pid}`,
    tables: [],
    eventTypes: new Set(['Counted']),
    async apply(trx, e) {
      const n = (e.data as { n: number }).n;
      if (n === failOn) throw new Error(`cannot apply ${n}`);
      await sql`INSERT INTO ${sql.table(table)} (projection, n) VALUES (${name}, ${n})`.execute(trx);
    },
  });
  const rows = async () => (await sql<{ projection: string; n: number }>`SELECT projection, n FROM ${sql.table(table)} ORDER BY projection, n`.execute(t.kefu.db)).rows.map((r) => `${r.projection}:${r.n}`);

  beforeAll(async () => {
    t = await startTestKefu({ database });
    await sql`CREATE TABLE ${sql.table(table)} (projection text NOT NULL, n int NOT NULL)`.execute(t.kefu.db);
  });
  afterAll(async () => t?.close());

  it('applies the batches of projections ready at once in one transaction', async () => {
    await sql`DELETE FROM ${sql.table(table)}`.execute(t.kefu.db);
    const shared = new SharedTransactions(t.kefu.db);
    const [a, b, c] = [projection('a'), projection('b'), projection('c')];
    // Their checkpoint rows first (a running runner has them): then the three batches are ready in the same turn.
    for (const p of [a, b, c]) await applyBatch(t.kefu.db, p, null, [event('Other', 0)]);
    const batch = [event('Counted', 1), event('Other', 2), event('Counted', 3)];
    await Promise.all([a, b, c].map((p) => applyBatch(t.kefu.db, p, { commit: 0n, prepare: 0n }, batch, undefined, shared)));
    expect(shared.counts).toEqual({ transactions: 1, batches: 3 });
    expect(await rows()).toEqual(['a:1', 'a:3', 'b:1', 'b:3', 'c:1', 'c:3']);
    for (const p of [a, b, c]) expect(await readCheckpoint(t.kefu.db, p.name)).toEqual({ commit: 3n, prepare: 0n });
  });

  it('gives each batch its own outcome when one of them fails the shared transaction', async () => {
    await sql`DELETE FROM ${sql.table(table)}`.execute(t.kefu.db);
    const shared = new SharedTransactions(t.kefu.db);
    const [d, stale, e] = [projection('d'), projection('stale'), projection('e')];
    for (const p of [d, stale, e]) await applyBatch(t.kefu.db, p, null, [event('Other', 0)]);
    // "stale" is at 1 already: a batch from 0 finds its checkpoint moved.
    await applyBatch(t.kefu.db, stale, { commit: 0n, prepare: 0n }, [event('Counted', 1)]);
    const batch = [event('Counted', 1), event('Counted', 2)];
    const outcomes = await Promise.allSettled([d, stale, e].map((p) => applyBatch(t.kefu.db, p, { commit: 0n, prepare: 0n }, batch, undefined, shared)));
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((outcomes[1] as PromiseRejectedResult).reason).toBeInstanceOf(CheckpointMoved);
    // The shared try wrote nothing; d and e each in their own transaction, stale not at all.
    expect(shared.counts).toEqual({ transactions: 2, batches: 2 });
    expect(await rows()).toEqual(['d:1', 'd:2', 'e:1', 'e:2', 'stale:1']);
    expect(await readCheckpoint(t.kefu.db, stale.name)).toEqual({ commit: 1n, prepare: 0n });
  });

  it('moves the checkpoints of batches with nothing to write in the shared transaction, each guarded', async () => {
    await sql`DELETE FROM ${sql.table(table)}`.execute(t.kefu.db);
    const shared = new SharedTransactions(t.kefu.db);
    const [g, idle, late] = [projection('g'), projection('idle'), projection('late')];
    for (const p of [g, idle, late]) await applyBatch(t.kefu.db, p, null, [event('Other', 0)]);
    // "late" is at 1 already: its move from 0 is refused, and that fails no one else.
    await applyBatch(t.kefu.db, late, { commit: 0n, prepare: 0n }, [event('Other', 1)]);
    const from = { commit: 0n, prepare: 0n };
    const outcomes = await Promise.allSettled([
      applyBatch(t.kefu.db, g, from, [event('Counted', 1), event('Other', 2)], shared, shared),
      applyBatch(t.kefu.db, idle, from, [event('Other', 1), event('Other', 2)], shared, shared),
      applyBatch(t.kefu.db, late, from, [event('Other', 1), event('Other', 2)], shared, shared),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'rejected']);
    expect((outcomes[2] as PromiseRejectedResult).reason).toBeInstanceOf(CheckpointMoved);
    // One transaction, for g's batch; idle's move went in its guarded-move statement.
    expect(shared.counts).toEqual({ transactions: 1, batches: 1 });
    expect(await rows()).toEqual(['g:1']);
    expect(await readCheckpoint(t.kefu.db, g.name)).toEqual({ commit: 2n, prepare: 0n });
    expect(await readCheckpoint(t.kefu.db, idle.name)).toEqual({ commit: 2n, prepare: 0n });
    expect(await readCheckpoint(t.kefu.db, late.name)).toEqual({ commit: 1n, prepare: 0n });
  });

  it('moves the checkpoints of batches with nothing to write on their own when the shared transaction fails', async () => {
    await sql`DELETE FROM ${sql.table(table)}`.execute(t.kefu.db);
    const shared = new SharedTransactions(t.kefu.db);
    const [h, quiet, broken] = [projection('h'), projection('quiet'), projection('broken2', 1)];
    for (const p of [h, quiet, broken]) await applyBatch(t.kefu.db, p, null, [event('Other', 0)]);
    const from = { commit: 0n, prepare: 0n };
    const [okH, okQuiet, okBroken] = await Promise.all([
      applyBatch(t.kefu.db, h, from, [event('Counted', 1)], shared, shared),
      applyBatch(t.kefu.db, quiet, from, [event('Other', 1)], shared, shared),
      applyBatch(t.kefu.db, broken, from, [event('Counted', 1)], shared, shared),
    ]);
    expect(okH!.parked).toEqual([]);
    expect(okQuiet!.parked).toEqual([]);
    expect(okBroken!.parked.map((p) => p.instanceId)).toEqual(['i']);
    expect(await rows()).toEqual(['h:1']);
    for (const p of [h, quiet, broken]) expect(await readCheckpoint(t.kefu.db, p.name)).toEqual({ commit: 1n, prepare: 0n });
  });

  it('parks the failing event of one projection as alone, and applies the others once', async () => {
    await sql`DELETE FROM ${sql.table(table)}`.execute(t.kefu.db);
    const shared = new SharedTransactions(t.kefu.db);
    const [f, broken] = [projection('f'), projection('broken', 2)];
    for (const p of [f, broken]) await applyBatch(t.kefu.db, p, null, [event('Other', 0)]);
    const batch = [event('Counted', 1), event('Counted', 2), event('Counted', 3)];
    const [okF, okBroken] = await Promise.all([f, broken].map((p) => applyBatch(t.kefu.db, p, { commit: 0n, prepare: 0n }, batch, undefined, shared)));
    // The shared try failed on event 2: nothing of it stayed; f went again alone (broken's one-by-one retry is its own).
    expect(shared.counts).toEqual({ transactions: 1, batches: 1 });
    expect(okF!.parked).toEqual([]);
    // Event 2 fails: its instance's part is parked, and 1 applied before it; 3 (same instance) is held.
    expect(okBroken!.parked.map((p) => p.instanceId)).toEqual(['i']);
    expect(await rows()).toEqual(['broken:1', 'f:1', 'f:2', 'f:3']);
  });

  it("commits every projection's batch without waiting for its WAL flush, shared or alone (the durable events replay it)", async () => {
    const settings: string[] = [];
    const noting = (name: string): Projection => ({
      name: `${name}_${process.pid}`,
      tables: [],
      eventTypes: new Set(['Counted']),
      async apply(trx) {
        settings.push((await sql<{ s: string }>`SELECT current_setting('synchronous_commit') AS s`.execute(trx)).rows[0]!.s);
      },
    });
    const [alone, x, y] = [noting('sync_alone'), noting('sync_x'), noting('sync_y')];
    for (const p of [alone, x, y]) await applyBatch(t.kefu.db, p, null, [event('Other', 0)]);
    await applyBatch(t.kefu.db, alone, { commit: 0n, prepare: 0n }, [event('Counted', 1)]);
    const shared = new SharedTransactions(t.kefu.db);
    await Promise.all([x, y].map((p) => applyBatch(t.kefu.db, p, { commit: 0n, prepare: 0n }, [event('Counted', 1)], undefined, shared)));
    expect(shared.counts).toEqual({ transactions: 1, batches: 2 });
    expect(settings).toEqual(['off', 'off', 'off']);
  });
});
