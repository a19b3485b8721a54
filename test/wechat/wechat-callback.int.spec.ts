// WeChat's callback (issue 13) against a local WeChat that signs and encrypts as WeChat does: the URL check,
// plain and safe-mode pushes becoming customer messages of one chat per customer, WeChat's retries stored
// once, an image and a voice downloaded at once, a mini program's SessionFrom reaching the contact's data,
// unsubscribe ending the chat; and every kind of bad push refused without touching a chat.
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { secret, taggedPng } from '../support/chat-images.ts';
import { FakeWechat, type FakeAccount } from './fake-wechat.ts';
import { screenPopFor } from '../../src/api/resolvers/screen-pop.ts';

const aesKey = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';
const createMutation = 'mutation($input: CreateWechatAccountInput!) { createWechatAccount(input: $input) { id callbackUrl } }';
const transcript = 'query($id: ID!) { chatTranscript(contactId: $id) { messages { seq sender kind text attachment { contentType bytes url width height thumbnailUrl } system { type } } } }';

interface Message {
  seq: number;
  sender: string;
  kind: string;
  text: string | null;
  attachment: { contentType: string; bytes: number; url: string; width: number | null; height: number | null; thumbnailUrl: string | null } | null;
  system: { type: string } | null;
}

describe('WeChat callback', () => {
  let t: TestKefu;
  let wx: FakeWechat;
  let seed: Awaited<ReturnType<typeof seedInstance>>;
  let plain: FakeAccount;
  let safe: FakeAccount;
  let mini: FakeAccount;
  let origin: string;
  let n = 0;

  const chatRows = async (openId: string) => (await t.kefu.db.selectFrom('contacts').selectAll().where('instance_id', '=', seed.instanceId).execute()).filter((r) => (r.customer as { id: string }).id === openId);
  const messagesOf = async (contactId: string) => (await t.ok<{ chatTranscript: { messages: Message[] } }>(seed.adminKey, transcript, { id: contactId })).chatTranscript.messages;
  /** The transcript once it shows `n` customer messages (the answer came when they were stored; the read model follows a moment later, longer on a loaded machine). */
  const customerMessagesOf = async (contactId: string, n: number) => {
    for (let tries = 0; ; tries++) {
      const messages = (await messagesOf(contactId)).filter((m) => m.sender === 'CUSTOMER');
      if (messages.length >= n || tries >= 100) return messages;
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const text = (account: FakeAccount, openId: string, content: string, msgId = String(1_000_000 + ++n)) => ({
    ToUserName: account.originalId,
    FromUserName: openId,
    CreateTime: Math.floor(Date.now() / 1000),
    MsgType: 'text',
    Content: content,
    MsgId: msgId,
  });

  async function account(input: Record<string, unknown>, fake: Omit<FakeAccount, 'callbackUrl'>): Promise<FakeAccount> {
    const r = await t.ok<{ createWechatAccount: { id: string; callbackUrl: string } }>(seed.adminKey, createMutation, { input });
    wx.register(fake.appId, fake.appSecret);
    // The path the API shows, at the address this test's Kefu listens on.
    return { ...fake, callbackUrl: `${origin}${new URL(r.createWechatAccount.callbackUrl).pathname}` };
  }

  beforeAll(async () => {
    wx = await new FakeWechat().start();
    t = await startTestKefu({ database: 'pglite', listen: true, env: { KEFU_WECHAT_API_BASE: wx.base, KEFU_WECHAT_ANSWER_WAIT_MS: '60000' } });
    origin = `http://127.0.0.1:${(t.kefu.app.server.address() as AddressInfo).port}`;
    seed = await seedInstance(t, { name: 'Acme' });
    const group = (await t.ok<{ createSkillGroup: { id: string } }>(seed.adminKey, 'mutation { createSkillGroup(input: { name: "WeChat desk", channel: ONLINE }) { id } }')).createSkillGroup.id;
    const secret = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
    plain = await account(
      { name: 'Plain', kind: 'OFFICIAL_ACCOUNT', appId: 'wx00000000000000a1', appSecret: secret, token: 'plainToken', originalId: 'gh_00000000000a', skillGroupId: group },
      { appId: 'wx00000000000000a1', appSecret: secret, token: 'plainToken', encodingAesKey: null, mode: 'PLAIN', format: 'XML', originalId: 'gh_00000000000a' },
    );
    safe = await account(
      { name: 'Safe', kind: 'OFFICIAL_ACCOUNT', appId: 'wx00000000000000b2', appSecret: secret, token: 'safeToken', encodingAesKey: aesKey, messageMode: 'SAFE', skillGroupId: group },
      { appId: 'wx00000000000000b2', appSecret: secret, token: 'safeToken', encodingAesKey: aesKey, mode: 'SAFE', format: 'XML', originalId: 'gh_00000000000b' },
    );
    mini = await account(
      { name: 'Mini', kind: 'MINI_PROGRAM', appId: 'wx00000000000000c3', appSecret: secret, token: 'miniToken', encodingAesKey: aesKey, messageMode: 'COMPATIBLE', dataFormat: 'JSON', skillGroupId: group },
      { appId: 'wx00000000000000c3', appSecret: secret, token: 'miniToken', encodingAesKey: aesKey, mode: 'COMPATIBLE', format: 'JSON', originalId: 'gh_00000000000c' },
    );
  });
  afterAll(async () => {
    await t?.close();
    await wx?.close();
  });

  it('answers the URL check with echostr when the signature is right, and refuses it otherwise', async () => {
    const ok = await wx.urlCheck(plain);
    expect(ok).toMatchObject({ status: 200, text: ok.echostr });
    expect((await wx.urlCheck(plain, { wrongSignature: true })).status).toBe(403);
  });

  it('a plain message starts a queued chat; the next joins it; a retried MsgId is stored once; faces and emoji as written', async () => {
    const first = wx.pushRequest(plain, text(plain, 'oPlain_1', '你好 /::) [Smirk] 😀'));
    expect(await wx.send(first)).toEqual({ status: 200, text: 'success' });
    // WeChat's retries: the same request twice more.
    expect((await wx.send(first)).text).toBe('success');
    expect((await wx.send(first)).text).toBe('success');
    expect((await wx.push(plain, text(plain, 'oPlain_1', 'second'))).text).toBe('success');
    const rows = await chatRows('oPlain_1');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ channel: 'ONLINE', status: 'QUEUED' });
    expect(rows[0]!.customer).toMatchObject({ kind: 'WECHAT', id: 'oPlain_1' });
    expect((await customerMessagesOf(rows[0]!.id, 2)).map((m) => m.text)).toEqual(['你好 /::) [Smirk] 😀', 'second']);
    const record = await t.kefu.db.selectFrom('chat_records').select(['source_kind', 'customer_kind']).where('contact_id', '=', rows[0]!.id).executeTakeFirst();
    expect(record).toEqual({ source_kind: 'WECHAT', customer_kind: 'WECHAT' });
  });

  it('safe mode: the encrypted message is decrypted and stored', async () => {
    expect((await wx.push(safe, text(safe, 'oSafe_1', 'secret hello'))).text).toBe('success');
    const rows = await chatRows('oSafe_1');
    expect(rows).toHaveLength(1);
    expect((await messagesOf(rows[0]!.id)).find((m) => m.sender === 'CUSTOMER')?.text).toBe('secret hello');
  });

  it('refuses bad pushes without touching any chat', async () => {
    const before = (await t.kefu.db.selectFrom('contact_messages').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()).n;
    const refused: [Promise<{ status: number }>, number][] = [
      [wx.push(plain, text(plain, 'oBad', 'forged'), { wrongSignature: true }), 403],
      [wx.push(safe, text(safe, 'oBad', 'forged'), { wrongMsgSignature: true }), 403],
      [wx.push(safe, text(safe, 'oBad', 'other app'), { appId: 'wx00000000000000ff' }), 403],
      [wx.push(plain, text(plain, 'oBad', 'old'), { skewSeconds: -3600 }), 403],
      [wx.push(plain, text(plain, 'oBad', 'malformed'), { rawBody: '<xml><ToUserName>x</xml>' }), 400],
      [wx.push(plain, text(plain, 'oBad', 'entity'), { rawBody: '<!DOCTYPE x [<!ENTITY a "a">]><xml><a>&a;</a></xml>' }), 400],
      [wx.push(plain, { ...text(plain, 'oBad', 'wrong account'), ToUserName: 'gh_999999999999' }), 403],
      [wx.push(plain, text(plain, 'oBad', 'x'.repeat(70_000))), 413],
    ];
    for (const [p, status] of refused) expect((await p).status).toBe(status);
    // Another instance's path, or an unknown account: not found.
    expect((await wx.push({ ...plain, callbackUrl: plain.callbackUrl.replace(/[0-9a-f-]{36}$/, '00000000-0000-4000-8000-000000000000') }, text(plain, 'oBad', 'x'))).status).toBe(404);
    const after = (await t.kefu.db.selectFrom('contact_messages').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()).n;
    expect(after).toBe(before);
    expect(await chatRows('oBad')).toEqual([]);
  });

  it('an image (stripped of its metadata, with a thumbnail) and a voice message are downloaded at once and shown as files', async () => {
    const png = taggedPng(40, 30);
    const image = wx.addMedia(png, 'image/png');
    const voice = wx.addMedia(Buffer.from('#!AMR\n' + 'x'.repeat(100)), 'audio/amr');
    const base = { ToUserName: plain.originalId, FromUserName: 'oMedia_1', CreateTime: Math.floor(Date.now() / 1000) };
    expect((await wx.push(plain, { ...base, MsgType: 'image', PicUrl: 'http://mmbiz.example/x.png', MediaId: image, MsgId: '7000000000000000001' })).text).toBe('success');
    expect((await wx.push(plain, { ...base, MsgType: 'voice', MediaId: voice, Format: 'amr', MsgId: '7000000000000000002' })).text).toBe('success');
    const [row] = await chatRows('oMedia_1');
    const files = await customerMessagesOf(row!.id, 2);
    expect(files.map((m) => [m.kind, m.attachment?.contentType])).toEqual([
      ['IMAGE', 'image/png'],
      ['FILE', 'audio/amr'],
    ]);
    expect(files[0]!.attachment).toMatchObject({ width: 40, height: 30 });
    expect(files[0]!.attachment!.thumbnailUrl).not.toBeNull();
    const res = await t.kefu.app.inject({ method: 'GET', url: files[0]!.attachment!.url });
    expect(res.statusCode).toBe(200);
    expect(res.rawPayload.subarray(1, 4).toString('latin1')).toBe('PNG');
    expect(res.rawPayload.toString('latin1')).not.toContain(secret);
    expect(png.toString('latin1')).toContain(secret);
    const voiceRes = await t.kefu.app.inject({ method: 'GET', url: files[1]!.attachment!.url });
    expect(voiceRes.rawPayload.toString('latin1')).toMatch(/^#!AMR/);
  });

  it('a mini program chat opened from a button carries its SessionFrom to the contact (screen pop)', async () => {
    const enter = { ToUserName: mini.originalId, FromUserName: 'oMini_1', CreateTime: Math.floor(Date.now() / 1000), MsgType: 'event', Event: 'user_enter_tempsession', SessionFrom: 'order=42&sku=A1' };
    expect((await wx.push(mini, enter)).text).toBe('success');
    expect((await wx.push(mini, text(mini, 'oMini_1', 'where is my order?'))).text).toBe('success');
    const rows = await chatRows('oMini_1');
    expect(rows).toHaveLength(1);
    expect(rows[0]!.data).toMatchObject({ sessionFrom: 'order=42&sku=A1', wechatOpenId: 'oMini_1', wechatEvent: 'user_enter_tempsession' });
    const contact = await t.ok<{ contact: { data: { key: string; value: string }[] } }>(seed.adminKey, 'query($id: ID!) { contact(id: $id) { data { key value } } }', { id: rows[0]!.id });
    expect(contact.contact.data).toContainEqual({ key: 'sessionFrom', value: 'order=42&sku=A1' });
    // The agent's screen pop (OL-6) carries it.
    await t.ok(seed.adminKey, 'mutation($input: ConfigureScreenPopInput!) { configureScreenPop(input: $input) { enabled } }', { input: { urlTemplate: 'https://crm.example.com/pop?from={data.sessionFrom}&who={customer}' } });
    await t.ok(seed.adminKey, 'mutation { rotateScreenPopSecret { secret } }');
    const pop = await screenPopFor(t.kefu.db, seed.instanceId, rows[0]!, new Date());
    const popUrl = new URL(pop!.url);
    expect([popUrl.searchParams.get('from'), popUrl.searchParams.get('who')]).toEqual(['order=42&sku=A1', 'oMini_1']);
  });

  it('a blacklisted OpenID is turned away (the chat is rejected, nobody is offered it)', async () => {
    await t.ok(seed.adminKey, 'mutation { addToBlacklist(input: { channel: ONLINE, identity: "oBlocked_1", reason: "abuse" }) { id } }');
    expect((await wx.push(plain, text(plain, 'oBlocked_1', 'let me in'))).text).toBe('success');
    const rows = await chatRows('oBlocked_1');
    expect(rows.map((r) => [r.status, r.end_reason])).toEqual([['REJECTED', 'BLACKLISTED']]);
    // Not asked to rate what never started.
    await new Promise((r) => setTimeout(r, 1500));
    expect(wx.sent.filter((m) => m.touser === 'oBlocked_1')).toEqual([]);
  });

  it('unsubscribe ends the open chat', async () => {
    expect((await wx.push(plain, text(plain, 'oLeave_1', 'bye soon'))).text).toBe('success');
    const ev = { ToUserName: plain.originalId, FromUserName: 'oLeave_1', CreateTime: Math.floor(Date.now() / 1000), MsgType: 'event', Event: 'unsubscribe' };
    expect((await wx.push(plain, ev)).text).toBe('success');
    const rows = await chatRows('oLeave_1');
    expect(rows.map((r) => [r.status, r.end_reason])).toEqual([['ENDED', 'customerUnsubscribed']]);
  });
});
