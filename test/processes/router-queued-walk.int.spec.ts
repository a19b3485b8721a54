// A routing pass walks the contacts queued now, not every contact the router has seen (it keeps them all, ended
// ones too; issue 11: each pass walked them twice, several passes a second under a chat load). Queued chats are
// still offered, in queue order.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acceptWhenOffered, chatDesk, fromPage } from '../support/chat.ts';
import { startTestKefu, type TestKefu } from '../support/kefu.ts';
import { until } from '../support/until.ts';

const origin = 'https://shop.example';

interface RouterInside {
  contacts: Map<string, unknown>;
  route(instanceId: string): Promise<void>;
  working: Promise<void>;
}

describe('router: a routing pass walks the queued contacts only (pglite)', () => {
  let t: TestKefu;
  const page = fromPage(() => t, origin);
  beforeAll(async () => {
    t = await startTestKefu({ database: 'pglite' });
  }, 180_000);
  afterAll(async () => t?.close());

  it('routes queued chats without walking every contact', async () => {
    const { ann, key } = await chatDesk(t, origin, { maxConcurrency: 1, available: false });
    const status = (token: string, contactId: string) => page.ok<{ conversation: { status: string } }>(token, 'query($c: ID!) { conversation(contactId: $c) { status } }', { c: contactId });

    // Chats the router has seen and that ended.
    await t.ok(ann.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    for (let i = 0; i < 3; i++) {
      const customer = await page.customerToken(key);
      const contactId = await page.startChat(customer);
      await acceptWhenOffered(t, ann.token, contactId);
      await page.ok(customer, 'mutation($c: ID!) { endChat(input: { contactId: $c }) { status } }', { c: contactId });
      await until(() => status(customer, contactId), (r) => r.conversation.status === 'ENDED', 30_000);
    }

    const inside = t.kefu.router as unknown as RouterInside;
    await inside.working;
    let walks = 0;
    let passes = 0;
    const contacts = inside.contacts;
    const walk = contacts[Symbol.iterator].bind(contacts);
    const entries = contacts.entries.bind(contacts);
    Object.assign(contacts, {
      [Symbol.iterator]: () => (walks++, walk()),
      entries: () => (walks++, entries()),
    });
    const route = inside.route.bind(inside);
    inside.route = (instanceId: string) => (passes++, route(instanceId));
    try {
      // Two chats wait (Ann can take one at a time), then are offered one after the other, first come first served.
      await t.ok(ann.token, 'mutation { setPresence(input: { presence: BREAK }) { id } }');
      const first = await page.customerToken(key);
      const firstId = await page.startChat(first);
      const second = await page.customerToken(key);
      const secondId = await page.startChat(second);
      await until(() => status(second, secondId), (r) => r.conversation.status === 'QUEUED', 30_000);
      await t.ok(ann.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
      await acceptWhenOffered(t, ann.token, firstId);
      expect((await status(second, secondId)).conversation.status).toBe('QUEUED');
      await page.ok(first, 'mutation($c: ID!) { endChat(input: { contactId: $c }) { status } }', { c: firstId });
      await acceptWhenOffered(t, ann.token, secondId);
      await inside.working;
    } finally {
      inside.route = route;
    }
    expect(passes).toBeGreaterThan(0);
    expect(walks).toBe(0);
  }, 120_000);
});
