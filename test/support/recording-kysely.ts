// A kysely that runs nothing and records every statement it would send (PostgreSQL's SQL), for specs of a
// statement's text and parameters.
import { DummyDriver, Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler } from 'kysely';
import type { ReadModelDb } from '../../src/projections/read-model-db.ts';

export function recordingKysely(): { db: Kysely<ReadModelDb>; sent: { sql: string; parameters: readonly unknown[] }[] } {
  const sent: { sql: string; parameters: readonly unknown[] }[] = [];
  const db = new Kysely<ReadModelDb>({
    dialect: {
      createAdapter: () => new PostgresAdapter(),
      createDriver: () => new DummyDriver(),
      createIntrospector: (k) => new PostgresIntrospector(k),
      createQueryCompiler: () => new PostgresQueryCompiler(),
    },
    log: (e) => {
      sent.push({ sql: e.query.sql, parameters: e.query.parameters });
    },
  });
  return { db, sent };
}
