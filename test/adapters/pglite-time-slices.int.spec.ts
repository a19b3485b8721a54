// PGlite on Kefu's thread (KEFU_PGLITE_WORKER=off): its queries resolve as microtasks, so without time slices a
// long run of statements never lets the event loop take a turn. These tests check that timers run during a long
// transaction, and that the transaction stays whole meanwhile (nobody else's statement runs inside it); on the
// worker thread (the default) too, where each statement's answer comes back as an event of its own.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createPgliteClient, timeSlicer, type SqlClient } from '../../src/adapters/sql/sql-client.ts';

describe.each([
  { where: "on Kefu's thread", worker: false },
  { where: 'on a worker thread', worker: true },
])('PGlite time slices $where', ({ worker }) => {
  let sql: SqlClient;
  beforeEach(async () => {
    sql = await createPgliteClient(null, { worker });
    await sql.script('CREATE TABLE slices (id int PRIMARY KEY, v text NOT NULL)');
  });
  afterEach(async () => {
    await sql.close();
  });

  it('gives timers turns during a long transaction, whose statements stay its own', async () => {
    let ticks = 0;
    let inTransaction = false;
    const seenFromTimer: Promise<{ count: number; during: boolean; resolvedAfterCommit: boolean }>[] = [];
    let committed = false;
    const timer = setInterval(() => {
      if (!inTransaction) return;
      ticks++;
      // A query asked for while the transaction runs waits for it: it sees all of its rows, never part.
      if (seenFromTimer.length < 3)
        seenFromTimer.push(sql.query<{ n: number }>('SELECT count(*)::int AS n FROM slices').then((r) => ({ count: r.rows[0]!.n, during: true, resolvedAfterCommit: committed })));
    }, 1);
    try {
      const started = performance.now();
      let n = 0;
      await sql.transaction(async (tx) => {
        inTransaction = true;
        // Long enough to exceed many slices on any machine: at least 300 statements and 150 ms.
        while (n < 300 || performance.now() - started < 150) {
          await tx.query('INSERT INTO slices (id, v) VALUES ($1, $2)', [n, `row ${n}`]);
          n++;
        }
        inTransaction = false;
      });
      committed = true;
      expect(ticks).toBeGreaterThan(0);
      expect(seenFromTimer.length).toBeGreaterThan(0);
      for (const seen of await Promise.all(seenFromTimer)) {
        expect(seen.count).toBe(n);
        expect(seen.resolvedAfterCommit).toBe(true);
      }
    } finally {
      clearInterval(timer);
    }
  });

  it('rolls a long transaction back whole, though timers ran during it', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    try {
      const started = performance.now();
      await expect(
        sql.transaction(async (tx) => {
          for (let n = 0; n < 300 || performance.now() - started < 150; n++) await tx.query('INSERT INTO slices (id, v) VALUES ($1, $2)', [n, 'x']);
          throw new Error('give up');
        }),
      ).rejects.toThrow('give up');
      expect(ticks).toBeGreaterThan(0);
      expect((await sql.query<{ n: number }>('SELECT count(*)::int AS n FROM slices')).rows[0]!.n).toBe(0);
    } finally {
      clearInterval(timer);
    }
  });
});

describe('timeSlicer', () => {
  const macrotaskRan = () => {
    const seen = { ran: false };
    setImmediate(() => (seen.ran = true));
    return seen;
  };

  it('does not yield while a run is shorter than the slice', async () => {
    const slicer = timeSlicer(1_000);
    const seen = macrotaskRan();
    for (let i = 0; i < 100; i++) await slicer.yieldIfLong();
    expect(seen.ran).toBe(false);
  });

  it('yields one turn once a run has gone on for the slice, then starts a new run', async () => {
    const slicer = timeSlicer(200);
    await slicer.yieldIfLong(); // starts a run
    const seen = macrotaskRan();
    const until = performance.now() + 250;
    while (performance.now() < until) {
      // busy: the run goes on without a turn
    }
    await slicer.yieldIfLong();
    expect(seen.ran).toBe(true);
    // A new run began: the next call does not yield again.
    const again = macrotaskRan();
    await slicer.yieldIfLong();
    expect(again.ran).toBe(false);
  });
});
