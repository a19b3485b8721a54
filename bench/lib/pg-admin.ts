// Creates and drops the benchmark's own databases on the PostgreSQL server.
import pg from 'pg';
import { adminDatabaseUrl } from './config.ts';

async function withAdmin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: adminDatabaseUrl });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** The URL of `database` on the same server as BENCH_DATABASE_URL. */
export function databaseUrl(database: string): string {
  const u = new URL(adminDatabaseUrl);
  u.pathname = `/${database}`;
  return u.toString();
}

/** Drops `database` if it exists and creates it empty, with per-database `settings`. Names are the bench's own. */
export async function recreateDatabase(database: string, settings: Record<string, string> = {}): Promise<string> {
  if (!/^[a-z_][a-z0-9_]*$/.test(database)) throw new Error(`Unsafe database name ${database}`);
  await withAdmin(async (c) => {
    await c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await c.query(`CREATE DATABASE ${database}`);
    for (const [name, value] of Object.entries(settings)) {
      await c.query(`ALTER DATABASE ${database} SET ${pg.escapeIdentifier(name)} = ${pg.escapeLiteral(value)}`);
    }
  });
  return databaseUrl(database);
}

export async function dropDatabase(database: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_]*$/.test(database)) throw new Error(`Unsafe database name ${database}`);
  await withAdmin((c) => c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`));
}

export interface ServerInfo {
  version: string;
  settings: Record<string, string>;
}

export async function serverInfo(): Promise<ServerInfo> {
  return withAdmin(async (c) => {
    const v = await c.query<{ v: string }>("SELECT current_setting('server_version') AS v");
    const s = await c.query<{ name: string; setting: string; unit: string | null }>(
      `SELECT name, setting, unit FROM pg_settings
       WHERE name IN ('autovacuum', 'fsync', 'synchronous_commit', 'shared_buffers', 'wal_sync_method', 'max_connections') ORDER BY name`,
    );
    const settings: Record<string, string> = {};
    for (const r of s.rows) settings[r.name] = r.name === 'shared_buffers' ? `${(Number(r.setting) * 8) / 1024} MB` : r.setting;
    return { version: v.rows[0]?.v ?? 'unknown', settings };
  });
}
