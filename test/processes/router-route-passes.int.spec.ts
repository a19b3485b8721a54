// A routing pass goes over every queued contact of the instance. A chat's message changes nothing a pass reads, so
// it makes no pass (issue 13: each of 500 WeChat messages/s made one over 1,000 waiting chats); a change that
// routing reads (a chat queued) still does, and a message's chat still has its timers looked at.
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { CommandHandler } from '../../src/adapters/eventstore/command-handler.ts';
import type { SqlClient } from '../../src/adapters/sql/sql-client.ts';
import { contactDecider } from '../../src/domain/contact/contact.decide.ts';
import type { CommandMetadata } from '../../src/domain/decider.ts';
import { skillGroupDecider } from '../../src/domain/skill-group/skill-group.decide.ts';
import { streams } from '../../src/domain/streams.ts';
import { Router } from '../../src/processes/router/router.ts';
import { startTestKefu, type TestKefu } from '../support/kefu.ts';
import { until } from '../support/until.ts';

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** The router's private steps, watched. */
interface RouterInside {
  work(): Promise<void>;
  route(instanceId: string): Promise<void>;
  timeIdleChat(key: string, contact: unknown): void;
  working: Promise<void>;
}

describe('router passes (pglite)', () => {
  let t: TestKefu;
  let router: Router | null = null;
  beforeAll(async () => {
    t = await startTestKefu({ database: 'pglite' });
    await t.kefu.router.stop();
  });
  afterEach(async () => {
    await router?.stop();
    router = null;
  });
  afterAll(async () => t?.close());

  it('routes again when a chat is queued, not when a queued chat gets a message', async () => {
    const instanceId = randomUUID();
    const meta = (): CommandMetadata => ({ now: new Date().toISOString(), instanceId, actor: 'test', correlationId: randomUUID() });
    const commands = new CommandHandler(t.kefu.store);
    const groupId = randomUUID();
    await commands.handle(streams.skillGroup(instanceId, groupId), skillGroupDecider, {
      type: 'CreateSkillGroup',
      data: { skillGroupId: groupId, name: 'Chat', channel: 'ONLINE', strategy: 'SATURATION', maxConcurrency: 2, ringTimeoutSeconds: 30, wrapUpSeconds: 0 },
      metadata: meta(),
    });
    // No agent: the chats wait in the queue.
    const queueChat = async () => {
      const contactId = randomUUID();
      const stream = streams.contact(instanceId, contactId);
      await commands.handle(stream, contactDecider, {
        type: 'CreateContact',
        data: { contactId, channel: 'ONLINE', direction: 'IN', customer: { kind: 'WEB', id: contactId, name: null }, data: {} },
        metadata: meta(),
      });
      await commands.handle(stream, contactDecider, { type: 'QueueContact', data: { contactId, skillGroupId: groupId, priority: 0 }, metadata: meta() });
      return { contactId, stream };
    };
    const chats = [await queueChat(), await queueChat(), await queueChat()];

    const alwaysLead = { ...t.kefu.sql, tryLease: async () => ({ lost: new Promise<void>(() => undefined), release: async () => undefined }) } as SqlClient;
    router = new Router({ store: t.kefu.store, commands: new CommandHandler(t.kefu.store), sql: alwaysLead, logger: silent });
    const inside = router as unknown as RouterInside;
    const work = vi.spyOn(inside, 'work');
    const route = vi.spyOn(inside, 'route');
    const idle = vi.spyOn(inside, 'timeIdleChat');
    await router.start();
    // The pass of the catch-up (everything looked at once), then quiet.
    await until(async () => route.mock.calls.some(([i]) => i === instanceId), (seen) => seen);
    await inside.working;
    const routesOfInstance = () => route.mock.calls.filter(([i]) => i === instanceId).length;
    const passesBefore = routesOfInstance();

    // Messages to the queued chats: each is looked at (its timers) by a pass of work, none routes the instance again.
    for (const [n, chat] of chats.entries()) {
      const worked = work.mock.calls.length;
      const idleBefore = idle.mock.calls.filter(([key]) => key === chat.stream).length;
      await commands.handle(chat.stream, contactDecider, {
        type: 'RecordMessage',
        data: { contactId: chat.contactId, messageId: randomUUID(), clientMessageId: `m${n}`, kind: 'TEXT', text: `hello ${n}`, attachment: null, from: 'CUSTOMER', agentId: null },
        metadata: meta(),
      });
      await until(async () => idle.mock.calls.filter(([key]) => key === chat.stream).length, (c) => c > idleBefore);
      await until(async () => work.mock.calls.length, (c) => c > worked);
      await inside.working;
    }
    expect(routesOfInstance()).toBe(passesBefore);

    // A chat queued: the instance is routed again (what routing reads changed).
    await queueChat();
    await until(async () => routesOfInstance(), (c) => c > passesBefore);
  });
});
