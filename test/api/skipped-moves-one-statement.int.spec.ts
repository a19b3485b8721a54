// An event that no projection of a process writes anything for (issue 10: of a presence change's dozen
// projections, two write) has each projection's checkpoint row moved a moment later, the moves of a turn in one
// guarded statement. With a pool of its own for the live projections (liveDb, PostgreSQL), the live ones' moves
// went in a statement of their own on it, and the others' in a second on the shared pool: two statements per
// change. They are one now, on liveDb; a live projection's move still never waits in a shared transaction.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InProcessBus } from '../../src/adapters/bus/in-process-bus.ts';
import { createKysely } from '../../src/adapters/sql/kysely-dialect.ts';
import { createPostgresClient, reservedView, type SqlClient } from '../../src/adapters/sql/sql-client.ts';
import { comparePositions, type Position } from '../../src/domain/ports/event-store.ts';
import { ProjectionRunner, readCheckpoint } from '../../src/projections/projection-runner.ts';
import type { Projection } from '../../src/projections/projection.ts';
import type { ReadModelDb } from '../../src/projections/read-model-db.ts';
import { startTestKefu, type TestKefu } from '../support/kefu.ts';
import { watchQueries } from '../support/read-model.ts';

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

async function until(ok: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

let t: TestKefu;

describe('skipped checkpoint moves of live and other projections', () => {
  beforeAll(async () => {
    t = await startTestKefu({ database: 'postgres' });
  }, 120_000);
  afterAll(async () => t?.close());

  const projection = (label: string, live: boolean): Projection => ({
    name: `${label}_${randomUUID().slice(0, 8)}`,
    tables: [],
    eventTypes: new Set([`h7-${label}`]),
    ...(live ? { live: true } : {}),
    async apply() {},
  });

  it('go in one statement per change, each row moved', async () => {
    const shared: SqlClient = createPostgresClient(t.databaseUrl!, { max: 2 });
    const moves: string[] = [];
    watchQueries(shared, (text) => {
      if (text.includes('UPDATE kefu_projection_checkpoints AS c')) moves.push(text);
    });
    const db = createKysely<ReadModelDb>(shared);
    const liveDb = createKysely<ReadModelDb>(reservedView(shared));
    const live = projection('live', true);
    const stored = projection('stored', false);
    const runner = new ProjectionRunner({ store: t.kefu.store, db, liveDb, sql: t.kefu.sql, bus: new InProcessBus(), projections: [live, stored], logger: silent, skipMoveMs: 20 });
    const append = async (): Promise<Position> =>
      (await t.kefu.store.appendToStream(`skipped-${randomUUID()}`, [{ id: randomUUID(), type: 'h7-nobody', data: {}, metadata: { instanceId: 'i' } as never }], { expectedRevision: 'no_stream' })).position;
    const reached = async (p: Position) => {
      for (const name of [live.name, stored.name]) {
        const at = await readCheckpoint(db, name);
        if (!at || comparePositions(at, p) < 0) return false;
      }
      return true;
    };
    try {
      await runner.start();
      // Both rows exist and are past everything before the changes below.
      const first = await append();
      await until(() => reached(first));
      // A quiet spell: the next skip's moves are written at once, in one turn.
      await new Promise((r) => setTimeout(r, 200));
      for (let i = 0; i < 3; i++) {
        moves.length = 0;
        const p = await append();
        await until(() => reached(p));
        // Nothing else was in flight: the turn's moves of both projections, and no other.
        await new Promise((r) => setTimeout(r, 200));
        expect(moves).toHaveLength(1);
      }
    } finally {
      await runner.stop();
      await db.destroy();
      await liveDb.destroy();
      await shared.close();
    }
  }, 120_000);
});
