// A chat message (or read mark) changes nothing an agent's workload is reconciled from (the chat's status, offer,
// consult, hand-overs): the router looks at the chat's timers (idle end) but reconciles no agent for it (issue 11:
// each message of a connected chat reconciled every contact its agent held). Any other event of the chat still does.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { randomUUID } from 'node:crypto';
import { streams } from '../../src/domain/streams.ts';
import { chatDesk, connectedChat, fromPage } from '../support/chat.ts';
import { startTestKefu, type TestKefu } from '../support/kefu.ts';
import { until } from '../support/until.ts';

const origin = 'https://shop.example';

/** The router's private steps, watched. */
interface RouterInside {
  reconcile(agentKey: string, entry: unknown): Promise<void>;
  timeIdleChat(key: string, contact: unknown): void;
  working: Promise<void>;
}

describe('router: chat messages reconcile no agent (pglite)', () => {
  let t: TestKefu;
  const page = fromPage(() => t, origin);
  beforeAll(async () => {
    t = await startTestKefu({ database: 'pglite', env: { KEFU_CHAT_LIMIT_MESSAGE: '1000/10' } });
  }, 180_000);
  afterAll(async () => t?.close());

  it('messages of a connected chat look at its timers, not at its agent; its end does', async () => {
    const { seed, ann, key } = await chatDesk(t, origin);
    const { customer, contactId } = await connectedChat(t, page, key, ann.token);

    const inside = t.kefu.router as unknown as RouterInside;
    await inside.working;
    const reconcile = vi.spyOn(inside, 'reconcile');
    const idle = vi.spyOn(inside, 'timeIdleChat');
    const chatKey = streams.contact(seed.instanceId, contactId);
    const agentKey = streams.agent(seed.instanceId, ann.id);
    const idleLooks = () => idle.mock.calls.filter(([k]) => k === chatKey).length;
    const send = (token: string, text: string) =>
      page.ok(token, 'mutation($input: SendChatMessageInput!) { sendChatMessage(input: $input) { seq } }', { input: { contactId, message: { clientMessageId: randomUUID(), text } } });
    for (const [n, token] of [customer, ann.token, customer].entries()) {
      const before = idleLooks();
      await send(token, `message ${n}`);
      // The router's pass for the message: the chat's idle timer looked at.
      await until(async () => idleLooks(), (c) => c > before, 30_000);
      await inside.working;
    }
    expect(reconcile.mock.calls.filter(([k]) => k === agentKey)).toHaveLength(0);

    // The customer ends the chat: its agent is reconciled (the contact is finished for them).
    await page.ok(customer, 'mutation($c: ID!) { endChat(input: { contactId: $c }) { status } }', { c: contactId });
    await until(async () => reconcile.mock.calls.filter(([k]) => k === agentKey).length, (c) => c > 0, 30_000);
  }, 120_000);
});
