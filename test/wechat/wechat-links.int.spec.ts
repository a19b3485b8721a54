// Link cards (issue 13) against the local WeChat, on PostgreSQL: an agent's LINK message is kept in the
// transcript with its card, and goes out as the customer-service API's card for the account's kind (official
// accounts: `news` with one article; mini programs: `link`), a mini program page as `miniprogrampage` with
// its cover uploaded as temporary media, and a configured card as `miniprogrampage` (an official account's naming
// its linked mini program's appid); the fake WeChat checks each body against the documented JSON. Bad
// links (not http/https, control characters, too long, a mini program page outside a mini program chat, a
// cover that is not this chat's image) are BAD_USER_INPUT / NOT_FOUND and send nothing.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acceptWhenOffered, uploadChatFile } from '../support/chat.ts';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { addWechatAccount } from '../support/wechat.ts';
import { taggedPng } from '../support/chat-images.ts';
import { until } from '../support/until.ts';
import { FakeWechat, type FakeAccount } from './fake-wechat.ts';

const SEND = 'mutation($input: SendChatMessageInput!) { sendChatMessage(input: $input) { seq kind text link { title description url thumbUrl pagePath thumbFileId cardKey } } }';
const TRANSCRIPT = 'query($id: ID!) { chatTranscript(contactId: $id) { messages { seq sender kind link { title description url thumbUrl pagePath thumbFileId } } } }';

interface Link {
  title: string;
  description: string | null;
  url: string | null;
  thumbUrl: string | null;
  pagePath: string | null;
  thumbFileId: string | null;
  cardKey?: string | null;
}

