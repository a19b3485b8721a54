// Reception prompts per web channel (issue 12 item 2) through the public API: an admin sets them (switches,
// texts with placeholders, timings, work hours), bad settings are refused naming the field; a customer's
// chat gets each prompt once, in order, as SYSTEM messages of its transcript (welcome, queue place, no agent
// online, the agent who took it, the agent's end), also with a second reception process running beside the
// first; a prompt switched off is not sent; off the work hours a chat ends with the off-hours prompt; an idle
// chat gets its reminder before the automatic end and the auto-end text after; a waiting chat hears of its
// new place in the queue, at most every queueUpdateSeconds.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandHandler } from '../../src/adapters/eventstore/command-handler.ts';
import type { SqlClient } from '../../src/adapters/sql/sql-client.ts';
import { ChatReception } from '../../src/processes/chat-reception/chat-reception.ts';
import { seedInstance, startTestKefu, type GqlResult, type TestKefu } from '../support/kefu.ts';
import { until } from '../support/until.ts';

interface Message {
  seq: number;
  sender: string;
  kind: string;
  text: string | null;
  system: { type: string; agentName: string | null; endStatus: string | null; prompt: string | null } | null;
}

const CHANNEL = `id welcomeText workHours { timeZone weekly { days open close } holidays }
  receptionPrompts { welcome { enabled text } queueing { enabled text } transferredToAgent { enabled text } noAgentOnline { enabled text }
    offHours { enabled text } idleReminder { enabled text } autoEnd { enabled text } agentEnded { enabled text } idleReminderSeconds queueUpdateSeconds }`;
const TRANSCRIPT = 'query($c: ID!) { chatTranscript(contactId: $c, first: 500) { messages { seq sender kind text system { type agentName endStatus prompt } } } }';

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

