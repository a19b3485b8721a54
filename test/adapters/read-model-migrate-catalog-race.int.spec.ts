// kysely's migrator checks for its tables by reading the catalog of every schema in the database, calling
// pg_get_serial_sequence() on each column it lists; a table another schema drops meanwhile (a parallel spec's
// schema, another application's) fails that read with `column "…" of relation "…" does not exist`, which names
// none of Kefu's migrations. migrateReadModels reads the catalog again; a migration's own failure still fails.
import { afterEach, describe, expect, it } from 'vitest';
import { createKysely } from '../../src/adapters/sql/kysely-dialect.ts';
import { createPgliteClient, type SqlClient, type SqlExecutor } from '../../src/adapters/sql/sql-client.ts';
import { migrateReadModels } from '../../src/projections/migrations.ts';

/** Throws `message` for the first `times` statements whose text includes `marker`. */
function failing(client: SqlClient, marker: string, message: string, times: number): { seen: () => number } {
  let failed = 0;
  const withConnection = client.withConnection.bind(client);
  client.withConnection = (fn, options) =>
    withConnection(
      (conn) =>
        fn({
          query: (text, params, name) => {
            if (text.includes(marker) && failed < times) {
              failed++;
              return Promise.reject(new Error(message));
            }
            return conn.query(text, params, name);
          },
          script: (text) => conn.script(text),
        } satisfies SqlExecutor),
      options,
    );
  return { seen: () => failed };
}

describe('read model migrations when the catalog read meets a table dropped meanwhile (PGlite)', () => {
  let client: SqlClient | null = null;
  afterEach(async () => {
    await client?.close();
    client = null;
  });

  it('read the catalog again and migrate', async () => {
    client = await createPgliteClient(null);
    const race = failing(client, 'pg_get_serial_sequence', 'column "sl_90" of relation "report_contact_buckets" does not exist', 2);
    await migrateReadModels(createKysely(client) as never);
    expect(race.seen()).toBe(2);
    const { rows } = await client.query<{ n: number }>("SELECT count(*)::int AS n FROM information_schema.tables WHERE table_name = 'report_contact_buckets'");
    expect(rows[0]!.n).toBe(1);
  });

  it('give up after three more reads of a lasting fault, and a failing migration is named, not read again', async () => {
    client = await createPgliteClient(null);
    const lasting = failing(client, 'pg_get_serial_sequence', 'column "sl_90" of relation "report_contact_buckets" does not exist', 100);
    await expect(migrateReadModels(createKysely(client) as never)).rejects.toThrow(/Read model migration {2}failed: column "sl_90"/);
    expect(lasting.seen()).toBe(4);
    await client.close();

    client = await createPgliteClient(null);
    // The same message from a migration's own statement (the reports' first table) names that migration.
    const own = failing(client, 'create table "report_contact_buckets"', 'column "sl_90" of relation "report_contact_buckets" does not exist', 100);
    await expect(migrateReadModels(createKysely(client) as never)).rejects.toThrow(/Read model migration 2026_12_30_000_reports failed/);
    expect(own.seen()).toBe(1);
  });
});
