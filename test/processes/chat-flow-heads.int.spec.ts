// A chat's start asks which version of its channel's flow is current (issue 12: 0.33 statements per send of the
// chat-flow bench). Each process keeps it in memory (ChatFlowHeads) until the flows projection publishes a change of
// the flow on the bus: two Kefu processes on one PostgreSQL and one NATS send no statement for it after their first
// start, and a version published through one is used by the next chats started through either, well before the
// 30 s backstop.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { fromPage } from '../support/chat.ts';
import { watchQueries } from '../support/read-model.ts';

const origin = 'https://shop.example';
/** The flow's head (ChatFlowHeads' read, as loadChatFlowFromReadModel's before). */
const headStatement = /^select "version", "kind", "deleted_at" from "flows"/;

describe('a chat flow\'s current version kept until its change is heard (two processes, NATS)', () => {
  let a: TestKefu;
  let b: TestKefu;
  const reads = new Map<TestKefu, number>();
  beforeAll(async () => {
    a = await startTestKefu({ database: 'postgres', nats: true });
    b = await startTestKefu({ nats: true, env: { DATABASE_URL: a.databaseUrl! } });
    for (const t of [a, b]) {
      reads.set(t, 0);
      watchQueries(t.kefu.sql, (text) => {
        if (headStatement.test(text)) reads.set(t, reads.get(t)! + 1);
      });
    }
  }, 120_000);
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  it('reads the head once per process, and the next chats after a new version use it in both', async () => {
    const seed = await seedInstance(a, { name: 'Heads' });
    const admin = fromPage(() => a, origin);
    const groupId = (await admin.ok<{ createSkillGroup: { id: string } }>(seed.adminKey, 'mutation { createSkillGroup(input: { name: "Web", channel: ONLINE }) { id } }')).createSkillGroup.id;
    // Version 1 ends the chat at once; version 2 takes a message for the group (the chat stays open).
    const one = { start: 'e', nodes: [{ id: 'e', type: 'end', text: 'Version one' }] };
    const two = { start: 'l', nodes: [{ id: 'l', type: 'leaveMessage', text: 'Version two', skillGroupId: groupId }] };
    const flowId = (await admin.ok<{ createFlow: { id: string } }>(seed.adminKey, 'mutation($input: CreateFlowInput!) { createFlow(input: $input) { id } }', { input: { name: 'Heads', kind: 'CHAT', definition: one } })).createFlow.id;
    const key = (
      await admin.ok<{ createWebChannel: { webChannel: { publicKey: string } } }>(seed.adminKey, 'mutation($input: CreateWebChannelInput!) { createWebChannel(input: $input) { webChannel { publicKey } } }', {
        input: { name: 'Shop', allowedOrigins: [origin], skillGroupId: groupId, flowId },
      })
    ).createWebChannel.webChannel.publicKey;

    /** A chat started through `t`: whether the flow ended it at once (version 1), and the head statements it sent. */
    const start = async (t: TestKefu) => {
      const page = fromPage(() => t, origin);
      const token = await page.customerToken(key);
      const before = reads.get(t)!;
      const chat = (await page.ok<{ startChat: { status: string } }>(token, 'mutation($input: StartChatInput!) { startChat(input: $input) { status } }', { input: { clientChatId: randomUUID() } })).startChat;
      return { ended: chat.status === 'ENDED', statements: reads.get(t)! - before };
    };

    for (const t of [a, b]) {
      expect((await start(t)).ended).toBe(true);
      // Kept: the next starts send no statement for the head.
      expect(await start(t)).toEqual({ ended: true, statements: 0 });
      expect(await start(t)).toEqual({ ended: true, statements: 0 });
      // The widget's look at the channel (its flow's hours, whether a message can be left) asks the same memory.
      const page = fromPage(() => t, origin);
      const token = await page.customerToken(key);
      const before = reads.get(t)!;
      await page.ok(token, '{ customerWebChannel { withinWorkHours takesMessages availability } }');
      expect(reads.get(t)! - before).toBe(0);
    }

    await admin.ok(seed.adminKey, 'mutation($input: UpdateFlowInput!) { updateFlow(input: $input) { id } }', { input: { id: flowId, definition: two } });
    // Heard in both processes once the projection wrote it: within 10 s (the backstop is 30 s), then kept again.
    for (const t of [a, b]) {
      const deadline = Date.now() + 10_000;
      let chat = await start(t);
      while (chat.ended) {
        if (Date.now() > deadline) throw new Error('the new version was not used within 10 s');
        await new Promise((r) => setTimeout(r, 100));
        chat = await start(t);
      }
      expect(await start(t)).toEqual({ ended: false, statements: 0 });
    }
  }, 120_000);
});
