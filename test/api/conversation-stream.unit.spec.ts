// conversationEvents' stream with its sources under control: the switch from the read model to the live topic
// at every interleaving the tests can force (a message both read and live, a live message past a gap, a late
// one), typing and read events of the other side only, the queue place sent when it moves and the queue left
// when the chat leaves it, and a subscriber that stops reading cut off.
import { describe, expect, it } from 'vitest';
import { conversationStream, type ConversationSources, type EventMessage, type Viewer } from '../../src/api/resolvers/chat.ts';
import { SlowConsumerError } from '../../src/api/live-fanout.ts';
import type { ContactRow, ConversationBusMessage, ConversationMessage } from '../../src/projections/contacts/contacts.projection.ts';
import { conversationBusMessage, conversationMessage } from '../support/conversation.ts';

const contactId = 'chat-1';

/** An async iterable a test pushes into; return() is recorded. */
function liveTopic() {
  const items: unknown[] = [];
  let wake: ((r: IteratorResult<unknown>) => void) | null = null;
  let closed = false;
  const it: AsyncIterableIterator<unknown> & { push(m: unknown): void; closed: () => boolean } = {
    push(m: unknown) {
      const w = wake;
      wake = null;
      if (w) w({ value: m, done: false });
      else items.push(m);
    },
    closed: () => closed,
    next() {
      if (items.length > 0) return Promise.resolve({ value: items.shift(), done: false });
      if (closed) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve) => (wake = resolve));
    },
    return() {
      closed = true;
      wake?.({ value: undefined, done: true });
      return Promise.resolve({ value: undefined, done: true });
    },
    [Symbol.asyncIterator]() {
      return it;
    },
  };
  return it;
}

const message = (seq: number, sender: 'AGENT' | 'CUSTOMER' = 'CUSTOMER'): ConversationMessage => conversationMessage(contactId, seq, sender);
const busMessage = (seq: number): ConversationBusMessage => conversationBusMessage(contactId, seq);

function fakeSources(initial: { status?: string; place?: number | null } = {}) {
  const db: ConversationMessage[] = [];
  const state = { status: initial.status ?? 'CONNECTED', place: initial.place ?? null, agentId: 'a1' as string | null, reads: 0 };
  const queue = liveTopic();
  let queueFollowed = 0;
  const sources: ConversationSources = {
    async messagesAfter(seq, first) {
      state.reads++;
      return db.filter((m) => m.seq > seq).slice(0, first);
    },
    async chatNow() {
      return { id: contactId, status: state.status, agent_id: state.agentId } as unknown as ContactRow;
    },
    async queuePlace(row) {
      return row.status === 'QUEUED' ? state.place : null;
    },
    async followQueue() {
      queueFollowed++;
      return queue;
    },
  };
  return { db, state, queue, sources, followed: () => queueFollowed };
}

const customer: Viewer = { kind: 'customer', p: { kind: 'customer', instanceId: 'i1', webChannelId: 'w1', customerId: 'v_x', verified: false } };
const agent: Viewer = { kind: 'staff', p: { kind: 'agent', instanceId: 'i1', agentId: 'a1', role: 'AGENT' } };

async function take(stream: AsyncIterator<EventMessage>, n: number): Promise<EventMessage[]> {
  const out: EventMessage[] = [];
  for (let i = 0; i < n; i++) {
    const r = await Promise.race([stream.next(), new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`only ${out.length} of ${n} events`)), 2000))]);
    if (r.done) break;
    out.push(r.value);
  }
  return out;
}

/** Whether the stream yields nothing more for a while. */
async function quiet(stream: AsyncIterator<EventMessage>): Promise<boolean> {
  const next = stream.next();
  const r = await Promise.race([next.then(() => 'event' as const), new Promise<'quiet'>((resolve) => setTimeout(() => resolve('quiet'), 150))]);
  return r === 'quiet';
}

const seqs = (events: EventMessage[]) => events.flatMap((e) => (e.kind === 'MESSAGE' ? [e.message.seq] : []));

