// Real services for integration tests. With CI=true a missing service fails the test run; it never skips.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { createPostgresClient, type SqlClient } from '../../src/adapters/sql/sql-client.ts';

export const postgresUrl = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const natsUrl = process.env.TEST_NATS_URL ?? 'nats://127.0.0.1:4222';

let postgresUp: Promise<boolean> | null = null;

export function isPostgresUp(): Promise<boolean> {
  postgresUp ??= (async () => {
    const c = new pg.Client({ connectionString: postgresUrl, connectionTimeoutMillis: 2000 });
    try {
      await c.connect();
      await c.end();
      return true;
    } catch {
      return false;
    }
  })();
  return postgresUp;
}

/** Whether to run PostgreSQL suites: always under CI (a missing server then fails), else only if one answers. */
export async function wantPostgres(): Promise<boolean> {
  if (process.env.CI === 'true') return true;
  return isPostgresUp();
}

/** A fresh schema on the test server, so suites running in parallel never see each other's rows. */
export async function freshPostgresSchema(): Promise<{ url: string; schema: string; client: SqlClient; drop: () => Promise<void> }> {
  const schema = `t_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
  const admin = new pg.Client({ connectionString: postgresUrl });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const url = withSearchPath(postgresUrl, schema);
  const client = createPostgresClient(postgresUrl, { schema });
  return {
    url,
    schema,
    client,
    drop: async () => {
      await client.close().catch(() => undefined);
      const a = new pg.Client({ connectionString: postgresUrl });
      await a.connect();
      await a.query(`DROP SCHEMA ${schema} CASCADE`);
      await a.end();
    },
  };
}

/**
 * A database of its own on the test server, for a spec that holds transactions open on purpose: readers of the
 * event store stop below the oldest transaction running in their database, so one held in the shared `test`
 * database would hold back every other spec of the run that reads events there.
 */
export async function ownPostgresDatabase(prefix: string): Promise<{ url: string; sql: SqlClient; drop: () => Promise<void> }> {
  const name = `${prefix}_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const admin = new pg.Client({ connectionString: postgresUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = postgresUrl.replace(/\/[^/?]+(\?|$)/, `/${name}$1`);
  const sql = createPostgresClient(url);
  return {
    url,
    sql,
    drop: async () => {
      await sql.close().catch(() => undefined);
      const a = new pg.Client({ connectionString: postgresUrl });
      await a.connect();
      await a.query(`DROP DATABASE ${name} WITH (FORCE)`);
      await a.end();
    },
  };
}

/** A connection string whose sessions use `schema` (libpq `options`), for child processes. */
export function withSearchPath(url: string, schema: string): string {
  const u = new URL(url);
  u.searchParams.set('options', `-c search_path=${schema}`);
  return u.toString();
}
