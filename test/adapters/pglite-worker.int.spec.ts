// PGlite on a worker thread (the default) behind the same SqlClient as PGlite on Kefu's thread: the same checks
// on both (values round-trip exactly, transactions, PostgreSQL errors with their fields, LISTEN / NOTIFY,
// close), then what only the worker does: Kefu's event loop keeps turning during a long statement, and a
// worker that dies fails its pending and later statements with the reason.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockFilePath } from '../../src/adapters/sql/data-dir-lock.ts';
import { createPgliteClient, pgliteWorkerOf, type SqlClient } from '../../src/adapters/sql/sql-client.ts';

const waitFor = async (check: () => boolean, timeoutMs = 30_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
};

const valuesSql = `SELECT $1::timestamptz AS at, $2::bytea AS bytes, $3::int8::text AS big, $4::jsonb AS doc, $5::text AS nothing,
  $6::text AS bom, $7::numeric AS num, $8::text[] AS list, '2026-12-06'::date AS day, 9007199254740993::int8::text AS big_text,
  '\\x00ff10'::bytea AS raw_bytes, '{"b":[1,"\u00e9",null],"a":{"c":true}}'::json AS json_text, 42::int8 AS small_big`;
const valuesParams = [
  new Date('2026-12-06T04:05:06.789Z'),
  Buffer.from([0, 1, 2, 254, 255]),
  12345678901234567n,
  { a: 1, nested: { list: [1, 'two', null, { deep: '\uFEFFx' }] }, uni: '客服' },
  null,
  '\uFEFF',
  '12345678901234567890.123456789',
  ['a', 'b,c', '"q"', '\uFEFF'],
];

