// The checkpoint moves of projections with nothing in a batch (CheckpointMoves, grouped in one statement) send one
// text for any number of moves, marked to be prepared (kysely-dialect's preparedMark): the moves are one JSON
// parameter, where a VALUES list of their number made a new text, parsed and planned by PostgreSQL at about every
// commit under a chat load (issue 11). Each move is still guarded by its own from position.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { preparedMark } from '../../src/adapters/sql/kysely-dialect.ts';
import { CheckpointMoves } from '../../src/projections/projection-runner.ts';
import { startTestKefu, type TestKefu } from '../support/kefu.ts';
import { watchQueries } from '../support/read-model.ts';
import { wantPostgres } from '../support/services.ts';

const databases: ('pglite' | 'postgres')[] = (await wantPostgres()) ? ['pglite', 'postgres'] : ['pglite'];

describe.each(databases)('grouped checkpoint moves are one prepared text (%s)', (database) => {
  let t: TestKefu;
  const moves: string[] = [];
  beforeAll(async () => {
    t = await startTestKefu({ database });
    watchQueries(t.kefu.sql, (text) => {
      if (text.includes('UPDATE kefu_projection_checkpoints AS c')) moves.push(text);
    });
  }, 120_000);
  afterAll(async () => t?.close());

  it('moves one and three checkpoints with the same marked text, each only from its own position', async () => {
    const names = ['moves_a', 'moves_b', 'moves_c'];
    await t.kefu.db.deleteFrom('kefu_projection_checkpoints').where('name', 'in', names).execute();
    await t.kefu.db
      .insertInto('kefu_projection_checkpoints')
      .values([
        { name: 'moves_a', position: null, updated_at: new Date() },
        { name: 'moves_b', position: '5/1', updated_at: new Date() },
        { name: 'moves_c', position: '5/1', updated_at: new Date() },
      ])
      .execute();
    const mover = new CheckpointMoves(t.kefu.db);
    const at = (commit: number, prepare: number) => ({ commit: BigInt(commit), prepare: BigInt(prepare) });
    moves.length = 0;
    expect(await mover.move('moves_a', null, at(6, 1))).toBe(true);
    // Three at once (one statement): c is not where its move expects it, so it stays.
    const three = await Promise.all([mover.move('moves_a', at(6, 1), at(7, 2)), mover.move('moves_b', at(5, 1), at(7, 2)), mover.move('moves_c', at(4, 1), at(7, 2))]);
    expect(three).toEqual([true, true, false]);
    const rows = await t.kefu.db.selectFrom('kefu_projection_checkpoints').select(['name', 'position']).where('name', 'in', names).orderBy('name').execute();
    expect(rows).toEqual([
      { name: 'moves_a', position: '7/2' },
      { name: 'moves_b', position: '7/2' },
      { name: 'moves_c', position: '5/1' },
    ]);
    expect(moves).toHaveLength(2);
    expect(moves[1]).toBe(moves[0]);
    expect(moves[0]!.startsWith(preparedMark)).toBe(true);
    await t.kefu.db.deleteFrom('kefu_projection_checkpoints').where('name', 'in', names).execute();
  });
});
