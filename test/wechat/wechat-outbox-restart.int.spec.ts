// The WeChat outbox across a restart (issue 13), on PostgreSQL: a message WeChat kept refusing as busy when
// Kefu stopped is sent by the next Kefu on the same database, once; messages sent before are not sent again.
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshPostgresSchema } from '../support/services.ts';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { until } from '../support/until.ts';
import { FakeWechat } from './fake-wechat.ts';

describe('WeChat outbox across a restart', () => {
  let wx: FakeWechat;
  let drop: () => Promise<void>;
  let url: string;
  const running: TestKefu[] = [];

  beforeAll(async () => {
    wx = await new FakeWechat().start();
    const schema = await freshPostgresSchema();
    await schema.client.close();
    drop = schema.drop;
    url = schema.url;
  });
  afterAll(async () => {
    for (const t of running) await t.close().catch(() => undefined);
    await wx?.close();
    await drop?.();
  });

  const start = async () => {
    const t = await startTestKefu({ listen: true, env: { DATABASE_URL: url, KEFU_WECHAT_API_BASE: wx.base, KEFU_WECHAT_ANSWER_WAIT_MS: '60000' } });
    running.push(t);
    return t;
  };

  it('sends what was pending, once, and nothing sent before again', async () => {
    let t = await start();
    const origin = `http://127.0.0.1:${(t.kefu.app.server.address() as AddressInfo).port}`;
    const seed = await seedInstance(t, { name: 'Acme', agents: [{ name: 'Ann', login: 'ann' }] });
    const ann = seed.agents[0]!;
    const group = (await t.ok<{ createSkillGroup: { id: string } }>(seed.adminKey, 'mutation { createSkillGroup(input: { name: "WeChat", channel: ONLINE }) { id } }')).createSkillGroup.id;
    await t.ok(seed.adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: group, a: ann.id });
    const secret = 'eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee';
    wx.register('wx00000000000000a7', secret);
    const created = await t.ok<{ createWechatAccount: { callbackUrl: string } }>(seed.adminKey, 'mutation($g: ID!) { createWechatAccount(input: { name: "Shop", kind: OFFICIAL_ACCOUNT, appId: "wx00000000000000a7", appSecret: "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee", token: "restartToken", skillGroupId: $g }) { callbackUrl } }', { g: group });
    const account = { appId: 'wx00000000000000a7', appSecret: secret, token: 'restartToken', encodingAesKey: null, mode: 'PLAIN' as const, format: 'XML' as const, originalId: 'gh_00000000000a', callbackUrl: `${origin}${new URL(created.createWechatAccount.callbackUrl).pathname}` };
    expect((await wx.push(account, { ToUserName: 'gh_00000000000a', FromUserName: 'oRestart', CreateTime: Math.floor(Date.now() / 1000), MsgType: 'text', Content: 'hi', MsgId: '6000000000000000001' })).text).toBe('success');
    const contactId = (await until(() => t.kefu.db.selectFrom('contacts').select('id').where('channel', '=', 'ONLINE').execute(), (r) => r.length === 1))[0]!.id;
    await t.ok(ann.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    const offered = await until(
      () => t.ok<{ contact: { status: string; offer: { offerId: string } | null } }>(ann.token, 'query($id: ID!) { contact(id: $id) { status offer { offerId } } }', { id: contactId }).catch(() => null),
      (r) => r?.contact.status === 'OFFERED',
    );
    await t.ok(ann.token, 'mutation($c: ID!, $o: ID!) { acceptOffer(input: { contactId: $c, offerId: $o }) { status } }', { c: contactId, o: offered!.contact.offer!.offerId });
    const say = (k: TestKefu, text: string) => k.ok(ann.token, 'mutation($input: SendChatMessageInput!) { sendChatMessage(input: $input) { seq } }', { input: { contactId, message: { clientMessageId: randomUUID(), text } } });
    await say(t, 'one');
    await until(async () => wx.sent.length, (n) => n === 1);
    // WeChat is busy from now on: 'two' waits for a retry when this Kefu stops.
    wx.failNext('cgi-bin/message/custom/send', -1, 1000);
    await say(t, 'two');
    await until(() => t.kefu.db.selectFrom('wechat_outbox').select(['attempts', 'state']).where('seq', '>', 0).execute(), (r) => r.some((x) => x.state === 'PENDING' && x.attempts >= 1));
    await t.close();
    running.pop();
    wx.clearFailures();
    t = await start();
    await until(async () => wx.sent.length, (n) => n === 2, 60_000);
    await new Promise((r) => setTimeout(r, 2000));
    expect(wx.sent.map((m) => (m.body.text as { content: string }).content)).toEqual(['one', 'two']);
  });
});
