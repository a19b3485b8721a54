// A kysely transaction on PostgreSQL sends its BEGIN with its first statement when that statement has no
// parameters (one simple query), instead of a round trip of its own (issue 11: a projection transaction's
// guarded checkpoint move comes first, its values inlined; one statement less per projection transaction on the
// chat send path). A first statement with parameters still goes after a BEGIN of its own; a transaction that ran
// nothing sends nothing; a failure rolls back what the merged statement wrote.
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKysely } from '../../src/adapters/sql/kysely-dialect.ts';
import { createPostgresClient, type SqlClient } from '../../src/adapters/sql/sql-client.ts';
import { postgresUrl, wantPostgres } from '../support/services.ts';

describe.runIf(await wantPostgres())('kysely transactions on PostgreSQL', () => {
  let client: SqlClient;
  const table = `begin_merge_${process.pid}`;
  const sent: string[] = [];
  const original = pg.Client.prototype.query;

  beforeAll(async () => {
    client = createPostgresClient(postgresUrl, { max: 2 });
    await client.query(`CREATE TABLE IF NOT EXISTS ${table} (n int NOT NULL)`);
    // Every statement text a pooled client sends (kysely checks one out per transaction).
    pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
      const first = args[0];
      if (typeof first === 'string') sent.push(first);
      return (original as (...a: unknown[]) => unknown).apply(this, args);
    } as typeof original;
  });
  afterAll(async () => {
    pg.Client.prototype.query = original;
    await client?.query(`DROP TABLE IF EXISTS ${table}`);
    await client?.close();
  });

  const statements = async (fn: () => Promise<unknown>) => {
    sent.length = 0;
    await fn();
    return sent.slice();
  };

  it('sends BEGIN with a first statement that has no parameters', async () => {
    const db = createKysely<Record<string, never>>(client);
    const texts = await statements(() =>
      db.transaction().execute(async (trx) => {
        const r = await sql<{ n: number }>`SELECT ${sql.lit(41)}::int + 1 AS n`.execute(trx);
        expect(r.rows).toEqual([{ n: 42 }]);
        await sql`INSERT INTO ${sql.table(table)} (n) VALUES (${1})`.execute(trx);
      }),
    );
    expect(texts).toEqual(['BEGIN;\nSELECT 41::int + 1 AS n', `INSERT INTO "${table}" (n) VALUES ($1)`, 'COMMIT']);
    expect((await client.query<{ n: number }>(`SELECT n FROM ${table}`)).rows).toEqual([{ n: 1 }]);
  });

  it('sends BEGIN on its own before a first statement with parameters, and nothing for an empty transaction', async () => {
    const db = createKysely<Record<string, never>>(client);
    expect(await statements(() => db.transaction().execute(async (trx) => sql`SELECT ${1}::int AS n`.execute(trx)))).toEqual(['BEGIN', 'SELECT $1::int AS n', 'COMMIT']);
    expect(await statements(() => db.transaction().execute(async () => 1))).toEqual([]);
  });

  it('rolls back what the merged statement wrote when the transaction fails', async () => {
    const db = createKysely<Record<string, never>>(client);
    await client.query(`DELETE FROM ${table}`);
    const texts = await statements(() =>
      db
        .transaction()
        .execute(async (trx) => {
          await sql`INSERT INTO ${sql.table(table)} (n) VALUES (${sql.lit(7)})`.execute(trx);
          throw new Error('the batch fails');
        })
        .catch((err: Error) => expect(err.message).toBe('the batch fails')),
    );
    expect(texts).toEqual([`BEGIN;\nINSERT INTO "${table}" (n) VALUES (7)`, 'ROLLBACK']);
    expect((await client.query(`SELECT n FROM ${table}`)).rows).toEqual([]);
  });
});
