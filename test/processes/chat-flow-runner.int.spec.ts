// The chat flow runner's read-model ports: the flow version a chat runs (the current one to start, the
// started one after a new version or a deletion; never an IVR flow or another instance's), and whether
// anyone of a group is online (available or on break; not offline, not another group's); each chat's
// place kept on its own stream, found again by a new runner (a restart), a stale step refused; on a
// contact: the collected order number and the choice reach the contact and its offer to the agent.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandHandler } from '../../src/adapters/eventstore/command-handler.ts';
import { ConflictError } from '../../src/domain/errors.ts';
import { contactDecider } from '../../src/domain/contact/contact.decide.ts';
import { streams } from '../../src/domain/streams.ts';
import {
  anyAgentOnlineInReadModel,
  ChatFlowRunner,
  contactChatFlowPorts,
  EventStoreChatFlowStore,
  loadChatFlowFromReadModel,
  type PerformedAction,
} from '../../src/processes/chat-flows/chat-flow-runner.ts';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { until } from '../support/until.ts';

const endFlow = (text: string) => ({ start: 'x', nodes: [{ id: 'x', type: 'end', text }] });

for (const database of ['pglite', 'postgres'] as const) {
  describe(`chat flow runner ports (${database})`, () => {
    let t: TestKefu;
    let A: Awaited<ReturnType<typeof seedInstance>>;
    let B: Awaited<ReturnType<typeof seedInstance>>;

    const group = async (key: string, name: string, channel = 'ONLINE') =>
      (await t.ok<{ createSkillGroup: { id: string } }>(key, `mutation($n: String!) { createSkillGroup(input: { name: $n, channel: ${channel} }) { id } }`, { n: name })).createSkillGroup.id;
    const flow = async (key: string, kind: string, definition: unknown) =>
      (await t.ok<{ createFlow: { id: string } }>(key, 'mutation($input: CreateFlowInput!) { createFlow(input: $input) { id } }', { input: { name: `F ${Math.random()}`, kind, definition } })).createFlow.id;
    const presence = (agentId: string, p: string) => t.ok(A.adminKey, `mutation($id: ID!) { setPresence(input: { presence: ${p}, agentId: $id }) { id } }`, { id: agentId });

    beforeAll(async () => {
      t = await startTestKefu({ database });
      A = await seedInstance(t, { name: 'Alpha', agents: [{ name: 'Ann', login: 'ann' }, { name: 'Bob', login: 'bob' }] });
      B = await seedInstance(t, { name: 'Beta' });
    }, 120_000);
    afterAll(async () => t?.close());

    it('loads the current version to start, the started one after a new version, and the started one of a deleted flow', async () => {
      const id = await flow(A.adminKey, 'CHAT', endFlow('one'));
      expect(await loadChatFlowFromReadModel(t.kefu.db, A.instanceId, id, null)).toMatchObject({ version: 1, definition: { nodes: [{ text: 'one' }] } });
      await t.ok(A.adminKey, 'mutation($id: ID!, $d: JSON!) { updateFlow(input: { id: $id, definition: $d }) { version } }', { id, d: endFlow('two') });
      expect(await loadChatFlowFromReadModel(t.kefu.db, A.instanceId, id, null)).toMatchObject({ version: 2, definition: { nodes: [{ text: 'two' }] } });
      expect(await loadChatFlowFromReadModel(t.kefu.db, A.instanceId, id, 1)).toMatchObject({ version: 1, definition: { nodes: [{ text: 'one' }] } });
      expect(await loadChatFlowFromReadModel(t.kefu.db, A.instanceId, id, 3)).toBeNull();
      await t.ok(A.adminKey, 'mutation($id: ID!) { deleteFlow(input: { id: $id }) { id } }', { id });
      expect(await loadChatFlowFromReadModel(t.kefu.db, A.instanceId, id, null)).toBeNull();
      expect(await loadChatFlowFromReadModel(t.kefu.db, A.instanceId, id, 2)).toMatchObject({ version: 2 });
    });

    it("reads only which version is current to start a chat once the version's document is in memory; a new version is read", async () => {
      const id = await flow(A.adminKey, 'CHAT', endFlow('one'));
      const ports = contactChatFlowPorts({ db: t.kefu.db, commands: t.kefu.commands, clock: () => new Date() });
      const first = await ports.loadFlow(A.instanceId, id, null);
      expect(first).toMatchObject({ version: 1, definition: { nodes: [{ text: 'one' }] } });
      // The same document (not read and parsed again), for the next start and for a chat's step at version 1.
      expect(await ports.loadFlow(A.instanceId, id, null)).toBe(first);
      expect(await ports.loadFlow(A.instanceId, id, 1)).toBe(first);
      await t.ok(A.adminKey, 'mutation($id: ID!, $d: JSON!) { updateFlow(input: { id: $id, definition: $d }) { version } }', { id, d: endFlow('two') });
      expect(await ports.loadFlow(A.instanceId, id, null)).toMatchObject({ version: 2, definition: { nodes: [{ text: 'two' }] } });
      expect(await ports.loadFlow(A.instanceId, id, 1)).toBe(first);
      // Deleted: no new chat starts on it, from memory or not; a started chat keeps its version.
      await t.ok(A.adminKey, 'mutation($id: ID!) { deleteFlow(input: { id: $id }) { id } }', { id });
      expect(await ports.loadFlow(A.instanceId, id, null)).toBeNull();
      expect(await ports.loadFlow(A.instanceId, id, 2)).toMatchObject({ version: 2 });
      // Another instance's flow of the same id is never served from this one's memory.
      expect(await ports.loadFlow(B.instanceId, id, null)).toBeNull();
    });

    it("never loads an IVR flow or another instance's", async () => {
      const phone = await group(A.adminKey, 'Phones', 'PHONE');
      const ivr = await flow(A.adminKey, 'IVR', { start: 'r', nodes: [{ id: 'r', type: 'route', skillGroupId: phone }] });
      expect(await loadChatFlowFromReadModel(t.kefu.db, A.instanceId, ivr, null)).toBeNull();
      const theirs = await flow(B.adminKey, 'CHAT', endFlow('beta'));
      expect(await loadChatFlowFromReadModel(t.kefu.db, A.instanceId, theirs, null)).toBeNull();
      expect(await loadChatFlowFromReadModel(t.kefu.db, B.instanceId, theirs, null)).toMatchObject({ version: 1 });
    });

    it('says a group has someone online when a member is available or on break, not offline, not of another group', async () => {
      const [ann, bob] = A.agents;
      const chat = await group(A.adminKey, 'Chat');
      const other = await group(A.adminKey, 'Other chat');
      expect(await anyAgentOnlineInReadModel(t.kefu.db, A.instanceId, chat)).toBe(false);
      await t.ok(A.adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: chat, a: ann!.id });
      await t.ok(A.adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: other, a: bob!.id });
      expect(await anyAgentOnlineInReadModel(t.kefu.db, A.instanceId, chat)).toBe(false);
      await presence(bob!.id, 'AVAILABLE');
      expect(await anyAgentOnlineInReadModel(t.kefu.db, A.instanceId, chat)).toBe(false);
      expect(await anyAgentOnlineInReadModel(t.kefu.db, A.instanceId, other)).toBe(true);
      await presence(ann!.id, 'AVAILABLE');
      expect(await anyAgentOnlineInReadModel(t.kefu.db, A.instanceId, chat)).toBe(true);
      // Another instance asking about the same group id finds nobody.
      expect(await anyAgentOnlineInReadModel(t.kefu.db, B.instanceId, chat)).toBe(false);
      await presence(ann!.id, 'BREAK');
      expect(await anyAgentOnlineInReadModel(t.kefu.db, A.instanceId, chat)).toBe(true);
      await presence(ann!.id, 'OFFLINE');
      expect(await anyAgentOnlineInReadModel(t.kefu.db, A.instanceId, chat)).toBe(false);
    });

    it("keeps each chat's place on its stream: a new runner (a restart) goes on where the chat was", async () => {
      const sales = await group(A.adminKey, 'Sales');
      const doc = {
        start: 'menu',
        nodes: [
          { id: 'menu', type: 'menu', text: 'Pick', options: [{ number: 1, label: 'Order', next: 'order' }], onFailure: 'route' },
          { id: 'order', type: 'collect', text: 'Order number?', variable: 'orderNumber', validate: { kind: 'orderNumber' }, next: 'route' },
          { id: 'route', type: 'route', skillGroupId: sales },
        ],
      };
      const flowId = await flow(A.adminKey, 'CHAT', doc);
      const performed: PerformedAction[] = [];
      const runner = () =>
        new ChatFlowRunner({
          now: () => new Date('2026-11-23T04:00:00.000Z'),
          anyAgentOnline: (instanceId, groupId) => anyAgentOnlineInReadModel(t.kefu.db, instanceId, groupId),
          perform: (_chat, action) => {
            performed.push(action);
            return Promise.resolve();
          },
          loadFlow: (instanceId, id, version) => loadChatFlowFromReadModel(t.kefu.db, instanceId, id, version),
          store: new EventStoreChatFlowStore(t.kefu.commands),
        });
      const chat = { instanceId: A.instanceId, contactId: randomUUID() };
      await runner().start(chat, flowId);
      await runner().choice(chat, 1);
      const last = await runner().message(chat, 'SO-12345');
      expect(performed.map((a) => a.type)).toEqual(['send', 'chosen', 'send', 'setVariable', 'route']);
      expect(last.run).toEqual({ flowId, version: 1, position: { status: 'ended', outcome: { type: 'route', skillGroupId: sales, priority: 0 }, variables: { orderNumber: 'SO-12345' } } });
      expect(await new EventStoreChatFlowStore(t.kefu.commands).get(chat)).toEqual(last.run);
      // A step from a place the chat has left is refused, not written over.
      const stale = { flowId, version: 1, position: { status: 'waiting' as const, nodeId: 'menu', failures: 0, afterHours: false, now: '2026-11-23T04:00:00.000Z', variables: {} } };
      await expect(new EventStoreChatFlowStore(t.kefu.commands).set(chat, stale, stale)).rejects.toBeInstanceOf(ConflictError);
    });

    it("puts what the flow collected on the chat's contact: data and key trail, queued in the group, offered with them", async () => {
      const ann = A.agents[0]!;
      const desk = await group(A.adminKey, 'Desk');
      await t.ok(A.adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: desk, a: ann.id });
      await presence(ann.id, 'AVAILABLE');
      const flowId = await flow(A.adminKey, 'CHAT', {
        start: 'menu',
        nodes: [
          { id: 'menu', type: 'menu', text: 'Pick', options: [{ number: 1, label: 'Where is my order', next: 'order' }], onFailure: 'route' },
          { id: 'order', type: 'collect', text: 'Order number?', variable: 'orderNumber', validate: { kind: 'orderNumber' }, next: 'route' },
          { id: 'route', type: 'route', skillGroupId: desk, priority: 3, onNoAgent: 'bye' },
          { id: 'bye', type: 'end', text: 'Nobody' },
        ],
      });
      const contactId = randomUUID();
      const chat = { instanceId: A.instanceId, contactId };
      const metadata = () => ({ now: new Date().toISOString(), instanceId: A.instanceId, actor: 'test', correlationId: randomUUID() });
      const stream = streams.contact(A.instanceId, contactId);
      const source = { kind: 'WEB' as const, webChannelId: randomUUID(), clientChatId: 'c1', verified: false, pageUrl: null, referrer: null, userAgent: null, address: null };
      await t.kefu.commands.handle(stream, contactDecider, {
        type: 'StartChat',
        data: { contactId, customer: { kind: 'WEB', id: 'v_AAAAAAAAAAAAAAAAAAAAAA', name: null }, data: { page: 'checkout' }, source, skillGroupId: desk, priority: 0, reject: null, firstMessage: null, flowId },
        metadata: metadata(),
      });
      const runner = new ChatFlowRunner(contactChatFlowPorts({ db: t.kefu.db, commands: t.kefu.commands, clock: () => new Date() }));
      await runner.start(chat, flowId);
      // A second runner (another process) starting the same chat changes nothing.
      await new ChatFlowRunner(contactChatFlowPorts({ db: t.kefu.db, commands: t.kefu.commands, clock: () => new Date() })).start(chat, flowId);
      await runner.message(chat, 'where is my order');
      await runner.message(chat, 'SO-77881');
      const { state } = await t.kefu.commands.load(stream, contactDecider);
      const events = await t.kefu.store.readStream(stream);
      const said = events.flatMap((e) => (e.type === 'ContactMessageRecorded' && (e.data as { from: string }).from === 'SYSTEM' ? [(e.data as { text: string }).text] : []));
      expect(said.filter((x) => x !== '')).toEqual(['Pick', 'Order number?']);
      expect(state.status === 'none' ? null : state.chatFlow?.step).toBe(3);
      const seen = await until(
        () =>
          t
            .ok<{ contact: { status: string; priority: number; skillGroup: { id: string }; data: { key: string; value: string }[]; keyTrail: { key: string; label: string }[]; offer: { agents: { id: string }[] } | null } }>(
              A.adminKey,
              'query($id: ID!) { contact(id: $id) { status priority skillGroup { id } data { key value } keyTrail { key label } offer { agents { id } } } }',
              { id: contactId },
            )
            .catch(() => null),
        (x) => x !== null && x.contact.status !== 'CREATED' && x.contact.status !== 'IN_FLOW' && x.contact.status !== 'QUEUED',
        60_000,
      );
      if (!seen) throw new Error('the contact never left the flow');
      expect(seen.contact).toMatchObject({ skillGroup: { id: desk }, priority: 3, keyTrail: [{ key: '1', label: 'Where is my order' }] });
      expect(seen.contact.data).toEqual(expect.arrayContaining([{ key: 'orderNumber', value: 'SO-77881' }, { key: 'page', value: 'checkout' }]));
      expect(['OFFERED', 'CONNECTED']).toContain(seen.contact.status);
      if (seen.contact.status === 'OFFERED') expect(seen.contact.offer!.agents.map((a) => a.id)).toEqual([ann.id]);
    });

    it("takes a chat's first step without reading its stream when this process started the chat; once when another process took it first", async () => {
      const desk = await group(A.adminKey, 'Start desk');
      const flowId = await flow(A.adminKey, 'CHAT', { start: 'menu', nodes: [{ id: 'menu', type: 'menu', text: 'Pick', options: [{ number: 1, label: 'Desk', next: 'route' }], onFailure: 'route' }, { id: 'route', type: 'route', skillGroupId: desk }] });
      let reads = 0;
      const store = t.kefu.store;
      const counted = new Proxy(store, {
        get(target, prop) {
          if (prop === 'readStream') {
            return (...args: Parameters<typeof store.readStream>) => {
              reads++;
              return target.readStream(...args);
            };
          }
          const v = Reflect.get(target, prop) as unknown;
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
      const startChat = async (commands: CommandHandler, clientChatId: string) => {
        const contactId = randomUUID();
        const source = { kind: 'WEB' as const, webChannelId: randomUUID(), clientChatId, verified: false, pageUrl: null, referrer: null, userAgent: null, address: null };
        await commands.handle(streams.contact(A.instanceId, contactId), contactDecider, {
          type: 'StartChat',
          data: { contactId, customer: { kind: 'WEB', id: 'v_CCCCCCCCCCCCCCCCCCCCCC', name: null }, data: {}, source, skillGroupId: desk, priority: 0, reject: null, firstMessage: null, flowId },
          metadata: { now: new Date().toISOString(), instanceId: A.instanceId, actor: 'test', correlationId: randomUUID() },
        });
        return { instanceId: A.instanceId, contactId };
      };
      const said = async (contactId: string) =>
        (await t.kefu.store.readStream(streams.contact(A.instanceId, contactId))).flatMap((e) =>
          e.type === 'ContactMessageRecorded' && (e.data as { from: string }).from === 'SYSTEM' ? [(e.data as { text: string }).text] : e.type === 'ContactChatFlowAdvanced' ? ['(step)'] : [],
        );

      const here = new CommandHandler(counted);
      const chat = await startChat(here, 'c3');
      reads = 0;
      const advance = await new ChatFlowRunner(contactChatFlowPorts({ db: t.kefu.db, commands: here, clock: () => new Date() })).start(chat, flowId);
      expect(advance.run?.step).toBe(1);
      expect(reads).toBe(0);
      expect(await said(chat.contactId)).toEqual(['Pick', '(step)']);

      // This process remembers the chat as started; another one took the first step since: it is taken once.
      const second = await startChat(here, 'c4');
      await new ChatFlowRunner(contactChatFlowPorts({ db: t.kefu.db, commands: new CommandHandler(t.kefu.store), clock: () => new Date() })).start(second, flowId);
      const again = await new ChatFlowRunner(contactChatFlowPorts({ db: t.kefu.db, commands: here, clock: () => new Date() })).start(second, flowId);
      expect(again.run?.step).toBe(1);
      expect(await said(second.contactId)).toEqual(['Pick', '(step)']);
    });

    it('steps from where the chat is when its runner remembers an older place (another process stepped it since): once, no reply doubled', async () => {
      const desk = await group(A.adminKey, 'Second desk');
      const flowId = await flow(A.adminKey, 'CHAT', {
        start: 'menu',
        nodes: [
          { id: 'menu', type: 'menu', text: 'Pick', options: [{ number: 1, label: 'Order', next: 'order' }], onFailure: 'bye' },
          { id: 'order', type: 'collect', text: 'Order number?', variable: 'orderNumber', validate: { kind: 'orderNumber' }, next: 'thanks' },
          { id: 'thanks', type: 'end', text: 'Thanks' },
          { id: 'bye', type: 'end', text: 'Bye' },
        ],
      });
      const contactId = randomUUID();
      const chat = { instanceId: A.instanceId, contactId };
      const stream = streams.contact(A.instanceId, contactId);
      const source = { kind: 'WEB' as const, webChannelId: randomUUID(), clientChatId: 'c2', verified: false, pageUrl: null, referrer: null, userAgent: null, address: null };
      await t.kefu.commands.handle(stream, contactDecider, {
        type: 'StartChat',
        data: { contactId, customer: { kind: 'WEB', id: 'v_BBBBBBBBBBBBBBBBBBBBBB', name: null }, data: {}, source, skillGroupId: desk, priority: 0, reject: null, firstMessage: null, flowId },
        metadata: { now: new Date().toISOString(), instanceId: A.instanceId, actor: 'test', correlationId: randomUUID() },
      });
      const here = new ChatFlowRunner(contactChatFlowPorts({ db: t.kefu.db, commands: t.kefu.commands, clock: () => new Date() }));
      // The other process: its own command handler, whose memory of the chat stops at the menu.
      const otherCommands = new CommandHandler(t.kefu.store);
      const there = new ChatFlowRunner(contactChatFlowPorts({ db: t.kefu.db, commands: otherCommands, clock: () => new Date() }));
      await here.start(chat, flowId);
      await otherCommands.load(stream, contactDecider);
      await here.message(chat, '1');
      // Taken from its memory (at the menu) this answer is no option and ends the chat with "Bye"; from where the chat is, it is the order number.
      const advance = await there.message(chat, 'SO-55012');
      expect(advance.run?.step).toBe(3);
      const events = await t.kefu.store.readStream(stream);
      const said = events.flatMap((e) => (e.type === 'ContactMessageRecorded' && (e.data as { from: string }).from === 'SYSTEM' ? [(e.data as { text: string }).text] : []));
      expect(said.filter((x) => x !== '')).toEqual(['Pick', 'Order number?', 'Thanks']);
      expect(events.filter((e) => e.type === 'ContactChatFlowAdvanced')).toHaveLength(3);
      expect(events.filter((e) => e.type === 'ContactVariablesSet').map((e) => (e.data as { variables: unknown }).variables)).toEqual([{ orderNumber: 'SO-55012' }]);
    });
  });
}
