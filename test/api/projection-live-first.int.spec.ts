// Live views at scale (issue 10): a projection that only stores applies its batch after the live projections'
// batch of the same events was published and after the live fan-out's frames were written (yieldTo), so that on
// PGlite (one thread) its statements do not run between the fan-out's slices; it never waits longer than
// yieldMaxMs, so a fan-out that never ends cannot hold it back. The checkpoint rows of projections that skipped
// the events (nothing to write) are written after the frames too.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InProcessBus } from '../../src/adapters/bus/in-process-bus.ts';
import { comparePositions, type Position } from '../../src/domain/ports/event-store.ts';
import { ProjectionRunner, readCheckpoint } from '../../src/projections/projection-runner.ts';
import type { Projection } from '../../src/projections/projection.ts';
import { startTestKefu, type TestKefu } from '../support/kefu.ts';

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

async function until(ok: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Polls the checkpoint row of `name` until it is at `position` or past it. */
async function rowReaches(name: string, position: Position, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const row = await readCheckpoint(t.kefu.db, name);
    if (row && comparePositions(row, position) >= 0) return;
    if (Date.now() > deadline) throw new Error(`the checkpoint row of ${name} did not reach the position`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The runner's projections have applied every event stored so far (then they are live). */
async function caughtUp(runner: ProjectionRunner): Promise<void> {
  const head = await t.kefu.store.headPosition();
  if (head) expect(await runner.waitFor(head, { timeoutMs: 30_000 })).toBe(true);
}

let t: TestKefu;

describe('projections that only store wait for the live fan-out', () => {
  beforeAll(async () => {
    t = await startTestKefu({ database: 'pglite' });
  });
  afterAll(async () => t?.close());

  /** A live projection and one that only stores, both noting (in `applied`) the events of `type` they apply. */
  function pair(type: string, applied: string[]): Projection[] {
    const make = (name: string, live: boolean): Projection => ({
      name: `${name}_${randomUUID().slice(0, 8)}`,
      tables: [],
      live,
      eventTypes: new Set([type]),
      async apply(_trx, e) {
        applied.push(`${name}:${(e.data as { n: number }).n}`);
      },
    });
    return [make('live', true), make('stored', false)];
  }

  it('applies the batch after the live one was published and the frames in flight were written', async () => {
    const type = `LiveFirst${randomUUID().slice(0, 8)}`;
    const applied: string[] = [];
    const bus = new InProcessBus();
    // The fan-out is busy until the test says the frames are written.
    let written!: () => void;
    let busy: Promise<void> | null = new Promise<void>((r) => (written = r));
    const asked: string[] = [];
    const runner = new ProjectionRunner({
      store: t.kefu.store,
      db: t.kefu.db,
      sql: t.kefu.sql,
      bus,
      projections: pair(type, applied),
      logger: silent,
      yieldTo: () => {
        asked.push(applied.join(','));
        return busy;
      },
      yieldMaxMs: 60_000,
    });
    await runner.start();
    try {
      // Live, not catching up (a batch of the catch-up does not wait).
      await caughtUp(runner);
      await t.kefu.store.appendToStream(`live-first-${randomUUID()}`, [{ id: randomUUID(), type, data: { n: 1 }, metadata: { instanceId: 'i' } as never }], { expectedRevision: 'no_stream' });
      await until(() => applied.includes('live:1'));
      await new Promise((r) => setTimeout(r, 300));
      expect(applied).toEqual(['live:1']);
      // It asked only once the live batch was applied.
      expect(asked.length).toBeGreaterThan(0);
      expect(asked.every((a) => a === 'live:1')).toBe(true);
      busy = null;
      written();
      await until(() => applied.includes('stored:1'));
      expect(applied).toEqual(['live:1', 'stored:1']);
    } finally {
      await runner.stop();
    }
  });

  it('writes the checkpoint rows of projections that skipped the events after the frames in flight', async () => {
    const type = `LiveFirst${randomUUID().slice(0, 8)}`;
    const applied: string[] = [];
    const [live] = pair(type, applied);
    const skipping: Projection = { name: `skipping_${randomUUID().slice(0, 8)}`, tables: [], eventTypes: new Set([`Never${randomUUID().slice(0, 8)}`]), async apply() {} };
    let written!: () => void;
    let busy: Promise<void> | null = null;
    const runner = new ProjectionRunner({
      store: t.kefu.store,
      db: t.kefu.db,
      sql: t.kefu.sql,
      bus: new InProcessBus(),
      projections: [live!, skipping],
      logger: silent,
      yieldTo: () => busy,
      yieldMaxMs: 60_000,
      skipMoveMs: 0,
    });
    await runner.start();
    try {
      await caughtUp(runner);
      // The catch-up's skipped events are written at once (nothing in flight).
      const head = await t.kefu.store.headPosition();
      if (head) await rowReaches(skipping.name, head);
      busy = new Promise<void>((r) => (written = r));
      const { position } = await t.kefu.store.appendToStream(`live-first-${randomUUID()}`, [{ id: randomUUID(), type, data: { n: 1 }, metadata: { instanceId: 'i' } as never }], { expectedRevision: 'no_stream' });
      await until(() => applied.includes('live:1'));
      // Known here at once (waiters are told), while the row stays behind until the frames are written.
      expect(await runner.waitFor(position, { projections: [skipping.name], timeoutMs: 10_000 })).toBe(true);
      await new Promise((r) => setTimeout(r, 300));
      expect(comparePositions((await readCheckpoint(t.kefu.db, skipping.name)) ?? { commit: 0n, prepare: 0n }, position)).toBeLessThan(0);
      busy = null;
      written();
      await rowReaches(skipping.name, position);
    } finally {
      await runner.stop();
    }
  });

  it('waits no longer than yieldMaxMs for a fan-out that stays busy', async () => {
    const type = `LiveFirst${randomUUID().slice(0, 8)}`;
    const applied: string[] = [];
    const never = new Promise<void>(() => undefined);
    const runner = new ProjectionRunner({
      store: t.kefu.store,
      db: t.kefu.db,
      sql: t.kefu.sql,
      bus: new InProcessBus(),
      projections: pair(type, applied),
      logger: silent,
      yieldTo: () => never,
      yieldMaxMs: 50,
    });
    await runner.start();
    try {
      await caughtUp(runner);
      for (let n = 1; n <= 3; n++) {
        await t.kefu.store.appendToStream(`live-first-${randomUUID()}`, [{ id: randomUUID(), type, data: { n }, metadata: { instanceId: 'i' } as never }], { expectedRevision: 'no_stream' });
      }
      await until(() => applied.filter((a) => a.startsWith('stored:')).length === 3);
      expect(applied.filter((a) => a.startsWith('stored:'))).toEqual(['stored:1', 'stored:2', 'stored:3']);
    } finally {
      await runner.stop();
    }
  });
});
