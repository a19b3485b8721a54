// A kysely dialect over SqlClient, so read models use one code path on PostgreSQL and on PGlite.
import {
  CompiledQuery,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type QueryResult,
} from 'kysely';
import type { SqlClient, SqlExecutor } from './sql-client.ts';

class HeldConnection implements DatabaseConnection {
  readonly exec: SqlExecutor;
  readonly release: () => void;
  constructor(exec: SqlExecutor, release: () => void) {
    this.exec = exec;
    this.release = release;
  }
  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    const r = await this.exec.query<R>(compiled.sql, compiled.parameters as unknown[]);
    return { rows: r.rows, numAffectedRows: BigInt(r.rowCount) };
  }
  // eslint-disable-next-line require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming is not supported');
  }
}

class SqlClientDriver implements Driver {
  private readonly sql: SqlClient;
  constructor(sql: SqlClient) {
    this.sql = sql;
  }
  async init(): Promise<void> {}
  acquireConnection(): Promise<DatabaseConnection> {
    return new Promise((resolve, reject) => {
      this.sql
        .withConnection(
          (exec) =>
            new Promise<void>((release) => {
              resolve(new HeldConnection(exec, release));
            }),
        )
        .catch(reject);
    });
  }
  async beginTransaction(conn: DatabaseConnection): Promise<void> {
    await conn.executeQuery(CompiledQuery.raw('BEGIN'));
  }
  async commitTransaction(conn: DatabaseConnection): Promise<void> {
    await conn.executeQuery(CompiledQuery.raw('COMMIT'));
  }
  async rollbackTransaction(conn: DatabaseConnection): Promise<void> {
    await conn.executeQuery(CompiledQuery.raw('ROLLBACK'));
  }
  async releaseConnection(conn: DatabaseConnection): Promise<void> {
    (conn as HeldConnection).release();
  }
  async destroy(): Promise<void> {}
}

export function sqlClientDialect(sql: SqlClient): Dialect {
  return {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new SqlClientDriver(sql),
    createIntrospector: (db: Kysely<unknown>) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  };
}

export function createKysely<DB>(sql: SqlClient): Kysely<DB> {
  return new Kysely<DB>({ dialect: sqlClientDialect(sql) });
}
