// Chat flows (OL-13) through the public API: a CHAT flow is checked in full when saved (the fault's path;
// routes only to live ONLINE skill groups of the instance), a web channel runs one (and only a CHAT flow,
// as a number runs only an IVR flow), and a flow a web channel runs cannot be deleted.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestKefu, type GqlResult, type TestKefu } from '../support/kefu.ts';
import { receptionFlow, telephonyInstance } from './telephony-fixtures.ts';

const errorOf = (r: GqlResult<unknown>) => r.errors?.[0]?.extensions;

function chatReception(salesGroupId: string, supportGroupId: string) {
  return {
    start: 'hours',
    nodes: [
      { id: 'hours', type: 'businessHours', timeZone: 'Asia/Shanghai', weekly: [{ days: ['MON', 'TUE', 'WED', 'THU', 'FRI'], open: '09:00', close: '18:00' }], open: 'menu', closed: 'closed' },
      {
        id: 'menu',
        type: 'menu',
        text: 'How can we help?',
        options: [
          { number: 1, label: 'Buy', keywords: ['sales'], next: 'sales' },
          { number: 2, label: 'My order', next: 'order' },
        ],
        onFailure: 'choose',
      },
      { id: 'order', type: 'collect', text: 'Order number?', variable: 'orderNumber', validate: { kind: 'orderNumber' }, next: 'choose' },
      { id: 'choose', type: 'chooseSkillGroup', text: 'Who?', options: [{ number: 1, label: 'Support', skillGroupId: supportGroupId }], onFailure: 'sales', onNoAgent: 'nobody' },
      { id: 'sales', type: 'route', skillGroupId: salesGroupId, onNoAgent: 'nobody' },
      { id: 'nobody', type: 'end', text: 'Nobody is online.' },
      { id: 'closed', type: 'end', text: 'We are closed.' },
    ],
  };
}

interface Flow {
  id: string;
  kind: string;
  version: number;
  definition: { nodes: Record<string, unknown>[] };
  webChannels: { id: string; name: string }[];
}

