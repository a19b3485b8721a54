// Two tabs of one site (issue 11): a customer who types the chat's first message in two tabs at the same
// moment gets one chat, not two. The widget starts a chat under a lock all its tabs share (navigator.locks;
// a lease in localStorage where the browser has no Web Locks) and, under it, takes over the chat another tab
// stored. Headless Chromium, one browser context (one localStorage) with two pages, each round a fresh
// context; both ways of locking. Under CI a missing Chromium fails the test.
import { existsSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { until } from '../support/until.ts';

const CHROMIUM = process.env.KEFU_TEST_CHROMIUM ?? '/usr/bin/chromium';

describe('the widget in two tabs (Chromium)', () => {
  let t: TestKefu;
  let browser: Browser;
  let pageServer: HttpServer;
  let pageOrigin: string;
  let kefuUrl: string;
  let seed: Awaited<ReturnType<typeof seedInstance>>;
  const pages = new Map<string, string>();

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium is not installed at ${CHROMIUM} (Debian package chromium, or set KEFU_TEST_CHROMIUM)`);
    t = await startTestKefu({ database: 'pglite', listen: true, env: { HOST: '127.0.0.1' } });
    kefuUrl = `http://127.0.0.1:${(t.kefu.app.server.address() as { port: number }).port}`;
    pageServer = createHttpServer((req, res) => {
      const html = pages.get(new URL(req.url ?? '/', 'http://x').searchParams.get('key') ?? '');
      if (!html) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
    });
    await new Promise<void>((r) => pageServer.listen(0, '127.0.0.1', r));
    pageOrigin = `http://127.0.0.1:${(pageServer.address() as { port: number }).port}`;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
    seed = await seedInstance(t, { name: 'Tabs' });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((r) => (pageServer ? pageServer.close(() => r()) : r()));
    await t?.close();
  });

  async function site(): Promise<{ key: string; channelId: string }> {
    const g = await t.ok<{ createSkillGroup: { id: string } }>(seed.adminKey, 'mutation($input: CreateSkillGroupInput!) { createSkillGroup(input: $input) { id } }', {
      input: { name: `Web ${pages.size}`, channel: 'ONLINE', maxConcurrency: 3 },
    });
    const ch = await t.ok<{ createWebChannel: { webChannel: { id: string; publicKey: string } } }>(
      seed.adminKey,
      'mutation($input: CreateWebChannelInput!) { createWebChannel(input: $input) { webChannel { id publicKey } } }',
      { input: { name: `Site ${pages.size}`, allowedOrigins: [pageOrigin], skillGroupId: g.createSkillGroup.id } },
    );
    const { id, publicKey } = ch.createWebChannel.webChannel;
    pages.set(publicKey, `<!doctype html><html><head><meta charset="utf-8"><title>Shop</title></head><body><script src="${kefuUrl}/widget.js" data-channel-key="${publicKey}" async></script></body></html>`);
    return { key: publicKey, channelId: id };
  }

  async function openTab(context: BrowserContext, key: string): Promise<Page> {
    const page = await context.newPage();
    page.on('pageerror', (err) => console.error('page error:', err));
    await page.goto(`${pageOrigin}/?key=${encodeURIComponent(key)}`);
    await page.waitForFunction('window.Kefu && document.querySelector("kefu-chat-widget")');
    await page.evaluate('window.Kefu.open()');
    return page;
  }

  const contactOf = (page: Page) => until(() => page.evaluate<string | null>('window.Kefu.conversation && window.Kefu.conversation.contactId'), (c) => c !== null, 60_000);

  for (const locking of ['Web Locks', 'the localStorage lease'] as const) {
    it(`two tabs sending the first message at the same moment start one chat, with both messages (${locking})`, async () => {
      const { key, channelId } = await site();
      for (let round = 0; round < 3; round++) {
        const context = await browser.newContext();
        // A browser without Web Locks: the widget falls back to its lease in localStorage.
        if (locking === 'the localStorage lease') await context.addInitScript('Object.defineProperty(Navigator.prototype, "locks", { get: () => undefined, configurable: true })');
        const [a, b] = [await openTab(context, key), await openTab(context, key)];
        // Both tabs have their session before the race (the visitor id is shared through localStorage).
        await until(() => Promise.all([a, b].map((p) => p.evaluate<string | null>(`JSON.parse(localStorage.getItem('kefu:${key}') || '{}').token || null`))), (x) => x.every(Boolean));
        expect(await a.evaluate('typeof navigator.locks')).toBe(locking === 'Web Locks' ? 'object' : 'undefined');
        const before = await t.kefu.db.selectFrom('contacts').select('id').where('web_channel_id', '=', channelId).execute();
        await Promise.all([a.evaluate(`window.Kefu.send('From tab A, round ${round}')`), b.evaluate(`window.Kefu.send('From tab B, round ${round}')`)]);
        const [ca, cb] = [await contactOf(a), await contactOf(b)];
        expect(ca).toBe(cb);
        // Both messages in that one chat, each once.
        const transcript = await until(
          async () =>
            (await t.ok<{ chatTranscript: { messages: { sender: string; text: string | null }[] } }>(seed.adminKey, 'query($c: ID!) { chatTranscript(contactId: $c) { messages { sender text } } }', { c: ca })).chatTranscript.messages.filter(
              (m) => m.sender === 'CUSTOMER',
            ),
          (m) => m.length >= 2,
          60_000,
        );
        expect(transcript.map((m) => m.text).sort()).toEqual([`From tab A, round ${round}`, `From tab B, round ${round}`]);
        const after = await t.kefu.db.selectFrom('contacts').select('id').where('web_channel_id', '=', channelId).execute();
        expect(after.length - before.length).toBe(1);
        await context.close();
      }
    });
  }
});