describe('conversation stream', () => {
  it('sends a message both read from the read model and received live once', async () => {
    const f = fakeSources();
    f.db.push(...[1, 2, 3, 4, 5].map((s) => message(s)));
    const live = liveTopic();
    // Published after the topic was subscribed, committed before the read: both read and live.
    for (const s of [4, 5, 6]) live.push(busMessage(s));
    f.db.push(message(6));
    const stream = conversationStream(f.sources, customer, contactId, 0, live);
    const events = await take(stream, 7);
    expect(seqs(events)).toEqual([1, 2, 3, 4, 5, 6]);
    // Then where the chat stands, once the read model's messages are out.
    expect(events.map((e) => e.kind)).toEqual([...Array(6).fill('MESSAGE'), 'STATUS']);
    expect(events[6]).toMatchObject({ kind: 'STATUS', queuePosition: null });
    expect(await quiet(stream)).toBe(true);
    await stream.return!();
    expect(live.closed()).toBe(true);
  });

  it('fills a gap from the read model before a live message past it, and drops a late one', async () => {
    const f = fakeSources();
    f.db.push(...[1, 2, 3].map((s) => message(s)));
    const live = liveTopic();
    const stream = conversationStream(f.sources, customer, contactId, 2, live);
    expect(seqs(await take(stream, 2))).toEqual([3]);
    // 4 and 5 were committed; only 5's bus message came (4's is late).
    f.db.push(message(4), message(5));
    live.push(busMessage(5));
    expect(seqs(await take(stream, 2))).toEqual([4, 5]);
    live.push(busMessage(4));
    live.push(busMessage(6));
    f.db.push(message(6));
    expect(seqs(await take(stream, 1))).toEqual([6]);
    expect(await quiet(stream)).toBe(true);
    await stream.return!();
  });

  it('replays a long history page by page, then goes on live', async () => {
    const f = fakeSources();
    f.db.push(...Array.from({ length: 450 }, (_, i) => message(i + 1)));
    const live = liveTopic();
    live.push(busMessage(451));
    f.db.push(message(451));
    const stream = conversationStream(f.sources, agent, contactId, 0, live);
    const events = await take(stream, 452);
    expect(seqs(events)).toEqual(Array.from({ length: 451 }, (_, i) => i + 1));
    expect(f.state.reads).toBeGreaterThanOrEqual(3);
    await stream.return!();
  });

  it("passes typing and read events of the other side only", async () => {
    const typing = (sender: 'AGENT' | 'CUSTOMER', agentId: string | null): ConversationBusMessage => ({ kind: 'TYPING', contactId, sender, agentId, typing: true });
    const read = (sender: 'AGENT' | 'CUSTOMER', agentId: string | null): ConversationBusMessage => ({ kind: 'READ', contactId, sender, agentId, readSeq: 1 });
    for (const [viewer, expected] of [
      [customer, ['TYPING:AGENT:a1', 'TYPING:AGENT:a2', 'READ:AGENT:a1']],
      [agent, ['TYPING:CUSTOMER:', 'TYPING:AGENT:a2', 'READ:CUSTOMER:']],
    ] as const) {
      const f = fakeSources();
      const live = liveTopic();
      const stream = conversationStream(f.sources, viewer, contactId, 0, live);
      expect((await take(stream, 1))[0]!.kind).toBe('STATUS');
      for (const m of [typing('CUSTOMER', null), typing('AGENT', 'a1'), typing('AGENT', 'a2'), read('CUSTOMER', null), read('AGENT', 'a1')]) live.push(m);
      const events = await take(stream, expected.length);
      expect(events.map((e) => (e.kind === 'TYPING' || e.kind === 'READ' ? `${e.kind}:${e.sender}:${e.agentId ?? ''}` : e.kind))).toEqual(expected);
      expect(await quiet(stream)).toBe(true);
      await stream.return!();
    }
  });

  it('follows the queue while the chat waits: its place when it moves, then leaves the queue once connected', async () => {
    const f = fakeSources({ status: 'QUEUED', place: 3 });
    const live = liveTopic();
    const stream = conversationStream(f.sources, customer, contactId, 0, live);
    expect(await take(stream, 1)).toMatchObject([{ kind: 'STATUS', queuePosition: 3 }]);
    expect(f.followed()).toBe(1);
    // Another contact changed, the place did not: nothing.
    f.queue.push({ contactId: 'other' });
    expect(await quiet(stream)).toBe(true);
    f.state.place = 2;
    f.queue.push({ contactId: 'other' });
    f.queue.push({ contactId: 'another' });
    expect(await take(stream, 1)).toMatchObject([{ kind: 'STATUS', queuePosition: 2 }]);
    expect(await quiet(stream)).toBe(true);
    // Taken by an agent: the status says so, and the queue is no longer followed.
    f.state.status = 'CONNECTED';
    live.push({ kind: 'STATUS', contactId, status: 'CONNECTED' } satisfies ConversationBusMessage);
    const [connected] = await take(stream, 1);
    expect(connected).toMatchObject({ kind: 'STATUS', queuePosition: null });
    expect(connected?.kind === 'STATUS' && connected.row.status).toBe('CONNECTED');
    expect(f.queue.closed()).toBe(true);
    await stream.return!();
  });

  it('cuts off a subscriber with too many messages waiting (it reconnects and resumes after its last seq)', async () => {
    const f = fakeSources();
    const live = liveTopic();
    const stream = conversationStream(f.sources, customer, contactId, 0, live);
    for (let i = 1; i <= 1001; i++) live.push(busMessage(i));
    await new Promise((r) => setTimeout(r, 50));
    await expect(stream.next()).rejects.toBeInstanceOf(SlowConsumerError);
  });
});
