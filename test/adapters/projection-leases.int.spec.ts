// Two processes share one PostgreSQL database: one runs the projections (holds their leases), the other waits
// to take them over. The waiting one tried each projection's lease every leaseRetryMs with a new connection of
// its own, and read each checkpoint with a statement of its own: twenty projections, twenty connections and
// forty statements per try from a process doing nothing. Now it spends one statement on a kept connection for
// all the leases and one checkpoint read, and still takes every lease over within a few tries once the holder's
// connection dies. Each "process" here is a SqlClient of its own, told apart by its connections'
// application_name.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createKysely } from '../../src/adapters/sql/kysely-dialect.ts';
import { createPostgresClient, type SqlClient } from '../../src/adapters/sql/sql-client.ts';
import { ProjectionRunner } from '../../src/projections/projection-runner.ts';
import type { Projection, ReadModel } from '../../src/projections/projection.ts';
import { startTestKefu, type TestKefu } from '../support/kefu.ts';
import { wantPostgres } from '../support/services.ts';

const leaseRetryMs = 100;
const connectOriginal = pg.Client.prototype.connect;
const queryOriginal = pg.Client.prototype.query;
const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

describe('projection leases across processes (PostgreSQL)', () => {
  let t: TestKefu;
  let skip = false;
  const clients: SqlClient[] = [];
  const runners: ProjectionRunner[] = [];
  const tag = randomUUID().slice(0, 8);
  const projections: Projection[] = Array.from({ length: 20 }, (_, i) => ({
    name: `lease_${tag}_${i}`,
    tables: [],
    eventTypes: new Set([`Nothing_${tag}`]),
    apply: async () => undefined,
  }));

  beforeAll(async () => {
    if (!(await wantPostgres())) {
      skip = true;
      return;
    }
    t = await startTestKefu({ database: 'postgres' });
  });

  afterAll(async () => {
    for (const r of runners) await r.stop();
    for (const c of clients) await c.close();
    await t?.close();
  });

  /** A process's database client: its connections carry `name` as their application_name. */
  function processClient(name: string): { sql: SqlClient; db: ReadModel } {
    const url = new URL(t.databaseUrl!);
    url.searchParams.set('application_name', name);
    const sql = createPostgresClient(url.toString(), { max: 2 });
    clients.push(sql);
    return { sql, db: createKysely(sql) };
  }

  function runner(p: { sql: SqlClient; db: ReadModel }, retryMs: number): ProjectionRunner {
    const r = new ProjectionRunner({ store: t.kefu.store, db: p.db, sql: p.sql, bus: t.kefu.bus, projections, logger: silent, leaseRetryMs: retryMs });
    runners.push(r);
    return r;
  }

  /** How many of this test's leases the connections named `name` hold, as the server sees them. */
  async function leasesHeldBy(name: string): Promise<number> {
    const r = await t.kefu.sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
       WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1::int::oid AND a.application_name = $2
         AND l.objid = ANY (SELECT hashtext(current_schema() || '/projection:' || p.name)::oid FROM unnest($3::text[]) AS p(name))`,
      [0x6b656675, name, projections.map((p) => p.name)],
    );
    return r.rows[0]?.n ?? 0;
  }

  it('a process without the leases spends a bounded few statements per try and no new connection, and takes them over when the holder dies', async () => {
    if (skip) return;
    const holderName = `kefu-holder-${tag}`;
    const waiterName = `kefu-waiter-${tag}`;
    // The holder tries once, at its start, and not again during the test (it never takes the leases back).
    const holder = runner(processClient(holderName), 600_000);
    await holder.start();
    expect(await leasesHeldBy(holderName)).toBe(projections.length);

    const connects: string[] = [];
    const statements: string[] = [];
    const appName = (c: unknown) => (c as { connectionParameters?: { application_name?: string } }).connectionParameters?.application_name;
    const connect = vi.spyOn(pg.Client.prototype, 'connect');
    connect.mockImplementation(function (this: pg.Client, ...args: unknown[]) {
      if (appName(this) === waiterName) connects.push(waiterName);
      return (connectOriginal as (...a: unknown[]) => unknown).apply(this, args) as never;
    });
    const query = vi.spyOn(pg.Client.prototype, 'query');
    query.mockImplementation(function (this: pg.Client, ...args: unknown[]) {
      if (appName(this) === waiterName) statements.push(String((args[0] as { text?: string })?.text ?? args[0]));
      return (queryOriginal as (...a: unknown[]) => unknown).apply(this, args) as never;
    });
    try {
      const waiter = runner(processClient(waiterName), leaseRetryMs);
      await waiter.start();
      // Settle: the first try opens the kept lease connection and the pool's connection.
      await new Promise((resolve) => setTimeout(resolve, 3 * leaseRetryMs));
      connects.length = 0;
      statements.length = 0;
      const from = performance.now();
      await new Promise((resolve) => setTimeout(resolve, 10 * leaseRetryMs));
      const tries = (performance.now() - from) / leaseRetryMs;
      expect(await leasesHeldBy(waiterName)).toBe(0);
      // Before: a connection and two statements per projection per try (20 and 40).
      expect(connects.length).toBe(0);
      expect(statements.length).toBeGreaterThan(0);
      expect(statements.length / tries).toBeLessThanOrEqual(2.5);

      // The holder dies: the server ends its connections (and so its advisory locks).
      const killedAt = performance.now();
      await t.kefu.sql.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [holderName]);
      let held = 0;
      while (performance.now() - killedAt < 30_000 && held < projections.length) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        held = await leasesHeldBy(waiterName);
      }
      expect(held).toBe(projections.length);
      // Within a bounded number of its tries (generous for a loaded machine: 100 tries).
      expect(performance.now() - killedAt).toBeLessThan(100 * leaseRetryMs);
    } finally {
      connect.mockRestore();
      query.mockRestore();
    }
  });

  it('tries and releases on the kept connection run one at a time: a key tried at once by several callers of one process is granted once', async () => {
    if (skip) return;
    const name = `kefu-overlap-${tag}`;
    const p = processClient(name);
    let inFlight = 0;
    let most = 0;
    const appName = (c: unknown) => (c as { connectionParameters?: { application_name?: string } }).connectionParameters?.application_name;
    const query = vi.spyOn(pg.Client.prototype, 'query');
    query.mockImplementation(function (this: pg.Client, ...args: unknown[]) {
      const result = (queryOriginal as (...a: unknown[]) => unknown).apply(this, args);
      if (appName(this) === name && result instanceof Promise) {
        most = Math.max(most, ++inFlight);
        void result.finally(() => inFlight--).catch(() => undefined);
      }
      return result as never;
    });
    try {
      const keys = [`overlap:${tag}:a`, `overlap:${tag}:b`];
      const granted = async () => {
        const tries = await Promise.all(Array.from({ length: 8 }, () => p.sql.tryLeases!(keys)));
        return { tries, count: (k: string) => tries.filter((m) => m.has(k)).length };
      };
      const first = await granted();
      expect(keys.map(first.count)).toEqual([1, 1]);
      // Released while more tries are under way: each key is held by exactly one caller again afterwards.
      const leases = first.tries.flatMap((m) => [...m.values()]);
      const [second] = await Promise.all([granted(), ...leases.map((l) => l.release())]);
      expect(keys.map(second.count)).toEqual([1, 1]);
      // pg warns (deprecated, removed in pg 9) when a client is given a query while another runs.
      expect(most).toBe(1);
    } finally {
      query.mockRestore();
    }
  });
});
