// A chat flow's route asks whether its skill group still takes chats (not deleted). OpenSkillGroups answers a
// group seen open from memory while the bus says nothing changed (issue 12: a flow's last step sent one statement
// more than a plain send, and under a chat load each statement waits for a pool connection); a change of the group
// heard on the bus, or ttlMs without a look, reads the read model again.
import { describe, expect, it } from 'vitest';
import { InProcessBus } from '../../src/adapters/bus/in-process-bus.ts';
import { OpenSkillGroups } from '../../src/processes/chat-flows/chat-flow-runner.ts';
import { skillGroupsTopic } from '../../src/projections/skill-groups/skill-groups.projection.ts';
import type { ReadModel } from '../../src/projections/projection.ts';

/** A read model whose skill_groups look-up answers from `open` and counts its reads; `during` runs inside a read. */
function readModel(open: Set<string>) {
  const state = { reads: 0, during: null as (() => Promise<void>) | null };
  const wheres: unknown[] = [];
  const chain = {
    select: () => chain,
    where: (_c: string, _op: string, v: unknown) => {
      wheres.push(v);
      return chain;
    },
    async executeTakeFirst() {
      state.reads++;
      const id = wheres[1] as string;
      wheres.length = 0;
      const row = open.has(id) ? { id } : undefined;
      const during = state.during;
      state.during = null;
      if (during) await during();
      return row;
    },
  };
  const db = { selectFrom: () => chain } as unknown as ReadModel;
  return { db, state };
}

describe('OpenSkillGroups', () => {
  it('reads every time without a bus', async () => {
    const { db, state } = readModel(new Set(['g1']));
    const groups = new OpenSkillGroups(db, null);
    expect(await groups.isOpen('i1', 'g1')).toBe(true);
    expect(await groups.isOpen('i1', 'g1')).toBe(true);
    expect(state.reads).toBe(2);
  });

  it('answers a group seen open from memory until the bus says it changed', async () => {
    const open = new Set(['g1', 'g2']);
    const { db, state } = readModel(open);
    const bus = new InProcessBus();
    const groups = new OpenSkillGroups(db, bus);
    expect(await groups.isOpen('i1', 'g1')).toBe(true);
    expect(await groups.isOpen('i1', 'g1')).toBe(true);
    expect(await groups.isOpen('i1', 'g1')).toBe(true);
    expect(state.reads).toBe(1);
    // Deleted: the projection publishes the group's change after its write.
    open.delete('g1');
    await bus.publish(skillGroupsTopic('i1'), { skillGroupId: 'g1' });
    expect(await groups.isOpen('i1', 'g1')).toBe(false);
    expect(await groups.isOpen('i1', 'g1')).toBe(false);
    expect(state.reads).toBe(3);
    // Another instance's group, and another group of the instance, are their own.
    expect(await groups.isOpen('i2', 'g2')).toBe(true);
    expect(await groups.isOpen('i1', 'g2')).toBe(true);
    await bus.publish(skillGroupsTopic('i2'), { skillGroupId: 'g2' });
    expect(await groups.isOpen('i1', 'g2')).toBe(true);
    expect(state.reads).toBe(5);
  });

  it('does not keep an answer read while a change was heard', async () => {
    const open = new Set(['g1']);
    const { db, state } = readModel(open);
    const bus = new InProcessBus();
    const groups = new OpenSkillGroups(db, bus);
    // The read saw the group open; its deletion is published before the answer comes back.
    state.during = async () => {
      open.delete('g1');
      await bus.publish(skillGroupsTopic('i1'), { skillGroupId: 'g1' });
    };
    expect(await groups.isOpen('i1', 'g1')).toBe(true);
    expect(await groups.isOpen('i1', 'g1')).toBe(false);
    expect(state.reads).toBe(2);
  });

  it('reads again after ttlMs (a lost bus message is forgotten)', async () => {
    const { db, state } = readModel(new Set(['g1']));
    const clock = { ms: 0 };
    const groups = new OpenSkillGroups(db, new InProcessBus(), { ttlMs: 1000, now: () => clock.ms });
    await groups.isOpen('i1', 'g1');
    clock.ms = 999;
    await groups.isOpen('i1', 'g1');
    expect(state.reads).toBe(1);
    clock.ms = 1000;
    await groups.isOpen('i1', 'g1');
    expect(state.reads).toBe(2);
  });
});
