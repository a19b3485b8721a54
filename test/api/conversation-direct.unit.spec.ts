// conversationEvents' direct delivery (chat.ts conversationStream's attachDirect): once the read model's messages
// were sent, a live message of the conversation goes from the topic to each subscriber's payload and write with
// no promise per subscriber, and everything that needs a read (a gap, a status) still comes in order, without a
// gap or a repeat; an error after attaching ends the subscription as an error.
import { createHook } from 'node:async_hooks';
import { buildSchema, parse, subscribe, type GraphQLFieldConfig } from 'graphql';
import { describe, expect, it } from 'vitest';
import { InProcessBus } from '../../src/adapters/bus/in-process-bus.ts';
import { LiveFanout, LiveTopics, attachDirect, liveSubscription, type LiveSocket } from '../../src/api/live-fanout.ts';
import { conversationStream, type ConversationSources, type EventMessage, type Viewer } from '../../src/api/resolvers/chat.ts';
import type { ContactRow, ConversationBusMessage, ConversationMessage } from '../../src/projections/contacts/contacts.projection.ts';
import { conversationBusMessage, conversationMessage } from '../support/conversation.ts';
import { until } from '../support/until.ts';

const contactId = 'chat-1';
const topic = 'conversation.chat-1';

const message = (seq: number, sender: 'AGENT' | 'CUSTOMER' = 'CUSTOMER'): ConversationMessage => conversationMessage(contactId, seq, sender);
const busMessage = (seq: number): ConversationBusMessage => conversationBusMessage(contactId, seq);

function fakeSources() {
  const db: ConversationMessage[] = [];
  const state = { status: 'CONNECTED', failStatus: false, reads: 0 };
  const sources: ConversationSources = {
    async messagesAfter(seq, first) {
      state.reads++;
      return db.filter((m) => m.seq > seq).slice(0, first);
    },
    async chatNow() {
      await new Promise((r) => setTimeout(r, 5));
      if (state.failStatus) throw new Error('database unavailable');
      return { id: contactId, status: state.status, agent_id: 'a1' } as unknown as ContactRow;
    },
    async queuePlace() {
      return null;
    },
    async followQueue() {
      throw new Error('not queued');
    },
  };
  return { db, state, sources };
}

const customer: Viewer = { kind: 'customer', p: { kind: 'customer', instanceId: 'i1', webChannelId: 'w1', customerId: 'v_x', verified: false } };

const labels = (events: EventMessage[]) => events.map((e) => (e.kind === 'MESSAGE' ? e.message.seq : e.kind === 'TYPING' ? `typing ${e.sender}` : e.kind));

/** A stream on a real topic, read through next() until the read model's messages and the status are out. */
async function started(topics: LiveTopics, f: ReturnType<typeof fakeSources>, afterSeq: number, expected: number) {
  const stream = conversationStream(f.sources, customer, contactId, afterSeq, await topics.subscribe(topic));
  const first: EventMessage[] = [];
  for (let i = 0; i < expected; i++) first.push((await stream.next()).value as EventMessage);
  return { stream, first };
}

