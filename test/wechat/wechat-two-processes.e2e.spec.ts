// WeChat's retries reaching another Kefu process (issue 13): two real Kefu processes on one PostgreSQL and NATS
// behind one callback URL. WeChat sends a push to one, gets no answer in time and retries it at the other
// (or both at once): the message is stored once, in one chat. The account's secrets, sealed with the
// deployment's key, open in both processes. An account changed at one process is not used stale at the other
// (each caches the accounts pushes name, and forgets them when the change is published).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshPostgresSchema, natsUrl } from '../support/services.ts';
import { okHttp, seedOverHttp, spawnKefu, type KefuProcess } from '../support/process.ts';
import { until } from '../support/until.ts';
import { FakeWechat, type FakeAccount } from './fake-wechat.ts';

const operatorToken = 'wechat-two-process-operator-token';
const aesKey = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq';

describe('WeChat retries across two Kefu processes', () => {
  let a: KefuProcess;
  let b: KefuProcess;
  let wx: FakeWechat;
  let drop: () => Promise<void>;
  const dirs: string[] = [];
  let seed: Awaited<ReturnType<typeof seedOverHttp>>;
  let onA: FakeAccount;
  let onB: FakeAccount;

  beforeAll(async () => {
    wx = await new FakeWechat().start();
    const schema = await freshPostgresSchema();
    await schema.client.close();
    drop = schema.drop;
    const env = () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'kefu-wechat-'));
      dirs.push(dir);
      return { DATABASE_URL: schema.url, NATS_URL: natsUrl, KEFU_OPERATOR_TOKEN: operatorToken, KEFU_WECHAT_API_BASE: wx.base, KEFU_WECHAT_ANSWER_WAIT_MS: '60000', KEFU_DATA_DIR: dir };
    };
    a = await spawnKefu(env());
    b = await spawnKefu(env());
    seed = await seedOverHttp(a.url, operatorToken);
    const group = (await okHttp<{ createSkillGroup: { id: string } }>(a.url, seed.adminKey, 'mutation { createSkillGroup(input: { name: "WeChat", channel: ONLINE }) { id } }')).createSkillGroup.id;
    const secret = 'cccccccccccccccccccccccccccccccc';
    const created = await okHttp<{ createWechatAccount: { callbackUrl: string } }>(a.url, seed.adminKey, 'mutation($input: CreateWechatAccountInput!) { createWechatAccount(input: $input) { callbackUrl } }', {
      input: { name: 'Shop', kind: 'OFFICIAL_ACCOUNT', appId: 'wx00000000000000e5', appSecret: secret, token: 'twoToken', encodingAesKey: aesKey, messageMode: 'SAFE', skillGroupId: group },
    });
    const callbackPath = new URL(created.createWechatAccount.callbackUrl).pathname;
    const fake = { appId: 'wx00000000000000e5', appSecret: secret, token: 'twoToken', encodingAesKey: aesKey, mode: 'SAFE' as const, format: 'XML' as const, originalId: 'gh_00000000000e' };
    onA = { ...fake, callbackUrl: `${a.url}${callbackPath}` };
    onB = { ...fake, callbackUrl: `${b.url}${callbackPath}` };
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await wx?.close();
    await drop?.();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  const transcript = async (contactId: string) =>
    (await okHttp<{ chatTranscript: { messages: { sender: string; text: string | null }[] } }>(a.url, seed.adminKey, 'query($id: ID!) { chatTranscript(contactId: $id) { messages { sender text } } }', { id: contactId })).chatTranscript.messages
      .filter((m) => m.sender === 'CUSTOMER')
      .map((m) => m.text);
  const chats = async () => (await okHttp<{ chatRecords: { edges: { node: { contactId: string; source: string; customer: { id: string } } }[] } }>(a.url, seed.adminKey, '{ chatRecords(first: 50) { edges { node { contactId source customer { id } } } } }')).chatRecords.edges.map((e) => ({ ...e.node, customerId: e.node.customer.id }));

  it('a push retried at the other process, and one sent to both at once, are each stored once', async () => {
    const fields = (content: string, msgId: string) => ({ ToUserName: 'gh_00000000000e', FromUserName: 'oTwo_1', CreateTime: Math.floor(Date.now() / 1000), MsgType: 'text', Content: content, MsgId: msgId });
    // A first message, then WeChat's two retries of it at the other process and at the first again.
    const first = wx.pushRequest(onA, fields('first', '9000000000000000001'));
    expect((await wx.send(first)).text).toBe('success');
    expect((await wx.send({ ...first, url: first.url.replace(a.url, b.url) })).text).toBe('success');
    expect((await wx.send(first)).text).toBe('success');
    // A second message reaching both processes at the same moment.
    const second = wx.pushRequest(onB, fields('second', '9000000000000000002'));
    const both = await Promise.all([wx.send(second), wx.send({ ...second, url: second.url.replace(b.url, a.url) })]);
    expect(both.map((r) => r.text)).toEqual(['success', 'success']);
    // A new customer's first message at both at once: one chat, not two.
    const other = wx.pushRequest(onA, { ...fields('hello', '9000000000000000003'), FromUserName: 'oTwo_2' });
    expect((await Promise.all([wx.send(other), wx.send({ ...other, url: other.url.replace(a.url, b.url) })])).map((r) => r.text)).toEqual(['success', 'success']);

    const records = await until(chats, (c) => c.length === 2);
    const one = records.find((c) => c.customerId === 'oTwo_1')!;
    const two = records.find((c) => c.customerId === 'oTwo_2')!;
    expect(await until(() => transcript(one.contactId), (m) => m.length >= 2)).toEqual(['first', 'second']);
    expect(await transcript(two.contactId)).toEqual(['hello']);
    expect(records.map((r) => r.source)).toEqual(['WECHAT', 'WECHAT']);
  });

  it('an account disabled at one process is refused at the other, which had it cached (heard over NATS, well before its cache would expire)', async () => {
    const accountId = new URL(onB.callbackUrl).pathname.split('/').pop()!;
    let n = 0;
    const pushAtB = () => wx.push(onB, { ToUserName: 'gh_00000000000e', FromUserName: 'oTwo_3', CreateTime: Math.floor(Date.now() / 1000), MsgType: 'text', Content: 'hi', MsgId: String(9_000_000_000_000_000_100n + BigInt(++n)) });
    expect((await pushAtB()).status).toBe(200);
    const set = (enabled: boolean) => okHttp(a.url, seed.adminKey, 'mutation($input: UpdateWechatAccountInput!) { updateWechatAccount(input: $input) { id } }', { input: { wechatAccountId: accountId, enabled } });
    await set(false);
    // B's cached account lasts a minute; the change reaches it long before.
    await until(pushAtB, (r) => r.status === 403, 20_000);
    await set(true);
    await until(pushAtB, (r) => r.status === 200, 20_000);
  });
});
