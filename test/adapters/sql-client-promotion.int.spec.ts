// Statement results on a checked-out PostgreSQL client (withConnection, transactions, and so every kysely
// query: the dialect checks out a client per statement) must die young. With node-postgres's promise API
// (`await client.query(text, params)`) each result outlived V8's young-generation collections and was
// promoted to the old generation, where it stayed as garbage until a full collection: the CSV export of
// 200,000 call records, reading 100-row pages through kysely, grew Kefu's heap by about 140 MiB and its
// resident set by 200 MiB (bench/exports.ts; the whole export through the callback API: 31 and 44 MiB).
// Here: 100 results of half a megabyte each, a young-generation collection after each, and the old
// generation's growth counted (promise API: 28-29 MiB each run; callback API: 2 MiB).
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKysely } from '../../src/adapters/sql/kysely-dialect.ts';
import { createPostgresClient, type SqlClient, type SqlExecutor } from '../../src/adapters/sql/sql-client.ts';
import { postgresUrl, wantPostgres } from '../support/services.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as (options?: { type: 'minor' | 'major' }) => void;

const MiB = 1024 * 1024;
/** 2,000 rows of about 250 bytes: half a megabyte of strings per result. */
const bigSelect = `SELECT md5(g::text) || repeat('x', 200) AS t, g FROM generate_series(1, 2000) g`;

const oldGeneration = () =>
  getHeapSpaceStatistics()
    .filter((s) => s.space_name === 'old_space' || s.space_name === 'large_object_space')
    .reduce((n, s) => n + s.space_used_size, 0);

/** The old generation's growth over 100 results read by `read`, with a young-generation collection after each. */
async function promotedBy(read: () => Promise<number>): Promise<number> {
  expect(await read()).toBe(2000);
  gc({ type: 'major' });
  const before = oldGeneration();
  for (let i = 0; i < 100; i++) {
    expect(await read()).toBe(2000);
    gc({ type: 'minor' });
  }
  return oldGeneration() - before;
}

describe('PostgreSQL client: results die young', () => {
  let client: SqlClient;
  let skip = false;

  beforeAll(async () => {
    if (!(await wantPostgres())) {
      skip = true;
      return;
    }
    client = createPostgresClient(postgresUrl, { max: 2 });
  });
  afterAll(() => client?.close());

  const count = async (exec: SqlExecutor) => (await exec.query<{ t: string }>(bigSelect)).rows.length;

  it('on a checked-out client (withConnection) and in a transaction', async () => {
    if (skip) return;
    expect(await promotedBy(() => client.withConnection(count))).toBeLessThan(10 * MiB);
    expect(await promotedBy(() => client.transaction(count))).toBeLessThan(10 * MiB);
  });

  it('through kysely', async () => {
    if (skip) return;
    const db = createKysely<Record<string, never>>(client);
    expect(await promotedBy(async () => (await sql.raw<{ t: string }>(bigSelect).execute(db)).rows.length)).toBeLessThan(10 * MiB);
  });
});