for (const database of ['pglite', 'postgres'] as const) {
  describe(`chat flows (${database})`, () => {
    let t: TestKefu;
    let A: Awaited<ReturnType<typeof telephonyInstance>>;
    let B: Awaited<ReturnType<typeof telephonyInstance>>;
    let sales: string;
    let support: string;
    let foreignOnline: string;

    const group = async (key: string, name: string) =>
      (await t.ok<{ createSkillGroup: { id: string } }>(key, 'mutation($n: String!) { createSkillGroup(input: { name: $n, channel: ONLINE }) { id } }', { n: name })).createSkillGroup.id;
    const create = (definition: unknown, kind = 'CHAT', key = A.adminKey) =>
      t.gql<{ createFlow: Flow }>(key, 'mutation($input: CreateFlowInput!) { createFlow(input: $input) { id kind version definition webChannels { id name } } }', {
        input: { name: `Flow ${randomUUID().slice(0, 8)}`, kind, definition },
      });
    const createChannel = (input: Record<string, unknown>) =>
      t.gql<{ createWebChannel: { webChannel: { id: string; flow: { id: string; kind: string } | null } } }>(
        A.adminKey,
        'mutation($input: CreateWebChannelInput!) { createWebChannel(input: $input) { webChannel { id flow { id kind } } } }',
        { input: { name: `Site ${randomUUID().slice(0, 8)}`, allowedOrigins: ['https://shop.example'], skillGroupId: sales, ...input } },
      );
    const updateChannel = (input: Record<string, unknown>) =>
      t.gql<{ updateWebChannel: { id: string; flow: { id: string } | null } }>(A.adminKey, 'mutation($input: UpdateWebChannelInput!) { updateWebChannel(input: $input) { id flow { id } } }', { input });
    const deleteFlow = (id: string) => t.gql(A.adminKey, 'mutation($id: ID!) { deleteFlow(input: { id: $id }) { id } }', { id });

    beforeAll(async () => {
      t = await startTestKefu({ database });
      A = await telephonyInstance(t, 'Alpha');
      B = await telephonyInstance(t, 'Beta');
      sales = await group(A.adminKey, 'Sales chat');
      support = await group(A.adminKey, 'Support chat');
      foreignOnline = await group(B.adminKey, 'Beta chat');
    }, 120_000);
    afterAll(async () => t?.close());

    it('creates a CHAT flow at version 1 with defaults filled in', async () => {
      const r = await create(chatReception(sales, support));
      expect(r.errors).toBeUndefined();
      expect(r.data!.createFlow).toMatchObject({ kind: 'CHAT', version: 1, webChannels: [] });
      expect(r.data!.createFlow.definition.nodes[1]).toMatchObject({ retries: 2, options: [{ keywords: ['sales'] }, { keywords: [] }] });
    });

    it('answers a broken chat flow with BAD_USER_INPUT naming the path', async () => {
      const unknownNode = chatReception(sales, support);
      (unknownNode.nodes[1]!.options as { next: string }[])[1]!.next = 'nowhere';
      expect(errorOf(await create(unknownNode))).toEqual({ code: 'BAD_USER_INPUT', field: 'input.definition.nodes.1.options.1.next' });

      const loop = chatReception(sales, support);
      loop.nodes[5] = { id: 'nobody', type: 'send', text: 'Nobody, trying again', next: 'sales' } as never;
      const looped = await create(loop);
      expect(errorOf(looped)).toEqual({ code: 'BAD_USER_INPUT', field: 'input.definition.nodes.4' });
      expect(looped.errors![0]!.message).toMatch(/loops without waiting for the customer/);

      const trap = { start: 'm', nodes: [{ id: 'm', type: 'menu', text: 'Again?', options: [{ number: 1, label: 'Again', next: 'm' }], onFailure: 'm' }] };
      const trapped = await create(trap);
      expect(errorOf(trapped)).toEqual({ code: 'BAD_USER_INPUT', field: 'input.definition.nodes.0' });
      expect(trapped.errors![0]!.message).toMatch(/no way out/);

      // An IVR document is no chat flow, and a chat document no IVR.
      expect(errorOf(await create(receptionFlow(A.groupId)))?.field).toMatch(/^input\.definition\.nodes\.1\./);
      expect(errorOf(await create(chatReception(sales, support), 'IVR'))?.code).toBe('BAD_USER_INPUT');
    });

    it("refuses a route to a PHONE group, a deleted group, another instance's or an unknown one, with the path", async () => {
      const deleted = await group(A.adminKey, 'Gone chat');
      await t.ok(A.adminKey, 'mutation($id: ID!) { deleteSkillGroup(input: { id: $id }) { id } }', { id: deleted });
      for (const bad of [A.groupId, deleted, foreignOnline, randomUUID()]) {
        const viaRoute = await create(chatReception(bad, support));
        expect(errorOf(viaRoute), bad).toEqual({ code: 'BAD_USER_INPUT', field: 'input.definition.nodes.4.skillGroupId' });
        const viaChoice = await create(chatReception(sales, bad));
        expect(errorOf(viaChoice), bad).toEqual({ code: 'BAD_USER_INPUT', field: 'input.definition.nodes.3.options.0.skillGroupId' });
      }
      expect((await create(chatReception(A.groupId, support))).errors![0]!.message).toMatch(/not a ONLINE skill group/);
      // And an IVR flow still routes to PHONE groups only.
      expect((await create(receptionFlow(sales), 'IVR')).errors![0]!.message).toMatch(/not a PHONE skill group/);
    });

    it('checks an update as the flow kind it is', async () => {
      const flow = (await create(chatReception(sales, support))).data!.createFlow;
      const r = await t.gql(A.adminKey, 'mutation($id: ID!, $d: JSON!) { updateFlow(input: { id: $id, definition: $d }) { version } }', { id: flow.id, d: chatReception(A.groupId, support) });
      expect(errorOf(r)).toEqual({ code: 'BAD_USER_INPUT', field: 'input.definition.nodes.4.skillGroupId' });
      const ok = await t.ok<{ updateFlow: { version: number } }>(A.adminKey, 'mutation($id: ID!, $d: JSON!) { updateFlow(input: { id: $id, definition: $d }) { version } }', {
        id: flow.id,
        d: chatReception(support, sales),
      });
      expect(ok.updateFlow.version).toBe(2);
    });

    it('binds a CHAT flow to a web channel (not an IVR flow, nor a chat flow to a number), and refuses to delete it while bound', async () => {
      const chat = (await create(chatReception(sales, support))).data!.createFlow;
      const ivr = (await create(receptionFlow(A.groupId), 'IVR')).data!.createFlow;
      const bFlow = (await create(chatReception(foreignOnline, foreignOnline), 'CHAT', B.adminKey)).data!.createFlow;

      expect(errorOf(await createChannel({ flowId: ivr.id }))).toEqual({ code: 'BAD_USER_INPUT', field: 'input.flowId' });
      expect(errorOf(await createChannel({ flowId: bFlow.id }))).toEqual({ code: 'BAD_USER_INPUT', field: 'input.flowId' });
      expect(errorOf(await createChannel({ flowId: 'not-an-id' }))?.code).toBe('BAD_USER_INPUT');
      const number = `+8610${Math.floor(Math.random() * 1e8)}`;
      const numberRefused = await t.gql(A.adminKey, 'mutation($n: String!, $f: ID!) { bindNumber(input: { number: $n, flowId: $f }) { number } }', { n: number, f: chat.id });
      expect(errorOf(numberRefused)).toEqual({ code: 'BAD_USER_INPUT', field: 'input.flowId' });

      const created = await createChannel({ flowId: chat.id });
      expect(created.errors).toBeUndefined();
      const channelId = created.data!.createWebChannel.webChannel.id;
      expect(created.data!.createWebChannel.webChannel.flow).toEqual({ id: chat.id, kind: 'CHAT' });
      const listed = await t.ok<{ flow: Flow }>(A.adminKey, 'query($id: ID!) { flow(id: $id) { webChannels { id } } }', { id: chat.id });
      expect(listed.flow.webChannels).toEqual([{ id: channelId }]);

      const refused = await deleteFlow(chat.id);
      expect(errorOf(refused)?.code).toBe('CONFLICT');
      expect(refused.errors![0]!.message).toMatch(/web channel Site/);

      // Another channel bound by update; unbinding both with "" lets the flow go.
      const second = (await createChannel({})).data!.createWebChannel.webChannel.id;
      expect(errorOf(await updateChannel({ webChannelId: second, flowId: ivr.id }))).toEqual({ code: 'BAD_USER_INPUT', field: 'input.flowId' });
      expect((await updateChannel({ webChannelId: second, flowId: chat.id })).data!.updateWebChannel.flow).toEqual({ id: chat.id });
      expect((await updateChannel({ webChannelId: channelId, flowId: '' })).data!.updateWebChannel.flow).toBeNull();
      expect(errorOf(await deleteFlow(chat.id))?.code).toBe('CONFLICT');
      // A deleted channel no longer holds the flow.
      await t.ok(A.adminKey, 'mutation($id: ID!) { deleteWebChannel(input: { webChannelId: $id }) { id } }', { id: second });
      expect((await deleteFlow(chat.id)).errors).toBeUndefined();
      expect(errorOf(await t.gql(A.adminKey, 'query($id: ID!) { flow(id: $id) { id } }', { id: chat.id }))?.code).toBe('NOT_FOUND');
    });
  });
}