describe('WeChat link cards', () => {
  let t: TestKefu;
  let wx: FakeWechat;
  let seed: Awaited<ReturnType<typeof seedInstance>>;
  let oa: FakeAccount;
  let mini: FakeAccount;
  let ann: { id: string; token: string };
  let group: string;

  const sentTo = (openId: string) => wx.sent.filter((m) => m.touser === openId);
  const sendLink = (contactId: string, link: Record<string, unknown>) => t.gql<{ sendChatMessage: { seq: number; kind: string; link: Link } }>(ann.token, SEND, { input: { contactId, message: { clientMessageId: randomUUID(), link } } });

  async function openChat(account: FakeAccount, openId: string, first: Record<string, string | number>): Promise<string> {
    expect((await wx.push(account, { ToUserName: account.originalId, FromUserName: openId, CreateTime: Math.floor(Date.now() / 1000), ...first })).text).toBe('success');
    const [row] = await until(
      async () => (await t.kefu.db.selectFrom('contacts').selectAll().where('instance_id', '=', seed.instanceId).execute()).filter((r) => (r.customer as { id: string }).id === openId),
      (r) => r.length === 1,
    );
    await t.ok(ann.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    await acceptWhenOffered(t, ann.token, row!.id, 30_000);
    return row!.id;
  }

  async function upload(contactId: string, bytes: Buffer, type: string, name: string): Promise<string> {
    const res = await uploadChatFile(t, ann.token, contactId, bytes, type, name);
    expect(res.statusCode).toBe(201);
    return (res.json() as { fileId: string }).fileId;
  }

  beforeAll(async () => {
    wx = await new FakeWechat().start();
    t = await startTestKefu({ database: 'postgres', listen: true, env: { KEFU_WECHAT_API_BASE: wx.base, KEFU_WECHAT_ANSWER_WAIT_MS: '60000' } });
    seed = await seedInstance(t, { name: 'Acme', agents: [{ name: 'Ann', login: 'ann' }] });
    ann = seed.agents[0]!;
    group = (await t.ok<{ createSkillGroup: { id: string } }>(seed.adminKey, 'mutation { createSkillGroup(input: { name: "WeChat desk", channel: ONLINE, maxConcurrency: 10 }) { id } }')).createSkillGroup.id;
    await t.ok(seed.adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: group, a: ann.id });
    const secret = 'cccccccccccccccccccccccccccccccc';
    oa = (await addWechatAccount(t, wx, seed.adminKey, { name: 'Shop OA', appId: 'wx00000000000000a7', appSecret: secret, token: 'linkToken', originalId: 'gh_0000000000a7', skillGroupId: group })).account;
    mini = (
      await addWechatAccount(t, wx, seed.adminKey, {
        name: 'Shop mini',
        kind: 'MINI_PROGRAM',
        appId: 'wx00000000000000b7',
        appSecret: secret,
        token: 'miniLinks',
        originalId: 'gh_0000000000b7',
        skillGroupId: group,
        dataFormat: 'JSON',
        miniProgramCards: [{ key: 'orders', title: 'My orders', pagePath: 'pages/orders/index?tab=open', thumbMediaId: 'perm_cover_1' }],
      })
    ).account;
    wx.addMaterial('perm_cover_1');
  });
  afterAll(async () => {
    await t?.close();
    await wx?.close();
  });

  it("an official account's link goes out as a news card with one article, and stays in the transcript", async () => {
    const contactId = await openChat(oa, 'oLink_1', { MsgType: 'text', Content: 'where do I track my order?', MsgId: '8100000000000000001' });
    const r = await sendLink(contactId, { title: '  Track your order  ', description: 'Line one\nline two 😀', url: 'https://shop.example.com/track?o=42', thumbUrl: 'https://shop.example.com/t.png' });
    expect(r.errors).toBeUndefined();
    const link = { title: 'Track your order', description: 'Line one\nline two 😀', url: 'https://shop.example.com/track?o=42', thumbUrl: 'https://shop.example.com/t.png', pagePath: null, thumbFileId: null };
    expect(r.data!.sendChatMessage).toMatchObject({ kind: 'LINK', text: null, link });
    const [sent] = await until(async () => sentTo('oLink_1'), (s) => s.length === 1);
    expect(sent!.body).toEqual({
      touser: 'oLink_1',
      msgtype: 'news',
      news: { articles: [{ title: 'Track your order', description: 'Line one\nline two 😀', url: 'https://shop.example.com/track?o=42', picurl: 'https://shop.example.com/t.png' }] },
    });
    const messages = (await t.ok<{ chatTranscript: { messages: { sender: string; kind: string; link: Link | null }[] } }>(seed.adminKey, TRANSCRIPT, { id: contactId })).chatTranscript.messages;
    expect(messages.filter((m) => m.kind === 'LINK')).toEqual([expect.objectContaining({ sender: 'AGENT', link })]);
    const row = await t.kefu.db.selectFrom('wechat_outbox').select(['state']).where('instance_id', '=', seed.instanceId).where('contact_id', '=', contactId).execute();
    expect(row.map((x) => x.state)).toEqual(['SENT']);
  });

  it("a mini program's link goes out as `link`; a mini program page as `miniprogrampage` with its cover uploaded as temporary media", async () => {
    const contactId = await openChat(mini, 'oLink_2', { MsgType: 'event', Event: 'user_enter_tempsession', SessionFrom: 'order=7' });
    expect((await wx.push(mini, { ToUserName: mini.originalId, FromUserName: 'oLink_2', CreateTime: Math.floor(Date.now() / 1000), MsgType: 'text', Content: 'hello', MsgId: '8100000000000000002' })).text).toBe('success');
    expect((await sendLink(contactId, { title: 'Returns', url: 'http://shop.example.com/returns' })).errors).toBeUndefined();
    const [web] = await until(async () => sentTo('oLink_2'), (s) => s.length === 1);
    expect(web!.body).toEqual({ touser: 'oLink_2', msgtype: 'link', link: { title: 'Returns', description: '', url: 'http://shop.example.com/returns', thumb_url: '' } });

    const png = taggedPng(52, 41);
    const cover = await upload(contactId, png, 'image/png', 'cover.png');
    const r = await sendLink(contactId, { title: 'Your order 7', pagePath: 'pages/order/detail?id=7&from=kefu', thumbFileId: cover });
    expect(r.errors).toBeUndefined();
    expect(r.data!.sendChatMessage.link).toEqual({ title: 'Your order 7', description: null, url: null, thumbUrl: null, pagePath: 'pages/order/detail?id=7&from=kefu', thumbFileId: cover, cardKey: null });
    const sent = await until(async () => sentTo('oLink_2'), (s) => s.length === 2);
    const page = sent[1]!.body as { msgtype: string; miniprogrampage: { title: string; pagepath: string; thumb_media_id: string } };
    expect(page.msgtype).toBe('miniprogrampage');
    expect(page.miniprogrampage).toMatchObject({ title: 'Your order 7', pagepath: 'pages/order/detail?id=7&from=kefu' });
    const uploaded = wx.uploads.get(page.miniprogrampage.thumb_media_id);
    expect(uploaded?.contentType).toBe('image/png');
    // The chat's stored cover (uploads are stripped of metadata), a PNG still.
    expect(uploaded!.bytes.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
    // A configured card, picked by its key: its permanent cover sent as it is (nothing uploaded).
    const uploadsBefore = wx.uploads.size;
    const picked = await t.gql<{ sendChatMessage: { kind: string; link: Link } }>(ann.token, SEND, { input: { contactId, message: { clientMessageId: randomUUID(), miniProgramCard: 'orders' } } });
    expect(picked.errors).toBeUndefined();
    expect(picked.data!.sendChatMessage).toMatchObject({ kind: 'LINK', link: { title: 'My orders', pagePath: 'pages/orders/index?tab=open', cardKey: 'orders', url: null } });
    const third = await until(async () => sentTo('oLink_2'), (s) => s.length === 3);
    expect(third[2]!.body).toEqual({ touser: 'oLink_2', msgtype: 'miniprogrampage', miniprogrampage: { title: 'My orders', pagepath: 'pages/orders/index?tab=open', thumb_media_id: 'perm_cover_1' } });
    expect(wx.uploads.size).toBe(uploadsBefore);
    const unknown = await t.gql(ann.token, SEND, { input: { contactId, message: { clientMessageId: randomUUID(), miniProgramCard: 'nope' } } });
    expect(unknown.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.message.miniProgramCard' });
    // Each once.
    await new Promise((r) => setTimeout(r, 1500));
    expect(sentTo('oLink_2')).toHaveLength(3);
  });

  it('an admin configures mini program cards on mini programs only, checked as links are', async () => {
    const update = (id: string, cards: unknown) => t.gql(seed.adminKey, 'mutation($input: UpdateWechatAccountInput!) { updateWechatAccount(input: $input) { miniProgramCards { key title pagePath thumbMediaId } } }', { input: { wechatAccountId: id, miniProgramCards: cards } });
    const { wechatAccounts } = await t.ok<{ wechatAccounts: { id: string; kind: string; miniProgramCards: { key: string }[] }[] }>(seed.adminKey, 'query { wechatAccounts { id kind miniProgramCards { key } } }');
    const miniId = wechatAccounts.find((a) => a.kind === 'MINI_PROGRAM')!.id;
    const oaId = wechatAccounts.find((a) => a.kind === 'OFFICIAL_ACCOUNT')!.id;
    expect(wechatAccounts.find((a) => a.id === miniId)!.miniProgramCards).toEqual([{ key: 'orders' }]);
    const card = { key: 'help', title: 'Help', pagePath: 'pages/help/index', thumbMediaId: 'perm_2' };
    // An official account's card names the linked mini program; a mini program's own cards do not.
    expect((await update(oaId, [card])).errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.miniProgramCards.0.appId' });
    expect((await update(oaId, [{ ...card, appId: 'wx12' }])).errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.miniProgramCards.0.appId' });
    expect((await update(miniId, [{ ...card, appId: 'wx00000000000000c7' }])).errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.miniProgramCards.0.appId' });
    expect((await update(miniId, [card, card])).errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.miniProgramCards.1.key' });
    expect((await update(miniId, [{ ...card, pagePath: 'javascript:alert(1)' }])).errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.miniProgramCards.0.pagePath' });
    expect((await update(miniId, [{ ...card, title: 'bell\u0007' }])).errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.miniProgramCards.0.title' });
    const ok = await update(miniId, [card]);
    expect(ok.errors).toBeUndefined();
    expect((ok.data as { updateWechatAccount: { miniProgramCards: unknown[] } }).updateWechatAccount.miniProgramCards).toEqual([card]);
  });

  it("an official account's configured card goes out as miniprogrampage naming its linked mini program's AppID; an unlinked one fails visibly", async () => {
    const { wechatAccounts } = await t.ok<{ wechatAccounts: { id: string; kind: string }[] }>(seed.adminKey, 'query { wechatAccounts { id kind } }');
    const oaId = wechatAccounts.find((a) => a.kind === 'OFFICIAL_ACCOUNT')!.id;
    const linked = 'wx00000000000000c7';
    const cards = [
      { key: 'mp-orders', appId: linked, title: 'Orders in our mini program', pagePath: 'pages/orders/index?from=oa', thumbMediaId: 'perm_oa_cover' },
      { key: 'stranger', appId: 'wx00000000000000d7', title: 'Not linked', pagePath: 'pages/index/index', thumbMediaId: 'perm_oa_cover' },
    ];
    const updated = await t.ok<{ updateWechatAccount: { miniProgramCards: unknown[] } }>(
      seed.adminKey,
      'mutation($input: UpdateWechatAccountInput!) { updateWechatAccount(input: $input) { miniProgramCards { key appId title pagePath thumbMediaId } } }',
      { input: { wechatAccountId: oaId, miniProgramCards: cards } },
    );
    expect(updated.updateWechatAccount.miniProgramCards).toEqual(cards);
    wx.linkMiniProgram(oa.appId, linked);
    wx.addMaterial('perm_oa_cover');
    const contactId = await openChat(oa, 'oLink_4', { MsgType: 'text', Content: 'show me my orders', MsgId: '8100000000000000004' });
    const picked = await t.gql<{ sendChatMessage: { kind: string; link: Link & { appId?: string } } }>(ann.token, SEND.replace('cardKey', 'cardKey appId'), { input: { contactId, message: { clientMessageId: randomUUID(), miniProgramCard: 'mp-orders' } } });
    expect(picked.errors).toBeUndefined();
    expect(picked.data!.sendChatMessage).toMatchObject({ kind: 'LINK', link: { title: 'Orders in our mini program', pagePath: 'pages/orders/index?from=oa', cardKey: 'mp-orders', appId: linked, url: null } });
    const [sent] = await until(async () => sentTo('oLink_4'), (s) => s.length === 1);
    expect(sent!.body).toEqual({
      touser: 'oLink_4',
      msgtype: 'miniprogrampage',
      miniprogrampage: { title: 'Orders in our mini program', appid: linked, pagepath: 'pages/orders/index?from=oa', thumb_media_id: 'perm_oa_cover' },
    });
    // A card whose mini program is not linked to the account: WeChat refuses it (40013) and the agent is told.
    expect((await t.gql(ann.token, SEND, { input: { contactId, message: { clientMessageId: randomUUID(), miniProgramCard: 'stranger' } } })).errors).toBeUndefined();
    const messages = await until(
      async () => (await t.ok<{ chatTranscript: { messages: { kind: string; text: string | null; system: { type: string } | null }[] } }>(seed.adminKey, 'query($id: ID!) { chatTranscript(contactId: $id) { messages { kind text system { type } } } }', { id: contactId })).chatTranscript.messages,
      (m) => m.some((x) => x.system?.type === 'DELIVERY_FAILED'),
      30_000,
    );
    expect(messages.find((x) => x.system?.type === 'DELIVERY_FAILED')!.text).toContain('40013');
    expect(sentTo('oLink_4')).toHaveLength(1);
    // A free-form mini program page still goes to mini program chats only (an official account needs a card's AppID).
    const cover = await upload(contactId, taggedPng(10, 10), 'image/png', 'c.png');
    const page = await sendLink(contactId, { title: 'x', pagePath: 'pages/a/a', thumbFileId: cover });
    expect(page.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.message.link.pagePath' });
  });

  it('bad links are refused at the edge and nothing is sent', async () => {
    const contactId = await openChat(oa, 'oLink_3', { MsgType: 'text', Content: 'hi', MsgId: '8100000000000000003' });
    const refused = async (link: Record<string, unknown>, field: string) => {
      const r = await sendLink(contactId, link);
      expect(r.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT' });
      expect((r.errors?.[0]?.extensions as { field?: string }).field ?? r.errors?.[0]?.message).toContain(field);
    };
    await refused({ title: 'x', url: 'javascript:alert(1)' }, 'link.url');
    await refused({ title: 'x', url: 'data:text/html,<b>hi</b>' }, 'link.url');
    await refused({ title: 'x', url: 'https://user:pw@example.com/' }, 'link.url');
    await refused({ title: 'x', url: 'https://example.com/', thumbUrl: 'file:///etc/passwd' }, 'link.thumbUrl');
    await refused({ title: 'bell\u0007', url: 'https://example.com/' }, 'link.title');
    await refused({ title: 'x', description: 'tab\there', url: 'https://example.com/' }, 'link.description');
    await refused({ title: 'x'.repeat(201), url: 'https://example.com/' }, 'link.title');
    await refused({ title: 'x', url: `https://example.com/${'a'.repeat(2000)}` }, 'link.url');
    await refused({ title: 'x' }, 'link.url');
    await refused({ title: 'x', url: 'https://example.com/', pagePath: 'pages/a/a' }, 'link.url');
    // A mini program page in an official account's chat.
    const cover = await upload(contactId, taggedPng(10, 10), 'image/png', 'c.png');
    await refused({ title: 'x', pagePath: 'pages/a/a', thumbFileId: cover }, 'link.pagePath');
    await refused({ title: 'x', pagePath: '../secret', thumbFileId: cover }, 'link.pagePath');
    // Text and a link at once.
    const both = await t.gql(ann.token, SEND, { input: { contactId, message: { clientMessageId: randomUUID(), text: 'hi', link: { title: 'x', url: 'https://example.com/' } } } });
    expect(both.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT' });
    await new Promise((r) => setTimeout(r, 1000));
    expect(sentTo('oLink_3')).toHaveLength(0);
  });

  // Last: the official account runs a flow from here on.
  it("a chat flow's link card is a LINK message from SYSTEM in the transcript and goes out as the account's card", async () => {
    const card = { title: 'Our returns policy', description: 'Free within 30 days', url: 'https://shop.example.com/returns', thumbUrl: 'https://shop.example.com/r.png' };
    const definition = { start: 'card', nodes: [{ id: 'card', type: 'send', link: card, next: 'desk' }, { id: 'desk', type: 'route', skillGroupId: group }] };
    const flowId = (await t.ok<{ createFlow: { id: string } }>(seed.adminKey, 'mutation($input: CreateFlowInput!) { createFlow(input: $input) { id } }', { input: { name: 'Card first', kind: 'CHAT', definition } })).createFlow.id;
    const { wechatAccounts } = await t.ok<{ wechatAccounts: { id: string; kind: string }[] }>(seed.adminKey, 'query { wechatAccounts { id kind } }');
    await t.ok(seed.adminKey, 'mutation($input: UpdateWechatAccountInput!) { updateWechatAccount(input: $input) { id } }', { input: { wechatAccountId: wechatAccounts.find((a) => a.kind === 'OFFICIAL_ACCOUNT')!.id, flowId } });
    expect((await wx.push(oa, { ToUserName: oa.originalId, FromUserName: 'oLink_5', CreateTime: Math.floor(Date.now() / 1000), MsgType: 'event', Event: 'subscribe' })).text).toBe('success');
    const [sent] = await until(async () => sentTo('oLink_5'), (s) => s.length >= 1, 60_000);
    expect(sent!.body).toEqual({ touser: 'oLink_5', msgtype: 'news', news: { articles: [{ title: card.title, description: card.description, url: card.url, picurl: card.thumbUrl }] } });
    const [row] = (await t.kefu.db.selectFrom('contacts').selectAll().where('instance_id', '=', seed.instanceId).execute()).filter((r) => (r.customer as { id: string }).id === 'oLink_5');
    const messages = (await t.ok<{ chatTranscript: { messages: { sender: string; kind: string; link: Link | null }[] } }>(seed.adminKey, TRANSCRIPT, { id: row!.id })).chatTranscript.messages;
    expect(messages.filter((m) => m.kind === 'LINK')).toEqual([expect.objectContaining({ sender: 'SYSTEM', link: { ...card, pagePath: null, thumbFileId: null } })]);
    // A send node with words beside its card is refused when saved, with the path of the fault.
    const both = await t.gql(seed.adminKey, 'mutation($input: CreateFlowInput!) { createFlow(input: $input) { id } }', {
      input: { name: 'Card and words', kind: 'CHAT', definition: { ...definition, nodes: [{ ...definition.nodes[0], text: 'Read this' }, definition.nodes[1]] } },
    });
    expect(both.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.definition.nodes.0.link' });
    await new Promise((r) => setTimeout(r, 1000));
    expect(sentTo('oLink_5')).toHaveLength(1);
  });
});
