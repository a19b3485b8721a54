// The agents projection keeps the rows it wrote between batches, so a presence change is folded into the row it
// wrote last instead of reading it again (issue 10). What it keeps must be what committed: a batch that rolls
// back is not kept; a reset (a runner starting, a rebuild) reads the table again; a batch applied where nothing
// tells of the commit (a parked part's retry) neither trusts nor fills it; and a runner's batch that finds a part
// unparked since its last batch (retried, maybe by another process) forgets everything.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../src/domain/ports/event-store.ts';
import { agentsProjection, type AgentStatusMessage } from '../../src/projections/agents/agents.projection.ts';
import { applyBatch } from '../../src/projections/projection-runner.ts';
import type { Projection } from '../../src/projections/projection.ts';
import { startTestKefu, type TestKefu } from '../support/kefu.ts';
import { wantPostgres } from '../support/services.ts';

describe('agents projection: the rows it keeps between batches', async () => {
  const database = (await wantPostgres()) ? 'postgres' : 'pglite';
  let t: TestKefu;
  let n = 0;
  const instanceId = `agents-cache-${randomUUID()}`;
  const agentId = randomUUID();
  const event = (type: string, data: Record<string, unknown>): RecordedEvent => {
    n++;
    return {
      id: randomUUID(),
      streamId: `agent-${instanceId}.${agentId}`,
      revision: n,
      type,
      data,
      metadata: { correlationId: 'c', causationId: null, actor: 'test', instanceId, occurredAt: new Date(Date.UTC(2026, 11, 5, 9, 0, n)).toISOString() },
      position: { commit: BigInt(2_000_000 + n), prepare: 0n },
    };
  };
  /**
   * Applies a batch in a transaction of its own, as the runner does: `committed` callbacks run after the commit
   * (never with `rollBack`, where the transaction fails after the batch); `tellsCommit: false` gives a sink
   * without them (as a parked part's retry does). Answers the agent's messages the batch published.
   */
  const apply = async (events: RecordedEvent[], options: { rollBack?: boolean; tellsCommit?: boolean } = {}): Promise<AgentStatusMessage[]> => {
    const published: AgentStatusMessage[] = [];
    const onCommit: (() => void)[] = [];
    const sink = {
      publish: (topic: string, message: unknown) => void (topic.endsWith('.agentStatus') && published.push(message as AgentStatusMessage)),
      ...(options.tellsCommit === false ? {} : { committed: (fn: () => void) => void onCommit.push(fn) }),
    };
    const committed = await t.kefu.db
      .transaction()
      .execute(async (trx) => {
        await agentsProjection.applyBatch!(trx, events, sink);
        if (options.rollBack) throw new Error('rolled back');
        return true;
      })
      .catch((err: unknown) => {
        if (!options.rollBack) throw err;
        return false;
      });
    if (committed) for (const fn of onCommit) fn();
    return committed ? published : [];
  };
  /** The agent's name in the table, changed behind the projection's back (as another process running it would). */
  const renameInTable = (name: string) => t.kefu.db.updateTable('agents').set({ name }).where('instance_id', '=', instanceId).where('id', '=', agentId).execute();

  beforeAll(async () => {
    t = await startTestKefu({ database });
    await apply([event('AgentCreated', { agentId, name: 'Ann', login: `ann-${n}`, passwordHash: 'x', phone: null, role: 'AGENT' })]);
  });
  afterAll(async () => t?.close());

  it('folds each change into the committed row, never into one rolled back', async () => {
    const [available] = await apply([event('AgentWentAvailable', {})]);
    expect(available).toMatchObject({ presence: 'AVAILABLE', held_phone: 0 });
    // A break in a batch that rolls back: the next change starts from AVAILABLE, not from the break.
    await apply([event('AgentWentOnBreak', { reason: 'Rest' })], { rollBack: true });
    const [reserved] = await apply([event('AgentReserved', { contactId: 'c1', offerId: 'o1', channel: 'PHONE', skillGroupId: 'g', expiresAt: new Date().toISOString() })]);
    expect(reserved).toMatchObject({ presence: 'AVAILABLE', break_reason: null, held_phone: 1 });
    const row = await t.kefu.db.selectFrom('agents').selectAll().where('instance_id', '=', instanceId).where('id', '=', agentId).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ presence: 'AVAILABLE', held_phone: 1 });
  });

  it('keeps the row between batches, reads it again after a reset, and neither trusts nor fills it without a commit to tell of', async () => {
    await apply([event('AgentWentAvailable', {})]);
    await renameInTable('Renamed behind its back');
    // Kept: the change is folded into the row it wrote last (no read), so the name it has is its own.
    const [kept] = await apply([event('AgentWentOnBreak', { reason: 'Meal' })]);
    expect(kept).toMatchObject({ name: 'Ann', presence: 'BREAK' });
    // A batch applied where nothing tells of the commit reads the table.
    await renameInTable('Renamed again');
    const [unkept] = await apply([event('AgentWentAvailable', {})], { tellsCommit: false });
    expect(unkept).toMatchObject({ name: 'Renamed again', presence: 'AVAILABLE' });
    // After a reset (a runner starting, a rebuild, a retried part) the table is read again.
    agentsProjection.reset!();
    const [afterReset] = await apply([event('AgentWentOffline', {})]);
    expect(afterReset).toMatchObject({ name: 'Renamed again', presence: 'OFFLINE' });
  });

  it('a runner batch that finds a part unparked since its last batch makes the projection forget what it keeps', async () => {
    let resets = 0;
    const name = `cache-probe-${randomUUID()}`;
    const probe: Projection = { name, tables: [], eventTypes: new Set(['Probe']), reset: () => void resets++, applyBatch: async () => undefined };
    const probeEvent = (): RecordedEvent => ({ ...event('Probe', {}), streamId: `probe-${instanceId}.p` });
    const first = probeEvent();
    await applyBatch(t.kefu.db, probe, null, [first]);
    await t.kefu.db.updateTable('kefu_projection_checkpoints').set({ parked_instances: ['elsewhere'] }).where('name', '=', name).execute();
    // Parked (as the runner parks a part): held, nothing forgotten.
    const second = probeEvent();
    await applyBatch(t.kefu.db, probe, first.position, [second]);
    expect(resets).toBe(0);
    // Retried and unparked (by another process, say): the next batch forgets.
    await t.kefu.db.updateTable('kefu_projection_checkpoints').set({ parked_instances: [] }).where('name', '=', name).execute();
    const third = probeEvent();
    await applyBatch(t.kefu.db, probe, second.position, [third]);
    expect(resets).toBe(1);
    const fourth = probeEvent();
    await applyBatch(t.kefu.db, probe, third.position, [fourth]);
    expect(resets).toBe(1);
  });
});
