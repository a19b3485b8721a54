// Chat records through the public API. Chats are created the way an integration does it today
// (createContact on channel ONLINE with an INTEGRATION key), routed by the real router, accepted, written
// in (sendMessage), transferred to an agent and to a skill group, ended by the agent or by the customer
// (endContact through the integration), ended idle by the router, or turned away (blacklisted, no agent
// online). Then chatRecords/chatRecord must tell each story: times, durations, end status and who ended,
// agents, transfers, message counts; what each role may see; filters and pages; and the same rows after a
// rebuild or a replay of the events.
import { createHmac, randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contactDecider, type ContactCommand } from '../../src/domain/contact/contact.decide.ts';
import { streams } from '../../src/domain/streams.ts';
import { chatRecordsProjection } from '../../src/projections/chat-records/chat-records.projection.ts';
import { rebuildProjection } from '../../src/projections/projection-runner.ts';
import { fromPage } from '../support/chat.ts';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { until } from '../support/until.ts';

interface Named {
  id: string;
  name?: string;
}

interface ChatRecord {
  contactId: string;
  source: string;
  webChannelId: string | null;
  webChannel: { id: string; name: string } | null;
  pageUrl: string | null;
  customer: { kind: string; id: string; name: string | null };
  customerVerified: boolean | null;
  createdAt: string;
  queuedAt: string | null;
  offeredAt: string | null;
  acceptedAt: string | null;
  firstAgentReplyAt: string | null;
  endedAt: string | null;
  queueSeconds: number | null;
  firstResponseSeconds: number | null;
  totalSeconds: number | null;
  endStatus: string | null;
  endedBy: string | null;
  endReason: string | null;
  skillGroup: Named | null;
  lastSkillGroup: Named | null;
  agent: Named | null;
  agents: Named[];
  transfers: {
    fromAgentId: string;
    fromAgent: Named | null;
    toAgentId: string | null;
    toAgent: Named | null;
    toSkillGroupId: string | null;
    toSkillGroup: Named | null;
    note: string | null;
    at: string;
    acceptedBy: Named | null;
    acceptedAt: string | null;
  }[];
  customerMessages: number;
  agentMessages: number;
  systemMessages: number;
  lastSeq: number;
  satisfaction: { value: number; label: string } | null;
}

const recordFields = `
  contactId source webChannelId webChannel { id name } pageUrl customer { kind id name } customerVerified
  createdAt queuedAt offeredAt acceptedAt firstAgentReplyAt endedAt queueSeconds firstResponseSeconds totalSeconds
  endStatus endedBy endReason skillGroup { id name } lastSkillGroup { id name } agent { id name } agents { id name }
  transfers { fromAgentId fromAgent { id } toAgentId toAgent { id } toSkillGroupId toSkillGroup { id } note at acceptedBy { id } acceptedAt }
  customerMessages agentMessages systemMessages lastSeq satisfaction { value label }`;
const recordQuery = `query($id: ID!) { chatRecord(contactId: $id) { ${recordFields} } }`;
const listQuery = `query($first: Int, $after: String, $filter: ChatRecordFilter) {
  chatRecords(first: $first, after: $after, filter: $filter) { edges { cursor node { contactId createdAt } } pageInfo { hasNextPage endCursor } }
}`;

/** The page a customer's widget runs on. */
const origin = 'https://shop.example';

const seconds = (from: string, to: string) => Math.max(0, Math.round((Date.parse(to) - Date.parse(from)) / 1000));
const ordered = (...times: (string | null)[]) => times.every((t, i) => t !== null && (i === 0 || Date.parse(times[i - 1]!) <= Date.parse(t)));

