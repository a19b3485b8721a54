// Flows through the public API: create, publish versions, read old versions, validation errors naming
// the path, references to the instance's own skill groups only, and deletion refused while a number is bound.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestKefu, type GqlResult, type TestKefu } from '../support/kefu.ts';
import { receptionFlow, telephonyInstance } from './telephony-fixtures.ts';

const flowFields = 'id name kind version definition createdAt updatedAt versions { version createdAt } numbers { number }';
const createMutation = `mutation($input: CreateFlowInput!) { createFlow(input: $input) { ${flowFields} } }`;
const updateMutation = `mutation($input: UpdateFlowInput!) { updateFlow(input: $input) { ${flowFields} } }`;

interface Flow {
  id: string;
  name: string;
  kind: string;
  version: number;
  definition: { start: string; nodes: { id: string }[] };
  versions: { version: number; createdAt: string }[];
  numbers: { number: string }[];
}

const errorOf = (r: GqlResult<unknown>) => r.errors?.[0]?.extensions;

for (const database of ['pglite', 'postgres'] as const) {
  describe(`flows (${database})`, () => {
    let t: TestKefu;
    let A: Awaited<ReturnType<typeof telephonyInstance>>;
    let B: Awaited<ReturnType<typeof telephonyInstance>>;
    let onlineGroupId: string;

    const create = (token: string, input: Record<string, unknown>) => t.gql<{ createFlow: Flow }>(token, createMutation, { input });
    const update = (token: string, input: Record<string, unknown>) => t.gql<{ updateFlow: Flow }>(token, updateMutation, { input });

    beforeAll(async () => {
      t = await startTestKefu({ database });
      A = await telephonyInstance(t, 'Alpha', [{ name: 'Ann', login: 'ann' }]);
      B = await telephonyInstance(t, 'Beta');
      const g = await t.ok<{ createSkillGroup: { id: string } }>(A.adminKey, 'mutation { createSkillGroup(input: { name: "Chat", channel: ONLINE }) { id } }');
      onlineGroupId = g.createSkillGroup.id;
    });
    afterAll(async () => t?.close());

    it('creates a flow at version 1, with defaults filled in', async () => {
      const r = await create(A.adminKey, { name: 'Reception', kind: 'IVR', definition: receptionFlow(A.groupId) });
      expect(r.errors).toBeUndefined();
      const flow = r.data!.createFlow;
      expect(flow).toMatchObject({ name: 'Reception', kind: 'IVR', version: 1, numbers: [] });
      expect(flow.versions.map((v) => v.version)).toEqual([1]);
      expect(flow.definition).toMatchObject({ version: 1, start: 'hours', nodes: expect.arrayContaining([expect.objectContaining({ id: 'menu', timeoutSeconds: 5, retries: 2 })]) });
    });

    it('publishes a changed document as a new version and keeps the old ones readable', async () => {
      const flow = (await create(A.adminKey, { name: 'Versions', kind: 'IVR', definition: receptionFlow(A.groupId) })).data!.createFlow;
      const v2 = await update(A.adminKey, { id: flow.id, definition: receptionFlow(A.groupId, [{ id: 'spare', type: 'hangup' }]) });
      expect(v2.errors).toBeUndefined();
      expect(v2.data!.updateFlow).toMatchObject({ version: 2 });
      expect(v2.data!.updateFlow.versions.map((v) => v.version)).toEqual([2, 1]);
      // The same document again, or only a new name: no new version.
      const same = await update(A.adminKey, { id: flow.id, name: 'Renamed', definition: receptionFlow(A.groupId, [{ id: 'spare', type: 'hangup' }]) });
      expect(same.data!.updateFlow).toMatchObject({ version: 2, name: 'Renamed' });
      const old = await t.ok<{ flowVersion: { version: number; definition: Flow['definition'] } }>(
        A.adminKey,
        'query($id: ID!, $v: Int!) { flowVersion(id: $id, version: $v) { version definition } }',
        { id: flow.id, v: 1 },
      );
      expect(old.flowVersion.version).toBe(1);
      expect(old.flowVersion.definition.nodes.map((n) => n.id)).not.toContain('spare');
      const missing = await t.gql(A.adminKey, 'query($id: ID!) { flowVersion(id: $id, version: 9) { version } }', { id: flow.id });
      expect(errorOf(missing)?.code).toBe('NOT_FOUND');
      const list = await t.ok<{ flows: { name: string; version: number }[] }>(A.adminKey, '{ flows { name version } }');
      expect(list.flows).toEqual(expect.arrayContaining([{ name: 'Renamed', version: 2 }]));
    });

    it('answers a broken document with BAD_USER_INPUT naming the path', async () => {
      const dangling = receptionFlow(A.groupId);
      (dangling.nodes[1] as { options: Record<string, { next: string; label: string }> }).options['2'] = { next: 'nowhere', label: 'Lost' };
      const r = await create(A.adminKey, { name: 'Broken', kind: 'IVR', definition: dangling });
      expect(errorOf(r)).toEqual({ code: 'BAD_USER_INPUT', field: 'input.definition.nodes.1.options.2.next' });
      expect(r.errors![0]!.message).toMatch(/nowhere/);

      const badZone = receptionFlow(A.groupId);
      (badZone.nodes[0] as { timeZone: string }).timeZone = 'Moon/Base';
      expect(errorOf(await create(A.adminKey, { name: 'Zone', kind: 'IVR', definition: badZone }))).toEqual({ code: 'BAD_USER_INPUT', field: 'input.definition.nodes.0.timeZone' });

      const noStart = { ...receptionFlow(A.groupId), start: 'missing' };
      expect(errorOf(await create(A.adminKey, { name: 'Start', kind: 'IVR', definition: noStart }))).toEqual({ code: 'BAD_USER_INPUT', field: 'input.definition.start' });

      const badTime = receptionFlow(A.groupId);
      (badTime.nodes[0] as { weekly: { open: string }[] }).weekly[0]!.open = '9am';
      expect(errorOf(await create(A.adminKey, { name: 'Time', kind: 'IVR', definition: badTime }))).toEqual({ code: 'BAD_USER_INPUT', field: 'input.definition.nodes.0.weekly.0.open' });

      expect(errorOf(await create(A.adminKey, { name: 'Json', kind: 'IVR', definition: 'just a string' }))?.code).toBe('BAD_USER_INPUT');
    });

    it("refuses a route to another instance's skill group, an unknown one or a non-PHONE one, and an unknown recording", async () => {
      for (const groupId of [B.groupId, randomUUID()]) {
        const r = await create(A.adminKey, { name: 'Foreign', kind: 'IVR', definition: receptionFlow(groupId) });
        expect(errorOf(r)).toEqual({ code: 'BAD_USER_INPUT', field: 'input.definition.nodes.2.skillGroupId' });
        expect(r.errors![0]!.message).not.toMatch(/Beta/);
      }
      const online = await create(A.adminKey, { name: 'Online', kind: 'IVR', definition: receptionFlow(onlineGroupId) });
      expect(online.errors![0]!.message).toMatch(/not a PHONE skill group/);
      const audio = receptionFlow(A.groupId);
      (audio.nodes[3] as { prompt: unknown }).prompt = { audioId: randomUUID() };
      expect(errorOf(await create(A.adminKey, { name: 'Audio', kind: 'IVR', definition: audio }))).toEqual({ code: 'BAD_USER_INPUT', field: 'input.definition.nodes.3.prompt.audioId' });
    });

    it('is for admins only', async () => {
      const r = await create(A.agents[0]!.token, { name: 'Agent', kind: 'IVR', definition: receptionFlow(A.groupId) });
      expect(errorOf(r)?.code).toBe('FORBIDDEN');
      expect(errorOf(await t.gql(A.agents[0]!.token, '{ flows { id } }'))?.code).toBe('FORBIDDEN');
    });

    it('refuses to delete a flow while a number is bound to it, and deletes it after', async () => {
      const flow = (await create(A.adminKey, { name: 'Bound', kind: 'IVR', definition: receptionFlow(A.groupId) })).data!.createFlow;
      const number = `+8610${Math.floor(Math.random() * 1e8)}`;
      await t.ok(A.adminKey, 'mutation($n: String!, $f: ID!) { bindNumber(input: { number: $n, flowId: $f }) { number } }', { n: number, f: flow.id });
      const bound = await t.ok<{ flow: Flow }>(A.adminKey, `query($id: ID!) { flow(id: $id) { ${flowFields} } }`, { id: flow.id });
      expect(bound.flow.numbers).toEqual([{ number }]);
      const refused = await t.gql(A.adminKey, 'mutation($id: ID!) { deleteFlow(input: { id: $id }) { id } }', { id: flow.id });
      expect(errorOf(refused)?.code).toBe('CONFLICT');
      expect(refused.errors![0]!.message).toContain(number);
      await t.ok(A.adminKey, 'mutation($n: String!) { unbindNumber(input: { number: $n }) { number } }', { n: number });
      await t.ok(A.adminKey, 'mutation($id: ID!) { deleteFlow(input: { id: $id }) { id } }', { id: flow.id });
      expect(errorOf(await t.gql(A.adminKey, 'query($id: ID!) { flow(id: $id) { id } }', { id: flow.id }))?.code).toBe('NOT_FOUND');
      // Deleting again: NOT_FOUND is not required; the command changes nothing.
      const again = await t.gql(A.adminKey, 'mutation($id: ID!) { deleteFlow(input: { id: $id }) { id } }', { id: flow.id });
      expect(again.errors).toBeUndefined();
    });

    it("answers another instance's flow id exactly like an id that exists nowhere", async () => {
      const bFlow = (await create(B.adminKey, { name: 'Beta flow', kind: 'IVR', definition: receptionFlow(B.groupId) })).data!.createFlow;
      const cases: [string, (id: string) => Record<string, unknown>][] = [
        ['query($id: ID!) { flow(id: $id) { id name } }', (id) => ({ id })],
        ['query($id: ID!) { flowVersion(id: $id, version: 1) { version } }', (id) => ({ id })],
        ['mutation($id: ID!) { updateFlow(input: { id: $id, name: "Hijacked" }) { id } }', (id) => ({ id })],
        ['mutation($id: ID!, $d: JSON!) { updateFlow(input: { id: $id, definition: $d }) { id } }', (id) => ({ id, d: receptionFlow(A.groupId) })],
        ['mutation($id: ID!) { deleteFlow(input: { id: $id }) { id } }', (id) => ({ id })],
        ['mutation($id: ID!) { bindNumber(input: { number: "+10005550100", flowId: $id }) { number } }', (id) => ({ id })],
      ];
      for (const [query, vars] of cases) {
        const nowhere = randomUUID();
        const foreign = await t.gql(A.adminKey, query, vars(bFlow.id));
        const missing = await t.gql(A.adminKey, query, vars(nowhere));
        expect(errorOf(foreign)?.code, query).toBe('NOT_FOUND');
        expect(foreign.errors![0]!.message.replace(bFlow.id, '<id>')).toBe(missing.errors![0]!.message.replace(nowhere, '<id>'));
      }
      const still = await t.ok<{ flow: { name: string; version: number } }>(B.adminKey, 'query($id: ID!) { flow(id: $id) { name version } }', { id: bFlow.id });
      expect(still.flow).toEqual({ name: 'Beta flow', version: 1 });
      const aFlows = await t.ok<{ flows: { id: string }[] }>(A.adminKey, '{ flows { id } }');
      expect(aFlows.flows.map((f) => f.id)).not.toContain(bFlow.id);
    });
  });
}
