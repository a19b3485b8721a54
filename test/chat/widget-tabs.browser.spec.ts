// Two tabs of one site (issue 11): a customer who types the chat's first message in two tabs at the same
// moment gets one chat, not two. The widget starts a chat under a lock all its tabs share (navigator.locks;
// a lease in localStorage where the browser has no Web Locks) and, under it, takes over the chat another tab
// stored. Headless Chromium, one browser context (one localStorage) with two pages, each round a fresh
// context; both ways of locking. Under CI a missing Chromium fails the test.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, requireChromium, startSiteServer, widgetPage, type SiteServer } from '../support/browser.ts';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { until } from '../support/until.ts';

describe('the widget in two tabs (Chromium)', () => {
  let t: TestKefu;
  let browser: Browser;
  let shop: SiteServer;
  let pageOrigin: string;
  let kefuUrl: string;
  let seed: Awaited<ReturnType<typeof seedInstance>>;

  beforeAll(async () => {
    requireChromium();
    t = await startTestKefu({ database: 'pglite', listen: true, env: { HOST: '127.0.0.1' } });
    kefuUrl = `http://127.0.0.1:${(t.kefu.app.server.address() as { port: number }).port}`;
    shop = await startSiteServer();
    pageOrigin = shop.origin;
    browser = await launchChromium();
    seed = await seedInstance(t, { name: 'Tabs' });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await shop?.close();
    await t?.close();
  });

  async function site(): Promise<{ key: string; channelId: string }> {
    const g = await t.ok<{ createSkillGroup: { id: string } }>(seed.adminKey, 'mutation($input: CreateSkillGroupInput!) { createSkillGroup(input: $input) { id } }', {
      input: { name: `Web ${shop.pages.size}`, channel: 'ONLINE', maxConcurrency: 3 },
    });
    const ch = await t.ok<{ createWebChannel: { webChannel: { id: string; publicKey: string } } }>(
      seed.adminKey,
      'mutation($input: CreateWebChannelInput!) { createWebChannel(input: $input) { webChannel { id publicKey } } }',
      { input: { name: `Site ${shop.pages.size}`, allowedOrigins: [pageOrigin], skillGroupId: g.createSkillGroup.id } },
    );
    const { id, publicKey } = ch.createWebChannel.webChannel;
    shop.pages.set(publicKey, widgetPage(kefuUrl, publicKey));
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
