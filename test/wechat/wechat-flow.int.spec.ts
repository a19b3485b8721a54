// WeChat chats run their account's CHAT flow (issues 12 and 13), against the local WeChat on PostgreSQL: a
// subscriber is greeted by the flow (its image fetched from its https URL and sent as an image message, its
// text, then the menu as a numbered text list since WeChat text has no buttons); the customer's replies (an
// option's number, a keyword, an answer) step the flow, a retried reply (same MsgId) is stored and stepped
// once; what the flow collected reaches the agent's offer; "no agent online" takes the leaveMessage branch,
// whose left message waits in the group; an end node ends the chat with its text sent; a WeChat chat whose
// flow never took its first step (the process died after StartChat) takes it when Kefu resumes started flows;
// a flow image that cannot be had holds nothing up: its text is sent and the agent is told why the image was not;
// a mini program chat (safe mode, JSON) entered from a button runs the flow too, its SessionFrom and what the
// flow collected both in the agent's offer.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { taggedPng } from '../support/chat-images.ts';
import { contactDecider } from '../../src/domain/contact/contact.decide.ts';
import { streams } from '../../src/domain/streams.ts';
import { ChatFlowRunner, contactChatFlowPorts, resumeStartedChatFlows } from '../../src/processes/chat-flows/chat-flow-runner.ts';
import { until } from '../support/until.ts';
import { FakeWechat, type FakeAccount } from './fake-wechat.ts';

interface Message {
  seq: number;
  sender: string;
  kind: string;
  text: string | null;
  options: { number: number; label: string }[] | null;
  system: { type: string } | null;
}
interface ContactView {
  status: string;
  data: { key: string; value: string }[];
  keyTrail: { key: string; label: string }[];
  offer: { offerId: string } | null;
}

const MESSAGE = 'seq sender kind text options { number label } system { type }';
const allWeek = [{ days: ['MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT', 'SUN'], open: '00:00', close: '23:59' }];
const menuText = 'How can we help?\n\n1. Buy something\n2. Where is my order\n3. Night desk\n4. Nothing, thanks';

