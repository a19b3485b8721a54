// An agent's token is checked against the agent's row (deleted? role?). With a bus, the Authenticator keeps a row
// read while it listens to the instance's agentStatus topic until a change of that agent is heard there (the
// agents projection publishes every change after its commit) or heardMs passes (issue 11: each of a chat bench's
// 200 agents re-read its row every second, the most frequent statement per message). A change heard drops the
// row at once in every process sharing the bus; a read that saw a change arrive is kept cacheMs only.
import { describe, expect, it } from 'vitest';
import { InProcessBus } from '../../src/adapters/bus/in-process-bus.ts';
import { Authenticator, type Principal } from '../../src/api/auth.ts';
import { UnauthenticatedError } from '../../src/domain/errors.ts';
import { agentStatusTopic } from '../../src/projections/agents/agents.projection.ts';
import type { ReadModel } from '../../src/projections/projection.ts';

interface Row {
  role: string;
  deleted_at: Date | null;
  updated_at: Date;
}

/** A read model whose agents look-up answers from `rows` (by instance/agent) and counts its reads; `during` runs inside a read. */
function readModel(rows: Map<string, Row>) {
  const state = { reads: 0, during: null as (() => Promise<void>) | null };
  const db = {
    selectFrom: (table: string) => {
      if (table !== 'agents') throw new Error(`unexpected table ${table}`);
      const wheres: unknown[] = [];
      const chain = {
        select: () => chain,
        where: (_c: string, _op: string, v: unknown) => {
          wheres.push(v);
          return chain;
        },
        async executeTakeFirst() {
          state.reads++;
          const row = rows.get(`${String(wheres[0])}/${String(wheres[1])}`);
          const answer = row ? { ...row } : undefined;
          const during = state.during;
          state.during = null;
          if (during) await during();
          return answer;
        },
      };
      return chain;
    },
  } as unknown as ReadModel;
  return { db, state };
}

const signingKey = new Uint8Array(32).fill(7);
const clock = () => {
  const c = { ms: 1_000_000, now: () => c.ms };
  return c;
};
const agentRow = (role = 'AGENT'): Row => ({ role, deleted_at: null, updated_at: new Date() });

async function check(auth: Authenticator, token: string): Promise<Principal | string | null> {
  return auth.authenticate(`Bearer ${token}`).catch((err: Error) => (err instanceof UnauthenticatedError ? 'UNAUTHENTICATED' : err.message));
}

describe('Authenticator: agent rows kept while the bus tells their changes', () => {
  it('reads an agent row once while no change of it is heard, past cacheMs (up to heardMs)', async () => {
    const rows = new Map([['i1/a1', agentRow()]]);
    const { db, state } = readModel(rows);
    const c = clock();
    const auth = new Authenticator({ db, operator: {}, signingKey, cacheMs: 1000, bus: new InProcessBus(), heardMs: 30_000, now: c.now });
    const { token } = await auth.issueAgentToken('i1', 'a1');
    expect(await check(auth, token)).toEqual({ kind: 'agent', instanceId: 'i1', agentId: 'a1', role: 'AGENT' });
    c.ms += 5_000;
    expect(await check(auth, token)).toMatchObject({ agentId: 'a1' });
    c.ms += 20_000;
    expect(await check(auth, token)).toMatchObject({ agentId: 'a1' });
    expect(state.reads).toBe(1);
    // heardMs after the read: read again (a bus message lost in a reconnect is forgotten).
    c.ms += 5_000;
    expect(await check(auth, token)).toMatchObject({ agentId: 'a1' });
    expect(state.reads).toBe(2);
  });

  it('a change heard on the bus is seen at once, by every process sharing it', async () => {
    const rows = new Map([
      ['i1/a1', agentRow()],
      ['i1/a2', agentRow()],
      ['i2/a1', agentRow()],
    ]);
    const { db, state } = readModel(rows);
    const c = clock();
    const bus = new InProcessBus();
    // Two processes: the same database, the same bus, each its own Authenticator.
    const one = new Authenticator({ db, operator: {}, signingKey, cacheMs: 1000, bus, now: c.now });
    const two = new Authenticator({ db, operator: {}, signingKey, cacheMs: 1000, bus, now: c.now });
    const a1 = (await one.issueAgentToken('i1', 'a1')).token;
    const a2 = (await one.issueAgentToken('i1', 'a2')).token;
    const other = (await one.issueAgentToken('i2', 'a1')).token;
    for (const auth of [one, two]) for (const token of [a1, a2, other]) expect(await check(auth, token)).toMatchObject({ kind: 'agent' });
    expect(state.reads).toBe(6);
    c.ms += 500;

    // Promoted: the projection commits the row, then publishes it.
    rows.set('i1/a1', agentRow('SUPERVISOR'));
    await bus.publish(agentStatusTopic('i1'), { id: 'a1', instance_id: 'i1', role: 'SUPERVISOR' });
    for (const auth of [one, two]) expect(await check(auth, a1)).toMatchObject({ agentId: 'a1', role: 'SUPERVISOR' });
    expect(state.reads).toBe(8);

    // Deleted: refused at once in both.
    rows.set('i1/a1', { ...agentRow('SUPERVISOR'), deleted_at: new Date() });
    await bus.publish(agentStatusTopic('i1'), { id: 'a1', instance_id: 'i1', role: 'SUPERVISOR' });
    for (const auth of [one, two]) expect(await check(auth, a1)).toBe('UNAUTHENTICATED');
    expect(state.reads).toBe(10);

    // The instance's other agent, and another instance's agent of the same id, were not read again.
    c.ms += 10_000;
    for (const auth of [one, two]) for (const token of [a2, other]) expect(await check(auth, token)).toMatchObject({ kind: 'agent' });
    expect(state.reads).toBe(10);
  });

  it('does not keep past cacheMs a row read while a change of the agent was heard', async () => {
    const rows = new Map([['i1/a1', agentRow()]]);
    const { db, state } = readModel(rows);
    const c = clock();
    const bus = new InProcessBus();
    const auth = new Authenticator({ db, operator: {}, signingKey, cacheMs: 1000, bus, now: c.now });
    const { token } = await auth.issueAgentToken('i1', 'a1');
    // The read saw the row before its deletion; the deletion is published before the answer comes back.
    state.during = async () => {
      rows.set('i1/a1', { ...agentRow(), deleted_at: new Date() });
      await bus.publish(agentStatusTopic('i1'), { id: 'a1' });
    };
    expect(await check(auth, token)).toMatchObject({ agentId: 'a1' });
    c.ms += 1000;
    expect(await check(auth, token)).toBe('UNAUTHENTICATED');
    expect(state.reads).toBe(2);
  });

  it('without a bus (or with cacheMs 0) rows are read as before', async () => {
    const rows = new Map([['i1/a1', agentRow()]]);
    const { db, state } = readModel(rows);
    const c = clock();
    const noBus = new Authenticator({ db, operator: {}, signingKey, cacheMs: 1000, now: c.now });
    const { token } = await noBus.issueAgentToken('i1', 'a1');
    await check(noBus, token);
    c.ms += 999;
    await check(noBus, token);
    expect(state.reads).toBe(1);
    c.ms += 1;
    await check(noBus, token);
    expect(state.reads).toBe(2);
    const uncached = new Authenticator({ db, operator: {}, signingKey, cacheMs: 0, bus: new InProcessBus(), now: c.now });
    await check(uncached, token);
    await check(uncached, token);
    expect(state.reads).toBe(4);
  });
});
