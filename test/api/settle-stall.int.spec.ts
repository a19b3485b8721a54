// A mutation answers from the read models once they show what it stored (settle). It waits as long as they
// move (busy, or catching up on a loaded machine), gives up when those still short of its event stop moving,
// and then answers READ_MODEL_BEHIND, never the old state or NOT_FOUND for what it created (a client would send
// it again and do it twice). At the runner (waitFor's stallMs) and through the API. On PostgreSQL (a projection
// held inside its transaction on PGlite, one connection, would hold every other statement too), in a database of
// its own (held transactions would hold back the readers of every other spec in the shared one).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Position } from '../../src/domain/ports/event-store.ts';
import { ProjectionRunner } from '../../src/projections/projection-runner.ts';
import type { Projection } from '../../src/projections/projection.ts';
import { skillGroupsProjection } from '../../src/projections/skill-groups/skill-groups.projection.ts';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { ownPostgresDatabase, wantPostgres } from '../support/services.ts';

type Mutable = { apply: Projection['apply'] };

/** A projection whose events each wait for their own gate (opened by the test). */
function gatedProjection(t: TestKefu) {
  const name = `gated_${randomUUID().replaceAll('-', '').slice(0, 8)}`;
  const type = `Gated_${name}`;
  const gates = new Map<number, () => void>();
  const waiting = new Map<number, Promise<void>>();
  const gate = (n: number) => {
    if (!waiting.has(n)) waiting.set(n, new Promise<void>((resolve) => gates.set(n, resolve)));
    return waiting.get(n)!;
  };
  const applied: number[] = [];
  const projection: Projection = {
    name,
    tables: [],
    eventTypes: new Set([type]),
    async apply(_trx, e) {
      const n = (e.data as { n: number }).n;
      await gate(n);
      applied.push(n);
    },
  };
  const append = async (n: number): Promise<Position> =>
    (
      await t.kefu.store.appendToStream(
        `gated-${name}.${n}`,
        [{ id: randomUUID(), type, data: { n }, metadata: { instanceId: 'x', actor: 'test', correlationId: randomUUID(), causationId: null, occurredAt: new Date().toISOString() } }],
        { expectedRevision: 'any' },
      )
    ).position;
  const open = (n: number) => {
    void gate(n);
    gates.get(n)!();
  };
  return { name, projection, append, open, applied };
}

/** A runner of these projections alone, one event per batch (so a checkpoint moves with each event). */
function runnerOf(t: TestKefu, runners: ProjectionRunner[], projections: Projection[]): ProjectionRunner {
  const logger = { info: () => undefined, warn: () => undefined, error: () => undefined };
  const runner = new ProjectionRunner({ store: t.kefu.store, db: t.kefu.db, sql: t.kefu.sql, bus: t.kefu.bus, projections, logger, leaseRetryMs: 100, batchSize: 1 });
  runners.push(runner);
  return runner;
}