describe('WeChat chats in their account\'s chat flow', () => {
  let t: TestKefu;
  let wx: FakeWechat;
  let images: Server;
  let imageUrl: string;
  let certDir: string;
  const logo = taggedPng(24, 16);
  let seed: Awaited<ReturnType<typeof seedInstance>>;
  let account: FakeAccount;
  let ann: { id: string; token: string };
  let msgId = 9_100_000_000_000_000_000n;
  let ids: { accountId: string; desk: string; flowId: string };
  let origin: string;

  const rows = async (openId: string) =>
    (await t.kefu.db.selectFrom('contacts').select(['id', 'status', 'customer']).where('instance_id', '=', seed.instanceId).orderBy('created_at').execute()).filter((r) => (r.customer as { id: string }).id === openId);
  const transcript = async (contactId: string) =>
    (await t.ok<{ chatTranscript: { messages: Message[] } }>(seed.adminKey, `query($id: ID!) { chatTranscript(contactId: $id) { messages { ${MESSAGE} } } }`, { id: contactId })).chatTranscript.messages.filter(
      (m) => m.system?.type !== 'PROMPT',
    );
  const contact = async (contactId: string) =>
    (await t.ok<{ contact: ContactView }>(seed.adminKey, 'query($id: ID!) { contact(id: $id) { status data { key value } keyTrail { key label } offer { offerId } } }', { id: contactId })).contact;
  const push = (fields: Record<string, string | number>) => wx.push(account, { ToUserName: account.originalId, CreateTime: Math.floor(Date.now() / 1000), ...fields });
  const write = async (openId: string, content: string, id = String(msgId++)) => {
    expect((await push({ FromUserName: openId, MsgType: 'text', Content: content, MsgId: id })).text).toBe('success');
    return id;
  };
  /** What WeChat got for the customer: texts as they read, images as "[image <bytes>]". */
  const received = (openId: string) =>
    wx.sent
      .filter((m) => m.touser === openId)
      .map((m) => {
        const body = m.body as { text?: { content: string }; image?: { media_id: string } };
        if (m.msgtype === 'image') return `[image ${wx.uploads.get(body.image!.media_id)?.bytes.length ?? 'missing'}]`;
        return body.text?.content ?? `[${m.msgtype}]`;
      });
  const receivedUntil = (openId: string, last: string) => until(async () => received(openId), (r) => r.includes(last), 60_000);

  async function subscribe(openId: string): Promise<string> {
    expect((await push({ FromUserName: openId, MsgType: 'event', Event: 'subscribe' })).text).toBe('success');
    const [row] = await until(() => rows(openId), (r) => r.length === 1, 60_000);
    return row!.id;
  }

  beforeAll(async () => {
    // The flow's image lives on an https server of its own (a flow names https URLs only), trusted by this process.
    certDir = mkdtempSync(path.join(tmpdir(), 'kefu-flow-image-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', path.join(certDir, 'key.pem'), '-out', path.join(certDir, 'cert.pem')], { stdio: 'ignore' });
    const cert = readFileSync(path.join(certDir, 'cert.pem'), 'utf8');
    tls.setDefaultCACertificates([...tls.getCACertificates('default'), cert]);
    images = createServer({ key: readFileSync(path.join(certDir, 'key.pem')), cert }, (req, res) => {
      if (req.url === '/logo.png') {
        res.setHeader('content-type', 'image/png');
        res.end(logo);
      } else {
        res.statusCode = 404;
        res.end();
      }
    });
    await new Promise<void>((resolve) => images.listen(0, '127.0.0.1', resolve));
    imageUrl = `https://127.0.0.1:${(images.address() as AddressInfo).port}/logo.png`;

    wx = await new FakeWechat().start();
    t = await startTestKefu({ database: 'postgres', listen: true, env: { KEFU_WECHAT_API_BASE: wx.base, KEFU_WECHAT_ANSWER_WAIT_MS: '60000', KEFU_WECHAT_FLOW_IMAGE_ALLOW_PRIVATE: 'on' } });
    origin = `http://127.0.0.1:${(t.kefu.app.server.address() as AddressInfo).port}`;
    seed = await seedInstance(t, { name: 'Flowing', agents: [{ name: 'Ann', login: 'ann' }, { name: 'Bob', login: 'bob' }] });
    ann = seed.agents[0]!;
    const bob = seed.agents[1]!;
    const groupOf = async (name: string, agentId: string) => {
      const id = (await t.ok<{ createSkillGroup: { id: string } }>(seed.adminKey, 'mutation($n: String!) { createSkillGroup(input: { name: $n, channel: ONLINE, maxConcurrency: 5 }) { id } }', { n: name })).createSkillGroup.id;
      await t.ok(seed.adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: id, a: agentId });
      return id;
    };
    const desk = await groupOf('WeChat desk', ann.id);
    const night = await groupOf('Night desk', bob.id);
    const definition = {
      start: 'hours',
      nodes: [
        { id: 'hours', type: 'businessHours', timeZone: 'UTC', weekly: allWeek, open: 'hello', closed: 'closed' },
        { id: 'hello', type: 'send', text: 'Welcome to the shop!', image: { url: imageUrl, alt: 'Shop' }, next: 'menu' },
        {
          id: 'menu',
          type: 'menu',
          text: 'How can we help?',
          options: [
            { number: 1, label: 'Buy something', keywords: ['sales'], next: 'route' },
            { number: 2, label: 'Where is my order', keywords: ['order'], next: 'order' },
            { number: 3, label: 'Night desk', keywords: ['night'], next: 'routeNight' },
            { number: 4, label: 'Nothing, thanks', keywords: ['bye'], next: 'bye' },
          ],
          invalidText: 'Please reply with 1, 2, 3 or 4.',
          onFailure: 'route',
        },
        { id: 'order', type: 'collect', text: 'Your order number, please?', variable: 'orderNumber', validate: { kind: 'orderNumber' }, invalidText: 'That is no order number.', next: 'route' },
        { id: 'route', type: 'route', skillGroupId: desk, priority: 2 },
        { id: 'routeNight', type: 'route', skillGroupId: night, onNoAgent: 'leave' },
        { id: 'leave', type: 'leaveMessage', text: 'Nobody is online. Leave us a message?', skillGroupId: night, thanksText: 'Thanks, we will answer here.' },
        { id: 'bye', type: 'end', text: 'Goodbye!' },
        { id: 'closed', type: 'end', text: 'We are closed.' },
      ],
    };
    const flowId = (await t.ok<{ createFlow: { id: string } }>(seed.adminKey, 'mutation($input: CreateFlowInput!) { createFlow(input: $input) { id } }', { input: { name: 'WeChat welcome', kind: 'CHAT', definition } })).createFlow.id;
    const secret = 'cccccccccccccccccccccccccccccccc';
    const created = await t.ok<{ createWechatAccount: { id: string; callbackUrl: string } }>(seed.adminKey, 'mutation($input: CreateWechatAccountInput!) { createWechatAccount(input: $input) { id callbackUrl } }', {
      input: { name: 'Shop', kind: 'OFFICIAL_ACCOUNT', appId: 'wx00000000000000f1', appSecret: secret, token: 'flowToken', originalId: 'gh_0000000000f1', skillGroupId: desk, flowId },
    });
    wx.register('wx00000000000000f1', secret);
    ids = { accountId: created.createWechatAccount.id, desk, flowId };
    account = { appId: 'wx00000000000000f1', appSecret: secret, token: 'flowToken', encodingAesKey: null, mode: 'PLAIN', format: 'XML', originalId: 'gh_0000000000f1', callbackUrl: `${origin}${new URL(created.createWechatAccount.callbackUrl).pathname}` };
  }, 180_000);
  afterAll(async () => {
    await t?.close();
    await wx?.close();
    await new Promise((resolve) => (images ? images.close(resolve) : resolve(undefined)));
    if (certDir) rmSync(certDir, { recursive: true, force: true });
  });

  it('greets a subscriber with the flow, steps it by number and answer (a retried reply once), and offers the agent the chat with what it collected', async () => {
    await t.ok(ann.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    const contactId = await subscribe('oFlow_1');
    // The greeting: the image (fetched and uploaded as temporary media), its text, then the menu as a numbered list.
    await receivedUntil('oFlow_1', menuText);
    expect(received('oFlow_1')).toEqual([`[image ${logo.length}]`, 'Welcome to the shop!', menuText]);
    expect((await contact(contactId)).status).toBe('IN_FLOW');

    // Something that is no option: asked again. Then "2", retried by WeChat with the same MsgId: one message, one step.
    await write('oFlow_1', 'hmm');
    await receivedUntil('oFlow_1', 'Please reply with 1, 2, 3 or 4.');
    const two = await write('oFlow_1', '2');
    await write('oFlow_1', '2', two);
    await receivedUntil('oFlow_1', 'Your order number, please?');
    await write('oFlow_1', 'SO-20261204');

    const offered = await until(() => contact(contactId).catch(() => null), (c) => c?.status === 'OFFERED', 60_000);
    expect(offered!.keyTrail).toEqual([{ key: '2', label: 'Where is my order' }]);
    expect(offered!.data).toContainEqual({ key: 'orderNumber', value: 'SO-20261204' });
    expect(offered!.data).toContainEqual({ key: 'wechatOpenId', value: 'oFlow_1' });
    const messages = await transcript(contactId);
    expect(messages.filter((m) => m.sender === 'CUSTOMER').map((m) => m.text)).toEqual(['hmm', '2', 'SO-20261204']);
    expect(messages.filter((m) => m.sender === 'SYSTEM' && m.kind === 'TEXT').map((m) => m.text)).toEqual([
      'Welcome to the shop!',
      'How can we help?',
      'Please reply with 1, 2, 3 or 4.',
      'How can we help?',
      'Your order number, please?',
    ]);
    expect(messages[1]!.options).toHaveLength(4);
    expect(received('oFlow_1')).toEqual([`[image ${logo.length}]`, 'Welcome to the shop!', menuText, `Please reply with 1, 2, 3 or 4.`, menuText, 'Your order number, please?']);

    // The agent takes it and answers through WeChat as in any WeChat chat; the customer's next words are the agent's.
    await t.ok(ann.token, 'mutation($c: ID!, $o: ID!) { acceptOffer(input: { contactId: $c, offerId: $o }) { status } }', { c: contactId, o: offered!.offer!.offerId });
    await t.ok(ann.token, 'mutation($input: SendChatMessageInput!) { sendChatMessage(input: $input) { seq } }', { input: { contactId, message: { clientMessageId: 'ann-1', text: 'Your order ships today.' } } });
    await receivedUntil('oFlow_1', 'Your order ships today.');
    await write('oFlow_1', '1');
    await until(() => transcript(contactId), (m) => m.at(-1)?.sender === 'CUSTOMER' && m.at(-1)?.text === '1', 30_000);
    expect((await contact(contactId)).status).toBe('CONNECTED');
  });

  it('takes a keyword to a group with nobody online: the leaveMessage branch, the message left waits in the group', async () => {
    const contactId = await subscribe('oFlow_2');
    await receivedUntil('oFlow_2', menuText);
    await write('oFlow_2', 'night');
    await receivedUntil('oFlow_2', 'Nobody is online. Leave us a message?');
    await write('oFlow_2', 'Please call me back tomorrow about my invoice.');
    await receivedUntil('oFlow_2', 'Thanks, we will answer here.');
    const queued = await until(() => contact(contactId), (c) => c.status === 'QUEUED', 30_000);
    expect(queued.keyTrail).toEqual([{ key: '3', label: 'Night desk' }]);
    const row = await t.kefu.db.selectFrom('contacts').select(['left_message', 'skill_group_id']).where('instance_id', '=', seed.instanceId).where('id', '=', contactId).executeTakeFirstOrThrow();
    expect(row.left_message).toBe(true);
    expect((await transcript(contactId)).filter((m) => m.sender === 'CUSTOMER').map((m) => m.text)).toEqual(['night', 'Please call me back tomorrow about my invoice.']);
  });

  it("starts a subscriber's chat with its flow's first step in the same append (one append, one wait), as web chats", async () => {
    const contactId = await subscribe('oFlow_one');
    await receivedUntil('oFlow_one', menuText);
    const events = await t.kefu.store.readStream(streams.contact(seed.instanceId, contactId));
    const start = events.findIndex((e) => e.type === 'ContactCreated');
    const step = events.findIndex((e) => e.type === 'ContactChatFlowAdvanced');
    expect(start).toBeGreaterThanOrEqual(0);
    expect(step).toBeGreaterThan(start);
    // One append: the start's events and the greeting's share its commit and correlation (a step of its own has the runner's).
    const one = events.slice(start, step + 1);
    expect(new Set(one.map((e) => String(e.position.commit))).size).toBe(1);
    expect(new Set(one.map((e) => e.metadata.correlationId)).size).toBe(1);
    expect(one.map((e) => e.type)).toContain('ContactFlowStarted');
    expect((await contact(contactId)).status).toBe('IN_FLOW');
  });

  it('ends the chat at an end node, its text sent; the next message starts a new chat in the flow', async () => {
    const contactId = await subscribe('oFlow_3');
    await receivedUntil('oFlow_3', menuText);
    await write('oFlow_3', '4');
    await receivedUntil('oFlow_3', 'Goodbye!');
    await until(() => contact(contactId), (c) => c.status === 'ENDED', 30_000);
    await write('oFlow_3', 'hello again');
    const chats = await until(() => rows('oFlow_3'), (r) => r.length === 2, 60_000);
    const second = chats[1]!.id;
    await until(async () => received('oFlow_3').filter((x) => x === menuText), (x) => x.length === 2, 60_000);
    const messages = await transcript(second);
    expect(messages.map((m) => [m.sender, m.text])).toEqual([
      ['CUSTOMER', 'hello again'],
      ['SYSTEM', 'Welcome to the shop!'],
      ['SYSTEM', 'How can we help?'],
    ]);
    expect((await contact(second)).status).toBe('IN_FLOW');
  });

  it('a chat whose flow never took its first step takes it when started flows are resumed (after a restart)', async () => {
    // StartChat appended, then the process died before the flow's first step: the chat sits IN_FLOW, nothing sent.
    const contactId = randomUUID();
    const r = await t.kefu.commands.handle(streams.contact(seed.instanceId, contactId), contactDecider, {
      type: 'StartChat',
      data: {
        contactId,
        customer: { kind: 'WECHAT', id: 'oFlow_4', name: null },
        data: { wechatOpenId: 'oFlow_4' },
        source: { kind: 'WECHAT', wechatAccountId: ids.accountId, accountKind: 'OFFICIAL_ACCOUNT', appId: account.appId, openId: 'oFlow_4', unionId: null, sessionFrom: null },
        skillGroupId: ids.desk,
        priority: 0,
        reject: null,
        firstMessage: null,
        flowId: ids.flowId,
      },
      metadata: { now: new Date().toISOString(), instanceId: seed.instanceId, actor: 'test', correlationId: randomUUID() },
    });
    await t.kefu.projections.waitFor(r.position!, { timeoutMs: 30_000 });
    expect((await contact(contactId)).status).toBe('IN_FLOW');
    const runner = new ChatFlowRunner(contactChatFlowPorts({ db: t.kefu.db, commands: t.kefu.commands, clock: () => new Date() }));
    expect(await resumeStartedChatFlows(t.kefu.db, runner, { warn: () => undefined })).toBeGreaterThanOrEqual(1);
    await receivedUntil('oFlow_4', menuText);
    expect(received('oFlow_4')).toEqual([`[image ${logo.length}]`, 'Welcome to the shop!', menuText]);
    // Resumed again (another restart): nothing more.
    await resumeStartedChatFlows(t.kefu.db, runner, { warn: () => undefined });
    expect((await transcript(contactId)).filter((m) => m.sender === 'SYSTEM' && m.kind === 'TEXT')).toHaveLength(2);
  });

  it('a flow image that cannot be fetched (404) holds nothing up: its text is sent, the agent sees why the image was not, the flow goes on', async () => {
    const definition = {
      start: 'hello',
      nodes: [
        { id: 'hello', type: 'send', text: 'Our new logo!', image: { url: imageUrl.replace('logo.png', 'gone.png') }, next: 'menu' },
        { id: 'menu', type: 'menu', text: 'Anything else?', options: [{ number: 1, label: 'Yes', next: 'route' }], invalidText: 'Reply 1.', onFailure: 'route' },
        { id: 'route', type: 'route', skillGroupId: ids.desk },
      ],
    };
    const flowId = (await t.ok<{ createFlow: { id: string } }>(seed.adminKey, 'mutation($input: CreateFlowInput!) { createFlow(input: $input) { id } }', { input: { name: 'Broken image', kind: 'CHAT', definition } })).createFlow.id;
    const secret = 'dddddddddddddddddddddddddddddddd';
    const created = await t.ok<{ createWechatAccount: { callbackUrl: string } }>(seed.adminKey, 'mutation($input: CreateWechatAccountInput!) { createWechatAccount(input: $input) { callbackUrl } }', {
      input: { name: 'Logo shop', kind: 'OFFICIAL_ACCOUNT', appId: 'wx00000000000000f2', appSecret: secret, token: 'flowToken2', originalId: 'gh_0000000000f2', skillGroupId: ids.desk, flowId },
    });
    wx.register('wx00000000000000f2', secret);
    const other: FakeAccount = { appId: 'wx00000000000000f2', appSecret: secret, token: 'flowToken2', encodingAesKey: null, mode: 'PLAIN', format: 'XML', originalId: 'gh_0000000000f2', callbackUrl: `${origin}${new URL(created.createWechatAccount.callbackUrl).pathname}` };
    expect((await wx.push(other, { ToUserName: other.originalId, FromUserName: 'oFlow_5', CreateTime: Math.floor(Date.now() / 1000), MsgType: 'event', Event: 'subscribe' })).text).toBe('success');
    await receivedUntil('oFlow_5', 'Anything else?\n\n1. Yes');
    expect(received('oFlow_5')).toEqual(['Our new logo!', 'Anything else?\n\n1. Yes']);
    const [row] = await rows('oFlow_5');
    const failed = await until(() => transcript(row!.id), (m) => m.some((x) => x.system?.type === 'DELIVERY_FAILED'), 30_000);
    const note = failed.find((x) => x.system?.type === 'DELIVERY_FAILED')!;
    expect(note.text).toMatch(/^Not delivered to WeChat \(message 1\): the flow's image .*gone\.png answered HTTP 404; its text was sent$/);
  });

  it('a mini program chat (safe mode, JSON) entered from a button runs the same flow; SessionFrom and the collected answer reach the offer', async () => {
    const secret = 'eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee';
    const aesKey = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';
    const created = await t.ok<{ createWechatAccount: { callbackUrl: string } }>(seed.adminKey, 'mutation($input: CreateWechatAccountInput!) { createWechatAccount(input: $input) { callbackUrl } }', {
      input: { name: 'Mini shop', kind: 'MINI_PROGRAM', appId: 'wx00000000000000f3', appSecret: secret, token: 'miniFlow', encodingAesKey: aesKey, messageMode: 'SAFE', dataFormat: 'JSON', originalId: 'gh_0000000000f3', skillGroupId: ids.desk, flowId: ids.flowId },
    });
    wx.register('wx00000000000000f3', secret);
    const mini: FakeAccount = { appId: 'wx00000000000000f3', appSecret: secret, token: 'miniFlow', encodingAesKey: aesKey, mode: 'SAFE', format: 'JSON', originalId: 'gh_0000000000f3', callbackUrl: `${origin}${new URL(created.createWechatAccount.callbackUrl).pathname}` };
    const pushMini = async (fields: Record<string, string | number>) =>
      expect((await wx.push(mini, { ToUserName: mini.originalId, FromUserName: 'oMini_9', CreateTime: Math.floor(Date.now() / 1000), ...fields })).status).toBe(200);
    await pushMini({ MsgType: 'event', Event: 'user_enter_tempsession', SessionFrom: 'order=42&sku=A1' });
    await receivedUntil('oMini_9', menuText);
    expect(received('oMini_9')).toEqual([`[image ${logo.length}]`, 'Welcome to the shop!', menuText]);
    await pushMini({ MsgType: 'text', Content: 'order', MsgId: String(msgId++) });
    await receivedUntil('oMini_9', 'Your order number, please?');
    await pushMini({ MsgType: 'text', Content: 'SO-42', MsgId: String(msgId++) });
    const [row] = await rows('oMini_9');
    const offered = await until(() => contact(row!.id).catch(() => null), (c) => c?.status === 'OFFERED' || c?.status === 'QUEUED', 60_000);
    expect(offered!.data).toEqual(expect.arrayContaining([
      { key: 'sessionFrom', value: 'order=42&sku=A1' },
      { key: 'orderNumber', value: 'SO-42' },
    ]));
    expect(offered!.keyTrail).toEqual([{ key: '2', label: 'Where is my order' }]);
  });

  it('counts WeChat\'s messages against the send quota: a flow image with its text is two', async () => {
    const secret = 'ffffffffffffffffffffffffffffffff';
    const created = await t.ok<{ createWechatAccount: { callbackUrl: string } }>(seed.adminKey, 'mutation($input: CreateWechatAccountInput!) { createWechatAccount(input: $input) { callbackUrl } }', {
      input: { name: 'Quota shop', kind: 'OFFICIAL_ACCOUNT', appId: 'wx00000000000000f4', appSecret: secret, token: 'flowToken4', originalId: 'gh_0000000000f4', skillGroupId: ids.desk, flowId: ids.flowId, sendQuota: 2 },
    });
    wx.register('wx00000000000000f4', secret);
    const quota: FakeAccount = { appId: 'wx00000000000000f4', appSecret: secret, token: 'flowToken4', encodingAesKey: null, mode: 'PLAIN', format: 'XML', originalId: 'gh_0000000000f4', callbackUrl: `${origin}${new URL(created.createWechatAccount.callbackUrl).pathname}` };
    expect((await wx.push(quota, { ToUserName: quota.originalId, FromUserName: 'oFlow_6', CreateTime: Math.floor(Date.now() / 1000), MsgType: 'event', Event: 'subscribe' })).text).toBe('success');
    const [row] = await until(() => rows('oFlow_6'), (r) => r.length === 1, 60_000);
    // The greeting's image and text use both; the menu is refused by Kefu (45047), never sent for WeChat to refuse.
    const messages = await until(() => transcript(row!.id), (m) => m.some((x) => x.system?.type === 'DELIVERY_FAILED'), 60_000);
    expect(messages.find((x) => x.system?.type === 'DELIVERY_FAILED')!.text).toMatch(/^Not delivered to WeChat \(message 2\), error 45047: Kefu did not send it: 2 messages went out/);
    expect(received('oFlow_6')).toEqual([`[image ${logo.length}]`, 'Welcome to the shop!']);
  });

  it('a flow image sent whose text WeChat refused as busy (-1): the retry sends the text only, the image once', async () => {
    wx.failWhen('cgi-bin/message/custom/send', (b) => b.touser === 'oFlow_7' && b.msgtype === 'text', -1);
    expect((await push({ FromUserName: 'oFlow_7', MsgType: 'event', Event: 'subscribe' })).text).toBe('success');
    await receivedUntil('oFlow_7', menuText);
    expect(received('oFlow_7')).toEqual([`[image ${logo.length}]`, 'Welcome to the shop!', menuText]);
    // The greeting took two tries (WeChat's busy answer was given), the menu one. WeChat has the menu before the
    // outbox marks its row sent: wait for that.
    const outboxOf = () => t.kefu.db.selectFrom('wechat_outbox').select(['seq', 'attempts', 'state']).where('instance_id', '=', seed.instanceId).where('open_id', '=', 'oFlow_7').orderBy('seq').execute();
    const outbox = await until(outboxOf, (rows) => rows.every((r) => r.state !== 'PENDING'), 30_000);
    expect(outbox.map((r) => [r.attempts, r.state])).toEqual([
      [2, 'SENT'],
      [1, 'SENT'],
    ]);
  });
});