describe('conversation stream: direct delivery', () => {
  it('hands later messages straight to the reader, fills a gap from the read model, drops repeats and its own typing, in order', async () => {
    const bus = new InProcessBus();
    const topics = new LiveTopics(bus);
    const f = fakeSources();
    f.db.push(message(1), message(2));
    const { stream, first } = await started(topics, f, 0, 3);
    expect(labels(first)).toEqual([1, 2, 'STATUS']);
    const got: EventMessage[] = [];
    const ends: unknown[] = [];
    expect(stream[attachDirect]!((m) => got.push(m), (e) => ends.push(e))).toBe(true);
    // The pump lets go of the topic in a promise job; then a message next in seq arrives synchronously.
    await new Promise((r) => setImmediate(r));
    f.db.push(message(3));
    void bus.publish(topic, busMessage(3));
    expect(labels(got)).toEqual([3]);
    // A repeat, the customer's own typing (dropped), the agent's typing (passed).
    void bus.publish(topic, busMessage(3));
    void bus.publish(topic, { kind: 'TYPING', contactId, sender: 'CUSTOMER', agentId: null, typing: true });
    void bus.publish(topic, { kind: 'TYPING', contactId, sender: 'AGENT', agentId: 'a1', typing: true });
    expect(labels(got)).toEqual([3, 'typing AGENT']);
    // 5 published before 4's message: 4 comes from the read model, then 5, then the status that came meanwhile.
    f.db.push(message(4), message(5));
    void bus.publish(topic, busMessage(5));
    void bus.publish(topic, { kind: 'STATUS', contactId });
    void bus.publish(topic, busMessage(4));
    f.state.status = 'ENDED';
    await until(async () => labels(got), (l) => l.length >= 5, 10_000);
    // Later messages: straight again, once the reads are done.
    for (const seq of [6, 7]) {
      f.db.push(message(seq));
      void bus.publish(topic, busMessage(seq));
    }
    await until(async () => labels(got), (l) => l.length >= 7, 10_000);
    expect(labels(got)).toEqual([3, 'typing AGENT', 4, 5, 'STATUS', 6, 7]);
    expect(f.state.reads).toBe(2);
    expect(ends).toEqual([]);
    await stream.return!();
    expect(topics.topicCount).toBe(0);
  });

  it('keeps a message already on its way to the pump ahead of later ones when the reader attaches', async () => {
    const bus = new InProcessBus();
    const topics = new LiveTopics(bus);
    const f = fakeSources();
    f.db.push(message(1));
    const { stream } = await started(topics, f, 0, 2);
    f.db.push(message(2), message(3));
    // 2 reaches the pump's waiting next() (resolved, not yet run); the reader attaches; 3 comes straight.
    void bus.publish(topic, busMessage(2));
    const got: EventMessage[] = [];
    expect(stream[attachDirect]!((m) => got.push(m), () => undefined)).toBe(true);
    void bus.publish(topic, busMessage(3));
    await until(async () => labels(got), (l) => l.length >= 2, 10_000);
    expect(labels(got)).toEqual([2, 3]);
    await stream.return!();
  });

  it('does not attach while the read model is being replayed, and ends an attached reader with the error of a failed read', async () => {
    const bus = new InProcessBus();
    const topics = new LiveTopics(bus);
    const f = fakeSources();
    const stream = conversationStream(f.sources, customer, contactId, 0, await topics.subscribe(topic));
    expect(stream[attachDirect]!(() => undefined, () => undefined)).toBe(false);
    expect(labels([(await stream.next()).value as EventMessage])).toEqual(['STATUS']);
    const got: EventMessage[] = [];
    const ends: unknown[] = [];
    expect(stream[attachDirect]!((m) => got.push(m), (e) => ends.push(e))).toBe(true);
    f.state.failStatus = true;
    void bus.publish(topic, { kind: 'STATUS', contactId });
    await until(async () => ends.length, (n) => n > 0, 10_000);
    expect(ends).toHaveLength(1);
    expect((ends[0] as Error).message).toMatch(/database unavailable|Internal/i);
    expect(got).toEqual([]);
    await stream.return!();
  });

  it('writes a message to every subscriber of a conversation with no promise per subscriber', async () => {
    const schema = buildSchema('type Query { ok: Boolean } type Subscription { conv: Ev } type Ev { kind: String seq: Int }');
    const bus = new InProcessBus();
    const fanout = new LiveFanout(bus, { formatErrors: () => ({ response: null }) });
    const f = fakeSources();
    f.db.push(message(1));
    const field = schema.getSubscriptionType()!.getFields().conv as unknown as GraphQLFieldConfig<unknown, unknown>;
    field.subscribe = liveSubscription(async (_root, _args, ctx: { live: LiveFanout }) =>
      conversationStream(f.sources, customer, contactId, 0, await ctx.live.topics.subscribe(topic)),
    ) as GraphQLFieldConfig<unknown, unknown>['subscribe'];
    field.resolve = (m: unknown) => m;
    const evType = schema.getType('Ev') as unknown as { getFields(): Record<string, GraphQLFieldConfig<unknown, unknown>> };
    evType.getFields().seq!.resolve = (m: unknown) => (m as { message?: { seq: number } }).message?.seq ?? null;
    const document = parse('subscription { conv { kind seq } }');

    const subscribers = Array.from({ length: 200 }, () => {
      const frames: string[] = [];
      const socket: LiveSocket = { protocol: 'graphql-transport-ws', readyState: 1, bufferedAmount: 0, send: (data) => void frames.push(data), close: () => undefined };
      return { socket, frames };
    });
    const iterators: AsyncIterator<unknown>[] = [];
    for (const [k, s] of subscribers.entries()) {
      const result = await subscribe({ schema, document, contextValue: { principal: null, live: fanout, liveSocket: s.socket, id: String(k) } });
      iterators.push((result as AsyncIterable<unknown>)[Symbol.asyncIterator]());
    }
    const seqsOf = (s: { frames: string[] }) => s.frames.map((x) => (JSON.parse(x) as { payload: { data: { conv: { kind: string; seq: number | null } } } }).payload.data.conv).map((c) => c.seq ?? c.kind);
    // The read model's message and the status, through next(); then each subscriber attaches.
    await until(async () => subscribers.map(seqsOf), (all) => all.every((l) => l.length === 2), 30_000);
    await new Promise((r) => setImmediate(r));

    for (let seq = 2; seq <= 4; seq++) {
      f.db.push(message(seq));
      let promises = 0;
      const hook = createHook({
        init(_id, type) {
          if (type === 'PROMISE') promises++;
        },
      }).enable();
      void bus.publish(topic, busMessage(seq));
      await until(async () => subscribers.map(seqsOf), (all) => all.every((l) => l.length === seq + 1), 30_000);
      hook.disable();
      // Base: the topic's queue, the stream's pump and next(), the server's loop: several promises per subscriber.
      expect(promises, `promises while message ${seq} reached ${subscribers.length} subscribers`).toBeLessThan(subscribers.length / 2);
    }
    for (const s of subscribers) expect(seqsOf(s)).toEqual([1, 'STATUS', 2, 3, 4]);
    expect(fanout.counts.directAttachments).toBe(subscribers.length);
    await Promise.all(iterators.map((it) => it.return!()));
    expect(fanout.topics.topicCount).toBe(0);
  });
});
