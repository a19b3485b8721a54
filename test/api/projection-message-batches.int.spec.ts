// Chat messages in batches (issue 11, the send path's throughput): the contacts and chatRecords projections
// store a run of messages in a few statements instead of one or more per message (issue 12: with a chat flow
// step's choice, variables and queue among them; read marks too). Whatever the batches, the
// rows and the bus messages must be those of applying the events one at a time, and a replayed run (all of
// it, or overlapping what was applied) must change nothing.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contactDecider, type ContactCommand } from '../../src/domain/contact/contact.decide.ts';
import type { RecordedEvent } from '../../src/domain/ports/event-store.ts';
import { streams } from '../../src/domain/streams.ts';
import { callRecordsProjection } from '../../src/projections/call-records/call-records.projection.ts';
import { chatRecordsProjection } from '../../src/projections/chat-records/chat-records.projection.ts';
import { contactsProjection } from '../../src/projections/contacts/contacts.projection.ts';
import type { Projection } from '../../src/projections/projection.ts';
import { startTestKefu, type TestKefu } from '../support/kefu.ts';

const instanceId = `batches-${randomUUID()}`;
const projections = [contactsProjection, chatRecordsProjection];

/** Events of two chats, interleaved as a busy instance's log has them, made by the real decider. */
function history(): RecordedEvent[] {
  const t0 = Date.parse('2026-03-01T09:00:00.000Z');
  let tick = 0;
  const chats = new Map<string, { state: ReturnType<typeof contactDecider.initialState>; revision: number }>();
  const out: RecordedEvent[] = [];
  const run = (contactId: string, type: ContactCommand['type'], data: Record<string, unknown>) => {
    // 1.3 s apart: durations round (first response, queue time).
    const now = new Date(t0 + ++tick * 1300).toISOString();
    const chat = chats.get(contactId) ?? { state: contactDecider.initialState(), revision: -1 };
    const command = { type, data: { contactId, ...data }, metadata: { now, instanceId, actor: 'test', correlationId: randomUUID() } } as ContactCommand;
    const events = contactDecider.decide(command, chat.state);
    for (const e of events) {
      chat.state = contactDecider.evolve(chat.state, e);
      chat.revision++;
      out.push({
        id: randomUUID(),
        streamId: streams.contact(instanceId, contactId),
        revision: chat.revision,
        type: e.type,
        data: e.data as unknown as Record<string, unknown>,
        metadata: { instanceId, actor: 'test', correlationId: randomUUID(), causationId: null, occurredAt: now },
        position: { commit: BigInt(out.length + 1), prepare: BigInt(out.length + 1) },
      });
    }
    chats.set(contactId, chat);
  };
  const a = randomUUID();
  const b = randomUUID();
  const start = (id: string, first: boolean) =>
    run(id, 'StartChat', {
      customer: { kind: 'WEB', id: `visitor-${id}`, name: null },
      data: {},
      source: { kind: 'WEB', webChannelId: 'web-1', clientChatId: randomUUID(), verified: false, pageUrl: 'https://shop.example/', referrer: null, userAgent: 'test', address: '203.0.113.9' },
      skillGroupId: 'group-1',
      priority: 0,
      reject: null,
      firstMessage: first ? { messageId: randomUUID(), clientMessageId: randomUUID(), text: 'Hello 🙂' } : null,
    });
  const say = (id: string, from: 'CUSTOMER' | 'AGENT', text: string) =>
    run(id, 'RecordMessage', { messageId: randomUUID(), clientMessageId: randomUUID(), from, agentId: from === 'AGENT' ? 'ann' : null, kind: 'TEXT', text, attachment: null });
  const connect = (id: string) => {
    const offerId = randomUUID();
    run(id, 'OfferContact', { offerId, agentIds: ['ann'], expiresAt: new Date(t0 + 86_400_000).toISOString() });
    run(id, 'AcceptOffer', { offerId, agentId: 'ann' });
  };
  // A chat through a flow (issue 12): the flow's steps put a choice, variables and the queue among the messages.
  const c = randomUUID();
  const waiting = (nodeId: string) => ({ status: 'waiting', nodeId, failures: 0, afterHours: false, now: new Date(t0).toISOString(), variables: {} });
  let steps = 0;
  const step = (actions: unknown[], position: unknown, answer: string | null) =>
    run(c, 'AdvanceChatFlow', {
      flowId: 'flow-1',
      version: 1,
      fromStep: steps++,
      actions,
      position,
      message: answer === null ? null : { messageId: randomUUID(), clientMessageId: randomUUID(), kind: 'TEXT', text: answer, attachment: null },
    });
  const send = (text: string) => ({ type: 'send', text, image: null, options: null });
  const startFlow = () => {
    run(c, 'StartChat', {
      customer: { kind: 'WEB', id: `visitor-${c}`, name: null },
      data: { page: 'checkout' },
      source: { kind: 'WEB', webChannelId: 'web-2', clientChatId: randomUUID(), verified: false, pageUrl: null, referrer: null, userAgent: 'test', address: null },
      skillGroupId: 'group-1',
      priority: 0,
      reject: null,
      firstMessage: null,
      flowId: 'flow-1',
    });
    step([{ type: 'send', text: 'How can we help?', image: null, options: [{ number: 1, label: 'My order' }] }], waiting('menu'), null);
  };
  start(a, true);
  startFlow();
  start(b, false);
  step([{ type: 'chosen', nodeId: 'menu', number: 1, label: 'My order' }, send('Your order number?')], waiting('order'), '1');
  say(a, 'CUSTOMER', 'anyone?');
  say(b, 'CUSTOMER', 'hi');
  step([{ type: 'setVariable', name: 'orderNumber', value: 'SO-1' }, send('A phone number?'), send('Or type skip')], waiting('phone'), 'SO-1');
  say(b, 'CUSTOMER', '<b>not bold</b>');
  step([{ type: 'setVariable', name: 'phone', value: '+8613800138000' }, { type: 'route', skillGroupId: 'group-2', priority: 3, leftMessage: true }], { status: 'ended', outcome: { type: 'route', skillGroupId: 'group-2', priority: 3, leftMessage: true }, variables: {} }, '+86 138 0013 8000');
  connect(a);
  say(a, 'CUSTOMER', 'one');
  say(a, 'AGENT', 'first reply');
  say(a, 'AGENT', 'second reply');
  say(b, 'CUSTOMER', 'still here');
  connect(b);
  say(a, 'CUSTOMER', 'two');
  say(b, 'AGENT', 'sorry for the wait');
  // Read marks among the messages (issue 11: a run folds them into its contact's UPDATE, leaving updated_at).
  run(b, 'MarkMessagesRead', { by: 'CUSTOMER', agentId: null, seq: 2 });
  // An image: its attachment is a JSON column of the row.
  run(b, 'RecordMessage', { messageId: randomUUID(), clientMessageId: randomUUID(), from: 'AGENT', agentId: 'ann', kind: 'IMAGE', text: '', attachment: { fileId: 'file-1', name: 'cat.jpg', contentType: 'image/jpeg', bytes: 1234, width: 64, height: 48, thumbnail: true } });
  say(b, 'CUSTOMER', 'ok');
  run(a, 'MarkMessagesRead', { by: 'AGENT', agentId: 'ann', seq: 3 });
  say(a, 'CUSTOMER', 'three');
  run(a, 'MarkMessagesRead', { by: 'AGENT', agentId: 'ann', seq: 5 });
  run(a, 'MarkMessagesRead', { by: 'CUSTOMER', agentId: null, seq: 4 });
  say(a, 'AGENT', 'bye');
  run(a, 'EndContact', { reason: 'agentHangUp', endedBy: 'AGENT', agentId: 'ann' });
  say(b, 'AGENT', 'anything else?');
  connect(c);
  say(c, 'AGENT', 'about SO-1');
  // The chat's last event a read mark: the row keeps its last message's time.
  run(c, 'MarkMessagesRead', { by: 'CUSTOMER', agentId: null, seq: 2 });
  // A phone call among the chats: its events are the callRecords projection's.
  const p = randomUUID();
  run(p, 'CreateContact', { channel: 'PHONE', direction: 'IN', customer: { kind: 'PHONE', id: '+8613800000001', name: null }, data: {}, call: { callId: `call-${p}`, direction: 'IN', from: '+8613800000001', to: '4001', trunkId: null, node: 'node-1' } });
  run(p, 'StartFlow', { flowId: 'ivr-1' });
  run(p, 'PressKey', { key: '2', label: 'Sales' });
  run(p, 'QueueContact', { skillGroupId: 'group-1', priority: 0 });
  connect(p);
  return out;
}

