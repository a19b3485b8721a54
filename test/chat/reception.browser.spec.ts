// Reception prompts (issue 12 item 2) as the customer sees them in the widget, in headless Chromium on a page
// of another origin: the channel's welcome at the top, the queue place and "no agent online" while waiting,
// the agent who took the chat, the agent's end text; off the channel's work hours (Kefu's clock set by the
// test), the off-hours text and the ended state. With the welcome prompt off the widget shows no greeting of
// its own; before a chat it says whether anyone can answer now (leave a message, closed) instead of a queue
// promise. Under CI a missing Chromium fails the test (it never skips).
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, requireChromium, startSiteServer, widgetPage, type SiteServer } from '../support/browser.ts';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { until } from '../support/until.ts';
import { nextUtc, testClock } from '../support/test-clock.ts';

interface View {
  welcome: string;
  welcomeHidden: boolean;
  subtitle: string;
  system: { cls: string; text: string }[];
  prompts: { seq: number; cls: string; text: string; hidden: boolean }[];
  ended: boolean;
}

describe('reception prompts in the widget (Chromium)', () => {
  let t: TestKefu;
  let browser: Browser;
  let shop: SiteServer;
  let pageOrigin: string;
  let kefuUrl: string;
  let seed: Awaited<ReturnType<typeof seedInstance>>;
  const clock = testClock();

  beforeAll(async () => {
    requireChromium();
    t = await startTestKefu({ database: 'pglite', listen: true, env: { HOST: '127.0.0.1' }, clock: clock.now });
    kefuUrl = `http://127.0.0.1:${(t.kefu.app.server.address() as { port: number }).port}`;
    shop = await startSiteServer();
    pageOrigin = shop.origin;
    browser = await launchChromium();
    seed = await seedInstance(t, { agents: [{ name: 'Ann Agent', login: 'ann' }] });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await shop?.close();
    await t?.close();
  });

  async function site(input: Record<string, unknown>): Promise<string> {
    const g = await t.ok<{ createSkillGroup: { id: string } }>(seed.adminKey, 'mutation($input: CreateSkillGroupInput!) { createSkillGroup(input: $input) { id } }', {
      input: { name: `Web ${shop.pages.size}`, channel: 'ONLINE', maxConcurrency: 3, ringTimeoutSeconds: 120 },
    });
    await t.ok(seed.adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: g.createSkillGroup.id, a: seed.agents[0]!.id });
    const ch = await t.ok<{ createWebChannel: { webChannel: { publicKey: string } } }>(
      seed.adminKey,
      'mutation($input: CreateWebChannelInput!) { createWebChannel(input: $input) { webChannel { publicKey } } }',
      { input: { name: 'Site', allowedOrigins: [pageOrigin], skillGroupId: g.createSkillGroup.id, ...input } },
    );
    const key = ch.createWebChannel.webChannel.publicKey;
    shop.pages.set(key, widgetPage(kefuUrl, key));
    return key;
  }

  async function open(key: string): Promise<Page> {
    const page = await (await browser.newContext()).newPage();
    page.on('pageerror', (err) => console.error('page error:', err));
    await page.goto(`${pageOrigin}/?key=${encodeURIComponent(key)}`);
    await page.waitForFunction('window.Kefu && document.querySelector("kefu-chat-widget")');
    await page.click('kefu-chat-widget .launcher');
    return page;
  }

  const view = (page: Page) =>
    page.evaluate<View>(`(() => {
      const r = document.querySelector('kefu-chat-widget').shadowRoot;
      return {
        welcome: r.querySelector('.welcome').textContent,
        welcomeHidden: r.querySelector('.welcome').hidden,
        subtitle: r.querySelector('.subtitle').textContent,
        system: [...r.querySelectorAll('.log > .system')].map((el) => ({ cls: el.className, text: el.textContent })),
        prompts: [...r.querySelectorAll('.log > .prompt')].map((el) => ({ seq: Number(el.dataset.seq), cls: el.className, text: el.textContent, hidden: el.hidden })),
        ended: !r.querySelector('.ended').hidden,
      };
    })()`);
  const waitView = (page: Page, ok: (v: View) => boolean) => until(() => view(page), ok, 30_000);
  const shown = (v: View) => v.prompts.filter((p) => !p.hidden).map((p) => p.text);

  async function type(page: Page, text: string): Promise<void> {
    const box = page.locator('kefu-chat-widget textarea');
    await box.fill(text);
    await box.press('Enter');
  }

  it('welcome, queue place, no agent online, the agent who took the chat and their end, in the widget', async () => {
    const ann = seed.agents[0]!;
    await t.ok(ann.token, 'mutation { setPresence(input: { presence: OFFLINE }) { id } }');
    const key = await site({ welcomeText: 'Welcome to Acme!', receptionPrompts: { noAgentOnline: { text: 'Nobody is here yet; we will answer soon.' } } });
    const page = await open(key);
    await type(page, 'Hello?');
    const waiting = await waitView(page, (v) => shown(v).length >= 2);
    // The welcome prompt is the greeting at the top (its row stays hidden); the others come in order.
    expect(waiting.welcome).toBe('Welcome to Acme!');
    expect(waiting.prompts.find((p) => p.cls.includes('prompt-WELCOME'))).toMatchObject({ hidden: true });
    expect(shown(waiting)).toEqual(['You are number 1 in the queue. An agent will be with you as soon as possible.', 'Nobody is here yet; we will answer soon.']);

    const contactId = (await page.evaluate<{ contactId: string }>('window.Kefu.conversation')).contactId;
    await t.ok(ann.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    const offered = await until(
      () => t.ok<{ contact: { status: string; offer: { offerId: string } | null } }>(ann.token, 'query($id: ID!) { contact(id: $id) { status offer { offerId } } }', { id: contactId }).catch(() => null),
      (r) => r?.contact.status === 'OFFERED',
      30_000,
    );
    await t.ok(ann.token, 'mutation($c: ID!, $o: ID!) { acceptOffer(input: { contactId: $c, offerId: $o }) { status } }', { c: contactId, o: offered!.contact.offer!.offerId });
    await waitView(page, (v) => shown(v).includes('You are now chatting with Ann Agent.'));
    await t.ok(ann.token, 'mutation($c: ID!) { endContact(input: { contactId: $c }) { id } }', { c: contactId });
    const ended = await waitView(page, (v) => v.ended && shown(v).length === 4);
    expect(shown(ended).at(-1)).toBe('Ann Agent has ended the chat. Thank you for contacting us!');
    // Each prompt once, in the conversation's order.
    const seqs = ended.prompts.map((p) => p.seq);
    expect(seqs).toEqual([...new Set(seqs)].sort((a, b) => a - b));
    await page.context().close();
  });

  it('off the work hours (Kefu\'s clock set to a Sunday night) the widget says so, the customer reads the off-hours text and the chat is over', async () => {
    const key = await site({
      workHours: { timeZone: 'UTC', weekly: [{ days: ['MON', 'TUE', 'WED', 'THU', 'FRI'], open: '09:00', close: '18:00' }] },
      receptionPrompts: { offHours: { text: 'We are closed today. Please come back tomorrow.' } },
    });
    await t.ok(seed.agents[0]!.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    try {
      clock.setTo(nextUtc(0, 3));
      const page = await open(key);
      // Before any chat: closed, though an agent is online (no "leave a message": off hours this channel takes none).
      await waitView(page, (x) => x.subtitle === 'We are closed right now');
      await type(page, 'Anyone there?');
      const v = await waitView(page, (x) => x.ended && shown(x).length === 1);
      expect(shown(v)).toEqual(['We are closed today. Please come back tomorrow.']);
      await page.context().close();
      // A weekday at 10:00 the same channel is open.
      clock.setTo(nextUtc(2, 10));
      const later = await open(key);
      await waitView(later, (x) => x.subtitle === 'We usually reply in a few minutes');
      await later.context().close();
    } finally {
      clock.reset();
      await t.ok(seed.agents[0]!.token, 'mutation { setPresence(input: { presence: OFFLINE }) { id } }');
    }
  });

  it('with the welcome prompt off the widget greets with nothing of its own; with nobody online it asks for a message, not a queue promise', async () => {
    await t.ok(seed.agents[0]!.token, 'mutation { setPresence(input: { presence: OFFLINE }) { id } }');
    const key = await site({ welcomeText: 'Welcome to Acme!', receptionPrompts: { welcome: { enabled: false } } });
    const page = await open(key);
    const before = await waitView(page, (x) => x.subtitle === 'No agent is online right now: leave a message and we will answer here');
    expect(before).toMatchObject({ welcome: '', welcomeHidden: true });
    await type(page, 'Is the shop open on Sunday?');
    const waiting = await waitView(page, (x) => x.system.some((m) => m.cls.includes('system-QUEUED')) && shown(x).length >= 1);
    expect(waiting.system.find((m) => m.cls.includes('system-QUEUED'))!.text).toBe('Your message is kept: an agent will answer here as soon as one is available.');
    expect(waiting).toMatchObject({ welcome: '', welcomeHidden: true });
    expect(waiting.prompts.some((p) => p.cls.includes('prompt-WELCOME'))).toBe(false);
    await page.context().close();
  });
});