// Most of the time here is spent waiting for timers (idle reminders, queue updates): the two stores' suites run
// side by side, and so do their tests, each with agents, skill group and channel of its own; only the restart
// test, which stops Kefu's own reception process, runs alone at the end of its suite.
for (const database of ['pglite', 'postgres'] as const) {
  describe(`reception prompts (${database})`, { concurrent: true }, () => {
    let t: TestKefu;
    let seed: Awaited<ReturnType<typeof seedInstance>>;
    let agents = 0;
    /** An agent of this test alone (offline), so that tests running side by side never offer each other's chats. */
    async function agent(name: string): Promise<{ id: string; token: string }> {
      const login = `${name.split(' ')[0]!.toLowerCase()}-${++agents}`;
      const made = await t.ok<{ createAgent: { id: string } }>(seed.adminKey, 'mutation($input: CreateAgentInput!) { createAgent(input: $input) { id } }', {
        input: { name, login, password: 'password-123', role: 'AGENT' },
      });
      const session = await t.ok<{ loginAgent: { token: string } }>(null, 'mutation($input: LoginAgentInput!) { loginAgent(input: $input) { token } }', {
        input: { instanceId: seed.instanceId, login, password: 'password-123' },
      });
      return { id: made.createAgent.id, token: session.loginAgent.token };
    }
    const codeOf = (r: GqlResult<unknown>) => r.errors?.[0]?.extensions;

    beforeAll(async () => {
      t = await startTestKefu({ database, env: { KEFU_CHAT_LIMIT_CHAT: '1000/3600', KEFU_CHAT_LIMIT_MESSAGE: '1000/10' } });
      seed = await seedInstance(t, { seats: 20 });
    }, 180_000);
    afterAll(async () => t?.close());

    async function group(options: Record<string, unknown>, members: { id: string }[]): Promise<string> {
      const id = (
        await t.ok<{ createSkillGroup: { id: string } }>(seed.adminKey, 'mutation($input: CreateSkillGroupInput!) { createSkillGroup(input: $input) { id } }', {
          input: { name: `Chat ${randomUUID().slice(0, 8)}`, channel: 'ONLINE', maxConcurrency: 5, ...options },
        })
      ).createSkillGroup.id;
      for (const m of members) await t.ok(seed.adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: id, a: m.id });
      return id;
    }

    async function channel(skillGroupId: string, extra: Record<string, unknown> = {}): Promise<{ id: string; key: string }> {
      const r = await t.ok<{ createWebChannel: { webChannel: { id: string; publicKey: string } } }>(
        seed.adminKey,
        'mutation($input: CreateWebChannelInput!) { createWebChannel(input: $input) { webChannel { id publicKey } } }',
        { input: { name: 'Shop', allowedOrigins: ['*'], skillGroupId, ...extra } },
      );
      return { id: r.createWebChannel.webChannel.id, key: r.createWebChannel.webChannel.publicKey };
    }

    async function customerChat(key: string): Promise<{ token: string; contactId: string; status: string; endStatus: string | null }> {
      const session = await t.ok<{ startCustomerSession: { token: string } }>(null, 'mutation($input: StartCustomerSessionInput!) { startCustomerSession(input: $input) { token } }', {
        input: { channelKey: key, name: 'Carl Customer' },
      });
      const token = session.startCustomerSession.token;
      const chat = await t.ok<{ startChat: { contactId: string; status: string; endStatus: string | null } }>(token, 'mutation($input: StartChatInput!) { startChat(input: $input) { contactId status endStatus } }', {
        input: { clientChatId: randomUUID() },
      });
      return { token, ...chat.startChat };
    }

    const transcript = async (token: string, contactId: string) => (await t.ok<{ chatTranscript: { messages: Message[] } }>(token, TRANSCRIPT, { c: contactId })).chatTranscript.messages;
    /** The SYSTEM messages as [type or prompt, text]. */
    const notices = (messages: Message[]) => messages.filter((m) => m.sender === 'SYSTEM').map((m) => (m.system?.type === 'PROMPT' ? [m.system.prompt, m.text] : [m.system?.type, null]));
    const prompts = (messages: Message[]) => messages.filter((m) => m.system?.type === 'PROMPT').map((m) => m.system!.prompt);

    const available = (token: string) => t.ok(token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    async function takes(agent: { token: string }, contactId: string): Promise<void> {
      const offered = await until(
        () => t.ok<{ contact: { status: string; offer: { offerId: string } | null } }>(agent.token, 'query($id: ID!) { contact(id: $id) { status offer { offerId } } }', { id: contactId }).catch(() => null),
        (r) => r?.contact.status === 'OFFERED',
        30_000,
      );
      await t.ok(agent.token, 'mutation($c: ID!, $o: ID!) { acceptOffer(input: { contactId: $c, offerId: $o }) { status } }', { c: contactId, o: offered!.contact.offer!.offerId });
    }
    const say = (token: string, contactId: string, text: string) =>
      t.ok(token, 'mutation($input: SendChatMessageInput!) { sendChatMessage(input: $input) { seq } }', { input: { contactId, message: { clientMessageId: randomUUID(), text } } });

    it('an admin sees the defaults, changes prompts and work hours; bad settings are refused naming the field', async () => {
      const g = await group({}, []);
      const made = await t.ok<{ createWebChannel: { webChannel: Record<string, unknown> } }>(
        seed.adminKey,
        `mutation($input: CreateWebChannelInput!) { createWebChannel(input: $input) { webChannel { ${CHANNEL} } } }`,
        { input: { name: 'Shop', allowedOrigins: ['*'], skillGroupId: g, welcomeText: 'Hello from Acme!' } },
      );
      const c = made.createWebChannel.webChannel as { id: string; receptionPrompts: Record<string, { enabled: boolean; text: string }> & { idleReminderSeconds: number; queueUpdateSeconds: number } };
      expect(c).toMatchObject({ welcomeText: 'Hello from Acme!', workHours: null });
      expect(c.receptionPrompts.welcome).toEqual({ enabled: true, text: 'Hello from Acme!' });
      expect(c.receptionPrompts.queueing).toEqual({ enabled: true, text: 'You are number {position} in the queue.[ The estimated wait is {estimatedWait}.] An agent will be with you as soon as possible.' });
      expect(c.receptionPrompts).toMatchObject({ idleReminderSeconds: 60, queueUpdateSeconds: 30, agentEnded: { enabled: true }, offHours: { enabled: true } });

      const update = (input: Record<string, unknown>) =>
        t.gql<{ updateWebChannel: Record<string, unknown> }>(seed.adminKey, `mutation($input: UpdateWebChannelInput!) { updateWebChannel(input: $input) { ${CHANNEL} } }`, { input: { webChannelId: c.id, ...input } });
      const hours = { timeZone: 'Asia/Shanghai', weekly: [{ days: ['MON', 'TUE', 'WED', 'THU', 'FRI'], open: '09:00', close: '18:00' }], holidays: ['2026-10-01'] };
      const changed = await update({
        receptionPrompts: { queueing: { enabled: false }, autoEnd: { text: 'Closed for silence.' }, welcome: { text: 'Hi there!' }, idleReminderSeconds: 30 },
        workHours: hours,
      });
      expect(changed.errors).toBeUndefined();
      expect(changed.data!.updateWebChannel).toMatchObject({
        welcomeText: 'Hi there!',
        workHours: hours,
        receptionPrompts: { welcome: { enabled: true, text: 'Hi there!' }, queueing: { enabled: false }, autoEnd: { enabled: true, text: 'Closed for silence.' }, idleReminderSeconds: 30, queueUpdateSeconds: 30 },
      });
      // Only what is named changes; "" goes back to the default text; null work hours: always open.
      const back = await update({ receptionPrompts: { autoEnd: { text: '' } }, workHours: null });
      expect(back.data!.updateWebChannel).toMatchObject({ workHours: null, receptionPrompts: { queueing: { enabled: false }, autoEnd: { enabled: true, text: expect.stringContaining('did not hear from you') }, idleReminderSeconds: 30 } });

      for (const [input, field] of [
        [{ receptionPrompts: { queueing: { text: 'You are {place}' } } }, 'input.receptionPrompts.queueing.text'],
        [{ receptionPrompts: { offHours: { text: 'x'.repeat(1001) } } }, 'input.receptionPrompts.offHours.text'],
        [{ receptionPrompts: { idleReminderSeconds: 1 } }, 'input.receptionPrompts.idleReminderSeconds'],
        [{ workHours: { timeZone: 'Mars/Olympus', weekly: [] } }, 'input.workHours.timeZone'],
        [{ workHours: { timeZone: 'UTC', weekly: [{ days: ['MON'], open: '25:00', close: '18:00' }] } }, 'input.workHours.weekly.0.open'],
        [{ workHours: { timeZone: 'UTC', weekly: [{ days: ['MON'], open: '09:00', close: '09:00' }] } }, 'input.workHours.weekly.0.close'],
        [{ workHours: { timeZone: 'UTC', weekly: [], holidays: ['2026-02-30'] } }, 'input.workHours.holidays.0'],
      ] as const) {
        expect(codeOf(await update(input)), JSON.stringify(input)).toMatchObject({ code: 'BAD_USER_INPUT', field });
      }
      // Nothing of the refused changes stuck.
      const list = await t.ok<{ webChannels: { id: string; workHours: unknown; receptionPrompts: { idleReminderSeconds: number } }[] }>(seed.adminKey, `{ webChannels { ${CHANNEL} } }`);
      expect(list.webChannels.find((w) => w.id === c.id)).toMatchObject({ workHours: null, receptionPrompts: { idleReminderSeconds: 30 } });
    });

    it('a chat gets welcome, its place, no agent online, the agent who took it and the end, each once and in order (two reception processes)', async () => {
      // A second process beside Kefu's own: a prompt is still sent once.
      const alwaysLead = { ...t.kefu.sql, tryLease: async () => ({ lost: new Promise<void>(() => undefined), release: async () => undefined }) } as SqlClient;
      const second = new ChatReception({ store: t.kefu.store, commands: new CommandHandler(t.kefu.store), sql: alwaysLead, db: t.kefu.db, logger: silent });
      await second.start();
      try {
        const ann = await agent('Ann Agent');
        const g = await group({}, [ann]);
        const { key } = await channel(g, { welcomeText: 'Welcome to Acme!' });
        const chat = await customerChat(key);
        expect(chat.status).toBe('QUEUED');
        const queued = await until(() => transcript(chat.token, chat.contactId), (m) => prompts(m).length >= 3, 30_000);
        expect(notices(queued)).toEqual([
          ['QUEUED', null],
          ['WELCOME', 'Welcome to Acme!'],
          // The group answered no chat yet: nothing said about the wait.
          ['QUEUEING', 'You are number 1 in the queue. An agent will be with you as soon as possible.'],
          ['NO_AGENT_ONLINE', 'Sorry, no agent is online right now.'],
        ]);

        await available(ann.token);
        await takes(ann, chat.contactId);
        await until(() => transcript(chat.token, chat.contactId), (m) => prompts(m).includes('TRANSFERRED_TO_AGENT'), 30_000);
        await say(ann.token, chat.contactId, 'Hello Carl, how can I help?');
        await say(chat.token, chat.contactId, 'All good, thanks');
        await t.ok(ann.token, 'mutation($c: ID!) { endContact(input: { contactId: $c }) { id } }', { c: chat.contactId });
        const done = await until(() => transcript(chat.token, chat.contactId), (m) => prompts(m).includes('AGENT_ENDED'), 30_000);
        // Time for a doubled prompt to show up, if any would.
        await new Promise((resolve) => setTimeout(resolve, 1500));
        const all = await transcript(chat.token, chat.contactId);
        expect(all.map((m) => m.seq)).toEqual(Array.from({ length: all.length }, (_, i) => i + 1));
        expect(notices(all)).toEqual([
          ['QUEUED', null],
          ['WELCOME', 'Welcome to Acme!'],
          ['QUEUEING', 'You are number 1 in the queue. An agent will be with you as soon as possible.'],
          ['NO_AGENT_ONLINE', 'Sorry, no agent is online right now.'],
          ['CONNECTED', null],
          ['TRANSFERRED_TO_AGENT', 'You are now chatting with Ann Agent.'],
          ['ENDED', null],
          ['AGENT_ENDED', 'Ann Agent has ended the chat. Thank you for contacting us!'],
        ]);
        expect(all.length).toBe(done.length);
        expect(all.filter((m) => m.sender !== 'SYSTEM').map((m) => m.text)).toEqual(['Hello Carl, how can I help?', 'All good, thanks']);
        // The agent's view of the transcript keeps them too, marked as prompts.
        const staff = (await t.ok<{ chatTranscript: { messages: Message[] } }>(ann.token, TRANSCRIPT, { c: chat.contactId })).chatTranscript.messages;
        expect(prompts(staff)).toEqual(['WELCOME', 'QUEUEING', 'NO_AGENT_ONLINE', 'TRANSFERRED_TO_AGENT', 'AGENT_ENDED']);
        expect(staff.find((m) => m.system?.prompt === 'WELCOME')).toMatchObject({ kind: 'SYSTEM', system: { type: 'PROMPT' } });
      } finally {
        await second.stop();
      }
    });

    it('a prompt switched off is not sent', async () => {
      const bob = await agent('Bob Agent');
      await available(bob.token);
      const g = await group({}, [bob]);
      const { key } = await channel(g, { receptionPrompts: { welcome: { enabled: false }, queueing: { enabled: false }, transferredToAgent: { text: '{agentName} is here for you.' } } });
      const chat = await customerChat(key);
      await takes(bob, chat.contactId);
      await until(() => transcript(chat.token, chat.contactId), (m) => prompts(m).length >= 1, 30_000);
      await t.ok(chat.token, 'mutation($c: ID!) { endChat(input: { contactId: $c }) { status } }', { c: chat.contactId });
      await until(() => transcript(chat.token, chat.contactId), (m) => m.some((x) => x.system?.type === 'ENDED'), 30_000);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      // Bob was online: no "no agent online"; the customer ended it: no end text.
      expect(notices(await transcript(chat.token, chat.contactId))).toEqual([
        ['QUEUED', null],
        ['CONNECTED', null],
        ['TRANSFERRED_TO_AGENT', 'Bob Agent is here for you.'],
        ['ENDED', null],
      ]);
    });

    it('off the work hours a chat is not queued: it ends with the off-hours prompt', async () => {
      // Nobody in the group: the chat queued at the end waits without ringing other tests' agents.
      const g = await group({}, []);
      // Closed all day today and tomorrow (a holiday each), whatever the time of the run.
      const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
      const allWeek = { days: ['MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT', 'SUN'], open: '00:00', close: '24:00' };
      const closed = await channel(g, { workHours: { timeZone: 'UTC', weekly: [allWeek], holidays: [day(0), day(1)] }, receptionPrompts: { offHours: { text: 'We open at 9.' } } });
      const chat = await customerChat(closed.key);
      expect(chat).toMatchObject({ status: 'ENDED', endStatus: 'NO_AGENT_ONLINE' });
      const m = await until(() => transcript(chat.token, chat.contactId), (x) => prompts(x).length >= 1, 30_000);
      expect(notices(m)).toEqual([
        ['ENDED', null],
        ['OFF_HOURS', 'We open at 9.'],
      ]);
      // Within the hours, the same channel queues.
      await t.ok(seed.adminKey, 'mutation($input: UpdateWebChannelInput!) { updateWebChannel(input: $input) { id } }', {
        input: { webChannelId: closed.id, workHours: { timeZone: 'UTC', weekly: [allWeek] } },
      });
      expect((await customerChat(closed.key)).status).toBe('QUEUED');
    });

    it('an idle chat gets the reminder before the automatic end, then the auto-end text', async () => {
      const bob = await agent('Bob Agent');
      await available(bob.token);
      // The reminder 5 s after the agent's message, the end 10 s later: room for a loaded machine.
      const g = await group({ autoAccept: true, chatIdleEndSeconds: 15 }, [bob]);
      const { key } = await channel(g, { receptionPrompts: { idleReminderSeconds: 10, welcome: { enabled: false }, queueing: { enabled: false } } });
      const chat = await customerChat(key);
      await until(() => transcript(chat.token, chat.contactId), (m) => prompts(m).includes('TRANSFERRED_TO_AGENT'), 30_000);
      await say(bob.token, chat.contactId, 'Are you there?');
      const ended = await until(() => transcript(chat.token, chat.contactId), (m) => prompts(m).includes('AUTO_END'), 60_000);
      expect(notices(ended).slice(-3)).toEqual([
        ['IDLE_REMINDER', 'Are you still there? This chat will close in 10 seconds if we do not hear from you.'],
        ['ENDED', null],
        ['AUTO_END', 'This chat was closed because we did not hear from you. You can start a new chat any time.'],
      ]);
      expect(ended.find((m) => m.system?.type === 'ENDED')!.system!.endStatus).toBe('CUSTOMER_IDLE');
      // The reminder came after the agent's message, before the end.
      const agentSeq = ended.find((m) => m.sender === 'AGENT')!.seq;
      expect(ended.find((m) => m.system?.prompt === 'IDLE_REMINDER')!.seq).toBeGreaterThan(agentSeq);
    });

    it('a customer who answers gets no reminder', async () => {
      const bob = await agent('Bob Agent');
      await available(bob.token);
      const g = await group({ autoAccept: true, chatIdleEndSeconds: 10 }, [bob]);
      const { key } = await channel(g, { receptionPrompts: { idleReminderSeconds: 5 } });
      const chat = await customerChat(key);
      await until(() => transcript(chat.token, chat.contactId), (m) => prompts(m).includes('TRANSFERRED_TO_AGENT'), 30_000);
      await say(bob.token, chat.contactId, 'Anything else?');
      await say(chat.token, chat.contactId, 'Yes, one thing');
      await new Promise((resolve) => setTimeout(resolve, 7000));
      expect(prompts(await transcript(chat.token, chat.contactId))).not.toContain('IDLE_REMINDER');
      await t.ok(bob.token, 'mutation($c: ID!) { endContact(input: { contactId: $c }) { id } }', { c: chat.contactId });
    });

    it('a waiting chat hears of its new place, not more often than queueUpdateSeconds, with the recent wait once known', async () => {
      const ann = await agent('Ann Agent');
      await available(ann.token);
      const g = await group({ maxConcurrency: 1 }, [ann]);
      const { key } = await channel(g, { receptionPrompts: { queueUpdateSeconds: 5, welcome: { enabled: false } } });
      // Ann takes the first chat: the group now has a recent wait; the others wait behind it.
      const first = await customerChat(key);
      await takes(ann, first.contactId);
      const second = await customerChat(key);
      const third = await customerChat(key);
      const told = async (c: { token: string; contactId: string }) => (await transcript(c.token, c.contactId)).filter((m) => m.system?.prompt === 'QUEUEING').map((m) => m.text);
      await until(() => told(third), (x) => x.length === 1, 30_000);
      expect(await told(second)).toEqual([expect.stringMatching(/^You are number 1 in the queue\. The estimated wait is (less than a minute|about \d+ minutes?)\./)]);
      expect(await told(third)).toEqual([expect.stringMatching(/^You are number 2 in the queue\./)]);
      // The first chat ends: Ann takes the second; the third moves up, and hears of it after queueUpdateSeconds.
      await t.ok(ann.token, 'mutation($c: ID!) { endContact(input: { contactId: $c }) { id } }', { c: first.contactId });
      await takes(ann, second.contactId);
      const moved = await until(() => told(third), (x) => x.length === 2, 30_000);
      expect(moved[1]).toMatch(/^You are number 1 in the queue\./);
      const times = (await transcript(third.token, third.contactId)).filter((m) => m.system?.prompt === 'QUEUEING');
      expect(times).toHaveLength(2);
      const at = await t.ok<{ chatTranscript: { messages: { sentAt: string; system: { prompt: string | null } | null }[] } }>(
        third.token,
        'query($c: ID!) { chatTranscript(contactId: $c) { messages { sentAt system { prompt } } } }',
        { c: third.contactId },
      );
      // Not sooner than queueUpdateSeconds after the first.
      const sent = at.chatTranscript.messages.filter((m) => m.system?.prompt === 'QUEUEING').map((m) => Date.parse(m.sentAt));
      expect(sent[1]! - sent[0]!).toBeGreaterThanOrEqual(5000);
      await t.ok(ann.token, 'mutation($c: ID!) { endContact(input: { contactId: $c }) { id } }', { c: second.contactId });
    });

    // Last: it replaces Kefu's own reception process.
    it('after a restart nothing is sent twice, and the idle reminder due meanwhile still comes', { concurrent: false }, async () => {
      const bob = await agent('Bob Agent');
      await available(bob.token);
      let next: ChatReception | null = null;
      try {
        const g = await group({ autoAccept: true, chatIdleEndSeconds: 20 }, [bob]);
        const { key } = await channel(g, { receptionPrompts: { idleReminderSeconds: 10, welcome: { enabled: false }, queueing: { enabled: false } } });
        const chat = await customerChat(key);
        await until(() => transcript(chat.token, chat.contactId), (m) => prompts(m).includes('TRANSFERRED_TO_AGENT'), 30_000);
        // Down: the agent's message arms no timer anywhere.
        await t.kefu.reception.stop();
        await say(bob.token, chat.contactId, 'Anything else?');
        await new Promise((resolve) => setTimeout(resolve, 1000));
        next = new ChatReception({ store: t.kefu.store, commands: new CommandHandler(t.kefu.store), sql: t.kefu.sql, db: t.kefu.db, logger: silent });
        await next.start();
        const ended = await until(() => transcript(chat.token, chat.contactId), (m) => prompts(m).includes('AUTO_END'), 60_000);
        await new Promise((resolve) => setTimeout(resolve, 1500));
        expect(prompts(await transcript(chat.token, chat.contactId))).toEqual(['TRANSFERRED_TO_AGENT', 'IDLE_REMINDER', 'AUTO_END']);
        expect(prompts(ended)).toEqual(['TRANSFERRED_TO_AGENT', 'IDLE_REMINDER', 'AUTO_END']);
      } finally {
        await next?.stop();
      }
    });
  });
}
