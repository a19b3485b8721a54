// The read models on their own (no Kefu around them) for projection and report specs: PGlite in memory, or a
// fresh PostgreSQL schema; migrated. Null when PostgreSQL is wanted but not here (outside CI only).
import { sql } from 'kysely';
import { createKysely } from '../../src/adapters/sql/kysely-dialect.ts';
import { createPgliteClient, type ConnectionOptions, type SqlClient, type SqlExecutor } from '../../src/adapters/sql/sql-client.ts';
import { migrateReadModels } from '../../src/projections/migrations.ts';
import type { ReadModel } from '../../src/projections/projection.ts';
import { freshPostgresSchema, wantPostgres } from './services.ts';

export async function readModelStore(backend: 'pglite' | 'postgres'): Promise<{ client: SqlClient; db: ReadModel; drop: () => Promise<void> } | null> {
  let client: SqlClient;
  let drop = async () => {};
  if (backend === 'postgres') {
    if (!(await wantPostgres())) return null;
    const fresh = await freshPostgresSchema();
    client = fresh.client;
    drop = fresh.drop;
  } else client = await createPgliteClient(null);
  const db = createKysely(client) as ReadModel;
  await migrateReadModels(db as never);
  return { client, db, drop };
}

/** Calls `seen` with the text of every query run through the client's connections (to count a spec's statements). */
export function watchQueries(client: SqlClient, seen: (text: string) => void): void {
  const withConnection = client.withConnection.bind(client);
  client.withConnection = <T,>(fn: (conn: SqlExecutor) => Promise<T>, options?: ConnectionOptions) =>
    withConnection((conn) =>
      fn({
        query: (text, params, name) => {
          seen(text);
          return conn.query(text, params, name);
        },
        script: (text) => conn.script(text),
      }),
      options,
    );
}

/** Every row of each table as its text, sorted: two read models compared table by table. */
export async function tableRows(db: ReadModel, tables: readonly string[]): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const table of tables) out[table] = (await sql<{ row: string }>`SELECT t::text AS row FROM ${sql.table(table)} t ORDER BY 1`.execute(db)).rows.map((r) => r.row);
  return out;
}