describe('chat messages applied in batches', () => {
  let t: TestKefu;
  const events = history();

  beforeAll(async () => {
    t = await startTestKefu({ database: 'postgres' });
  });
  afterAll(async () => t?.close());

  const snapshot = async () => {
    const rows: Record<string, unknown[]> = {};
    for (const table of ['contacts', 'contact_messages', 'chat_records']) {
      rows[table] = (await sql<Record<string, unknown>>`SELECT * FROM ${sql.table(table)} WHERE instance_id = ${instanceId}`.execute(t.kefu.db)).rows.map((r) => JSON.stringify(r)).sort();
    }
    return rows;
  };
  const clear = async () => {
    for (const table of ['contacts', 'contact_messages', 'chat_records']) await sql`DELETE FROM ${sql.table(table)} WHERE instance_id = ${instanceId}`.execute(t.kefu.db);
  };
  /**
   * Applies `batch` to each projection in one transaction each, as the runner does; returns what they published.
   * `oneAtATime`: each event by the projection's apply (its reference path), not applyBatch.
   */
  const apply = async (batch: RecordedEvent[], oneAtATime = false) => {
    const published: { topic: string; message: unknown }[] = [];
    for (const p of projections as Projection[]) {
      const due = batch.filter((e) => p.eventTypes.has(e.type));
      if (due.length === 0) continue;
      const sink = { publish: (topic: string, message: unknown) => published.push({ topic, message }) };
      await t.kefu.db.transaction().execute(async (trx) => {
        if (oneAtATime) for (const e of due) await p.apply!(trx, e, sink);
        else await p.applyBatch!(trx, due, sink);
      });
    }
    return published;
  };

  it("callRecords reads no row for a chat's events (a chat is no call); a call's record is kept as before", async () => {
    // What a runner starting the projection does; then every event as the runner gives them (in order).
    callRecordsProjection.reset?.();
    const reads = { chat: 0, call: 0 };
    let current = '';
    const phone = events.find((e) => e.type === 'CallStarted')!.streamId;
    await t.kefu.db.transaction().execute(async (trx) => {
      const counted = new Proxy(trx, {
        get(target, prop) {
          const v = Reflect.get(target, prop) as unknown;
          if (prop !== 'selectFrom' || typeof v !== 'function') return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
          return (table: string) => {
            if (table === 'call_records') reads[current === phone ? 'call' : 'chat']++;
            return (v as (t: string) => unknown).call(target, table);
          };
        },
      });
      for (const e of events.filter((x) => callRecordsProjection.eventTypes.has(x.type))) {
        current = e.streamId;
        await callRecordsProjection.apply!(counted, e, { publish: () => undefined });
      }
    });
    // The flow chat's start, choice and queue, the chats' queues, offers, accepts and end: none read (12 before).
    expect(reads.chat).toBe(0);
    expect(reads.call).toBeGreaterThanOrEqual(5);
    const record = (await sql<{ flow_id: string; keys: { key: string }[]; queued_at: Date | null; agent_id: string | null }>`SELECT * FROM call_records WHERE instance_id = ${instanceId}`.execute(t.kefu.db)).rows;
    expect(record.map((r) => [r.flow_id, r.keys.map((k) => k.key), r.queued_at !== null, r.agent_id])).toEqual([['ivr-1', ['2'], true, 'ann']]);
  });

  it('gives the rows and bus messages of one event at a time, and a replay changes nothing', async () => {
    // 15 sent, and the system messages the decider adds (connected, ended).
    const messages = events.filter((e) => e.type === 'ContactMessageRecorded').length;
    expect(messages).toBeGreaterThan(15);
    // One at a time.
    const oneByOne: unknown[] = [];
    for (const e of events) oneByOne.push(...(await apply([e], true)));
    const expected = await snapshot();
    expect(expected.contact_messages).toHaveLength(messages);
    expect(expected.chat_records).toHaveLength(3);
    // The flow chat's row as the one-at-a-time path left it: its choice, variables, queue and left message.
    const flowChat = (await sql<{ key_trail: { key: string }[]; data: Record<string, string>; skill_group_id: string; priority: number; left_message: boolean; status: string; last_seq: number }>`SELECT * FROM contacts WHERE instance_id = ${instanceId} AND data->>'page' = 'checkout'`.execute(t.kefu.db)).rows;
    expect(flowChat.map((r) => [r.key_trail.map((k) => k.key), r.data, r.skill_group_id, r.priority, r.left_message, r.status])).toEqual([
      [['1'], { page: 'checkout', orderNumber: 'SO-1', phone: '+8613800138000' }, 'group-2', 3, true, 'CONNECTED'],
    ]);
    const records = (await sql<{ customer_messages: number; agent_messages: number; system_messages: number; first_response_seconds: number | null; last_seq: number }>`SELECT * FROM chat_records WHERE instance_id = ${instanceId} ORDER BY customer_messages DESC`.execute(t.kefu.db)).rows;
    expect(records.map((r) => [r.customer_messages, r.agent_messages])).toEqual([[5, 3], [4, 3], [3, 1]]);
    expect(records.map((r) => r.last_seq)).toEqual(records.map((r) => r.customer_messages + r.agent_messages + r.system_messages));
    expect(records.every((r) => r.first_response_seconds !== null)).toBe(true);

    // All in one batch (a rebuild, a busy moment): the same rows, the same messages in the same order.
    await clear();
    const together = await apply(events);
    expect(await snapshot()).toEqual(expected);
    const conversation = (m: unknown[]) => m.filter((x) => (x as { topic: string }).topic.includes('.conversation.'));
    expect(conversation(together)).toEqual(conversation(oneByOne));
    // Contacts and queues: each chat told of in both (a batch tells of a chat once per run of its changes).
    const told = (m: unknown[]) => [...new Set(m.filter((x) => !(x as { topic: string }).topic.includes('.conversation.')).map((x) => JSON.stringify(x)))].sort();
    expect(told(together)).toEqual(told(oneByOne));

    // Replayed whole (a retry after a lost commit): nothing doubles.
    await apply(events);
    expect(await snapshot()).toEqual(expected);

    // In batches of every size, each time replaying a few events already applied (a run cut anywhere).
    for (const size of [2, 3, 5, 7]) {
      await clear();
      for (let from = 0; from < events.length; from += size) await apply(events.slice(Math.max(0, from - 2), from + size));
      expect(await snapshot(), `batches of ${size}`).toEqual(expected);
    }
  });
});
