// Skill-group routing options through the API: auto-accept, last agent first, break after a missed offer,
// reject when no one is online, queue length and wait limits with overflow, what a lost agent device does.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { until } from '../support/until.ts';

interface ContactView {
  id: string;
  status: string;
  endReason: string | null;
  skillGroup: { id: string } | null;
  agent: { id: string } | null;
  offer: { offerId: string; agents: { id: string }[] } | null;
}

const contactFields = 'id status endReason skillGroup { id } agent { id } offer { offerId agents { id } }';


describe('skill-group routing options', () => {
  let t: TestKefu;
  beforeAll(async () => {
    t = await startTestKefu({ database: 'pglite' });
  });
  afterAll(async () => t?.close());

  async function setup(groupOptions: Record<string, unknown>, more: Record<string, unknown>[] = []) {
    const seed = await seedInstance(t, { agents: [{ name: 'Ann', login: 'ann' }, { name: 'Bob', login: 'bob' }] });
    const key = (await t.ok<{ createApiKey: { secret: string } }>(seed.adminKey, 'mutation { createApiKey(input: { name: "crm", role: INTEGRATION }) { secret } }')).createApiKey.secret;
    const groupIds: string[] = [];
    for (const options of [...more, groupOptions]) {
      const g = await t.ok<{ createSkillGroup: { id: string } }>(seed.adminKey, 'mutation($input: CreateSkillGroupInput!) { createSkillGroup(input: $input) { id } }', {
        input: { name: `G${groupIds.length}`, channel: 'PHONE', ringTimeoutSeconds: 30, ...options, ...(groupIds[0] && options.overflowSkillGroupId === 'FIRST' ? { overflowSkillGroupId: groupIds[0] } : {}) },
      });
      groupIds.push(g.createSkillGroup.id);
      for (const a of seed.agents) {
        await t.ok(seed.adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: g.createSkillGroup.id, a: a.id });
      }
    }
    const groupId = groupIds.at(-1)!;
    const create = async (customerId: string, channel = 'PHONE', skillGroupId = groupId) =>
      (
        await t.ok<{ createContact: ContactView }>(key, `mutation($input: CreateContactInput!) { createContact(input: $input) { ${contactFields} } }`, {
          input: { channel, customer: { kind: 'PHONE', id: customerId }, skillGroupId },
        })
      ).createContact;
    const read = async (id: string) => (await t.ok<{ contact: ContactView }>(seed.adminKey, `query($id: ID!) { contact(id: $id) { ${contactFields} } }`, { id })).contact;
    const available = (token: string) => t.ok(token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    return { ...seed, groupIds, groupId, create, read, available };
  }

  it('connects offers by itself in an auto-accept group (OL-3)', async () => {
    const s = await setup({ channel: 'ONLINE', strategy: 'SATURATION', maxConcurrency: 3, autoAccept: true });
    await s.available(s.agents[0]!.token);
    const c = await s.create('visitor-1', 'ONLINE');
    const connected = await until(() => s.read(c.id), (x) => x.status === 'CONNECTED');
    expect(connected.agent?.id).toBe(s.agents[0]!.id);
  });

  it('offers a returning caller to the agent who served them last, though another has been idle longer (PH-12)', async () => {
    const s = await setup({ strategy: 'LONGEST_IDLE', lastAgentFirstSeconds: 60 });
    const [ann, bob] = s.agents as [(typeof s.agents)[0], (typeof s.agents)[0]];
    await s.available(bob.token);
    await s.available(ann.token);
    // Bob went available first, so he has been idle longer and the first call goes to him.
    const first = await s.create('+8613911112222');
    const offered = await until(() => s.read(first.id), (x) => x.status === 'OFFERED');
    const servedBy = s.agents.find((a) => a.id === offered.offer!.agents[0]!.id)!;
    await t.ok(servedBy.token, 'mutation($c: ID!, $o: ID!) { acceptOffer(input: { contactId: $c, offerId: $o }) { id } }', { c: first.id, o: offered.offer!.offerId });
    await t.ok(servedBy.token, 'mutation($c: ID!) { endContact(input: { contactId: $c }) { id } }', { c: first.id });
    // The one who served is now the one idle for the shorter time; the same caller still goes to them.
    const again = await s.create('+8613911112222');
    const second = await until(() => s.read(again.id), (x) => x.status === 'OFFERED');
    expect(second.offer!.agents.map((a) => a.id)).toEqual([servedBy.id]);
    // A different caller goes by the strategy: to the agent idle longer.
    const other = await s.create('+8613900000000');
    const third = await until(() => s.read(other.id), (x) => x.status === 'OFFERED');
    expect(third.offer!.agents.map((a) => a.id)).not.toContain(servedBy.id);
  });

  it('puts an agent who lets an offer ring out on break "Missed"', async () => {
    const s = await setup({ ringTimeoutSeconds: 5, breakAfterMissedOffer: true });
    const [ann] = s.agents as [(typeof s.agents)[0]];
    await s.available(ann.token);
    const c = await s.create('+100');
    await until(() => s.read(c.id), (x) => x.status === 'OFFERED');
    const agent = await until(
      () => t.ok<{ agent: { presence: string; breakReason: string | null } }>(s.adminKey, 'query($id: ID!) { agent(id: $id) { presence breakReason } }', { id: ann.id }),
      (r) => r.agent.presence === 'BREAK',
    );
    expect(agent.agent.breakReason).toBe('Missed');
    expect((await s.read(c.id)).status).toBe('QUEUED');
  });

  it('rejects NO_AGENT when no member is online and the group says so', async () => {
    const s = await setup({ whenNoAgentOnline: 'REJECT' });
    const c = await s.create('+200');
    const rejected = await until(() => s.read(c.id), (x) => x.status === 'REJECTED');
    expect(rejected.endReason).toBe('NO_AGENT');
  });

  it('rejects QUEUE_FULL past maxQueueLength, and keeps waiting otherwise', async () => {
    const s = await setup({ maxQueueLength: 1 });
    const first = await s.create('+301');
    expect(first.status).toBe('QUEUED');
    const second = await s.create('+302');
    expect(second).toMatchObject({ status: 'REJECTED', endReason: 'QUEUE_FULL' });
  });

  it('overflows to another group after maxWaitSeconds, or rejects QUEUE_TIMEOUT without one', async () => {
    const s = await setup({ maxWaitSeconds: 1, overflowSkillGroupId: 'FIRST' }, [{ name: 'Overflow' }]);
    const c = await s.create('+401');
    const moved = await until(() => s.read(c.id), (x) => x.skillGroup?.id === s.groupIds[0]);
    expect(moved.status).toBe('QUEUED');
    const lone = await setup({ maxWaitSeconds: 1 });
    const d = await lone.create('+402');
    const timedOut = await until(() => lone.read(d.id), (x) => x.status === 'REJECTED');
    expect(timedOut.endReason).toBe('QUEUE_TIMEOUT');
  });

  it('reads and sets every routing option, with their defaults; onAgentDeviceLost REQUEUE only on PHONE groups', async () => {
    const s = await setup({});
    const options = 'autoAccept lastAgentFirstSeconds maxQueueLength maxWaitSeconds overflowSkillGroup { id } whenNoAgentOnline breakAfterMissedOffer chatIdleEndSeconds onAgentDeviceLost';
    const read = async () => (await t.ok<{ skillGroup: Record<string, unknown> }>(s.adminKey, `query($id: ID!) { skillGroup(id: $id) { ${options} } }`, { id: s.groupId })).skillGroup;
    expect(await read()).toEqual({
      autoAccept: false,
      lastAgentFirstSeconds: 0,
      maxQueueLength: 0,
      maxWaitSeconds: 0,
      overflowSkillGroup: null,
      whenNoAgentOnline: 'WAIT',
      breakAfterMissedOffer: false,
      chatIdleEndSeconds: 0,
      onAgentDeviceLost: 'END',
    });
    const updated = await t.ok<{ updateSkillGroup: { onAgentDeviceLost: string } }>(
      s.adminKey,
      'mutation($id: ID!) { updateSkillGroup(input: { id: $id, onAgentDeviceLost: REQUEUE }) { onAgentDeviceLost } }',
      { id: s.groupId },
    );
    expect(updated.updateSkillGroup.onAgentDeviceLost).toBe('REQUEUE');
    expect(await read()).toMatchObject({ onAgentDeviceLost: 'REQUEUE', whenNoAgentOnline: 'WAIT' });
    const created = await t.ok<{ createSkillGroup: { onAgentDeviceLost: string } }>(
      s.adminKey,
      'mutation { createSkillGroup(input: { name: "Requeue", channel: PHONE, onAgentDeviceLost: REQUEUE }) { onAgentDeviceLost } }',
    );
    expect(created.createSkillGroup.onAgentDeviceLost).toBe('REQUEUE');
    const chat = await t.gql(s.adminKey, 'mutation { createSkillGroup(input: { name: "Chat", channel: ONLINE, onAgentDeviceLost: REQUEUE }) { id } }');
    expect(chat.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.onAgentDeviceLost' });
    const unknown = await t.gql(s.adminKey, 'mutation($id: ID!) { updateSkillGroup(input: { id: $id, onAgentDeviceLost: HOLD }) { id } }', { id: s.groupId });
    expect(unknown.errors?.length).toBeGreaterThan(0);
  });

  it("ends a chat after the agent's last message when the customer does not reply (OL-8), and keeps its messages", async () => {
    const chatIdleEndSeconds = 2;
    const s = await setup({ channel: 'ONLINE', strategy: 'SATURATION', maxConcurrency: 3, autoAccept: true, chatIdleEndSeconds });
    const ann = s.agents[0]!;
    await s.available(ann.token);
    const c = await s.create('visitor-9', 'ONLINE');
    await until(() => s.read(c.id), (x) => x.status === 'CONNECTED');
    const send = (token: string, text: string) => t.ok(token, 'mutation($c: ID!, $t: String!) { sendMessage(input: { contactId: $c, text: $t }) { id sender } }', { c: c.id, t: text });
    await send(ann.token, 'Hello, how can I help?');
    await send(s.adminKey, 'My order is late'); // the customer, through the integration
    await new Promise((r) => setTimeout(r, 2500));
    expect((await s.read(c.id)).status).toBe('CONNECTED'); // the customer had the last word
    await send(ann.token, 'It ships today.');
    const ended = await until(() => s.read(c.id), (x) => x.status === 'ENDED', chatIdleEndSeconds * 1000 + 30_000);
    expect(ended.endReason).toBe('customerIdle');
    const transcript = await t.ok<{ contact: { endedBy: string; messages: { sender: string; text: string; agent: { id: string } | null }[] } }>(
      s.adminKey,
      'query($id: ID!) { contact(id: $id) { endedBy messages { sender text agent { id } } } }',
      { id: c.id },
    );
    expect(transcript.contact.endedBy).toBe('SYSTEM');
    expect(transcript.contact.messages).toEqual([
      { sender: 'AGENT', text: 'Hello, how can I help?', agent: { id: ann.id } },
      { sender: 'CUSTOMER', text: 'My order is late', agent: null },
      { sender: 'AGENT', text: 'It ships today.', agent: { id: ann.id } },
    ]);
    // Once ended, nobody writes to it.
    const late = await t.gql(ann.token, 'mutation($c: ID!) { sendMessage(input: { contactId: $c, text: "?" }) { id } }', { c: c.id });
    expect(late.errors?.[0]?.extensions?.code).toBe('CONFLICT');
  });
});
