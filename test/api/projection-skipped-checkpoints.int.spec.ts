// A batch with nothing for a projection (issue 11: most projections ignore a chat message) no longer writes the
// projection's checkpoint row with a statement of its own each time: the runner keeps the position in memory
// (waiters here are told at once), the next batch with something to write moves the row in its guarded move, and
// otherwise the row is written a moment later (skipMoveMs, all such projections in one statement) or at stop. The
// move stays guarded: a row moved elsewhere meanwhile is not overwritten, the runner restarts from it.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InProcessBus } from '../../src/adapters/bus/in-process-bus.ts';
import { comparePositions, positionToString, type Position } from '../../src/domain/ports/event-store.ts';
import { ProjectionRunner, readCheckpoint } from '../../src/projections/projection-runner.ts';
import type { Projection } from '../../src/projections/projection.ts';
import { startTestKefu, type TestKefu } from '../support/kefu.ts';
import { wantPostgres } from '../support/services.ts';

async function until(ok: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

let t: TestKefu;

describe('checkpoints of projections with nothing to write', () => {
  beforeAll(async () => {
    // PostgreSQL when the machine has it (its row locks are what the guard relies on), else the embedded database.
    t = await startTestKefu({ database: (await wantPostgres()) ? 'postgres' : 'pglite' });
  });
  afterAll(async () => t?.close());

  /** A projection of events of `type` that notes what it applies. */
  function projection(label: string, type: string, applied: string[]): Projection {
    return {
      name: `${label}_${randomUUID().slice(0, 8)}`,
      tables: [],
      eventTypes: new Set([type]),
      async apply(_trx, e) {
        applied.push(`${label}:${(e.data as { n: number }).n}`);
      },
    };
  }

  const append = async (type: string, n: number): Promise<Position> =>
    (await t.kefu.store.appendToStream(`skipped-${randomUUID()}`, [{ id: randomUUID(), type, data: { n }, metadata: { instanceId: 'i' } as never }], { expectedRevision: 'no_stream' })).position;

  function runner(projections: Projection[], skipMoveMs: number, warnings: string[] = []): ProjectionRunner {
    return new ProjectionRunner({
      store: t.kefu.store,
      db: t.kefu.db,
      sql: t.kefu.sql,
      bus: new InProcessBus(),
      projections,
      logger: { info: () => undefined, warn: (o: object | string, msg?: string) => warnings.push(msg ?? String(o)), error: () => undefined },
      skipMoveMs,
    });
  }

  const at = async (name: string) => {
    const p = await readCheckpoint(t.kefu.db, name);
    return p ? positionToString(p) : null;
  };

  it('tells waiters here at once, writes the row in the next guarded move or at stop, not once per batch', async () => {
    const a = `SkipA${randomUUID().slice(0, 8)}`;
    const b = `SkipB${randomUUID().slice(0, 8)}`;
    const applied: string[] = [];
    const busy = projection('busy', a, applied);
    const later = projection('later', b, applied);
    const idle = projection('idle', `Never${randomUUID().slice(0, 8)}`, applied);
    // A long interval: after the first write (the catch-up's, at once) nothing is written by the timer in this test.
    const r = runner([busy, later, idle], 60_000);
    // An event before the start: the catch-up skips it (the rows of the projections that skipped it first are
    // written at once, as the first write after a quiet spell; the others' wait the minute).
    const head = await append(`Other${randomUUID().slice(0, 8)}`, 0);
    await r.start();
    try {
      expect(await r.waitFor(head, { timeoutMs: 30_000 })).toBe(true);
      // Before the first of the five events at most (null, or where the first write after the quiet spell put it).
      const beforeFirst = async (name: string) => comparePositions((await readCheckpoint(t.kefu.db, name)) ?? { commit: 0n, prepare: 0n }, first!);
      let first: Position | null = null;
      let last: Position | null = null;
      for (let n = 1; n <= 5; n++) {
        last = await append(a, n);
        first ??= last;
        // Each its own batch: applied by `busy` before the next append.
        expect(await r.waitFor(last, { projections: [busy.name], timeoutMs: 10_000 })).toBe(true);
      }
      expect(applied).toEqual(['busy:1', 'busy:2', 'busy:3', 'busy:4', 'busy:5']);
      // Here the projections that skipped them are known to have reached the last event...
      expect(await r.waitFor(last!, { projections: [idle.name, later.name], timeoutMs: 1000 })).toBe(true);
      // ...while their rows stayed where they were: five batches, no statement of theirs.
      expect(await at(busy.name)).toBe(positionToString(last!));
      expect(await beforeFirst(idle.name)).toBeLessThan(0);
      expect(await beforeFirst(later.name)).toBeLessThan(0);
      // An event for `later`: its batch's guarded move takes its row past the skipped ones.
      const forLater = await append(b, 6);
      expect(await r.waitFor(forLater, { projections: [later.name], timeoutMs: 10_000 })).toBe(true);
      expect(applied).toContain('later:6');
      expect(await at(later.name)).toBe(positionToString(forLater));
      expect(await beforeFirst(idle.name)).toBeLessThan(0);
    } finally {
      await r.stop();
    }
    // Written at stop: the next start does not read the skipped events again.
    const headAfter = await t.kefu.store.headPosition();
    expect(comparePositions((await readCheckpoint(t.kefu.db, idle.name))!, headAfter!)).toBe(0);
  });

  it('writes skipped positions within skipMoveMs while it runs', async () => {
    const a = `SkipA${randomUUID().slice(0, 8)}`;
    const applied: string[] = [];
    const busy = projection('busy', a, applied);
    const idle = projection('idle', `Never${randomUUID().slice(0, 8)}`, applied);
    const r = runner([busy, idle], 50);
    await r.start();
    try {
      let last: Position | null = null;
      for (let n = 1; n <= 3; n++) last = await append(a, n);
      expect(await r.waitFor(last!, { timeoutMs: 10_000 })).toBe(true);
      await until(async () => (await at(idle.name)) === positionToString(last!));
    } finally {
      await r.stop();
    }
  });

  it('does not overwrite a row moved elsewhere meanwhile: it restarts from it', async () => {
    const a = `SkipA${randomUUID().slice(0, 8)}`;
    const applied: string[] = [];
    const busy = projection('busy', a, applied);
    const idle = projection('idle', `Never${randomUUID().slice(0, 8)}`, applied);
    const warnings: string[] = [];
    const r = runner([busy, idle], 200, warnings);
    let elsewhere: string | undefined;
    await r.start();
    try {
      const first = await append(a, 1);
      expect(await r.waitFor(first, { timeoutMs: 10_000 })).toBe(true);
      await until(async () => (await at(idle.name)) === positionToString(first));
      // Another runner (say, a rebuild from the command line) moved the row far ahead.
      elsewhere = positionToString({ commit: first.commit + 1_000_000n, prepare: 0n });
      await t.kefu.db.updateTable('kefu_projection_checkpoints').set({ position: elsewhere }).where('name', '=', idle.name).execute();
      const second = await append(a, 2);
      expect(await r.waitFor(second, { projections: [busy.name], timeoutMs: 10_000 })).toBe(true);
      await until(() => warnings.includes('projection restarting'));
      expect(await at(idle.name)).toBe(elsewhere);
    } finally {
      await r.stop();
    }
    // Nor at stop.
    expect(await at(idle.name)).toBe(elsewhere);
  });
});
