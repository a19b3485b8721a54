// A statement whose text starts with preparedMark goes to PostgreSQL as a prepared statement (parsed once per
// connection): the projections' guarded one-statement batches, whose CTE statement PostgreSQL otherwise parsed and
// analyzed again at each chat send (issue 11). A statement without the mark stays unnamed; a prepared one answers
// as before, also after an error and in a transaction; a name always stands for one text.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKysely, preparedMark } from '../../src/adapters/sql/kysely-dialect.ts';
import { createPostgresClient, type SqlClient } from '../../src/adapters/sql/sql-client.ts';
import { postgresUrl, wantPostgres } from '../support/services.ts';

describe.runIf(await wantPostgres())('prepared statements through kysely on PostgreSQL', () => {
  let client: SqlClient;

  beforeAll(() => {
    // One connection: pg_prepared_statements shows the session's own.
    client = createPostgresClient(postgresUrl, { max: 1 });
  });
  afterAll(async () => {
    await client?.close();
  });

  it('prepares marked statements once per connection and leaves the others unnamed', async () => {
    const db = createKysely(client);
    const prepared = (n: number) => sql<{ n: number; twice: number }>`${sql.raw(preparedMark)}SELECT ${n}::int AS n, ${n}::int * 2 AS twice`;
    const other = (n: number) => sql<{ n: number }>`SELECT ${n}::int + 0 AS n`;
    const statements = async () =>
      (await sql<{ name: string; statement: string }>`SELECT name, statement FROM pg_prepared_statements ORDER BY name`.execute(db)).rows;

    for (let n = 1; n <= 7; n++) {
      expect((await prepared(n).execute(db)).rows).toEqual([{ n, twice: 2 * n }]);
      expect((await other(n).execute(db)).rows).toEqual([{ n }]);
    }
    const named = await statements();
    expect(named).toHaveLength(1);
    expect(named[0]!.name).toMatch(/^kefu_prepared_\d+$/);
    expect(named[0]!.statement).toBe(`${preparedMark}SELECT $1::int AS n, $2::int * 2 AS twice`);

    // An error of a prepared statement is the same error; the statement still answers afterwards.
    const failing = sql`${sql.raw(preparedMark)}SELECT 1 / ${0}::int AS n`;
    await expect(failing.execute(db)).rejects.toThrow(/division by zero/);
    await expect(failing.execute(db)).rejects.toThrow(/division by zero/);
    expect((await prepared(8).execute(db)).rows).toEqual([{ n: 8, twice: 16 }]);

    // In a transaction (its BEGIN before it: it has parameters), rolled back with the rest.
    await sql`CREATE TEMP TABLE prepared_rows (n int NOT NULL)`.execute(db);
    const insert = (n: number) => sql`${sql.raw(preparedMark)}INSERT INTO prepared_rows (n) VALUES (${n}::int)`;
    await db.transaction().execute(async (trx) => {
      await insert(1).execute(trx);
    });
    await expect(
      db.transaction().execute(async (trx) => {
        await insert(2).execute(trx);
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect((await sql<{ n: number }>`SELECT n FROM prepared_rows ORDER BY n`.execute(db)).rows).toEqual([{ n: 1 }]);
    const names = (await statements()).map((s) => s.statement);
    expect(names).toHaveLength(3);
    expect(new Set(names).size).toBe(3);
    await sql`DROP TABLE prepared_rows`.execute(db);
  });
});
