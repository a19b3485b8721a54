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

/**
 * A statement whose text starts with this is sent as a prepared statement on PostgreSQL (parsed once per
 * connection, not at every call): for the few statements run at every change under load whose text does not
 * change (the projections' guarded one-statement batches). Its values must all be parameters.
 */
export const preparedMark = '/* prepared */ ';

/** Prepared statements' names by text, for the process (a name always stands for one text). */
const preparedNames = new Map<string, string>();
/** Texts named at most: past these a marked statement goes unprepared (a text that varies would fill each connection). */
const maxPrepared = 64;

function preparedName(text: string): string | undefined {
  if (!text.startsWith(preparedMark)) return undefined;
  let name = preparedNames.get(text);
  if (name === undefined && preparedNames.size < maxPrepared) {
    name = `kefu_prepared_${preparedNames.size}`;
    preparedNames.set(text, name);
  }
  return name;
}

/**
 * The statements PREPAREd in SQL on each connection (by its session, sql-client's SqlExecutor.session), for a
 * marked statement that opens a transaction: `BEGIN; EXECUTE name(values)` is one simple query, one round trip,
 * and PostgreSQL parses only the EXECUTE (its plan cached as for any prepared statement). A session's names are
 * those of preparedNames with `_tx` added (protocol-level prepared statements share the namespace).
 */
const sqlPrepared = new WeakMap<object, Set<string>>();

/** A parameter as an SQL literal for EXECUTE (typed by the PREPAREd statement), or undefined if it cannot be one. */
function literal(value: unknown): string | undefined {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'number') return Number.isFinite(value) ? `'${value}'` : undefined;
  if (typeof value === 'boolean' || typeof value === 'bigint') return `'${value}'`;
  // E'' with backslashes doubled: the same value whatever standard_conforming_strings is.
  if (typeof value === 'string') return value.includes('\0') ? undefined : `E'${value.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;
  return undefined;
}

class HeldConnection implements DatabaseConnection {
  readonly exec: SqlExecutor;
  readonly release: () => void;
  /** PostgreSQL: a statement without parameters goes in one simple query with the BEGIN before it. */
  private readonly mergeBegin: boolean;
  /** A transaction was begun and its BEGIN not sent yet (it goes with the first statement). */
  beginPending = false;
  constructor(exec: SqlExecutor, release: () => void, mergeBegin: boolean) {
    this.exec = exec;
    this.release = release;
    this.mergeBegin = mergeBegin;
  }
  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    let text = compiled.sql;
    if (this.beginPending) {
      this.beginPending = false;
      // One round trip instead of two for a transaction whose first statement has its values inlined (the
      // projections' guarded checkpoint move): a simple query may hold several statements, the last one's
      // result is answered. With parameters the extended protocol takes one statement: BEGIN goes first.
      if (this.mergeBegin && compiled.parameters.length === 0) text = `BEGIN;\n${text}`;
      else {
        // A marked statement with parameters: EXECUTE of its SQL-prepared form, with the BEGIN (see sqlPrepared).
        const executed = this.mergeBegin ? await this.executeWithBegin<R>(text, compiled.parameters) : undefined;
        if (executed) return executed;
        await this.exec.query('BEGIN');
      }
    }
    const r = await this.exec.query<R>(text, compiled.parameters as unknown[], this.mergeBegin ? preparedName(text) : undefined);
    return { rows: r.rows, numAffectedRows: BigInt(r.rowCount) };
  }
  private async executeWithBegin<R>(text: string, parameters: readonly unknown[]): Promise<QueryResult<R> | undefined> {
    const session = this.exec.session;
    const name = session ? preparedName(text) : undefined;
    if (!session || name === undefined) return undefined;
    const values: string[] = [];
    for (const p of parameters) {
      const v = literal(p);
      if (v === undefined) return undefined;
      values.push(v);
    }
    const sqlName = `${name}_tx`;
    let names = sqlPrepared.get(session);
    if (!names) sqlPrepared.set(session, (names = new Set()));
    if (!names.has(sqlName)) {
      await this.exec.query(`PREPARE ${sqlName} AS ${text}`);
      names.add(sqlName);
    }
    const r = await this.exec.query<R>(`BEGIN;\nEXECUTE ${sqlName}(${values.join(', ')})`);
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
              resolve(new HeldConnection(exec, release, this.sql.kind === 'postgres'));
            }),
        )
        .catch(reject);
    });
  }
  // BEGIN is sent with the transaction's first statement (HeldConnection.executeQuery); a transaction that ran
  // none has nothing to end.
  async beginTransaction(conn: DatabaseConnection): Promise<void> {
    (conn as HeldConnection).beginPending = true;
  }
  async commitTransaction(conn: DatabaseConnection): Promise<void> {
    const held = conn as HeldConnection;
    if (held.beginPending) held.beginPending = false;
    else await conn.executeQuery(CompiledQuery.raw('COMMIT'));
  }
  async rollbackTransaction(conn: DatabaseConnection): Promise<void> {
    const held = conn as HeldConnection;
    if (held.beginPending) held.beginPending = false;
    else await conn.executeQuery(CompiledQuery.raw('ROLLBACK'));
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
