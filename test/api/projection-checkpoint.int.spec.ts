// The checkpoint guard of a projection batch: a batch applies only if the checkpoint is where the runner
// last left it. A batch with nothing for the projection moves only the checkpoint (one statement); a batch
// with events for it writes its rows and the checkpoint in one transaction. Either way, a runner whose view
// is stale (another runner moved the checkpoint) writes nothing.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../src/domain/ports/event-store.ts';
import { applyBatch, CheckpointMoved, CheckpointMoves, readCheckpoint } from '../../src/projections/projection-runner.ts';
import type { Projection } from '../../src/projections/projection.ts';
import { startTestKefu, type TestKefu } from '../support/kefu.ts';
import { wantPostgres } from '../support/services.ts';

function event(type: string, commit: bigint, prepare = 0n): RecordedEvent {
  return {
    id: `e-${commit}-${prepare}`,
    streamId: 'test-stream',
    revision: Number(commit),
    type,
    data: { n: Number(commit) },
    metadata: { correlationId: 'c', causationId: null, actor: 'test', instanceId: null } as unknown as RecordedEvent['metadata'],
    position: { commit, prepare },
    createdAt: new Date(0).toISOString(),
  } as RecordedEvent;
}

describe('projection batch checkpoint', async () => {
  const database = (await wantPostgres()) ? 'postgres' : 'pglite';
  let t: TestKefu;
  const applied: number[] = [];
  const projection: Projection = {
    name: `checkpoint_test_${process.pid}`,
    tables: [],
    eventTypes: new Set(['Counted']),
    async apply(trx, e) {
      // A write inside the batch's transaction: it must vanish with a refused batch.
      await sql`SELECT 1`.execute(trx);
      applied.push((e.data as { n: number }).n);
    },
  };

  beforeAll(async () => {
    t = await startTestKefu({ database });
  });

  afterAll(async () => {
    await t?.close();
  });

  it('moves the checkpoint alone for a batch of other events, and applies a batch of its events', async () => {
    const db = t.kefu.db;
    expect(await readCheckpoint(db, projection.name)).toBeNull();
    await applyBatch(db, projection, null, [event('Other', 1n), event('Other', 2n)]);
    expect(await readCheckpoint(db, projection.name)).toEqual({ commit: 2n, prepare: 0n });
    expect(applied).toEqual([]);
    await applyBatch(db, projection, { commit: 2n, prepare: 0n }, [event('Counted', 3n), event('Other', 4n), event('Counted', 5n)]);
    expect(applied).toEqual([3, 5]);
    expect(await readCheckpoint(db, projection.name)).toEqual({ commit: 5n, prepare: 0n });
  });

  it('refuses a batch from a stale checkpoint, with or without events for it, and writes nothing', async () => {
    const db = t.kefu.db;
    const before = await readCheckpoint(db, projection.name);
    await expect(applyBatch(db, projection, { commit: 2n, prepare: 0n }, [event('Other', 6n)])).rejects.toBeInstanceOf(CheckpointMoved);
    await expect(applyBatch(db, projection, null, [event('Counted', 7n)])).rejects.toBeInstanceOf(CheckpointMoved);
    expect(applied).toEqual([3, 5]);
    expect(await readCheckpoint(db, projection.name)).toEqual(before);
    // From the true checkpoint it goes on.
    await applyBatch(db, projection, before, [event('Counted', 8n)]);
    expect(applied).toEqual([3, 5, 8]);
  });

  it('moves the checkpoints of several projections in one grouped statement, each under its own guard', async () => {
    const db = t.kefu.db;
    const moves = new CheckpointMoves(db);
    const other: Projection = { ...projection, name: `${projection.name}_other` };
    const third: Projection = { ...projection, name: `${projection.name}_third` };
    await applyBatch(db, other, null, [event('Other', 1n)]);
    const before = await readCheckpoint(db, projection.name);
    // Both go out in the same tick: `other` from its true checkpoint, `third` from a wrong one.
    const [a, b] = await Promise.allSettled([
      applyBatch(db, other, { commit: 1n, prepare: 0n }, [event('Other', 20n)], moves),
      applyBatch(db, third, { commit: 5n, prepare: 0n }, [event('Other', 20n)], moves),
    ]);
    expect(a.status).toBe('fulfilled');
    expect(b.status === 'rejected' && b.reason instanceof CheckpointMoved).toBe(true);
    expect(await readCheckpoint(db, other.name)).toEqual({ commit: 20n, prepare: 0n });
    expect(await readCheckpoint(db, third.name)).toBeNull();
    expect(await readCheckpoint(db, projection.name)).toEqual(before);
  });

  it('finds the checkpoint row again after it was deleted (a rebuild elsewhere)', async () => {
    const db = t.kefu.db;
    await db.deleteFrom('kefu_projection_checkpoints').where('name', '=', projection.name).execute();
    await expect(applyBatch(db, projection, { commit: 8n, prepare: 0n }, [event('Other', 9n)])).rejects.toBeInstanceOf(CheckpointMoved);
    await applyBatch(db, projection, null, [event('Other', 9n)]);
    expect(await readCheckpoint(db, projection.name)).toEqual({ commit: 9n, prepare: 0n });
  });
});
