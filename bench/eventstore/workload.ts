// The events the event store benchmark writes, and the fold it reads them into. Both stores get the same
// event bodies (~300 bytes of JSON data) and the same metadata, so neither stores less than the other.
import { randomUUID } from 'node:crypto';

const channels = ['voice', 'chat', 'email', 'sms'] as const;
const types = ['MessageReceived', 'MessageSent', 'ConversationAssigned', 'NoteAdded'] as const;

export type BenchEventType = (typeof types)[number];

export interface BenchEventBody {
  type: BenchEventType;
  data: Record<string, unknown>;
  metadata: {
    instanceId: string;
    actor: string;
    correlationId: string;
    causationId: string | null;
    occurredAt: string;
  };
}

const instanceId = randomUUID();
const text = 'Hi, please change the delivery address on my last order, it shows the old one.';

/** The i-th event body: deterministic type and fields, fresh ids. `JSON.stringify(data)` is about 300 bytes. */
export function makeEvent(streamId: string, i: number): BenchEventBody {
  return {
    type: types[i % types.length]!,
    data: {
      conversationId: streamId,
      messageId: randomUUID(),
      customerId: `cust-${(i * 7919) % 100000}`,
      channel: channels[i % channels.length],
      text,
      priority: i % 5,
      tags: ['billing', 'address-change'],
      sentiment: 0.25,
    },
    metadata: {
      instanceId,
      actor: 'agent:bench',
      correlationId: randomUUID(),
      causationId: null,
      occurredAt: new Date().toISOString(),
    },
  };
}

/** The state a read folds a stream into. */
export interface ConversationState {
  events: number;
  received: number;
  sent: number;
  assignments: number;
  notes: number;
  prioritySum: number;
  lastChannel: string | null;
  textBytes: number;
}

export function initialState(): ConversationState {
  return { events: 0, received: 0, sent: 0, assignments: 0, notes: 0, prioritySum: 0, lastChannel: null, textBytes: 0 };
}

/** Pure reducer; it returns a new state per event, as an aggregate's `evolve` would. */
export function evolve(state: ConversationState, event: { type: string; data: Record<string, unknown> }): ConversationState {
  const d = event.data;
  const next: ConversationState = {
    ...state,
    events: state.events + 1,
    prioritySum: state.prioritySum + Number(d.priority ?? 0),
    lastChannel: typeof d.channel === 'string' ? d.channel : state.lastChannel,
    textBytes: state.textBytes + (typeof d.text === 'string' ? d.text.length : 0),
  };
  switch (event.type) {
    case 'MessageReceived':
      next.received++;
      break;
    case 'MessageSent':
      next.sent++;
      break;
    case 'ConversationAssigned':
      next.assignments++;
      break;
    case 'NoteAdded':
      next.notes++;
      break;
  }
  return next;
}
