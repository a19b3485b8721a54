// The WeChat callback as deployed (KEFU_WECHAT_ANSWER_WAIT_MS at its default, 0): a push is kept (its key in
// wechat_inbound) and answered `success` at once, its effect made after from the kept push; WeChat's retries of a
// kept push are answered without a second effect; a kept push left undone (Kefu died after answering) is made
// by a sweep; the account a push names is cached, and a change of the account is heard at once.
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { until } from '../support/until.ts';
import { FakeWechat, type FakeAccount } from './fake-wechat.ts';
import { pushKey, pushOf } from '../../src/adapters/wechat/wechat-messages.ts';

const transcript = 'query($id: ID!) { chatTranscript(contactId: $id) { messages { sender text } } }';

describe('WeChat intake (answered at once)', () => {
  let t: TestKefu;
  let wx: FakeWechat;
  let seed: Awaited<ReturnType<typeof seedInstance>>;
  let account: FakeAccount;
  let accountId: string;

  const chatOf = (openId: string) =>
    until(
      async () => (await t.kefu.db.selectFrom('contacts').select(['id', 'customer']).where('instance_id', '=', seed.instanceId).execute()).filter((r) => (r.customer as { id: string }).id === openId),
      (rows) => rows.length > 0,
    );
  const customerTexts = async (contactId: string) =>
    (await t.ok<{ chatTranscript: { messages: { sender: string; text: string | null }[] } }>(seed.adminKey, transcript, { id: contactId })).chatTranscript.messages.filter((m) => m.sender === 'CUSTOMER').map((m) => m.text);
  const kept = (msgIds: string[]) => t.kefu.db.selectFrom('wechat_inbound').select(['push_key', 'pending', 'contact_id']).where('instance_id', '=', seed.instanceId).where('push_key', 'in', msgIds.map((m) => `msg:${m}`)).orderBy('push_key').execute();
  const text = (openId: string, content: string, msgId: string) => ({ ToUserName: account.originalId, FromUserName: openId, CreateTime: Math.floor(Date.now() / 1000), MsgType: 'text', Content: content, MsgId: msgId });

  beforeAll(async () => {
    wx = await new FakeWechat().start();
    t = await startTestKefu({ database: 'pglite', listen: true, env: { KEFU_WECHAT_API_BASE: wx.base } });
    const origin = `http://127.0.0.1:${(t.kefu.app.server.address() as AddressInfo).port}`;
    seed = await seedInstance(t, { name: 'Acme' });
    const group = (await t.ok<{ createSkillGroup: { id: string } }>(seed.adminKey, 'mutation { createSkillGroup(input: { name: "WeChat desk", channel: ONLINE }) { id } }')).createSkillGroup.id;
    const secret = 'eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee';
    const r = await t.ok<{ createWechatAccount: { id: string; callbackUrl: string } }>(seed.adminKey, 'mutation($input: CreateWechatAccountInput!) { createWechatAccount(input: $input) { id callbackUrl } }', {
      input: { name: 'Intake', kind: 'OFFICIAL_ACCOUNT', appId: 'wx00000000000000e1', appSecret: secret, token: 'intakeToken', originalId: 'gh_00000000000e', skillGroupId: group },
    });
    wx.register('wx00000000000000e1', secret);
    accountId = r.createWechatAccount.id;
    account = { appId: 'wx00000000000000e1', appSecret: secret, token: 'intakeToken', encodingAesKey: null, mode: 'PLAIN', format: 'XML', originalId: 'gh_00000000000e', callbackUrl: `${origin}${new URL(r.createWechatAccount.callbackUrl).pathname}` };
  });
  afterAll(async () => {
    await t?.close();
    await wx?.close();
  });

  it('keeps each push once and makes its effect after the answer: retries (also at once) stored once, messages in order', async () => {
    const first = wx.pushRequest(account, text('oIntake_1', 'first', '9100000000000000001'));
    // The push and two retries of it at the same moment, then the next message.
    const answers = await Promise.all([wx.send(first), wx.send(first), wx.send(first)]);
    expect(answers).toEqual([0, 1, 2].map(() => ({ status: 200, text: 'success' })));
    expect((await wx.push(account, text('oIntake_1', 'second', '9100000000000000002'))).text).toBe('success');
    expect((await wx.send(first)).text).toBe('success');
    const [chat] = await chatOf('oIntake_1');
    const rows = await until(
      () => kept(['9100000000000000001', '9100000000000000002']),
      (r) => r.length === 2 && r.every((x) => !x.pending),
    );
    expect(rows.map((x) => x.contact_id)).toEqual([chat!.id, chat!.id]);
    expect(await until(() => customerTexts(chat!.id), (m) => m.length >= 2)).toEqual(['first', 'second']);
  });

  it('a kept push left undone (Kefu died after answering it) is made by a sweep', async () => {
    const push = pushOf({ ToUserName: account.originalId, FromUserName: 'oIntake_2', CreateTime: String(Math.floor(Date.now() / 1000)), MsgType: 'text', Content: 'kept before a crash', MsgId: '9100000000000000003' });
    await t.kefu.db
      .insertInto('wechat_inbound')
      .values({ instance_id: seed.instanceId, account_id: accountId, push_key: pushKey(push), contact_id: null, received_at: new Date(), push: JSON.stringify(push), pending: true, attempts: 0, next_attempt_at: new Date(Date.now() - 1000) })
      .execute();
    // WeChat's retry of it finds it kept: answered, and nothing more (the sweep makes it).
    expect((await wx.push(account, { ...text('oIntake_2', 'kept before a crash', '9100000000000000003'), CreateTime: push.createTime })).text).toBe('success');
    const [chat] = await chatOf('oIntake_2');
    await until(() => kept(['9100000000000000003']), (r) => r.length === 1 && !r[0]!.pending && r[0]!.contact_id === chat!.id);
    expect(await until(() => customerTexts(chat!.id), (m) => m.length >= 1)).toEqual(['kept before a crash']);
  });

  it('the cached account: disabling it refuses the next push at once, enabling it takes pushes again', async () => {
    expect((await wx.push(account, text('oIntake_3', 'before', '9100000000000000004'))).status).toBe(200);
    const set = (enabled: boolean) => t.ok(seed.adminKey, 'mutation($input: UpdateWechatAccountInput!) { updateWechatAccount(input: $input) { id } }', { input: { wechatAccountId: accountId, enabled } });
    await set(false);
    expect((await wx.push(account, text('oIntake_3', 'while disabled', '9100000000000000005'))).status).toBe(403);
    await set(true);
    expect((await wx.push(account, text('oIntake_3', 'after', '9100000000000000006'))).status).toBe(200);
    const [chat] = await chatOf('oIntake_3');
    expect(await until(() => customerTexts(chat!.id), (m) => m.length >= 2)).toEqual(['before', 'after']);
  });
});
