// The customer's chat widget (/widget.js) in headless Chromium, on a plain page of another origin that has
// only the script tag; the agent works through graphql-ws and the GraphQL API. Kefu is reached through a TCP
// relay the test can cut, so a dropped connection is a real one (the browser's sockets die, new ones are
// refused) while both sides keep sending. Under CI a missing Chromium fails the test (it never skips).
import { createHmac } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, connect, type Server as TcpServer, type Socket } from 'node:net';
import { crc32, deflateSync } from 'node:zlib';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { collect, wsClient } from '../support/ws-client.ts';
import { until } from '../support/until.ts';

const CHROMIUM = process.env.KEFU_TEST_CHROMIUM ?? '/usr/bin/chromium';

function requireChromium(): void {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium is not installed at ${CHROMIUM} (Debian package chromium, or set KEFU_TEST_CHROMIUM); the widget's browser tests need it`);
}

/** A small RGB PNG (w x h, a colour gradient): a real image for the upload's content detection. */
function png(w: number, h: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) raw.set([(x * 255) / w, (y * 255) / h, 128], y * (w * 3 + 1) + 1 + x * 3);
  }
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

/** A TCP relay to Kefu that can be cut (every open connection destroyed, new ones refused) and restored. */
class Relay {
  private server: TcpServer;
  private sockets = new Set<Socket>();
  private cut = false;
  /** A request whose text matches is passed to Kefu, but its answer is thrown away and the connection cut. */
  swallowAnswerTo: ((request: string) => boolean) | null = null;
  swallowed = 0;
  port = 0;
  private target: number;
  constructor(target: number) {
    this.target = target;
    this.server = createTcpServer((client) => {
      if (this.cut) {
        client.destroy();
        return;
      }
      const upstream = connect(this.target, '127.0.0.1');
      this.sockets.add(client);
      this.sockets.add(upstream);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      let swallow = false;
      client.on('data', (chunk: Buffer) => {
        if (this.swallowAnswerTo?.(chunk.toString('latin1'))) {
          this.swallowAnswerTo = null;
          swallow = true;
        }
        upstream.write(chunk);
      });
      upstream.on('data', (chunk: Buffer) => {
        if (!swallow) {
          client.write(chunk);
          return;
        }
        // Kefu has answered (so it has done the work): the customer never hears of it.
        this.swallowed++;
        drop();
      });
    });
  }
  async listen(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as { port: number }).port;
  }
  drop(): void {
    this.cut = true;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }
  restore(): void {
    this.cut = false;
  }
  async close(): Promise<void> {
    this.drop();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

interface Setup {
  instanceId: string;
  adminKey: string;
  agent: { id: string; token: string };
  agents: { id: string; token: string }[];
  groupId: string;
  channelKey: string;
  identitySecret: string;
}

interface WidgetView {
  seqs: number[];
  items: { seq: number | null; cls: string; text: string; html: string }[];
  subtitle: string;
  queue: string | null;
  banner: string | null;
  error: string | null;
  typing: string | null;
  seen: boolean;
  ended: boolean;
  welcome: string;
  pending: number;
}

interface ChatMessage {
  seq: number;
  clientMessageId: string | null;
  sender: string;
  kind: string;
  text: string | null;
  attachment: { url: string; thumbnailUrl: string | null; contentType: string } | null;
}

const MESSAGE = 'seq clientMessageId sender kind text attachment { url thumbnailUrl contentType } system { type agentName endStatus }';

describe('the chat widget in Chromium on another origin', () => {
  let t: TestKefu;
  let relay: Relay;
  let kefuUrl: string; // direct, for the agent
  let widgetBase: string; // through the relay, for the customer's browser
  let pageServer: HttpServer;
  let pageOrigin: string;
  let browser: Browser;
  const pages = new Map<string, string>();

  beforeAll(async () => {
    requireChromium();
    t = await startTestKefu({ database: 'pglite', listen: true, env: { HOST: '127.0.0.1' } });
    const port = (t.kefu.app.server.address() as { port: number }).port;
    kefuUrl = `http://127.0.0.1:${port}`;
    relay = new Relay(port);
    await relay.listen();
    widgetBase = `http://127.0.0.1:${relay.port}`;
    // The customer's site: plain pages with the script tag and styles that would spoil a widget without its
    // own Shadow DOM (and elements the widget's styles must not reach).
    pageServer = createHttpServer((req, res) => {
      const query = new URL(req.url ?? '/', 'http://x').searchParams;
      const html = pages.get(query.get('key') ?? '')?.replace('<!--settings-->', () =>
        query.has('customer') ? `<script>window.KefuSettings = ${JSON.stringify({ customerId: query.get('customer'), customerHash: query.get('hash'), name: 'Vera Verified' })};</script>` : '',
      ).replace('data-title="Acme support"', (t) => (query.get('locale') === 'zh' ? 'data-locale="zh"' : t));
      if (!html) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
    });
    await new Promise<void>((r) => pageServer.listen(0, '127.0.0.1', r));
    pageOrigin = `http://127.0.0.1:${(pageServer.address() as { port: number }).port}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await relay?.close();
    await new Promise<void>((r) => (pageServer ? pageServer.close(() => r()) : r()));
    await t?.close();
  });

  let tag = 0;
  async function setup(group: Record<string, unknown> = {}, names = ['Ann Agent']): Promise<Setup> {
    tag++;
    const seed = await seedInstance(t, { name: `Widget ${tag}`, agents: names.map((name) => ({ name, login: name.split(' ')[0]!.toLowerCase() })) });
    const g = await t.ok<{ createSkillGroup: { id: string } }>(seed.adminKey, 'mutation($input: CreateSkillGroupInput!) { createSkillGroup(input: $input) { id } }', {
      input: { name: 'Web', channel: 'ONLINE', strategy: 'SATURATION', maxConcurrency: 3, ringTimeoutSeconds: 120, ...group },
    });
    const groupId = g.createSkillGroup.id;
    const agent = seed.agents[0]!;
    for (const a of seed.agents) await t.ok(seed.adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: groupId, a: a.id });
    const ch = await t.ok<{ createWebChannel: { webChannel: { publicKey: string }; identitySecret: string } }>(
      seed.adminKey,
      'mutation($input: CreateWebChannelInput!) { createWebChannel(input: $input) { webChannel { publicKey } identitySecret } }',
      { input: { name: 'Site', allowedOrigins: [pageOrigin], skillGroupId: groupId, welcomeText: 'Welcome to Acme! Ask us anything.' } },
    );
    const channelKey = ch.createWebChannel.webChannel.publicKey;
    pages.set(
      channelKey,
      `<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Acme shop</title>
<style>* { color: rgb(255, 0, 0) !important; font-family: serif !important; } button { background: rgb(0, 128, 0) !important; } .msg, header { border: 7px solid rgb(0, 0, 255); }</style>
</head><body><header id="site-header">Acme</header><p class="msg" id="site-msg">Our shop</p><!--settings-->
<script src="${widgetBase}/widget.js" data-channel-key="${channelKey}" data-title="Acme support" async></script>
</body></html>`,
    );
    await t.ok(agent.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    return { instanceId: seed.instanceId, adminKey: seed.adminKey, agent, agents: seed.agents, groupId, channelKey, identitySecret: ch.createWebChannel.identitySecret };
  }

  async function openWidget(context: BrowserContext, s: Setup, query = ''): Promise<Page> {
    const page = await context.newPage();
    page.on('pageerror', (err) => console.error('page error:', err));
    await page.goto(`${pageOrigin}/?key=${encodeURIComponent(s.channelKey)}${query}`);
    await page.waitForFunction('window.Kefu && document.querySelector("kefu-chat-widget")');
    return page;
  }

  /** What the customer sees, read from the widget's shadow root (a string: this file has no DOM types). */
  const view = (page: Page) =>
    page.evaluate<WidgetView>(`(() => {
      const r = document.querySelector('kefu-chat-widget').shadowRoot;
      const shown = (sel) => { const el = r.querySelector(sel); return el && !el.hidden ? el.textContent : null; };
      const items = [...r.querySelectorAll('.log > [data-seq]')].map((el) => ({ seq: Number(el.dataset.seq), cls: el.className, text: (el.querySelector('.text') || el).textContent, html: el.innerHTML }));
      return {
        seqs: items.map((i) => i.seq),
        items,
        subtitle: r.querySelector('.subtitle').textContent,
        queue: shown('.queue'),
        banner: shown('.banner'),
        error: shown('.error'),
        typing: shown('.typing'),
        seen: !!r.querySelector('.seen'),
        ended: !r.querySelector('.ended').hidden,
        welcome: r.querySelector('.welcome').textContent,
        pending: r.querySelectorAll('.msg.pending').length,
      };
    })()`);

  const waitView = async (page: Page, ok: (v: WidgetView) => boolean, timeoutMs = 30_000) => until(() => view(page), ok, timeoutMs);

  async function type(page: Page, text: string): Promise<void> {
    const box = page.locator('kefu-chat-widget textarea');
    await box.fill(text);
    await box.press('Enter');
  }

  /** The agent's offers; accept(contactId) takes the offer for that chat once it rings. */
  function agentDesk(s: Setup, agent = s.agent) {
    const client = wsClient(kefuUrl, agent.token);
    const offers = collect<{ agentOffers: { offerId: string; state: string; contact: { id: string }; transfer: { note: string | null } | null } }>(
      client,
      'subscription { agentOffers { offerId state contact { id } transfer { note } } }',
    );
    return {
      client,
      offers,
      async accept(contactId: string) {
        await until(
          async () => offers.received.find((o) => o.agentOffers.contact.id === contactId && o.agentOffers.state === 'OFFERED') ?? null,
          (o) => o !== null,
          60_000,
        ).then((o) => t.ok(agent.token, 'mutation($i: OfferInput!) { acceptOffer(input: $i) { id } }', { i: { contactId, offerId: o!.agentOffers.offerId } }));
      },
      follow(contactId: string, afterSeq = 0) {
        return collect<{ conversationEvents: { kind: string; sender: string | null; typing: boolean | null; readSeq: number | null; message: ChatMessage | null } }>(
          client,
          `subscription($c: ID!, $a: Int) { conversationEvents(contactId: $c, afterSeq: $a) { kind sender typing readSeq message { ${MESSAGE} } } }`,
          { c: contactId, a: afterSeq },
        );
      },
      async close() {
        offers.dispose();
        await client.dispose();
      },
    };
  }

  const agentSend = (s: Setup, contactId: string, text: string, clientMessageId = crypto.randomUUID()) =>
    t.ok<{ sendChatMessage: ChatMessage }>(s.agent.token, `mutation($input: SendChatMessageInput!) { sendChatMessage(input: $input) { ${MESSAGE} } }`, {
      input: { contactId, message: { clientMessageId, text } },
    });

  const transcript = async (s: Setup, contactId: string) =>
    (await t.ok<{ chatTranscript: { messages: ChatMessage[] } }>(s.adminKey, `query($c: ID!) { chatTranscript(contactId: $c, first: 500) { messages { ${MESSAGE} } } }`, { c: contactId })).chatTranscript.messages;

  const contactOf = async (page: Page) => {
    const conv = await until(() => page.evaluate<{ contactId: string } | null>('window.Kefu.conversation'), (c) => c !== null, 30_000);
    return conv!.contactId;
  };

  it('serves /widget.js as JavaScript with cache headers and an ETag', async () => {
    const res = await fetch(`${kefuUrl}/widget.js`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(res.headers.get('cache-control')).toMatch(/max-age=\d+/);
    const etag = res.headers.get('etag');
    expect(etag).toBeTruthy();
    expect(await res.text()).toContain('graphql-transport-ws');
    const again = await fetch(`${kefuUrl}/widget.js`, { headers: { 'if-none-match': etag! } });
    expect(again.status).toBe(304);
  });

  it('a full chat: welcome, text and emoji both ways, agent name and typing, Seen, HTML shown as text, styles isolated', async () => {
    const s = await setup();
    const desk = agentDesk(s);
    const context = await browser.newContext();
    const page = await openWidget(context, s);
    await page.click('kefu-chat-widget .launcher');
    await waitView(page, (v) => v.welcome === 'Welcome to Acme! Ask us anything.');

    const hostile = 'Hello 👋 <b>bold</b><img src=x onerror="window.__pwned=1">';
    await type(page, hostile);
    const contactId = await contactOf(page);
    await desk.accept(contactId);
    const events = desk.follow(contactId);
    await waitView(page, (v) => v.subtitle === 'Chatting with Ann Agent');
    // The agent receives the customer's text exactly as typed.
    await until(async () => events.received.map((e) => e.conversationEvents.message?.text), (texts) => texts.includes(hostile));

    // The agent types, then answers with emoji and a script tag.
    await t.ok(s.agent.token, 'mutation($i: SetTypingInput!) { setTyping(input: $i) }', { i: { contactId, typing: true } });
    await waitView(page, (v) => v.typing === 'Ann Agent is typing…');
    const reply = 'Hi! 😀🎉 <script>window.__pwned=2</script><i>not italic</i>';
    const sent = await agentSend(s, contactId, reply);
    const v1 = await waitView(page, (v) => v.items.some((i) => i.text === reply));
    expect(v1.typing).toBeNull();
    // Shown as text: no element came out of either message.
    for (const item of v1.items.filter((i) => i.text === reply || i.text === hostile)) {
      expect(item.html).not.toMatch(/<(b|i|img|script)[\s>]/);
    }
    expect(await page.evaluate('window.__pwned')).toBeUndefined();

    // The customer's own emoji through the picker; the agent sees them typing.
    await page.click('kefu-chat-widget .emoji-toggle');
    await page.click('kefu-chat-widget .emoji button[aria-label="🎉"]');
    await page.locator('kefu-chat-widget textarea').press('End');
    await page.locator('kefu-chat-widget textarea').pressSequentially(' thanks');
    await until(async () => events.received.some((e) => e.conversationEvents.kind === 'TYPING' && e.conversationEvents.sender === 'CUSTOMER' && e.conversationEvents.typing === true), (x) => x);
    await page.locator('kefu-chat-widget textarea').press('Enter');
    await until(async () => events.received.map((e) => e.conversationEvents.message?.text), (texts) => texts.includes('🎉 thanks'));

    // The widget is open, so the customer has read the agent's reply.
    await until(
      () => t.ok<{ conversation: { customerLastReadSeq: number } }>(s.agent.token, 'query($c: ID!) { conversation(contactId: $c) { customerLastReadSeq } }', { c: contactId }),
      (r) => r.conversation.customerLastReadSeq >= sent.sendChatMessage.seq,
    );
    // The agent reads everything: the customer sees "Seen".
    const last = (await transcript(s, contactId)).at(-1)!.seq;
    await t.ok(s.agent.token, 'mutation($i: MarkReadInput!) { markRead(input: $i) { agentLastReadSeq } }', { i: { contactId, seq: last } });
    await waitView(page, (v) => v.seen);

    // Every seq once, in order.
    const v2 = await view(page);
    expect(v2.seqs).toEqual([...v2.seqs].sort((a, b) => a - b));
    expect(new Set(v2.seqs).size).toBe(v2.seqs.length);

    // The page's styles did not reach the widget, and the widget's did not reach the page.
    const styles = await page.evaluate<{ launcherBg: string; textColor: string; siteBorder: string; siteHeaderBorder: string }>(`(() => {
      const r = document.querySelector('kefu-chat-widget').shadowRoot;
      return {
        launcherBg: getComputedStyle(r.querySelector('.launcher')).backgroundColor,
        textColor: getComputedStyle(r.querySelector('.welcome')).color,
        siteBorder: getComputedStyle(document.getElementById('site-msg')).borderTopWidth,
        siteHeaderBorder: getComputedStyle(document.getElementById('site-header')).borderTopWidth,
      };
    })()`);
    expect(styles.launcherBg).not.toBe('rgb(0, 128, 0)');
    expect(styles.textColor).not.toBe('rgb(255, 0, 0)');
    expect(styles.siteBorder).toBe('7px');
    expect(styles.siteHeaderBorder).toBe('7px');

    events.dispose();
    await desk.close();
    await context.close();
  });

  it('a reload mid-chat shows the conversation again and goes on with it', async () => {
    const s = await setup();
    const desk = agentDesk(s);
    const context = await browser.newContext();
    const page = await openWidget(context, s);
    await page.evaluate('window.Kefu.open()');
    await type(page, 'before the reload');
    const contactId = await contactOf(page);
    await desk.accept(contactId);
    await agentSend(s, contactId, 'an answer before the reload');
    const before = await waitView(page, (v) => v.items.some((i) => i.text === 'an answer before the reload') && v.subtitle === 'Chatting with Ann Agent');

    await page.reload();
    await page.waitForFunction('window.Kefu && document.querySelector("kefu-chat-widget")');
    // The panel stays open, the same messages are back (same seqs), the chat goes on.
    const after = await waitView(page, (v) => v.seqs.length >= before.seqs.length && v.subtitle === 'Chatting with Ann Agent');
    expect(after.seqs.slice(0, before.seqs.length)).toEqual(before.seqs);
    expect(after.items.map((i) => i.text)).toEqual(expect.arrayContaining(['before the reload', 'an answer before the reload']));
    expect(await contactOf(page)).toBe(contactId);
    await type(page, 'after the reload');
    await agentSend(s, contactId, 'an answer after the reload');
    await waitView(page, (v) => v.items.some((i) => i.text === 'an answer after the reload'));
    const texts = (await transcript(s, contactId)).map((m) => m.text);
    expect(texts.filter((x) => x === 'after the reload')).toHaveLength(1);
    expect(texts.filter((x) => x === 'before the reload')).toHaveLength(1);

    // Closed: a new answer shows as one unread on the launcher, still one after a reload (what was read stays read).
    const badge = () => page.evaluate<string | null>(`(() => { const b = document.querySelector('kefu-chat-widget').shadowRoot.querySelector('.badge'); return b.hidden ? null : b.textContent; })()`);
    await page.evaluate('window.Kefu.close()');
    await agentSend(s, contactId, 'while closed');
    await until(badge, (b) => b === '1');
    await page.reload();
    await page.waitForFunction('window.Kefu && document.querySelector("kefu-chat-widget")');
    await waitView(page, (v) => v.items.some((i) => i.text === 'while closed'));
    expect(await badge()).toBe('1');
    await page.evaluate('window.Kefu.open()');
    expect(await badge()).toBeNull();
    await desk.close();
    await context.close();
  });

  it('a token Kefu no longer takes is renewed for the same visitor, on the WebSocket and over HTTP', async () => {
    const s = await setup();
    const desk = agentDesk(s);
    const context = await browser.newContext();
    const page = await openWidget(context, s);
    await page.evaluate('window.Kefu.open()');
    await type(page, 'hello');
    const contactId = await contactOf(page);
    await desk.accept(contactId);
    await waitView(page, (v) => v.subtitle === 'Chatting with Ann Agent');
    const stored = `(() => JSON.parse(localStorage.getItem(Object.keys(localStorage).find((k) => k.startsWith('kefu:')))))()`;
    const before = await page.evaluate<{ token: string; visitorId: string }>(stored);
    // A token that still looks valid to the widget (expiresAt ahead) but is not Kefu's: the reload's WebSocket and
    // the next send are refused once, then the widget opens a new session for the same visitor.
    await page.evaluate(`(() => { const k = Object.keys(localStorage).find((x) => x.startsWith('kefu:')); const v = JSON.parse(localStorage.getItem(k)); v.token = v.token.slice(0, -6) + 'AAAAAA'; localStorage.setItem(k, JSON.stringify(v)); })()`);
    await page.reload();
    await page.waitForFunction('window.Kefu && document.querySelector("kefu-chat-widget")');
    await waitView(page, (v) => v.items.some((i) => i.text === 'hello') && v.subtitle === 'Chatting with Ann Agent');
    await type(page, 'still me');
    await waitView(page, (v) => v.pending === 0 && v.items.some((i) => i.text === 'still me'));
    const after = await page.evaluate<{ token: string; visitorId: string }>(stored);
    expect(after.visitorId).toBe(before.visitorId);
    expect(after.token).not.toMatch(/AAAAAA$/);
    expect(after.token).not.toBe(before.token);
    expect((await transcript(s, contactId)).filter((m) => m.sender === 'CUSTOMER').map((m) => m.text)).toEqual(['hello', 'still me']);
    await desk.close();
    await context.close();
  });

  it('a dropped connection while both sides send: reconnecting banner, then every message once, no gap', async () => {
    const s = await setup();
    const desk = agentDesk(s);
    const context = await browser.newContext();
    const page = await openWidget(context, s);
    await page.evaluate('window.Kefu.open()');
    await type(page, 'c0');
    const contactId = await contactOf(page);
    await desk.accept(contactId);
    await agentSend(s, contactId, 'a0');
    await waitView(page, (v) => v.items.some((i) => i.text === 'a0') && v.banner === null);

    // The network goes: every connection to Kefu dies and new ones are refused.
    relay.drop();
    await context.setOffline(true);
    await waitView(page, (v) => v.banner !== null);
    for (let i = 1; i <= 5; i++) {
      await type(page, `c${i}`);
      await agentSend(s, contactId, `a${i}`);
    }
    const offline = await view(page);
    expect(offline.pending).toBeGreaterThanOrEqual(1);
    // Still typed offline, in the outbox: survives a look at localStorage.
    expect(await page.evaluate<number>(`(() => Object.keys(localStorage).filter((k) => k.startsWith('kefu:')).map((k) => JSON.parse(localStorage.getItem(k)).outbox.length).reduce((a, b) => a + b, 0))()`)).toBeGreaterThanOrEqual(1);

    // The network comes back: the banner goes away by itself, the outbox is sent, the agent's messages arrive.
    await context.setOffline(false);
    relay.restore();
    const back = await waitView(page, (v) => v.banner === null && v.pending === 0 && ['a5', 'c5'].every((x) => v.items.some((i) => i.text === x)), 60_000);
    const all = await transcript(s, contactId);
    // The widget shows exactly the conversation's messages: every seq from 1 to the last, once.
    expect(back.seqs).toEqual(all.map((m) => m.seq));
    expect(back.seqs).toEqual(Array.from({ length: back.seqs.length }, (_, i) => i + 1));
    const customerTexts = all.filter((m) => m.sender === 'CUSTOMER').map((m) => m.text);
    expect(customerTexts).toEqual(['c0', 'c1', 'c2', 'c3', 'c4', 'c5']);
    expect(all.filter((m) => m.sender === 'AGENT').map((m) => m.text)).toEqual(['a0', 'a1', 'a2', 'a3', 'a4', 'a5']);
    expect(await page.evaluate<number>(`(() => Object.keys(localStorage).filter((k) => k.startsWith('kefu:')).map((k) => JSON.parse(localStorage.getItem(k)).outbox.length).reduce((a, b) => a + b, 0))()`)).toBe(0);
    await desk.close();
    await context.close();
  });

  it('a send whose answer is lost on the way is sent again and stored once', async () => {
    const s = await setup();
    const desk = agentDesk(s);
    const context = await browser.newContext();
    const page = await openWidget(context, s);
    await page.evaluate('window.Kefu.open()');
    await type(page, 'first');
    const contactId = await contactOf(page);
    await desk.accept(contactId);
    await waitView(page, (v) => v.subtitle === 'Chatting with Ann Agent' && v.pending === 0);
    relay.swallowAnswerTo = (request) => request.includes('"text":"answer lost"');
    await type(page, 'answer lost');
    await type(page, 'after it');
    await waitView(page, (v) => v.pending === 0 && v.items.some((i) => i.text === 'after it'));
    expect(relay.swallowed).toBe(1);
    const texts = (await transcript(s, contactId)).filter((m) => m.sender === 'CUSTOMER').map((m) => m.text);
    expect(texts).toEqual(['first', 'answer lost', 'after it']);
    const shown = await view(page);
    expect(shown.items.filter((i) => i.text === 'answer lost')).toHaveLength(1);
    await desk.close();
    await context.close();
  });

  it('a verified customer continues their open chat on a second browser; a forged hash gets no session', async () => {
    const s = await setup();
    const desk = agentDesk(s);
    const hash = createHmac('sha256', s.identitySecret).update('cust-42').digest('hex');
    const laptop = await browser.newContext();
    const page = await openWidget(laptop, s, `&customer=cust-42&hash=${hash}`);
    await page.evaluate('window.Kefu.open()');
    await type(page, 'from my laptop');
    const contactId = await contactOf(page);
    await desk.accept(contactId);
    await agentSend(s, contactId, 'hello Vera');
    await waitView(page, (v) => v.items.some((i) => i.text === 'hello Vera'));

    const phone = await browser.newContext();
    const second = await openWidget(phone, s, `&customer=cust-42&hash=${hash}`);
    await second.evaluate('window.Kefu.open()');
    const shown = await waitView(second, (v) => ['from my laptop', 'hello Vera'].every((x) => v.items.some((i) => i.text === x)));
    expect(await contactOf(second)).toBe(contactId);
    expect(shown.subtitle).toBe('Chatting with Ann Agent');

    // Someone claiming the same id with a made-up hash sees nothing of it.
    const forged = await browser.newContext();
    const intruder = await openWidget(forged, s, `&customer=cust-42&hash=${'0'.repeat(64)}`);
    await intruder.evaluate('window.Kefu.open()');
    const events: unknown[] = [];
    await intruder.exposeFunction('onKefuMessage', (m: unknown) => events.push(m));
    await intruder.evaluate('window.Kefu.on("message", (m) => window.onKefuMessage(m))');
    const refused = await waitView(intruder, (v) => v.error !== null);
    expect(refused.error).toMatch(/^The chat is not available/);
    const stored = await intruder.evaluate<string | null>(`(() => { const k = Object.keys(localStorage).find((x) => x.startsWith('kefu:')); return k ? JSON.parse(localStorage.getItem(k)).token : null; })()`);
    expect(stored).toBeNull();
    expect(await intruder.evaluate('window.Kefu.conversation')).toBeNull();
    expect(events).toEqual([]);
    await desk.close();
    for (const c of [laptop, phone, forged]) await c.close();
  });

  it('shows the queue position while the only agent is full, then serves the queue in order', async () => {
    const s = await setup({ maxConcurrency: 1 });
    const desk = agentDesk(s);
    const contexts = [await browser.newContext(), await browser.newContext(), await browser.newContext()];
    const pagesOpen: Page[] = [];
    const contactIds: string[] = [];
    for (const [i, context] of contexts.entries()) {
      const page = await openWidget(context, s);
      await page.evaluate('window.Kefu.open()');
      await type(page, `customer ${i + 1} here`);
      contactIds.push(await contactOf(page));
      pagesOpen.push(page);
      if (i === 0) {
        await desk.accept(contactIds[0]!);
        await waitView(page, (v) => v.subtitle === 'Chatting with Ann Agent');
      }
    }
    const [p1, p2, p3] = pagesOpen as [Page, Page, Page];
    await waitView(p2, (v) => v.queue === 'You are next in the queue.');
    await waitView(p3, (v) => v.queue === 'You are number 2 in the queue.');

    // The agent ends the first chat: its customer sees the ended state; the second is offered next.
    await t.ok(s.agent.token, 'mutation($c: ID!) { endContact(input: { contactId: $c }) { id } }', { c: contactIds[0] });
    await waitView(p1, (v) => v.ended && v.subtitle === 'Chat ended');
    await desk.accept(contactIds[1]!);
    await waitView(p2, (v) => v.subtitle === 'Chatting with Ann Agent' && v.queue === null);
    await waitView(p3, (v) => v.queue === 'You are next in the queue.');
    await desk.close();
    for (const c of contexts) await c.close();
  });

  it('images both ways: the customer attaches one, the agent sends one; thumbnails that open the full image', async () => {
    const s = await setup();
    const desk = agentDesk(s);
    const context = await browser.newContext();
    const page = await openWidget(context, s);
    await page.evaluate('window.Kefu.open()');
    await type(page, 'a photo follows');
    const contactId = await contactOf(page);
    await desk.accept(contactId);
    await waitView(page, (v) => v.subtitle === 'Chatting with Ann Agent');

    await page.locator('kefu-chat-widget input[type=file]').setInputFiles({ name: 'receipt.png', mimeType: 'image/png', buffer: png(64, 48) });
    const fromCustomer = await until(() => transcript(s, contactId), (all) => all.some((m) => m.sender === 'CUSTOMER' && m.kind === 'IMAGE'));
    const image = fromCustomer.find((m) => m.kind === 'IMAGE')!;
    expect(image.attachment?.contentType).toBe('image/png');
    // The agent can open what the customer sent.
    const got = await fetch(new URL(image.attachment!.url, kefuUrl), { headers: { authorization: `Bearer ${s.agent.token}` } });
    expect(got.status).toBe(200);
    await waitView(page, (v) => v.items.some((i) => i.seq === image.seq && i.cls.includes('kind-image')));

    // The agent uploads an image and sends it.
    const form = new FormData();
    form.append('contactId', contactId);
    form.append('file', new Blob([new Uint8Array(png(120, 90))], { type: 'image/png' }), 'map.png');
    const up = await fetch(`${kefuUrl}/chat/uploads`, { method: 'POST', headers: { authorization: `Bearer ${s.agent.token}` }, body: form });
    expect(up.status).toBe(201);
    const { fileId } = (await up.json()) as { fileId: string };
    const sent = await t.ok<{ sendChatMessage: ChatMessage }>(s.agent.token, `mutation($input: SendChatMessageInput!) { sendChatMessage(input: $input) { ${MESSAGE} } }`, {
      input: { contactId, message: { clientMessageId: crypto.randomUUID(), fileId } },
    });
    await waitView(page, (v) => v.items.some((i) => i.seq === sent.sendChatMessage.seq && i.cls.includes('kind-image')));
    // The thumbnail loads in the customer's browser (a signed link of Kefu's origin), and a click opens the image.
    const selector = `kefu-chat-widget .msg[data-seq="${sent.sendChatMessage.seq}"] img`;
    await page.waitForFunction(`(() => { const img = document.querySelector('kefu-chat-widget').shadowRoot.querySelector('.msg[data-seq="${sent.sendChatMessage.seq}"] img'); return img && img.complete && img.naturalWidth > 0; })()`);
    await page.click(selector);
    await page.waitForFunction(`(() => { const v = document.querySelector('kefu-chat-widget').shadowRoot.querySelector('.viewer'); const img = v.querySelector('img'); return !v.hidden && img.complete && img.naturalWidth === 120; })()`);
    await desk.close();
    await context.close();
  });

  it('a link card from the agent (issue 13): its words as text, an anchor that opens a new tab, never HTML', async () => {
    const s = await setup();
    const desk = agentDesk(s);
    const context = await browser.newContext();
    const page = await openWidget(context, s);
    await page.evaluate('window.Kefu.open()');
    await type(page, 'where is my parcel?');
    const contactId = await contactOf(page);
    await desk.accept(contactId);
    await waitView(page, (v) => v.subtitle === 'Chatting with Ann Agent');
    const sent = await t.ok<{ sendChatMessage: ChatMessage }>(s.agent.token, `mutation($input: SendChatMessageInput!) { sendChatMessage(input: $input) { ${MESSAGE} } }`, {
      input: { contactId, message: { clientMessageId: crypto.randomUUID(), link: { title: '<b>Track</b> it', description: '<img src=x onerror="window.pwned=1">', url: 'https://shop.example.com/track?o=42' } } },
    });
    expect(sent.sendChatMessage.kind).toBe('LINK');
    await waitView(page, (v) => v.items.some((i) => i.seq === sent.sendChatMessage.seq && i.cls.includes('kind-link')));
    const card = await page.evaluate<{ href: string; target: string; rel: string; title: string; desc: string; elements: string[]; pwned: boolean }>(`(() => {
      const a = document.querySelector('kefu-chat-widget').shadowRoot.querySelector('.msg[data-seq="${sent.sendChatMessage.seq}"] a.link-card');
      return { href: a.href, target: a.target, rel: a.rel, title: a.querySelector('.link-title').textContent, desc: a.querySelector('.link-desc').textContent,
        elements: [...a.querySelectorAll('*')].map((e) => e.tagName), pwned: Boolean(window.pwned) };
    })()`);
    expect(card).toEqual({
      href: 'https://shop.example.com/track?o=42',
      target: '_blank',
      rel: 'noopener noreferrer nofollow',
      title: '<b>Track</b> it',
      desc: '<img src=x onerror="window.pwned=1">',
      elements: ['SPAN', 'SPAN', 'SPAN'],
      pwned: false,
    });
    await desk.close();
    await context.close();
  });

  it('the customer ends the chat: the ended state, then a new chat', async () => {
    const s = await setup();
    const desk = agentDesk(s);
    const context = await browser.newContext();
    const page = await openWidget(context, s);
    const ended: unknown[] = [];
    await page.exposeFunction('onKefuEnded', (d: unknown) => ended.push(d));
    await page.evaluate('window.Kefu.on("ended", (d) => window.onKefuEnded(d)); window.Kefu.open()');
    await type(page, 'one question');
    const first = await contactOf(page);
    await desk.accept(first);
    await waitView(page, (v) => v.subtitle === 'Chatting with Ann Agent');
    await page.click('kefu-chat-widget .end-chat');
    const v = await waitView(page, (x) => x.ended);
    expect(v.subtitle).toBe('Chat ended');
    expect(await page.locator('kefu-chat-widget .composer').isHidden()).toBe(true);
    await until(async () => ended.length, (n) => n === 1);
    const conv = await t.ok<{ conversation: { status: string; endStatus: string } }>(s.adminKey, 'query($c: ID!) { conversation(contactId: $c) { status endStatus } }', { c: first });
    expect(conv.conversation).toEqual({ status: 'ENDED', endStatus: 'CUSTOMER_ENDED' });
    // Sending to the ended chat is refused by Kefu (CONFLICT), and the widget offers a new chat instead.
    const late = await t.gql(s.agent.token, 'mutation($input: SendChatMessageInput!) { sendChatMessage(input: $input) { seq } }', {
      input: { contactId: first, message: { clientMessageId: crypto.randomUUID(), text: 'late' } },
    });
    expect(late.errors?.[0]?.extensions?.code).toBe('CONFLICT');

    // A reload still shows the ended chat.
    await page.reload();
    await page.waitForFunction('window.Kefu && document.querySelector("kefu-chat-widget")');
    await waitView(page, (x) => x.ended && x.items.some((i) => i.text === 'one question'));

    await page.click('kefu-chat-widget .new-chat');
    const fresh = await view(page);
    expect(fresh.ended).toBe(false);
    expect(fresh.seqs).toEqual([]);
    await type(page, 'another question');
    const second = await until(() => page.evaluate<{ contactId: string } | null>('window.Kefu.conversation'), (c) => c !== null && c.contactId !== first);
    expect(second!.contactId).not.toBe(first);
    await desk.close();
    await context.close();
  });

  /** Ann on the demo agent page, logged in and available. */
  async function demoDesk(context: BrowserContext, s: Setup): Promise<Page> {
    const desk = await context.newPage();
    desk.on('pageerror', (err) => console.error('demo page error:', err));
    await desk.goto(`${kefuUrl}/demo/agent`);
    await desk.fill('#instanceId', s.instanceId);
    await desk.fill('#login', 'ann');
    await desk.fill('#password', 'password-123');
    await desk.click('#loginButton');
    await desk.waitForSelector('#workspace:not([hidden])');
    await desk.click('#presenceAvailable');
    await desk.waitForFunction("document.getElementById('presence').textContent === 'AVAILABLE'");
    return desk;
  }

  it('the demo agent page answers chats beside calls: two at once, replies, HTML as text, end', async () => {
    const s = await setup();
    const agentContext = await browser.newContext();
    const desk = await demoDesk(agentContext, s);

    const customers = [await browser.newContext(), await browser.newContext()];
    const ids: string[] = [];
    const widgets: Page[] = [];
    for (const [i, context] of customers.entries()) {
      const page = await openWidget(context, s);
      await page.evaluate('window.Kefu.open()');
      await type(page, `<b>customer ${i + 1}</b>`);
      ids.push(await contactOf(page));
      widgets.push(page);
      await desk.click(`.offer[data-state="OFFERED"] button.accept`, { timeout: 60_000 });
      await desk.waitForSelector(`.chat[data-contact-id="${ids[i]}"]`);
    }
    // Both chats are open side by side; the customers' text is shown as text.
    for (const [i, id] of ids.entries()) {
      const card = desk.locator(`.chat[data-contact-id="${id}"]`);
      await card.locator('.chat-msg.customer .text', { hasText: `<b>customer ${i + 1}</b>` }).waitFor();
      expect(await card.locator('.chat-log b').count()).toBe(0);
      await card.locator('.chat-input').fill(`reply ${i + 1} 😀 <i>x</i>`);
      await card.locator('.chat-send').click();
    }
    for (const [i, page] of widgets.entries()) await waitView(page, (v) => v.items.some((x) => x.text === `reply ${i + 1} 😀 <i>x</i>`) && v.subtitle === 'Chatting with Ann Agent');
    // Images both ways through the demo page: the customer's shows as a thumbnail, the agent's reaches the widget.
    const first = desk.locator(`.chat[data-contact-id="${ids[0]}"]`);
    await widgets[0]!.locator('kefu-chat-widget input[type=file]').setInputFiles({ name: 'photo.png', mimeType: 'image/png', buffer: png(80, 60) });
    await desk.waitForFunction(`(() => { const img = document.querySelector('.chat[data-contact-id="${ids[0]}"] .chat-msg.customer img.thumb'); return img && img.complete && img.naturalWidth > 0; })()`, null, { timeout: 30_000 });
    await first.locator('.chat-file').setInputFiles({ name: 'answer.png', mimeType: 'image/png', buffer: png(100, 50) });
    await waitView(widgets[0]!, (v) => v.items.some((x) => x.cls.includes('agent') && x.cls.includes('kind-image')));
    // The agent ends the first chat from the page: its customer sees the ended state, the second goes on.
    await desk.locator(`.chat[data-contact-id="${ids[0]}"] .chat-end`).click();
    await waitView(widgets[0]!, (v) => v.ended);
    await desk.waitForSelector(`.chat[data-contact-id="${ids[0]}"][data-ended="true"]`);
    expect((await view(widgets[1]!)).ended).toBe(false);
    await agentContext.close();
    for (const c of customers) await c.close();
  });

  it('a transfer from the demo page: the customer sees it and goes on with the second agent', async () => {
    const s = await setup({}, ['Ann Agent', 'Bob Agent']);
    const bob = s.agents[1]!;
    await t.ok(bob.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    const bobDesk = agentDesk(s, bob);
    const agentContext = await browser.newContext();
    const desk = await demoDesk(agentContext, s);
    // Bob is busy with another chat, so the customer's chat goes to Ann (SATURATION: the less loaded agent).
    const context = await browser.newContext();
    const page = await openWidget(context, s);
    await page.evaluate('window.Kefu.open()');
    await type(page, 'please help');
    const contactId = await contactOf(page);
    const accepted = await Promise.race([
      desk.click('.offer[data-state="OFFERED"] button.accept', { timeout: 60_000 }).then(() => 'ann'),
      until(async () => bobDesk.offers.received.find((o) => o.agentOffers.contact.id === contactId && o.agentOffers.state === 'OFFERED') ?? null, (o) => o !== null, 60_000).then(() => 'bob'),
    ]);
    // Whoever it rang first: Ann must take it on the demo page.
    if (accepted === 'bob') {
      const o = bobDesk.offers.received.find((x) => x.agentOffers.contact.id === contactId)!;
      await t.ok(bob.token, 'mutation($i: OfferInput!) { declineOffer(input: $i) { id } }', { i: { contactId, offerId: o.agentOffers.offerId } });
      await t.ok(bob.token, 'mutation { setPresence(input: { presence: BREAK }) { id } }');
      await desk.click('.offer[data-state="OFFERED"] button.accept', { timeout: 60_000 });
      await t.ok(bob.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    }
    const card = desk.locator(`.chat[data-contact-id="${contactId}"]`);
    await card.waitFor();
    await waitView(page, (v) => v.subtitle === 'Chatting with Ann Agent');
    await card.locator('.transfer-target').fill(bob.id);
    await card.locator('.transfer-note-input').fill('wants a refund');
    await card.locator('.transfer-agent').click();
    await until(
      async () => bobDesk.offers.received.find((o) => o.agentOffers.contact.id === contactId && o.agentOffers.state === 'OFFERED' && o.agentOffers.transfer !== null) ?? null,
      (o) => o !== null,
      60_000,
    ).then((o) => expect(o!.agentOffers.transfer!.note).toBe('wants a refund'));
    await bobDesk.accept(contactId);
    await waitView(page, (v) => v.subtitle === 'Chatting with Bob Agent' && v.items.some((i) => i.cls.includes('system-TRANSFERRED')));
    // Ann no longer holds the chat: she cannot write to it.
    const notHers = await t.gql(s.agent.token, 'mutation($input: SendChatMessageInput!) { sendChatMessage(input: $input) { seq } }', {
      input: { contactId, message: { clientMessageId: crypto.randomUUID(), text: 'Ann again' } },
    });
    expect(notHers.errors?.[0]?.extensions?.code).toMatch(/CONFLICT|FORBIDDEN|NOT_FOUND/);
    await t.ok(bob.token, `mutation($input: SendChatMessageInput!) { sendChatMessage(input: $input) { seq } }`, { input: { contactId, message: { clientMessageId: crypto.randomUUID(), text: 'Bob here' } } });
    await waitView(page, (v) => v.items.filter((i) => i.text === 'Bob here').length === 1);
    await card.locator('.chat-status', { hasText: 'transferred' }).waitFor();
    await bobDesk.close();
    await agentContext.close();
    await context.close();
  });

  it('the chat ends by itself when the customer stays silent (auto-end), and a blacklisted customer is turned away neutrally', async () => {
    const s = await setup({ chatIdleEndSeconds: 2 });
    const desk = agentDesk(s);
    const context = await browser.newContext();
    const page = await openWidget(context, s);
    await page.evaluate('window.Kefu.open()');
    await type(page, 'hello?');
    const contactId = await contactOf(page);
    await desk.accept(contactId);
    await agentSend(s, contactId, 'How can I help?');
    // The ENDED notice (the channel's auto-end prompt may follow it); the ended state can show a moment before
    // the notice is rendered.
    const idle = await waitView(page, (v) => v.ended && v.items.some((i) => i.cls.includes('system-ENDED')), 60_000);
    expect(idle.items.find((i) => i.cls.includes('system-ENDED'))?.text).toBe('The chat ended after a while without messages.');
    const conv = await t.ok<{ conversation: { endStatus: string } }>(s.adminKey, 'query($c: ID!) { conversation(contactId: $c) { endStatus } }', { c: contactId });
    expect(conv.conversation.endStatus).toBe('CUSTOMER_IDLE');

    // The agent blacklists this visitor: their next chat ends at once, without saying why.
    const visitorId = await page.evaluate<string>(`(() => JSON.parse(localStorage.getItem(Object.keys(localStorage).find((k) => k.startsWith('kefu:')))).visitorId)()`);
    await t.ok(s.agent.token, 'mutation($i: AddToBlacklistInput!) { addToBlacklist(input: $i) { id } }', { i: { channel: 'ONLINE', identity: visitorId, reason: 'abuse', contactId } });
    await page.click('kefu-chat-widget .new-chat');
    await type(page, 'me again');
    const refused = await waitView(page, (v) => v.ended && v.items.some((i) => i.cls.includes('system-ENDED')));
    expect(refused.items.find((i) => i.cls.includes('system-ENDED'))!.text).toBe('This chat has ended.');
    expect(JSON.stringify(refused)).not.toMatch(/blacklist/i);
    const second = await contactOf(page);
    expect(second).not.toBe(contactId);
    const blocked = await t.ok<{ conversation: { endStatus: string } }>(s.adminKey, 'query($c: ID!) { conversation(contactId: $c) { endStatus } }', { c: second });
    expect(blocked.conversation.endStatus).toBe('BLACKLISTED');
    await desk.close();
    await context.close();
  });

  it('with no agent online the header says so, and a chat the group refuses shows the no-agent text', async () => {
    const s = await setup({ whenNoAgentOnline: 'REJECT' });
    await t.ok(s.agent.token, 'mutation { setPresence(input: { presence: OFFLINE }) { id } }');
    const context = await browser.newContext();
    const page = await openWidget(context, s);
    await page.evaluate('window.Kefu.open()');
    await waitView(page, (v) => v.subtitle === 'No agent is online right now');
    await type(page, 'anyone there?');
    const v = await waitView(page, (x) => x.ended && x.items.some((i) => i.cls.includes('system-ENDED')));
    expect(v.items.find((i) => i.cls.includes('system-ENDED'))?.text).toBe('No agent is online right now. Please try again later.');
    await context.close();
  });

  it('two tabs of the site show one conversation and follow each other to a new chat', async () => {
    const s = await setup();
    const desk = agentDesk(s);
    const context = await browser.newContext();
    const tab1 = await openWidget(context, s);
    await tab1.evaluate('window.Kefu.open()');
    await type(tab1, 'from tab 1');
    const first = await contactOf(tab1);
    await desk.accept(first);
    const tab2 = await openWidget(context, s);
    await waitView(tab2, (v) => v.items.some((i) => i.text === 'from tab 1'));
    await type(tab2, 'from tab 2');
    await agentSend(s, first, 'to both tabs');
    for (const tab of [tab1, tab2]) await waitView(tab, (v) => ['from tab 1', 'from tab 2', 'to both tabs'].every((x) => v.items.filter((i) => i.text === x).length === 1));
    // The customer ends the chat and starts another in tab 2: tab 1 follows.
    await tab2.evaluate('window.Kefu.open()');
    await tab2.click('kefu-chat-widget .end-chat');
    await waitView(tab1, (v) => v.ended);
    await tab2.click('kefu-chat-widget .new-chat');
    await type(tab2, 'a new question');
    const second = await until(() => tab2.evaluate<{ contactId: string } | null>('window.Kefu.conversation'), (c) => c !== null && c.contactId !== first);
    await until(() => tab1.evaluate<{ contactId: string } | null>('window.Kefu.conversation'), (c) => c?.contactId === second!.contactId);
    await waitView(tab1, (v) => !v.ended && v.items.some((i) => i.text === 'a new question'));
    const texts = (await transcript(s, second!.contactId)).filter((m) => m.sender === 'CUSTOMER').map((m) => m.text);
    expect(texts).toEqual(['a new question']);
    // One new chat, not one per tab: tab 1 took in tab 2's message and could have started a chat of its own.
    const chats = await t.ok<{ contacts: { edges: { node: { id: string } }[] } }>(s.adminKey, 'query { contacts(first: 50, filter: { channel: ONLINE }) { edges { node { id } } } }');
    expect(chats.contacts.edges.map((e) => e.node.id).sort()).toEqual([first, second!.contactId].sort());
    await desk.close();
    await context.close();
  });

  it('fills the screen on a phone-sized viewport, in Chinese when the tag says so', async () => {
    const s = await setup();
    const context = await browser.newContext({ viewport: { width: 375, height: 667 }, isMobile: true, hasTouch: true });
    const page = await openWidget(context, s, '&locale=zh');
    await page.click('kefu-chat-widget .launcher');
    const box = await page.locator('kefu-chat-widget .panel').boundingBox();
    expect(box).toMatchObject({ x: 0, y: 0, width: 375, height: 667 });
    expect(await page.locator('kefu-chat-widget textarea').getAttribute('placeholder')).toBe('请输入消息…');
    await waitView(page, (v) => v.subtitle === '我们通常在几分钟内回复');
    await page.click('kefu-chat-widget .close');
    expect(await page.locator('kefu-chat-widget .panel').isHidden()).toBe(true);
    await context.close();
  });

  it('satisfaction (issue 12): when the agent ends the chat the widget asks with the instance\'s labels, takes a comment, thanks, and the record has it', async () => {
    const s = await setup();
    await t.ok(s.adminKey, 'mutation { configureSatisfactionSurvey(input: { scale: [{ value: 1, label: "Bad" }, { value: 2, label: "OK" }, { value: 3, label: "Great" }] }) { channels { online } } }');
    const desk = agentDesk(s);
    const context = await browser.newContext();
    const page = await openWidget(context, s);
    await page.evaluate('window.Kefu.open()');
    await type(page, 'rate me later');
    const contactId = await contactOf(page);
    await desk.accept(contactId);
    await waitView(page, (v) => v.subtitle === 'Chatting with Ann Agent');
    await t.ok(s.agent.token, 'mutation($c: ID!) { endContact(input: { contactId: $c }) { id } }', { c: contactId });
    await waitView(page, (v) => v.ended);
    const buttons = page.locator('kefu-chat-widget .rating .scale button');
    await until(() => buttons.allTextContents(), (labels) => labels.length === 3, 30_000);
    expect(await buttons.allTextContents()).toEqual(['Bad', 'OK', 'Great']);
    expect(await page.locator('kefu-chat-widget .rate-send').isDisabled()).toBe(true);
    await page.click('kefu-chat-widget .rating .scale button[data-value="3"]');
    await page.locator('kefu-chat-widget .rating textarea').fill('Fast answer, thanks');
    await page.click('kefu-chat-widget .rate-send');
    await page.locator('kefu-chat-widget .rate-thanks').waitFor({ timeout: 30_000 });
    expect(await page.locator('kefu-chat-widget .rate-thanks').textContent()).toBe('Thank you for your feedback!');
    const record = await until(
      () => t.ok<{ chatRecord: { satisfaction: { value: number; label: string; comment: string | null } | null } }>(s.adminKey, 'query($c: ID!) { chatRecord(contactId: $c) { satisfaction { value label comment } } }', { c: contactId }),
      (r) => r.chatRecord.satisfaction !== null,
      30_000,
    );
    expect(record!.chatRecord.satisfaction).toEqual({ value: 3, label: 'Great', comment: 'Fast answer, thanks' });
    // After a reload the chat is rated already: thanks, no buttons.
    await page.reload();
    await page.waitForFunction('window.Kefu && document.querySelector("kefu-chat-widget")');
    await page.locator('kefu-chat-widget .rate-thanks').waitFor({ state: 'attached', timeout: 30_000 });
    expect(await buttons.count()).toBe(0);
    await desk.close();
    await context.close();
  });
});