describe.runIf(await wantPostgres())('settle: wait while the read models move, READ_MODEL_BEHIND when they stall', () => {
  let t: TestKefu;
  let db: Awaited<ReturnType<typeof ownPostgresDatabase>>;
  const runners: ProjectionRunner[] = [];
  const realApply = (skillGroupsProjection as Mutable).apply;
  beforeAll(async () => {
    db = await ownPostgresDatabase('kefu_settle_stall');
    await db.sql.close();
    t = await startTestKefu({ env: { DATABASE_URL: db.url, KEFU_SETTLE_STALL_MS: '1500' } });
  });
  afterAll(async () => {
    (skillGroupsProjection as Mutable).apply = realApply;
    for (const r of runners) await r.stop();
    await t?.close();
    await db?.drop();
  });

  it('waitFor with stallMs: keeps waiting while the projection moves, gives up once it stops', async () => {
    const g = gatedProjection(t);
    const runner = runnerOf(t, runners, [g.projection]);
    await runner.start();
    const positions: Position[] = [];
    for (let n = 1; n <= 4; n++) positions.push(await g.append(n));
    const started = Date.now();
    const waiting = runner.waitFor(positions[3]!, { projections: [g.name], stallMs: 1500, timeoutMs: 120_000 });
    // Each event is let through 700 ms after the one before was applied: 2.8 s in all, over the stall's 1.5 s.
    for (let n = 1; n <= 4; n++) {
      await new Promise((r) => setTimeout(r, 700));
      g.open(n);
      await expect.poll(() => g.applied.includes(n), { timeout: 30_000 }).toBe(true);
    }
    expect(await waiting).toBe(true);
    expect(Date.now() - started).toBeGreaterThan(2500);

    // Now one that never moves: false after the stall, not before.
    const stuck = await g.append(5);
    const from = Date.now();
    expect(await runner.waitFor(stuck, { projections: [g.name], stallMs: 1000, timeoutMs: 120_000 })).toBe(false);
    expect(Date.now() - from).toBeGreaterThanOrEqual(950);
    g.open(5);
    expect(await runner.waitFor(stuck, { projections: [g.name], timeoutMs: 60_000 })).toBe(true);
  });

  it('a projection that has reached the event and moves on does not keep a stuck one waited for', async () => {
    // `stuck` runs nowhere (as when its process is gone): its checkpoint row never moves. `busy` runs here, passes
    // the event (not one of its own) and goes on moving with its own events for 15 s.
    const stuck = gatedProjection(t);
    const busy = gatedProjection(t);
    const runner = runnerOf(t, runners, [busy.projection]);
    await runner.start();
    const target = await stuck.append(1);
    expect(await runner.waitFor(target, { projections: [busy.name], timeoutMs: 60_000 })).toBe(true);
    let feeding = true;
    const fed = (async () => {
      for (let n = 1; feeding && n <= 75; n++) {
        busy.open(n);
        await busy.append(n);
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    try {
      const from = Date.now();
      expect(await runner.waitFor(target, { projections: [stuck.name, busy.name], stallMs: 1000, timeoutMs: 120_000 })).toBe(false);
      // Given up after stuck's stall (about 1 s), not after busy stopped moving (15 s).
      expect(Date.now() - from).toBeLessThan(10_000);
      expect(busy.applied.length).toBeGreaterThan(0);
    } finally {
      feeding = false;
      await fed;
    }
  });

  it('a mutation whose read model is stuck answers READ_MODEL_BEHIND, and what it stored shows once, later', async () => {
    const seed = await seedInstance(t, { name: 'Stall Co', seats: 0 });
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    (skillGroupsProjection as Mutable).apply = async (trx, e, changes) => {
      if (e.type === 'SkillGroupCreated' && (e.data as { name?: string }).name === 'Held') await gate;
      return realApply!(trx, e, changes);
    };
    try {
      const answer = await t.gql(seed.adminKey, 'mutation { createSkillGroup(input: { name: "Held", channel: ONLINE }) { id name } }');
      expect(answer.errors?.[0]?.extensions?.code).toBe('READ_MODEL_BEHIND');
      expect(answer.errors?.[0]?.message).toMatch(/stored.*do not send it again/);
    } finally {
      open();
      (skillGroupsProjection as Mutable).apply = realApply;
    }
    await expect
      .poll(async () => (await t.ok<{ skillGroups: { name: string }[] }>(seed.adminKey, '{ skillGroups { name } }')).skillGroups.filter((g) => g.name === 'Held').length, { timeout: 30_000 })
      .toBe(1);
    // A projection that moves within the stall is waited for: the next creation answers normally.
    const next = await t.ok<{ createSkillGroup: { name: string } }>(seed.adminKey, 'mutation { createSkillGroup(input: { name: "Next", channel: ONLINE }) { name } }');
    expect(next.createSkillGroup.name).toBe('Next');
  });
});
