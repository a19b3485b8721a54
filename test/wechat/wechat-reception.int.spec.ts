// Reception prompts on WeChat chats (issue 13) against the local WeChat, on PostgreSQL: an account's prompts
// (the web channels' settings: switches, texts, timings, work hours) are sent by the same chat-reception
// process and go out through the outbox as WeChat text, each once, also after Kefu restarts; prompts switched
// off (and, on WeChat, those never switched on: each spends one of the few messages per customer) are not
// sent; off the account's work hours a chat ends with the off-hours prompt; an idle chat gets its reminder,
// then the auto-end text.
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acceptWhenOffered } from '../support/chat.ts';
import { freshPostgresSchema } from '../support/services.ts';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { addWechatAccount } from '../support/wechat.ts';
import { until } from '../support/until.ts';
import { FakeWechat, type FakeAccount } from './fake-wechat.ts';

const ACCOUNT = 'id receptionPrompts { welcome { enabled text } queueing { enabled } transferredToAgent { enabled } noAgentOnline { enabled } offHours { enabled text } idleReminder { enabled } autoEnd { enabled } agentEnded { enabled } idleReminderSeconds } workHours { timeZone }';

describe('reception prompts on WeChat', () => {
  let wx: FakeWechat;
  let drop: () => Promise<void>;
  let url: string;
  let t: TestKefu;
  let origin: string;
  let seed: Awaited<ReturnType<typeof seedInstance>>;
  let ann: { id: string; token: string };
  const secret = 'dddddddddddddddddddddddddddddddd';
  let n = 0;

  const start = async () => {
    t = await startTestKefu({ listen: true, env: { DATABASE_URL: url, KEFU_WECHAT_API_BASE: wx.base, KEFU_WECHAT_ANSWER_WAIT_MS: '60000' } });
    origin = `http://127.0.0.1:${(t.kefu.app.server.address() as AddressInfo).port}`;
  };
  const texts = (openId: string) => wx.sent.filter((m) => m.touser === openId).map((m) => (m.body.text as { content: string } | undefined)?.content ?? m.msgtype);
  const push = (a: FakeAccount, fields: Record<string, string | number>) => wx.push({ ...a, callbackUrl: `${origin}${new URL(a.callbackUrl).pathname}` }, { ToUserName: a.originalId, CreateTime: Math.floor(Date.now() / 1000), ...fields });
  const chatOf = async (openId: string) =>
    (await until(async () => (await t.kefu.db.selectFrom('contacts').selectAll().where('instance_id', '=', seed.instanceId).execute()).filter((r) => (r.customer as { id: string }).id === openId), (r) => r.length >= 1))[0]!;
  const presence = (p: string) => t.ok(ann.token, `mutation { setPresence(input: { presence: ${p} }) { id } }`);

  async function group(options: Record<string, unknown> = {}): Promise<string> {
    const g = (await t.ok<{ createSkillGroup: { id: string } }>(seed.adminKey, 'mutation($input: CreateSkillGroupInput!) { createSkillGroup(input: $input) { id } }', { input: { name: `WeChat ${randomUUID().slice(0, 6)}`, channel: 'ONLINE', maxConcurrency: 5, ...options } })).createSkillGroup.id;
    await t.ok(seed.adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g, a: ann.id });
    return g;
  }

  async function account(skillGroupId: string, extra: Record<string, unknown>): Promise<FakeAccount & { id: string }> {
    n++;
    const appId = `wx00000000000001${String(n).padStart(2, '0')}`;
    const originalId = `gh_0000000001${String(n).padStart(2, '0')}`;
    const token = `reception${n}`;
    const { id, account } = await addWechatAccount(t, wx, seed.adminKey, { name: `Shop ${n}`, appId, appSecret: secret, token, originalId, skillGroupId, sendQuota: 50, ...extra });
    return { id, ...account };
  }

  const take = (contactId: string) => acceptWhenOffered(t, ann.token, contactId);

  beforeAll(async () => {
    wx = await new FakeWechat().start();
    const schema = await freshPostgresSchema();
    await schema.client.close();
    drop = schema.drop;
    url = schema.url;
    await start();
    seed = await seedInstance(t, { name: 'Acme', agents: [{ name: 'Ann', login: 'ann' }] });
    ann = seed.agents[0]!;
  }, 180_000);
  afterAll(async () => {
    await t?.close().catch(() => undefined);
    await wx?.close();
    await drop?.();
  });

  it('an account keeps the web channels\' prompt settings; on WeChat a prompt never switched on is off', async () => {
    const g = await group();
    const a = await account(g, { receptionPrompts: { welcome: { enabled: true, text: 'Welcome to the shop!' }, idleReminderSeconds: 20 } });
    const { wechatAccounts } = await t.ok<{ wechatAccounts: { id: string; receptionPrompts: Record<string, { enabled: boolean; text?: string }>; workHours: unknown }[] }>(seed.adminKey, `query { wechatAccounts { ${ACCOUNT} } }`);
    const p = wechatAccounts.find((x) => x.id === a.id)!.receptionPrompts;
    expect(p.welcome).toEqual({ enabled: true, text: 'Welcome to the shop!' });
    expect(p.queueing!.enabled).toBe(false);
    expect(p.agentEnded!.enabled).toBe(false);
    expect(p.idleReminderSeconds).toBe(20);
    // Switched on, then off again; bad settings refused naming the field.
    const updated = await t.ok<{ updateWechatAccount: { receptionPrompts: Record<string, { enabled: boolean }> } }>(seed.adminKey, `mutation($input: UpdateWechatAccountInput!) { updateWechatAccount(input: $input) { ${ACCOUNT} } }`, {
      input: { wechatAccountId: a.id, receptionPrompts: { queueing: { enabled: true }, welcome: { enabled: false } } },
    });
    expect([updated.updateWechatAccount.receptionPrompts.queueing!.enabled, updated.updateWechatAccount.receptionPrompts.welcome!.enabled]).toEqual([true, false]);
    const bad = await t.gql(seed.adminKey, 'mutation($input: UpdateWechatAccountInput!) { updateWechatAccount(input: $input) { id } }', { input: { wechatAccountId: a.id, receptionPrompts: { queueing: { text: 'You are {nope}' } } } });
    expect(bad.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.receptionPrompts.queueing.text' });
  });

  it('each switched-on prompt goes out once as text, in order, also after a restart; switched-off ones never', async () => {
    await presence('OFFLINE');
    const g = await group();
    const a = await account(g, {
      receptionPrompts: {
        welcome: { enabled: true, text: 'Welcome to the shop!' },
        queueing: { enabled: true, text: 'You are number {position}.' },
        transferredToAgent: { enabled: true },
        agentEnded: { enabled: true, text: '{agentName} closed the chat.' },
        noAgentOnline: { enabled: false },
      },
    });
    expect((await push(a, { FromUserName: 'oRecep_1', MsgType: 'text', Content: 'hello?', MsgId: '8200000000000000001' })).text).toBe('success');
    const chat = await chatOf('oRecep_1');
    await until(async () => texts('oRecep_1'), (x) => x.length >= 2, 60_000);
    expect(texts('oRecep_1')).toEqual(['Welcome to the shop!', 'You are number 1.']);
    await presence('AVAILABLE');
    await take(chat.id);
    await until(async () => texts('oRecep_1'), (x) => x.length >= 3, 60_000);
    expect(texts('oRecep_1')[2]).toBe('You are now chatting with Ann.');
    await t.ok(ann.token, 'mutation($c: ID!) { endContact(input: { contactId: $c }) { status } }', { c: chat.id });
    // The end's prompt and the invitation to rate go as one message, in that order (no separate invitation).
    await until(async () => texts('oRecep_1'), (x) => x.some((s) => s.startsWith('Ann closed the chat.')), 60_000);
    await new Promise((r) => setTimeout(r, 1000));
    expect(texts('oRecep_1').slice(3)).toEqual([expect.stringMatching(/^Ann closed the chat\.\n\nHow did we do\? Reply with a number: /)]);

    // Restart on the same database: nothing is sent again.
    const before = texts('oRecep_1');
    await t.close();
    await start();
    await new Promise((r) => setTimeout(r, 4000));
    expect(texts('oRecep_1')).toEqual(before);
    const once = (s: string) => before.filter((x) => x === s).length;
    for (const s of ['Welcome to the shop!', 'You are number 1.', 'You are now chatting with Ann.']) expect(once(s)).toBe(1);
    expect(before.filter((x) => x.startsWith('Ann closed the chat.'))).toHaveLength(1);
    // No "no agent online" (switched off), and the prompts are in the transcript as PROMPT messages.
    const transcript = await t.ok<{ chatTranscript: { messages: { text: string | null; system: { type: string; prompt: string | null } | null }[] } }>(seed.adminKey, 'query($c: ID!) { chatTranscript(contactId: $c) { messages { text system { type prompt } } } }', { c: chat.id });
    const prompts = transcript.chatTranscript.messages.filter((m) => m.system?.type === 'PROMPT').map((m) => m.system!.prompt);
    expect(prompts).toEqual(['WELCOME', 'QUEUEING', 'TRANSFERRED_TO_AGENT', 'AGENT_ENDED']);
  });

  it('nobody online: the no-agent prompt; off the work hours: the chat ends with the off-hours prompt', async () => {
    await presence('OFFLINE');
    const g = await group();
    const a = await account(g, { receptionPrompts: { noAgentOnline: { enabled: true } } });
    expect((await push(a, { FromUserName: 'oRecep_2', MsgType: 'text', Content: 'anyone?', MsgId: '8200000000000000002' })).text).toBe('success');
    await until(async () => texts('oRecep_2'), (x) => x.length >= 1, 60_000);
    await new Promise((r) => setTimeout(r, 1500));
    expect(texts('oRecep_2')).toEqual([expect.stringMatching(/no one|No agent|not available|offline/i)]);

    const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
    const allWeek = { days: ['MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT', 'SUN'], open: '00:00', close: '24:00' };
    const closed = await account(await group(), { workHours: { timeZone: 'UTC', weekly: [allWeek], holidays: [day(0), day(1)] }, receptionPrompts: { offHours: { enabled: true, text: 'We open at 9.' } } });
    expect((await push(closed, { FromUserName: 'oRecep_3', MsgType: 'text', Content: 'open?', MsgId: '8200000000000000003' })).text).toBe('success');
    const chat = await chatOf('oRecep_3');
    await until(async () => texts('oRecep_3'), (x) => x.includes('We open at 9.'), 60_000);
    const row = await until(() => t.kefu.db.selectFrom('contacts').select(['status']).where('instance_id', '=', seed.instanceId).where('id', '=', chat.id).executeTakeFirst(), (r) => r?.status === 'REJECTED');
    // Turned away, not queued (the web's off-hours chat ends the same way: NO_AGENT_ONLINE to the customer).
    expect(row!.status).toBe('REJECTED');
  });

  it('an idle chat gets the reminder, then the auto-end text', async () => {
    await presence('AVAILABLE');
    try {
      const g = await group({ chatIdleEndSeconds: 15 });
      const a = await account(g, { receptionPrompts: { idleReminder: { enabled: true }, autoEnd: { enabled: true }, idleReminderSeconds: 10 } });
      expect((await push(a, { FromUserName: 'oRecep_4', MsgType: 'text', Content: 'hi', MsgId: '8200000000000000004' })).text).toBe('success');
      const chat = await chatOf('oRecep_4');
      await take(chat.id);
      await t.ok(ann.token, 'mutation($input: SendChatMessageInput!) { sendChatMessage(input: $input) { seq } }', { input: { contactId: chat.id, message: { clientMessageId: randomUUID(), text: 'Are you there?' } } });
      await until(async () => texts('oRecep_4'), (x) => x.some((s) => s.startsWith('This chat was closed')), 90_000);
      await new Promise((r) => setTimeout(r, 1000));
      expect(texts('oRecep_4')).toEqual([
        'Are you there?',
        'Are you still there? This chat will close in 10 seconds if we do not hear from you.',
        expect.stringMatching(/^This chat was closed because we did not hear from you\. You can start a new chat any time\.\n\nHow did we do\? /),
      ]);
    } finally {
      await presence('OFFLINE');
    }
  });
});