for (const database of ['pglite', 'postgres'] as const) {
  describe(`chat records (${database})`, () => {
    let t: TestKefu;
    let s: Awaited<ReturnType<typeof seedInstance>>;
    let key: string;
    type Agent = Awaited<ReturnType<typeof seedInstance>>['agents'][0];
    let ann: Agent;
    let bob: Agent;
    let cid: Agent;
    let sue: Agent;
    const groups: Record<'chat' | 'billing' | 'idle' | 'nobody' | 'web' | 'phone', string> = { chat: '', billing: '', idle: '', nobody: '', web: '', phone: '' };
    /** Ann answers, two customer messages and one reply, Ann ends it. */
    let agentEnded: string;
    /** Ann answers and transfers to Bob with a note; Bob answers; the customer ends it. */
    let toAgent: string;
    /** Ann answers and transfers to the Billing group; Bob answers and ends it. */
    let toGroup: string;
    /** Auto-accepted by Ann, who writes; the customer never answers. */
    let idle: string;
    let blacklisted: string;
    let noAgent: string;
    /** Through the customer API: a verified customer's web chat from a channel's widget, answered by Ann, ended by the customer. */
    let widget: string;
    let channel: { id: string; publicKey: string };
    /** A web chat (as startChat records it) from a verified customer, waiting in a queue nobody serves; the customer leaves. */
    let web: string;
    let webWhileOpen: ChatRecord;
    const webChannelId = randomUUID();
    /** A phone contact: not a chat. */
    let phone: string;
    const all = () => [agentEnded, toAgent, toGroup, idle, blacklisted, noAgent, widget, web];

    const record = async (token: string, id: string) => (await t.ok<{ chatRecord: ChatRecord }>(token, recordQuery, { id })).chatRecord;
    /** Waits until the chat's record satisfies `ok` (the projection follows the commands). */
    const recordWhen = (id: string, ok: (r: ChatRecord) => boolean) =>
      until(
        () => record(s.adminKey, id).catch(() => null),
        (r) => r !== null && ok(r),
        60_000,
      ) as Promise<ChatRecord>;

    const create = async (customerId: string, group: string, channel = 'ONLINE') =>
      (
        await t.ok<{ createContact: { id: string; status: string } }>(
          key,
          'mutation($input: CreateContactInput!) { createContact(input: $input) { id status } }',
          { input: { channel, customer: { kind: channel === 'ONLINE' ? 'WEB' : 'PHONE', id: customerId, name: `Customer ${customerId}` }, skillGroupId: group } },
        )
      ).createContact;
    const contactStatus = async (id: string) => (await t.ok<{ contact: { status: string } }>(s.adminKey, 'query($id: ID!) { contact(id: $id) { status } }', { id })).contact.status;
    /** Waits for the router's offer of the chat to `agent` and accepts it. */
    async function answer(contactId: string, agent: { id: string; token: string }) {
      const offered = await until(
        () =>
          t
            .ok<{ contact: { offer: { offerId: string; agents: { id: string }[] } | null } }>(s.adminKey, 'query($id: ID!) { contact(id: $id) { offer { offerId agents { id } } } }', {
              id: contactId,
            })
            .catch(() => null),
        (x) => x?.contact.offer?.agents.some((a) => a.id === agent.id) ?? false,
        60_000,
      );
      await t.ok(agent.token, 'mutation($c: ID!, $o: ID!) { acceptOffer(input: { contactId: $c, offerId: $o }) { id } }', { c: contactId, o: offered!.contact.offer!.offerId });
    }
    const say = (token: string, contactId: string, text: string) =>
      t.ok(token, 'mutation($c: ID!, $t: String!) { sendMessage(input: { contactId: $c, text: $t }) { id } }', { c: contactId, t: text });
    const end = (token: string, contactId: string) => t.ok(token, 'mutation($c: ID!) { endContact(input: { contactId: $c }) { id } }', { c: contactId });
    /** A request as a customer's browser makes it: the page's Origin, the customer's token. */
    const customerOk = fromPage(() => t, origin).ok;
    const available = (token: string) => t.ok(token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');

    beforeAll(async () => {
      t = await startTestKefu({ database });
      s = await seedInstance(t, {
        agents: [
          { name: 'Ann', login: 'ann' },
          { name: 'Bob', login: 'bob' },
          { name: 'Cid', login: 'cid' },
          { name: 'Sue', login: 'sue', role: 'SUPERVISOR' },
        ],
      });
      [ann, bob, cid, sue] = s.agents as [Agent, Agent, Agent, Agent];
      key = (await t.ok<{ createApiKey: { secret: string } }>(s.adminKey, 'mutation { createApiKey(input: { name: "site", role: INTEGRATION }) { secret } }')).createApiKey.secret;
      const group = async (name: string, options: Record<string, unknown>, members: { id: string }[]) => {
        const g = await t.ok<{ createSkillGroup: { id: string } }>(s.adminKey, 'mutation($input: CreateSkillGroupInput!) { createSkillGroup(input: $input) { id } }', {
          input: { name, channel: 'ONLINE', maxConcurrency: 5, ringTimeoutSeconds: 120, ...options },
        });
        for (const m of members) {
          await t.ok(s.adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: g.createSkillGroup.id, a: m.id });
        }
        return g.createSkillGroup.id;
      };
      groups.chat = await group('Chat', {}, [ann]);
      groups.billing = await group('Billing', {}, [bob]);
      groups.idle = await group('Idle', { autoAccept: true, chatIdleEndSeconds: 1 }, [ann]);
      groups.nobody = await group('Nobody', { whenNoAgentOnline: 'REJECT' }, [cid]);
      groups.web = await group('Web', {}, []);
      groups.phone = await group('Phone', { channel: 'PHONE', maxConcurrency: 1 }, []);
      await available(ann.token);

      agentEnded = (await create('visitor-a', groups.chat)).id;
      await answer(agentEnded, ann);
      await say(key, agentEnded, 'Hi, my order is late');
      await say(key, agentEnded, 'Order 42');
      await say(ann.token, agentEnded, 'Let me check.');
      await end(ann.token, agentEnded);

      await available(bob.token);
      toAgent = (await create('visitor-b', groups.chat)).id;
      await answer(toAgent, ann);
      await say(key, toAgent, 'I need an invoice');
      await t.ok(ann.token, 'mutation($c: ID!, $a: ID!) { transferContact(input: { contactId: $c, toAgentId: $a, note: "invoice for 2025" }) { id } }', { c: toAgent, a: bob.id });
      await answer(toAgent, bob);
      await say(bob.token, toAgent, 'Sent it.');
      await end(key, toAgent);

      toGroup = (await create('visitor-c', groups.chat)).id;
      await answer(toGroup, ann);
      await say(ann.token, toGroup, 'Billing will help you.');
      await t.ok(ann.token, 'mutation($c: ID!, $g: ID!) { transferContact(input: { contactId: $c, toSkillGroupId: $g }) { id } }', { c: toGroup, g: groups.billing });
      await answer(toGroup, bob);
      await end(bob.token, toGroup);

      idle = (await create('visitor-d', groups.idle)).id;
      await until(() => contactStatus(idle), (x) => x === 'CONNECTED', 60_000);
      await say(ann.token, idle, 'Are you still there?');
      await until(() => contactStatus(idle), (x) => x === 'ENDED', 60_000);

      await t.ok(s.adminKey, 'mutation { addToBlacklist(input: { channel: ONLINE, identity: "visitor-bad", reason: "spam" }) { id } }');
      const refused = await create('visitor-bad', groups.chat);
      expect(refused.status).toBe('REJECTED');
      blacklisted = refused.id;

      noAgent = (await create('visitor-e', groups.nobody)).id;
      await until(() => contactStatus(noAgent), (x) => x === 'REJECTED', 60_000);

      const created = await t.ok<{ createWebChannel: { webChannel: { id: string; publicKey: string }; identitySecret: string } }>(
        s.adminKey,
        'mutation($input: CreateWebChannelInput!) { createWebChannel(input: $input) { webChannel { id publicKey } identitySecret } }',
        { input: { name: 'Shop', allowedOrigins: [origin], skillGroupId: groups.chat } },
      );
      channel = created.createWebChannel.webChannel;
      const customerHash = createHmac('sha256', created.createWebChannel.identitySecret).update('crm-77').digest('hex');
      const session = await customerOk<{ startCustomerSession: { token: string } }>(
        null,
        'mutation($input: StartCustomerSessionInput!) { startCustomerSession(input: $input) { token } }',
        { input: { channelKey: channel.publicKey, customerId: 'crm-77', customerHash, name: 'Mei' } },
      );
      const customerToken = session.startCustomerSession.token;
      const started = await customerOk<{ startChat: { contactId: string } }>(customerToken, 'mutation($input: StartChatInput!) { startChat(input: $input) { contactId } }', {
        input: {
          clientChatId: randomUUID(),
          visitor: { pageUrl: 'https://shop.example/checkout?step=2', referrer: 'https://search.example/', userAgent: 'Mozilla/5.0 (test)' },
          firstMessage: { clientMessageId: randomUUID(), text: 'Can I pay by invoice? 🙂' },
        },
      });
      widget = started.startChat.contactId;
      await answer(widget, ann);
      await t.ok(ann.token, 'mutation($input: SendChatMessageInput!) { sendChatMessage(input: $input) { seq } }', {
        input: { contactId: widget, message: { clientMessageId: randomUUID(), text: 'Yes, you can.' } },
      });
      await customerOk(customerToken, 'mutation($c: ID!) { endChat(input: { contactId: $c }) { status } }', { c: widget });

      // A web chat as the customer API's startChat records it: its source, a first message, queued in one append.
      web = randomUUID();
      const webCommand = (type: ContactCommand['type'], data: Record<string, unknown>) =>
        t.kefu.commands.handle(streams.contact(s.instanceId, web), contactDecider, {
          type,
          data: { contactId: web, ...data },
          metadata: { now: new Date().toISOString(), instanceId: s.instanceId, actor: 'customer', correlationId: randomUUID() },
        } as ContactCommand);
      await webCommand('StartChat', {
        customer: { kind: 'WEB', id: 'cust-1001', name: 'Wen' },
        data: { plan: 'gold' },
        source: { kind: 'WEB', webChannelId, clientChatId: randomUUID(), verified: true, pageUrl: 'https://shop.example.com/cart', referrer: null, userAgent: 'test', address: '203.0.113.9' },
        skillGroupId: groups.web,
        priority: 0,
        reject: null,
        firstMessage: { messageId: randomUUID(), clientMessageId: randomUUID(), text: 'Is this in stock?' },
      });
      webWhileOpen = await recordWhen(web, (r) => r.customerMessages === 1);
      await webCommand('EndContact', { reason: 'customerLeft', endedBy: 'CUSTOMER', agentId: null });

      phone = (await create('+8613800000001', groups.phone, 'PHONE')).id;
      // Every record has reached its end.
      for (const id of all()) await recordWhen(id, (r) => r.endStatus !== null);
    });
    afterAll(async () => t?.close());

    it("records a chat the agent ended: times, durations, the serving agent and each side's messages", async () => {
      const r = await record(s.adminKey, agentEnded);
      expect(r).toMatchObject({
        contactId: agentEnded,
        source: 'API',
        webChannelId: null,
        pageUrl: null,
        customer: { kind: 'WEB', id: 'visitor-a', name: 'Customer visitor-a' },
        customerVerified: null,
        endStatus: 'AGENT_ENDED',
        endedBy: 'AGENT',
        endReason: 'agentHangUp',
        skillGroup: { id: groups.chat, name: 'Chat' },
        lastSkillGroup: { id: groups.chat },
        agent: { id: ann.id, name: 'Ann' },
        agents: [{ id: ann.id, name: 'Ann' }],
        transfers: [],
        customerMessages: 2,
        agentMessages: 1,
        satisfaction: null,
      });
      expect(ordered(r.createdAt, r.queuedAt, r.offeredAt, r.acceptedAt, r.firstAgentReplyAt, r.endedAt)).toBe(true);
      expect(r.queueSeconds).toBe(seconds(r.queuedAt!, r.acceptedAt!));
      expect(r.firstResponseSeconds).toBe(seconds(r.acceptedAt!, r.firstAgentReplyAt!));
      expect(r.totalSeconds).toBe(seconds(r.createdAt, r.endedAt!));
      // Kefu's own messages (queued, connected, ended), if the conversation has them, are counted apart.
      expect(r.lastSeq).toBe(r.customerMessages + r.agentMessages + r.systemMessages);
      // The agent's first reply is the agent's message, not the customer's earlier ones.
      const messages = await t.ok<{ contact: { messages: { sender: string; sentAt: string }[] } }>(s.adminKey, 'query($id: ID!) { contact(id: $id) { messages { sender sentAt } } }', {
        id: agentEnded,
      });
      expect(r.firstAgentReplyAt).toBe(messages.contact.messages.find((m) => m.sender === 'AGENT')!.sentAt);
    });

    it('records a transfer to an agent with its note; ended by the customer, the chat says TRANSFERRED', async () => {
      const r = await record(s.adminKey, toAgent);
      expect(r).toMatchObject({
        endStatus: 'TRANSFERRED',
        endedBy: 'CUSTOMER',
        endReason: 'customerHangUp',
        agent: { id: bob.id },
        agents: [{ id: ann.id }, { id: bob.id }],
        skillGroup: { id: groups.chat },
        lastSkillGroup: { id: groups.chat },
        customerMessages: 1,
        agentMessages: 1,
      });
      expect(r.transfers).toHaveLength(1);
      expect(r.transfers[0]).toMatchObject({
        fromAgentId: ann.id,
        fromAgent: { id: ann.id },
        toAgentId: bob.id,
        toAgent: { id: bob.id },
        toSkillGroupId: null,
        toSkillGroup: null,
        note: 'invoice for 2025',
        acceptedBy: { id: bob.id },
      });
      const transfer = r.transfers[0]!;
      expect(ordered(r.acceptedAt, transfer.at, transfer.acceptedAt, r.endedAt)).toBe(true);
      // The first response is Bob's, measured from the first accept (Ann's): the customer waited that long.
      expect(r.firstResponseSeconds).toBe(seconds(r.acceptedAt!, r.firstAgentReplyAt!));
    });

    it('records a transfer to a skill group: the last group is the target, the agent who took it ended it', async () => {
      const r = await record(s.adminKey, toGroup);
      expect(r).toMatchObject({
        endStatus: 'TRANSFERRED',
        endedBy: 'AGENT',
        agent: { id: bob.id },
        agents: [{ id: ann.id }, { id: bob.id }],
        skillGroup: { id: groups.chat },
        lastSkillGroup: { id: groups.billing, name: 'Billing' },
        customerMessages: 0,
        agentMessages: 1,
      });
      expect(r.transfers).toMatchObject([{ fromAgentId: ann.id, toAgentId: null, toSkillGroupId: groups.billing, toSkillGroup: { id: groups.billing }, note: null, acceptedBy: { id: bob.id } }]);
    });

    it("records the router's idle auto-end as CUSTOMER_IDLE, ended by the system", async () => {
      const r = await record(s.adminKey, idle);
      expect(r).toMatchObject({ endStatus: 'CUSTOMER_IDLE', endedBy: 'SYSTEM', endReason: 'customerIdle', agent: { id: ann.id }, agentMessages: 1, customerMessages: 0 });
      expect(ordered(r.acceptedAt, r.firstAgentReplyAt, r.endedAt)).toBe(true);
      // The idle limit (1 s) passed between the agent's message and the end.
      expect(Date.parse(r.endedAt!) - Date.parse(r.firstAgentReplyAt!)).toBeGreaterThanOrEqual(1000);
    });

    it('records chats turned away: blacklisted before any queue, no agent online after queueing', async () => {
      const b = await record(s.adminKey, blacklisted);
      expect(b).toMatchObject({
        endStatus: 'BLACKLISTED',
        endedBy: 'SYSTEM',
        endReason: 'BLACKLISTED',
        customer: { id: 'visitor-bad' },
        queuedAt: null,
        offeredAt: null,
        acceptedAt: null,
        queueSeconds: null,
        firstResponseSeconds: null,
        agent: null,
        agents: [],
        skillGroup: null,
      });
      expect(b.totalSeconds).toBe(seconds(b.createdAt, b.endedAt!));
      const n = await record(s.adminKey, noAgent);
      expect(n).toMatchObject({ endStatus: 'NO_AGENT_ONLINE', endedBy: 'SYSTEM', endReason: 'NO_AGENT', skillGroup: { id: groups.nobody }, acceptedAt: null, agents: [] });
      // Nobody took it: it waited in the queue until it was turned away.
      expect(n.queueSeconds).toBe(seconds(n.queuedAt!, n.endedAt!));
    });

    it("records a web chat's channel, page and verified customer; open, then left by the customer while queued", async () => {
      expect(webWhileOpen).toMatchObject({
        source: 'WEB',
        webChannelId,
        pageUrl: 'https://shop.example.com/cart',
        customer: { kind: 'WEB', id: 'cust-1001', name: 'Wen' },
        customerVerified: true,
        endStatus: null,
        endedBy: null,
        endedAt: null,
        queueSeconds: null,
        totalSeconds: null,
        skillGroup: { id: groups.web },
        customerMessages: 1,
        agentMessages: 0,
      });
      expect(webWhileOpen.queuedAt).not.toBeNull();
      const r = await record(s.adminKey, web);
      expect(r).toMatchObject({ endStatus: 'CUSTOMER_ENDED', endedBy: 'CUSTOMER', endReason: 'customerLeft', acceptedAt: null, offeredAt: null, agents: [], customerMessages: 1 });
      expect(r.queueSeconds).toBe(seconds(r.queuedAt!, r.endedAt!));
      expect(r.lastSeq).toBe(r.customerMessages + r.systemMessages);
    });

    it("records a chat from a channel's widget (customer API): the channel, the page, the verified customer, the customer's end", async () => {
      const r = await record(s.adminKey, widget);
      expect(r).toMatchObject({
        source: 'WEB',
        webChannelId: channel.id,
        webChannel: { id: channel.id, name: 'Shop' },
        pageUrl: 'https://shop.example/checkout?step=2',
        customer: { kind: 'WEB', id: 'crm-77', name: 'Mei' },
        customerVerified: true,
        endStatus: 'CUSTOMER_ENDED',
        endedBy: 'CUSTOMER',
        skillGroup: { id: groups.chat },
        agent: { id: ann.id },
        agents: [{ id: ann.id }],
        transfers: [],
        customerMessages: 1,
        agentMessages: 1,
      });
      expect(ordered(r.createdAt, r.queuedAt, r.offeredAt, r.acceptedAt, r.firstAgentReplyAt, r.endedAt)).toBe(true);
      // The counts agree with the transcript, Kefu's notices (queued, connected, ended) included.
      const transcript = await t.ok<{ chatTranscript: { messages: { seq: number; sender: string }[] } }>(
        s.adminKey,
        'query($c: ID!) { chatTranscript(contactId: $c, first: 500) { messages { seq sender } } }',
        { c: widget },
      );
      const messages = transcript.chatTranscript.messages;
      const count = (sender: string) => messages.filter((m) => m.sender === sender).length;
      expect({ customer: r.customerMessages, agent: r.agentMessages, system: r.systemMessages, lastSeq: r.lastSeq }).toEqual({
        customer: count('CUSTOMER'),
        agent: count('AGENT'),
        system: count('SYSTEM'),
        lastSeq: messages.at(-1)!.seq,
      });
      expect(r.systemMessages).toBeGreaterThan(0);
      // Other records name no channel.
      expect((await record(s.adminKey, agentEnded)).webChannel).toBeNull();
    });

    it('has no record of a phone contact, nor of another instance, nor for an agent who did not serve the chat', async () => {
      const notFound = async (token: string, id: string) => {
        const r = await t.gql(token, recordQuery, { id });
        expect(r.errors?.[0]?.extensions?.code, id).toBe('NOT_FOUND');
      };
      await notFound(s.adminKey, phone);
      await notFound(s.adminKey, '00000000-0000-4000-8000-000000000000');
      const other = await seedInstance(t, { name: 'Other' });
      await notFound(other.adminKey, agentEnded);
      expect((await t.ok<{ chatRecords: { edges: unknown[] } }>(other.adminKey, listQuery, {})).chatRecords.edges).toEqual([]);
      await notFound(cid.token, agentEnded);
      await notFound(bob.token, agentEnded);
      const bad = await t.gql(s.adminKey, recordQuery, { id: 'not-an-id' });
      expect(bad.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      const anonymous = await t.gql(null, recordQuery, { id: agentEnded });
      expect(anonymous.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    });

    it('lists for an agent the chats they served; for supervisors, admins and integrations every chat', async () => {
      const ids = async (token: string, filter?: Record<string, unknown>) =>
        (await t.ok<{ chatRecords: { edges: { node: { contactId: string } }[] } }>(token, listQuery, { filter })).chatRecords.edges.map((e) => e.node.contactId).sort();
      expect(await ids(ann.token)).toEqual([agentEnded, toAgent, toGroup, idle, widget].sort());
      expect(await ids(ann.token, { webChannelId })).toEqual([]);
      expect(await ids(bob.token)).toEqual([toAgent, toGroup].sort());
      expect(await ids(cid.token)).toEqual([]);
      for (const token of [sue.token, s.adminKey, key]) expect(await ids(token)).toEqual(all().sort());
      // An agent's filter on another agent narrows within what they may see.
      expect(await ids(bob.token, { agentId: ann.id })).toEqual([toAgent, toGroup].sort());
      expect(await record(bob.token, toAgent)).toMatchObject({ contactId: toAgent });
    });

    it('filters by end status, agent, skill group (first or last), customer, web channel and time', async () => {
      const ids = async (filter: Record<string, unknown>) =>
        (await t.ok<{ chatRecords: { edges: { node: { contactId: string } }[] } }>(s.adminKey, listQuery, { filter })).chatRecords.edges.map((e) => e.node.contactId).sort();
      expect(await ids({ endStatus: 'TRANSFERRED' })).toEqual([toAgent, toGroup].sort());
      expect(await ids({ endStatus: 'CUSTOMER_IDLE' })).toEqual([idle]);
      expect(await ids({ endStatus: 'CUSTOMER_ENDED' })).toEqual([widget, web].sort());
      expect(await ids({ webChannelId: channel.id })).toEqual([widget]);
      expect(await ids({ endStatus: 'SYSTEM_ERROR' })).toEqual([]);
      expect(await ids({ agentId: bob.id })).toEqual([toAgent, toGroup].sort());
      expect(await ids({ skillGroupId: groups.billing })).toEqual([toGroup]);
      expect(await ids({ skillGroupId: groups.chat })).toEqual([agentEnded, toAgent, toGroup, widget].sort());
      expect(await ids({ customerId: 'visitor-b' })).toEqual([toAgent]);
      expect(await ids({ webChannelId: '00000000-0000-4000-8000-000000000000' })).toEqual([]);
      expect(await ids({ webChannelId })).toEqual([web]);
      expect(await ids({ customerId: 'cust-1001', endStatus: 'CUSTOMER_ENDED' })).toEqual([web]);
      const a = await record(s.adminKey, agentEnded);
      const n = await record(s.adminKey, web);
      expect(await ids({ from: a.createdAt, to: new Date(Date.parse(n.createdAt) + 1).toISOString() })).toEqual(all().sort());
      expect(await ids({ to: a.createdAt })).toEqual([]);
      expect(await ids({ from: new Date(Date.parse(n.createdAt) + 1).toISOString() })).toEqual([]);
    });

    it('refuses bad arguments with BAD_USER_INPUT naming the field', async () => {
      const refused = async (variables: Record<string, unknown>, field: string | null) => {
        const r = await t.gql(s.adminKey, listQuery, variables);
        expect(r.errors?.[0]?.extensions?.code, JSON.stringify(variables)).toBe('BAD_USER_INPUT');
        if (field) expect(r.errors?.[0]?.extensions?.field, JSON.stringify(variables)).toBe(field);
      };
      await refused({ first: 0 }, 'first');
      await refused({ first: 201 }, 'first');
      await refused({ after: 'garbage' }, 'after');
      await refused({ filter: { from: '2026-12-04T10:00:00Z', to: '2026-12-04T09:00:00Z' } }, 'filter.to');
      await refused({ filter: { from: 'yesterday' } }, null);
      await refused({ filter: { agentId: 'ann' } }, 'filter.agentId');
      await refused({ filter: { skillGroupId: 'x' } }, 'filter.skillGroupId');
      await refused({ filter: { customerId: 'x'.repeat(129) } }, 'filter.customerId');
      await refused({ filter: { endStatus: 'NOPE' } }, null);
      // Values no store holds: years 0 and 10000, a NUL in text.
      await refused({ filter: { from: '0000-06-01T00:00:00Z' } }, 'filter.from');
      await refused({ filter: { to: '+010000-01-01T00:00:00Z' } }, 'filter.to');
      await refused({ filter: { customerId: 'visitor\u0000' } }, 'filter.customerId');
      const literal = await t.gql(s.adminKey, '{ chatRecords(filter: { from: "0000-06-01T00:00:00Z" }) { pageInfo { hasNextPage } } }');
      expect(literal.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'filter.from' });
    });

    it('pages newest first with cursors, each chat once', async () => {
      const seen: { contactId: string; createdAt: string }[] = [];
      let after: string | null = null;
      let pages = 0;
      for (;;) {
        const r: { chatRecords: { edges: { node: { contactId: string; createdAt: string } }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } } = await t.ok(s.adminKey, listQuery, {
          first: 4,
          after,
        });
        pages += 1;
        expect(r.chatRecords.edges.length).toBeLessThanOrEqual(4);
        seen.push(...r.chatRecords.edges.map((e) => e.node));
        if (!r.chatRecords.pageInfo.hasNextPage) break;
        after = r.chatRecords.pageInfo.endCursor;
      }
      expect(pages).toBe(2);
      expect(seen.map((x) => x.contactId).sort()).toEqual(all().sort());
      expect(new Set(seen.map((x) => x.contactId)).size).toBe(seen.length);
      const times = seen.map((x) => Date.parse(x.createdAt));
      expect(times).toEqual([...times].sort((x, y) => y - x));
      expect(seen[0]!.contactId).toBe(web);
    });

    it('gives the same rows after a rebuild from zero, and after every event is applied again', async () => {
      const snapshot = async () => {
        const r = await sql<Record<string, unknown>>`SELECT * FROM chat_records ORDER BY instance_id, contact_id`.execute(t.kefu.db);
        return r.rows;
      };
      const before = await snapshot();
      expect(before.length).toBe(all().length);
      await rebuildProjection({ store: t.kefu.store, db: t.kefu.db, projection: chatRecordsProjection });
      expect(await snapshot()).toEqual(before);
      // A batch applied twice (a retry after a lost commit, a parked part replayed): nothing doubles.
      for (const id of all()) {
        const events = await t.kefu.store.readStream(streams.contact(s.instanceId, id));
        await t.kefu.db.transaction().execute(async (trx) => {
          for (const e of events) if (chatRecordsProjection.eventTypes.has(e.type)) await chatRecordsProjection.apply!(trx, e, { publish: () => {} });
        });
      }
      expect(await snapshot()).toEqual(before);
    });
  });
}
