// WeChat's sending side (issue 13) against the local WeChat, on PostgreSQL: a chat from subscribe to the end,
// the agent's text and image delivered through the customer-service API (the image uploaded as temporary
// media), the agent's typing passed on, a token that expires mid-conversation refreshed and the message still
// delivered once, a busy WeChat (-1) retried, and 45015 shown to the agent in the conversation.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acceptWhenOffered, uploadChatFile } from '../support/chat.ts';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { addWechatAccount } from '../support/wechat.ts';
import { taggedPng } from '../support/chat-images.ts';
import { until } from '../support/until.ts';
import { FakeWechat, type FakeAccount } from './fake-wechat.ts';

const transcript = 'query($id: ID!) { chatTranscript(contactId: $id) { messages { seq sender kind text system { type } } } }';
const SEND = 'mutation($input: SendChatMessageInput!) { sendChatMessage(input: $input) { seq } }';

interface Message {
  seq: number;
  sender: string;
  kind: string;
  text: string | null;
  system: { type: string } | null;
}

describe('WeChat outbox', () => {
  let t: TestKefu;
  let wx: FakeWechat;
  let seed: Awaited<ReturnType<typeof seedInstance>>;
  let account: FakeAccount;
  let ann: { id: string; token: string };

  const rows = async (openId: string) => (await t.kefu.db.selectFrom('contacts').selectAll().where('instance_id', '=', seed.instanceId).execute()).filter((r) => (r.customer as { id: string }).id === openId);
  const messagesOf = async (contactId: string) => (await t.ok<{ chatTranscript: { messages: Message[] } }>(seed.adminKey, transcript, { id: contactId })).chatTranscript.messages;
  const say = (contactId: string, text: string) => t.ok(ann.token, SEND, { input: { contactId, message: { clientMessageId: randomUUID(), text } } });
  const sentTo = (openId: string) => wx.sent.filter((m) => m.touser === openId);
  const push = (fields: Record<string, string | number>) => wx.push(account, { ToUserName: account.originalId, CreateTime: Math.floor(Date.now() / 1000), ...fields });

  async function openChat(openId: string): Promise<string> {
    expect((await push({ FromUserName: openId, MsgType: 'event', Event: 'subscribe' })).text).toBe('success');
    const [row] = await until(() => rows(openId), (r) => r.length === 1);
    await t.ok(ann.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    await acceptWhenOffered(t, ann.token, row!.id, 30_000);
    return row!.id;
  }

  beforeAll(async () => {
    wx = await new FakeWechat().start();
    t = await startTestKefu({ database: 'postgres', listen: true, env: { KEFU_WECHAT_API_BASE: wx.base, KEFU_WECHAT_ANSWER_WAIT_MS: '60000' } });
    seed = await seedInstance(t, { name: 'Acme', agents: [{ name: 'Ann', login: 'ann' }] });
    ann = seed.agents[0]!;
    const group = (await t.ok<{ createSkillGroup: { id: string } }>(seed.adminKey, 'mutation { createSkillGroup(input: { name: "WeChat desk", channel: ONLINE, maxConcurrency: 5 }) { id } }')).createSkillGroup.id;
    await t.ok(seed.adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: group, a: ann.id });
    account = (await addWechatAccount(t, wx, seed.adminKey, { name: 'Shop', appId: 'wx00000000000000d4', appSecret: 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', token: 'outToken', originalId: 'gh_00000000000d', skillGroupId: group })).account;
  });
  afterAll(async () => {
    await t?.close();
    await wx?.close();
  });

  it('the agent answers a subscriber with text and an image, typing shown; each goes out once', async () => {
    const contactId = await openChat('oOut_1');
    expect((await push({ FromUserName: 'oOut_1', MsgType: 'text', Content: 'hi there', MsgId: '8000000000000000001' })).text).toBe('success');
    await t.ok(ann.token, 'mutation($c: ID!) { setTyping(input: { contactId: $c, typing: true }) }', { c: contactId });
    await until(async () => wx.typing.filter((x) => x.touser === 'oOut_1'), (x) => x.length === 1);
    expect(wx.typing.find((x) => x.touser === 'oOut_1')?.command).toBe('Typing');
    await say(contactId, 'Hello! 😀 How can I help?');
    await until(async () => sentTo('oOut_1'), (s) => s.length === 1);
    expect(sentTo('oOut_1')[0]!.body).toEqual({ touser: 'oOut_1', msgtype: 'text', text: { content: 'Hello! 😀 How can I help?' } });

    // An image: uploaded to the chat, sent, uploaded to WeChat as temporary media, then sent by its media_id.
    const png = taggedPng(40, 30);
    const res = await uploadChatFile(t, ann.token, contactId, png, 'image/png', 'map.png');
    expect(res.statusCode).toBe(201);
    const fileId = (res.json() as { fileId: string }).fileId;
    await t.ok(ann.token, SEND, { input: { contactId, message: { clientMessageId: randomUUID(), fileId } } });
    await until(async () => sentTo('oOut_1'), (s) => s.length === 2);
    const image = sentTo('oOut_1')[1]!;
    expect(image.msgtype).toBe('image');
    const mediaId = (image.body.image as { media_id: string }).media_id;
    expect(wx.uploads.get(mediaId)?.contentType).toBe('image/png');
    expect(wx.uploads.get(mediaId)!.bytes.length).toBeGreaterThan(0);
    // Nothing sent twice.
    await new Promise((r) => setTimeout(r, 1500));
    expect(sentTo('oOut_1')).toHaveLength(2);
  });

  it('a token that expires mid-conversation is refreshed and the message delivered once; a busy WeChat is retried', async () => {
    const contactId = await openChat('oOut_2');
    await say(contactId, 'first');
    await until(async () => sentTo('oOut_2'), (s) => s.length === 1);
    const tokensBefore = wx.tokenRequests.length;
    wx.expireTokens();
    await say(contactId, 'after expiry');
    await until(async () => sentTo('oOut_2'), (s) => s.length === 2);
    expect(wx.tokenRequests.length).toBeGreaterThan(tokensBefore);
    wx.failNext('cgi-bin/message/custom/send', -1, 2);
    await say(contactId, 'while busy');
    await until(async () => sentTo('oOut_2'), (s) => s.length === 3, 60_000);
    expect(sentTo('oOut_2').map((m) => (m.body.text as { content: string }).content)).toEqual(['first', 'after expiry', 'while busy']);
  });

  it('a full chat from subscribe to rating: the end invites the customer to rate, their reply rates the chat once', async () => {
    const contactId = await openChat('oOut_4');
    expect((await push({ FromUserName: 'oOut_4', MsgType: 'text', Content: 'my parcel is late', MsgId: '8000000000000000004' })).text).toBe('success');
    await say(contactId, 'Sorry! It arrives tomorrow.');
    await t.ok(ann.token, 'mutation($c: ID!) { endContact(input: { contactId: $c }) { status } }', { c: contactId });
    const sent = await until(async () => sentTo('oOut_4'), (x) => x.length === 2);
    expect((sent[1]!.body.text as { content: string }).content).toMatch(/Reply with a number: 1 Very dissatisfied.*5 Very satisfied/);
    const reply = wx.pushRequest(account, { ToUserName: account.originalId, FromUserName: 'oOut_4', CreateTime: Math.floor(Date.now() / 1000), MsgType: 'text', Content: '5', MsgId: '8000000000000000005' });
    expect((await wx.send(reply)).text).toBe('success');
    // WeChat's retry of the reply: not a second rating, not a new chat.
    expect((await wx.send(reply)).text).toBe('success');
    const record = await until(
      () => t.ok<{ chatRecord: { satisfaction: { value: number; label: string } | null } }>(seed.adminKey, 'query($id: ID!) { chatRecord(contactId: $id) { satisfaction { value label } } }', { id: contactId }),
      (r) => r.chatRecord.satisfaction !== null,
    );
    expect(record.chatRecord.satisfaction).toEqual({ value: 5, label: 'Very satisfied' });
    expect(await rows('oOut_4')).toHaveLength(1);
    // Later words are a new chat.
    expect((await push({ FromUserName: 'oOut_4', MsgType: 'text', Content: '5', MsgId: '8000000000000000006' })).text).toBe('success');
    expect(await until(() => rows('oOut_4'), (r) => r.length === 2)).toHaveLength(2);
  });

  it('45015 (the 48-hour window closed) is shown to the agent in the conversation', async () => {
    const contactId = await openChat('oOut_3');
    wx.failNext('cgi-bin/message/custom/send', 45015);
    await say(contactId, 'are you still there?');
    const messages = await until(() => messagesOf(contactId), (m) => m.some((x) => x.system?.type === 'DELIVERY_FAILED'));
    const failed = messages.find((x) => x.system?.type === 'DELIVERY_FAILED')!;
    expect(failed.sender).toBe('SYSTEM');
    expect(failed.text).toMatch(/45015.*48-hour window/);
    const agentSeq = messages.find((x) => x.text === 'are you still there?')!.seq;
    expect(failed.text).toContain(`message ${agentSeq}`);
    const outbox = await t.kefu.db.selectFrom('wechat_outbox').selectAll().where('contact_id', '=', contactId).execute();
    expect(outbox.map((r) => [r.state, r.error_code])).toEqual([['FAILED', 45015]]);
    expect(sentTo('oOut_3')).toEqual([]);
  });

  it('past the send quota after the customer last wrote, a message fails with 45047 until the customer writes again', async () => {
    const id = (await t.ok<{ wechatAccounts: { id: string }[] }>(seed.adminKey, '{ wechatAccounts { id } }')).wechatAccounts[0]!.id;
    await t.ok(seed.adminKey, 'mutation($id: ID!) { updateWechatAccount(input: { wechatAccountId: $id, sendQuota: 2 }) { sendQuota } }', { id });
    const contactId = await openChat('oOut_5');
    expect((await push({ FromUserName: 'oOut_5', MsgType: 'text', Content: 'question', MsgId: '8000000000000000051' })).text).toBe('success');
    await say(contactId, 'one');
    await say(contactId, 'two');
    await say(contactId, 'three');
    const messages = await until(() => messagesOf(contactId), (m) => m.some((x) => x.system?.type === 'DELIVERY_FAILED'));
    expect(messages.find((x) => x.system?.type === 'DELIVERY_FAILED')!.text).toMatch(/error 45047: Kefu did not send it: 2 messages went out/);
    expect(sentTo('oOut_5').map((m) => (m.body.text as { content: string }).content)).toEqual(['one', 'two']);
    // The customer writes: a new window.
    expect((await push({ FromUserName: 'oOut_5', MsgType: 'text', Content: 'and?', MsgId: '8000000000000000052' })).text).toBe('success');
    await until(() => messagesOf(contactId), (m) => m.some((x) => x.text === 'and?'));
    await say(contactId, 'four');
    await until(async () => sentTo('oOut_5'), (x) => x.length === 3);
  });
});
