// Issue 9.3, at the runner: a projection that throws on one instance's event parks that instance's part
// (once, logged once) and goes on with the others, whether it applies events one by one or a batch at once;
// a failure of the database, not of the event, parks nothing; a retry racing live traffic applies each held
// event exactly once, in order, and the runner takes the instance back. Rows live in a real table, so a
// rolled-back attempt leaves nothing behind. On PGlite and on PostgreSQL.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Position } from '../../src/domain/ports/event-store.ts';
import { listParkedParts, ReadModelParkedError } from '../../src/projections/parked-parts.ts';
import { ProjectionRunner } from '../../src/projections/projection-runner.ts';
import type { Projection } from '../../src/projections/projection.ts';
import { startTestKefu, type TestKefu } from '../support/kefu.ts';
import { wantPostgres } from '../support/services.ts';

const databases: ('pglite' | 'postgres')[] = ['pglite', ...((await wantPostgres()) ? (['postgres'] as const) : [])];

interface Counted {
  n: number;
  poison?: boolean;
  /** Fails as a lost connection would, this many times. */
  transient?: number;
}

describe.each(databases)('projection runner parking (%s)', (database) => {
  let t: TestKefu;
  const runners: ProjectionRunner[] = [];
  const x = randomUUID();
  const y = randomUUID();

  beforeAll(async () => {
    t = await startTestKefu({ database });
  });

  afterAll(async () => {
    for (const r of runners) await r.stop();
    await t?.close();
  });

  /** A projection writing (instance, n) rows; it throws on a poisoned event until `fixed`. */
  async function countingProjection(kind: 'apply' | 'applyBatch') {
    const table = `parking_${kind}_${randomUUID().replaceAll('-', '').slice(0, 8)}`;
    await sql`CREATE TABLE ${sql.table(table)} (seq serial PRIMARY KEY, instance text NOT NULL, n int NOT NULL)`.execute(t.kefu.db);
    const state = { fixed: false, transientLeft: new Map<string, number>() };
    const type = `Counted_${table}`;
    const write = async (trx: Parameters<NonNullable<Projection['apply']>>[0], e: { id: string; data: Record<string, unknown>; metadata: { instanceId: string } }) => {
      const d = e.data as unknown as Counted;
      if (d.transient && (state.transientLeft.get(e.id) ?? d.transient) > 0) {
        state.transientLeft.set(e.id, (state.transientLeft.get(e.id) ?? d.transient) - 1);
        throw Object.assign(new Error('Connection terminated unexpectedly'), { code: '08006' });
      }
      if (d.poison && !state.fixed) throw new Error(`cannot project ${d.n}`);
      await sql`INSERT INTO ${sql.table(table)} (instance, n) VALUES (${e.metadata.instanceId}, ${d.n})`.execute(trx);
    };
    const projection: Projection =
      kind === 'apply'
        ? { name: table, tables: [], eventTypes: new Set([type]), apply: (trx, e) => write(trx, e) }
        : {
            name: table,
            tables: [],
            eventTypes: new Set([type]),
            async applyBatch(trx, events) {
              for (const e of events) await write(trx, e);
            },
          };
    const errors: Record<string, unknown>[] = [];
    const logger = { info: () => undefined, warn: () => undefined, error: (o: object | string) => void errors.push(o as Record<string, unknown>) };
    const runner = new ProjectionRunner({ store: t.kefu.store, db: t.kefu.db, sql: t.kefu.sql, bus: t.kefu.bus, projections: [projection], logger, leaseRetryMs: 100 });
    runners.push(runner);
    const append = async (instanceId: string, data: Counted): Promise<Position> => {
      const r = await t.kefu.store.appendToStream(
        `parktest-${instanceId}.${table}`,
        [{ id: randomUUID(), type, data: { ...data }, metadata: { instanceId, actor: 'test', correlationId: randomUUID(), causationId: null, occurredAt: new Date().toISOString() } }],
        { expectedRevision: 'any' },
      );
      return r.position;
    };
    const rows = async () => {
      const r = await sql<{ instance: string; n: number }>`SELECT instance, n FROM ${sql.table(table)} ORDER BY seq`.execute(t.kefu.db);
      const of = (instance: string) => r.rows.filter((row) => row.instance === instance).map((row) => row.n);
      return { x: of(x), y: of(y) };
    };
    return { projection, runner, state, errors, append, rows };
  }

  for (const kind of ['apply', 'applyBatch'] as const) {
    it(`with ${kind}: parks the failing instance's part only, holds its later events, logs once, and a retry after the fix applies them in order`, async () => {
      const p = await countingProjection(kind);
      // Written before the runner starts, so they come in one catch-up batch with the poison in the middle.
      await p.append(x, { n: 1 });
      await p.append(y, { n: 1 });
      const poison = await p.append(x, { n: 2, poison: true });
      await p.append(y, { n: 2 });
      await p.append(x, { n: 3 });
      const y3 = await p.append(y, { n: 3 });
      await p.runner.start();

      expect(await p.runner.waitFor(y3, { instanceId: y })).toBe(true);
      expect(await p.rows()).toEqual({ x: [1], y: [1, 2, 3] });
      // An event of the parked instance from before the park is there; from the park on, fail at once.
      // "At once": long before the (here one-minute) timeout, by a margin a loaded machine cannot eat.
      const started = Date.now();
      await expect(p.runner.waitFor(poison, { instanceId: x, timeoutMs: 60_000 })).rejects.toBeInstanceOf(ReadModelParkedError);
      expect(Date.now() - started).toBeLessThan(30_000);
      const parts = await listParkedParts(t.kefu.db, { projections: [p.projection.name] });
      expect(parts.map((part) => [part.instanceId, part.eventPosition])).toEqual([[x, poison]]);
      expect(parts[0]!.error).toBe('cannot project 2');

      // Live: more of both; Y's apply, X's are held; the park is logged once.
      const x4 = await p.append(x, { n: 4 });
      const y4 = await p.append(y, { n: 4 });
      expect(await p.runner.waitFor(y4, { instanceId: y })).toBe(true);
      await expect(p.runner.waitFor(x4, { instanceId: x })).rejects.toBeInstanceOf(ReadModelParkedError);
      expect(await p.rows()).toEqual({ x: [1], y: [1, 2, 3, 4] });
      expect(p.errors).toHaveLength(1);
      expect(p.errors[0]).toMatchObject({ projection: p.projection.name, instanceId: x, error: 'cannot project 2' });

      expect(await p.runner.retryParkedPart(p.projection.name, x)).toMatchObject({ resumed: false, part: { instanceId: x, error: 'cannot project 2' } });
      p.state.fixed = true;
      expect(await p.runner.retryParkedPart(p.projection.name, x)).toEqual({ resumed: true, appliedEvents: 3 });
      expect(await p.runner.retryParkedPart(p.projection.name, x)).toBeNull();
      const x5 = await p.append(x, { n: 5 });
      expect(await p.runner.waitFor(x5, { instanceId: x })).toBe(true);
      expect(await p.rows()).toEqual({ x: [1, 2, 3, 4, 5], y: [1, 2, 3, 4] });
    });
  }

  it('parks nothing when the database, not the event, fails: the batch is tried again', async () => {
    const p = await countingProjection('apply');
    await p.runner.start();
    await p.append(x, { n: 1, transient: 2 });
    const y1 = await p.append(y, { n: 1 });
    expect(await p.runner.waitFor(y1, { instanceId: y, timeoutMs: 30_000 })).toBe(true);
    expect(await p.rows()).toEqual({ x: [1], y: [1] });
    expect(await listParkedParts(t.kefu.db, { projections: [p.projection.name] })).toEqual([]);
  });

  it('a retry racing live events of the same instance applies each exactly once, in order', async () => {
    const p = await countingProjection('apply');
    await p.runner.start();
    await p.append(x, { n: 1, poison: true });
    let last = await p.append(y, { n: 1 });
    expect(await p.runner.waitFor(last, { instanceId: y })).toBe(true);
    p.state.fixed = true;
    // Appends of both instances keep coming while the retry runs. (PGlite answers without a turn of the event
    // loop: the writer yields one, as a request from the network would.)
    let n = 2;
    let writing = true;
    let tenWritten: () => void = () => undefined;
    const writingUnderWay = new Promise<void>((resolve) => (tenWritten = resolve));
    const writer = (async () => {
      while ((writing || n < 40) && n < 1000) {
        await p.append(x, { n });
        last = await p.append(y, { n });
        n++;
        if (n === 10) tenWritten();
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    await writingUnderWay;
    expect(await p.runner.retryParkedPart(p.projection.name, x)).toMatchObject({ resumed: true });
    writing = false;
    await writer;
    const xLast = await p.append(x, { n });
    expect(await p.runner.waitFor(xLast, { instanceId: x })).toBe(true);
    expect(await p.runner.waitFor(last, { instanceId: y })).toBe(true);
    const rows = await p.rows();
    expect(rows.x).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    expect(rows.y).toEqual(Array.from({ length: n - 1 }, (_, i) => i + 1));
  });
});