describe.each([
  { name: 'on a worker thread', worker: true },
  { name: 'on this thread', worker: false },
])('PGlite client $name', ({ worker }) => {
  let sql: SqlClient;
  beforeAll(async () => {
    sql = await createPgliteClient(null, { worker });
    await sql.script('CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL CONSTRAINT items_name UNIQUE)');
  });
  afterAll(async () => {
    await sql?.close();
  });

  it('runs on the thread asked for', () => {
    expect(pgliteWorkerOf(sql) !== undefined).toBe(worker);
    expect(sql.raw === null).toBe(worker);
  });

  it('round-trips dates, bytes, bigints, JSON, NULL, a leading U+FEFF, numerics and arrays exactly', async () => {
    const r = await sql.query<Record<string, unknown>>(valuesSql, valuesParams);
    const row = r.rows[0]!;
    expect(row.at).toBeInstanceOf(Date);
    expect((row.at as Date).toISOString()).toBe('2026-12-06T04:05:06.789Z');
    expect(row.bytes).toBeInstanceOf(Uint8Array);
    expect([...(row.bytes as Uint8Array)]).toEqual([0, 1, 2, 254, 255]);
    expect([...(row.raw_bytes as Uint8Array)]).toEqual([0, 255, 16]);
    expect(row.big).toBe('12345678901234567');
    expect(row.big_text).toBe('9007199254740993');
    expect(row.small_big).toBe(42);
    expect(row.doc).toEqual(valuesParams[3]);
    expect(row.json_text).toEqual({ b: [1, 'é', null], a: { c: true } });
    expect(row.nothing).toBeNull();
    expect(row.bom).toBe('\uFEFF');
    expect(row.num).toBe('12345678901234567890.123456789');
    expect(row.list).toEqual(['a', 'b,c', '"q"', '\uFEFF']);
    expect(row.day).toBeInstanceOf(Date);
  });

  it('gives the same rows as PGlite on the other thread', async () => {
    const other = await createPgliteClient(null, { worker: !worker });
    try {
      const [a, b] = await Promise.all([sql.query(valuesSql, valuesParams), other.query(valuesSql, valuesParams)]);
      expect(a).toEqual(b);
    } finally {
      await other.close();
    }
  });

  it('counts affected rows and keeps a transaction whole: committed, or rolled back on a throw', async () => {
    const inserted = await sql.query('INSERT INTO items (id, name) VALUES (1, $1), (2, $2)', ['one', 'two']);
    expect(inserted.rowCount).toBe(2);
    await sql.transaction(async (tx) => {
      await tx.query('INSERT INTO items (id, name) VALUES (3, $1)', ['three']);
    });
    await expect(
      sql.transaction(async (tx) => {
        await tx.query('INSERT INTO items (id, name) VALUES (4, $1)', ['four']);
        await tx.script("UPDATE items SET name = 'changed' WHERE id = 1");
        throw new Error('give up');
      }),
    ).rejects.toThrow('give up');
    const rows = await sql.query<{ id: number; name: string }>('SELECT id, name FROM items ORDER BY id');
    expect(rows.rows).toEqual([
      { id: 1, name: 'one' },
      { id: 2, name: 'two' },
      { id: 3, name: 'three' },
    ]);
  });

  it('throws real Errors with PostgreSQL fields: code, constraint, detail', async () => {
    const dup = await sql.query('INSERT INTO items (id, name) VALUES (10, $1)', ['one']).catch((e: unknown) => e);
    expect(dup).toBeInstanceOf(Error);
    expect(dup).toMatchObject({ code: '23505', constraint: 'items_name', table: 'items', severity: 'ERROR' });
    expect((dup as { detail: string }).detail).toContain('(name)=(one)');
    expect((dup as Error).message).toContain('items_name');
    // The event store's own codes (kefu_append raises KF001 with the actual revision as its detail).
    const raised = await sql
      .script("DO $$ BEGIN RAISE EXCEPTION 'wrong revision' USING ERRCODE = 'KF001', DETAIL = '7'; END $$")
      .catch((e: unknown) => e);
    expect(raised).toBeInstanceOf(Error);
    expect(raised).toMatchObject({ code: 'KF001', detail: '7', message: 'wrong revision' });
    // Inside a transaction: the error reaches the caller, the transaction rolls back, the client goes on.
    const inTx = await sql.transaction((tx) => tx.query('SELECT 1 / 0')).catch((e: unknown) => e);
    expect(inTx).toMatchObject({ code: '22012' });
    expect((await sql.query<{ n: number }>('SELECT 1 AS n')).rows).toEqual([{ n: 1 }]);
  });

  it('delivers NOTIFY to each listener, a transaction’s after its commit', async () => {
    const got: string[] = [];
    const alsoGot: string[] = [];
    const unlisten = await sql.listen('kefu_test', (p) => got.push(p));
    await sql.listen('kefu_test', (p) => alsoGot.push(p));
    await sql.query("NOTIFY kefu_test, 'plain'");
    await sql.transaction(async (tx) => {
      await tx.query("SELECT pg_notify('kefu_test', $1)", ['in transaction \uFEFF客']);
    });
    await waitFor(() => got.length >= 2 && alsoGot.length >= 2);
    expect(got).toEqual(['plain', 'in transaction \uFEFF客']);
    await unlisten();
    await sql.query("NOTIFY kefu_test, 'after'");
    await waitFor(() => alsoGot.length >= 3);
    expect(got).toHaveLength(2);
  });

  it('holds the data directory (its lock file) while open, and its data across a close', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kefu-pglite-worker-'));
    try {
      const first = await createPgliteClient(dir, { worker });
      await first.script('CREATE TABLE kept (v text)');
      await first.query('INSERT INTO kept VALUES ($1)', ['\uFEFFstays']);
      expect(existsSync(lockFilePath(dir))).toBe(true);
      await first.close();
      expect(existsSync(lockFilePath(dir))).toBe(false);
      const again = await createPgliteClient(dir, { worker });
      expect((await again.query('SELECT v FROM kept')).rows).toEqual([{ v: '\uFEFFstays' }]);
      await again.close();
      await expect(again.query('SELECT 1')).rejects.toThrow();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('PGlite on a worker thread', () => {
  it("keeps Kefu's event loop turning during a long statement (on this thread it stops)", async () => {
    const ticksDuringSleep = async (worker: boolean) => {
      const sql = await createPgliteClient(null, { worker });
      try {
        let ticks = 0;
        const timer = setInterval(() => ticks++, 20);
        try {
          await sql.query('SELECT pg_sleep(0.6)');
        } finally {
          clearInterval(timer);
        }
        return ticks;
      } finally {
        await sql.close();
      }
    };
    // 30 ticks on an idle machine; a loaded one still gives many.
    expect(await ticksDuringSleep(true)).toBeGreaterThanOrEqual(8);
    expect(await ticksDuringSleep(false)).toBeLessThanOrEqual(2);
  });

  it('fails pending and later statements clearly when the worker dies, and still closes', async () => {
    const sql = await createPgliteClient(null, { worker: true });
    const pending = sql.query('SELECT pg_sleep(5)').catch((e: unknown) => e);
    const queued = sql.query('SELECT 1').catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 100));
    await pgliteWorkerOf(sql)!.terminate();
    for (const err of [await pending, await queued]) {
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(/PGlite worker thread exited/);
    }
    await expect(sql.query('SELECT 1')).rejects.toThrow(/PGlite worker thread exited/);
    await sql.close();
  });

  it('refuses a parameter it cannot pass on as PGlite here would have written it, and goes on', async () => {
    const sql = await createPgliteClient(null, { worker: true });
    try {
      class Amount {
        readonly cents: number;
        constructor(cents: number) {
          this.cents = cents;
        }
        toJSON() {
          return `${this.cents / 100}`;
        }
      }
      await expect(sql.query('SELECT $1::jsonb AS v', [new Amount(150)])).rejects.toThrow(/parameter \$1 is a Amount/);
      await expect(sql.query('SELECT $1::text AS v', ['ok', () => 1])).rejects.toThrow();
      const plain = Object.assign(Object.create(null) as object, { a: 1 });
      expect((await sql.query('SELECT $1::jsonb AS v, $2::jsonb AS w', [plain, [{ b: 2 }]])).rows).toEqual([{ v: { a: 1 }, w: [{ b: 2 }] }]);
    } finally {
      await sql.close();
    }
  });

  it('ends its worker on close', async () => {
    const sql = await createPgliteClient(null, { worker: true });
    const worker = pgliteWorkerOf(sql)!;
    const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
    await sql.close();
    await exited;
    expect(worker.threadId).toBe(-1);
  });
});
