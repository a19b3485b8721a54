// Chat flows on the contact (issue 12): a web chat of a channel with a flow enters it (IN_FLOW) instead of
// the queue; each flow step is one append: the flow's messages (SYSTEM sender, TEXT, with their buttons),
// the choice in the key trail, variables, then queued (a left message waits without the group's limit) or
// ended with the flow's reason, and the place in the flow. The same step twice is recorded once; a step
// from a place the chat has left, or on a chat that left its flow, is refused.
import { describe, expect, it } from 'vitest';
import type { ChatFlowStepAction, ContactCommand } from '../../src/domain/contact/contact.decide.ts';
import { contactDecider } from '../../src/domain/contact/contact.decide.ts';
import type { ContactEvent, ContactState, WebSource } from '../../src/domain/contact/contact.ts';
import { chatEndStatusOf } from '../../src/domain/contact/chat-end-status.ts';
import { ConflictError } from '../../src/domain/errors.ts';
import type { ChatFlowPosition } from '../../src/domain/flow/chat-flow-engine.ts';
import { deciderSpec, meta } from '../support/decider-spec.ts';

const spec = deciderSpec(contactDecider);
const contactId = 'chat-1';
const T0 = '2026-12-04T09:00:00.000Z';
const T1 = '2026-12-04T09:00:05.000Z';
const customer = { kind: 'WEB' as const, id: 'v_AAAAAAAAAAAAAAAAAAAAAA', name: null };
const source: WebSource = { kind: 'WEB', webChannelId: 'web-1', clientChatId: 'cc-1', verified: false, pageUrl: null, referrer: null, userAgent: null, address: null };
const fold = (events: ContactEvent[]): ContactState => events.reduce(contactDecider.evolve, contactDecider.initialState());

const startChat = (flowId: string | null): ContactCommand => ({
  type: 'StartChat',
  data: { contactId, customer, data: {}, source, skillGroupId: 'chat', priority: 0, reject: null, firstMessage: null, flowId },
  metadata: meta({ now: T0 }),
});

const created: ContactEvent = { type: 'ContactCreated', data: { contactId, channel: 'ONLINE', direction: 'IN', customer, data: {}, createdAt: T0, source } };
const inFlow: ContactEvent[] = [created, { type: 'ContactFlowStarted', data: { flowId: 'flow-1' } }];

const atMenu: ChatFlowPosition = { status: 'waiting', nodeId: 'menu', failures: 0, afterHours: false, now: T0, variables: {} };
const atOrder: ChatFlowPosition = { status: 'waiting', nodeId: 'order', failures: 0, afterHours: false, now: T1, variables: {} };
const menu: ChatFlowStepAction = { type: 'send', text: 'How can we help?', image: null, options: [{ number: 1, label: 'My order' }] };

const step = (fromStep: number, actions: ChatFlowStepAction[], position: ChatFlowPosition, now = T0): ContactCommand => ({
  type: 'AdvanceChatFlow',
  data: { contactId, flowId: 'flow-1', version: 2, fromStep, actions, position },
  metadata: meta({ now }),
});

const flowMessage = (seq: number, text: string, at: string, options: { number: number; label: string }[] | null = null): ContactEvent => ({
  type: 'ContactMessageRecorded',
  data: { messageId: `${contactId}:${seq}`, from: 'SYSTEM', agentId: null, text, at, seq, clientMessageId: null, kind: 'TEXT', attachment: null, system: null, options, image: null },
});
const advanced = (step: number, position: ChatFlowPosition): ContactEvent => ({ type: 'ContactChatFlowAdvanced', data: { flowId: 'flow-1', version: 2, step, position } });
const firstStep: ContactEvent[] = [flowMessage(1, 'How can we help?', T0, [{ number: 1, label: 'My order' }]), advanced(1, atMenu)];

describe('contact decider: chat flows', () => {
  it('starts a chat of a channel with a flow IN_FLOW, not queued', () => {
    spec.given([]).when(startChat('flow-1')).then(inFlow);
    expect(fold(inFlow).status).toBe('inFlow');
  });

  it('starts a chat of a channel without a flow in the queue, as before', () => {
    const events = contactDecider.decide(startChat(null), contactDecider.initialState());
    expect(events.map((e) => e.type)).toEqual(['ContactCreated', 'ContactQueued', 'ContactMessageRecorded']);
  });

  it("records the flow's first step in the start's append when the start carries it: the events of the start, then the step", () => {
    const withStep: ContactCommand = { ...startChat('flow-1'), data: { ...(startChat('flow-1').data as object), firstStep: { version: 2, actions: [menu], position: atMenu } } } as ContactCommand;
    spec.given([]).when(withStep).then([...inFlow, ...firstStep]);
    expect(fold([...inFlow, ...firstStep])).toMatchObject({ status: 'inFlow', chatFlow: { step: 1, position: atMenu } });
    // Again (a retry of the start): nothing; the runner's own first step after it: nothing either (taken).
    spec.given([...inFlow, ...firstStep]).when(withStep).then([]);
    spec.given([...inFlow, ...firstStep]).when(step(0, [menu], atMenu)).then([]);
  });

  it("records a step's message with its buttons and the place in the flow", () => {
    spec.given(inFlow).when(step(0, [menu], atMenu)).then(firstStep);
    expect(fold([...inFlow, ...firstStep])).toMatchObject({ status: 'inFlow', messageCount: 1, chatFlow: { flowId: 'flow-1', version: 2, step: 1, position: atMenu } });
  });

  it("records a flow's link card as a LINK message from SYSTEM, the card as an agent's is kept", () => {
    const link = { title: 'Track your order', description: null, url: 'https://shop.example/track', thumbUrl: null };
    const events = contactDecider.decide(step(0, [{ type: 'send', text: null, image: null, options: null, link }, menu], atMenu), fold(inFlow));
    expect(events[0]).toEqual({
      type: 'ContactMessageRecorded',
      data: { messageId: `${contactId}:1`, from: 'SYSTEM', agentId: null, text: '', at: T0, seq: 1, clientMessageId: null, kind: 'LINK', attachment: null, system: null, link: { ...link, pagePath: null, thumbFileId: null } },
    });
    expect(events.slice(1)).toEqual([flowMessage(2, 'How can we help?', T0, [{ number: 1, label: 'My order' }]), advanced(1, atMenu)]);
    // What the link rules refuse is not recorded (a document that skipped the save-time checks).
    expect(() => contactDecider.decide(step(0, [{ type: 'send', text: null, image: null, options: null, link: { ...link, url: 'javascript:alert(1)' } }], atMenu), fold(inFlow))).toThrow(/http or https/);
  });

  it('records the choice, a variable, then queues the chat with its QUEUED notice, in one append', () => {
    const routed: ChatFlowPosition = { status: 'ended', outcome: { type: 'route', skillGroupId: 'sales', priority: 3 }, variables: { orderNumber: 'SO-1' } };
    spec
      .given([...inFlow, ...firstStep])
      .when(
        step(
          1,
          [
            { type: 'chosen', nodeId: 'menu', number: 1, label: 'My order' },
            { type: 'setVariable', name: 'orderNumber', value: 'SO-1' },
            { type: 'route', skillGroupId: 'sales', priority: 3 },
          ],
          routed,
          T1,
        ),
      )
      .then([
        { type: 'ContactKeyPressed', data: { key: '1', label: 'My order', at: T1 } },
        { type: 'ContactVariablesSet', data: { variables: { orderNumber: 'SO-1' } } },
        { type: 'ContactQueued', data: { skillGroupId: 'sales', priority: 3, queuedAt: T1 } },
        {
          type: 'ContactMessageRecorded',
          data: { messageId: `${contactId}:2`, from: 'SYSTEM', agentId: null, text: '', at: T1, seq: 2, clientMessageId: null, kind: 'SYSTEM', attachment: null, system: { type: 'QUEUED', agentId: null, endStatus: null } },
        },
        advanced(2, routed),
      ]);
  });

  it('queues a left message marked, so that it waits without the group limit', () => {
    const left: ChatFlowPosition = { status: 'ended', outcome: { type: 'route', skillGroupId: 'sales', priority: 0, leftMessage: true }, variables: {} };
    const events = contactDecider.decide(step(1, [{ type: 'send', text: 'Thanks!', image: null, options: null }, { type: 'route', skillGroupId: 'sales', priority: 0, leftMessage: true }], left, T1), fold([...inFlow, ...firstStep]));
    expect(events[1]).toEqual({ type: 'ContactQueued', data: { skillGroupId: 'sales', priority: 0, queuedAt: T1, leftMessage: true } });
    expect(fold([...inFlow, ...firstStep, ...events])).toMatchObject({ status: 'queued', leftMessage: true, skillGroupId: 'sales' });
  });

  it("ends the chat with the flow's reason and an ENDED notice (off hours: no agent online; a flow's end: FLOW_ENDED)", () => {
    const closed: ChatFlowPosition = { status: 'ended', outcome: { type: 'end', reason: 'afterHours' }, variables: {} };
    const events = contactDecider.decide(step(0, [{ type: 'send', text: 'We are closed.', image: null, options: null }, { type: 'end', reason: 'afterHours' }], closed), fold(inFlow));
    expect(events.map((e) => e.type)).toEqual(['ContactMessageRecorded', 'ContactEnded', 'ContactMessageRecorded', 'ContactChatFlowAdvanced']);
    expect(events[1]).toEqual({ type: 'ContactEnded', data: { reason: 'afterHours', endedBy: 'SYSTEM', agentId: null, at: T0 } });
    expect(events[2]).toMatchObject({ data: { seq: 2, system: { type: 'ENDED', endStatus: 'NO_AGENT_ONLINE' } } });
    expect(chatEndStatusOf({ reason: 'flowEnd', endedBy: 'SYSTEM' }, null, false)).toBe('FLOW_ENDED');
    expect(chatEndStatusOf({ reason: 'flowError', endedBy: 'SYSTEM' }, null, false)).toBe('SYSTEM_ERROR');
  });

  it("records the customer's message first, in the same append as the step it answers; the same send again is nothing", () => {
    const answered: ChatFlowPosition = { ...atOrder, now: T1 };
    const withMessage: ContactCommand = {
      type: 'AdvanceChatFlow',
      data: {
        contactId,
        flowId: 'flow-1',
        version: 2,
        fromStep: 1,
        actions: [{ type: 'chosen', nodeId: 'menu', number: 1, label: 'My order' }, { type: 'send', text: 'Order number?', image: null, options: null }],
        position: answered,
        message: { messageId: 'm-1', clientMessageId: 'client-1', kind: 'TEXT', text: 'My order', attachment: null },
      },
      metadata: meta({ now: T1 }),
    };
    const events = contactDecider.decide(withMessage, fold([...inFlow, ...firstStep]));
    // The flow's answer right after the customer's message, the choice after both: one run of messages, which the
    // read model stores in one statement (a choice or a variable between them made it two).
    expect(events.map((e) => e.type)).toEqual(['ContactMessageRecorded', 'ContactMessageRecorded', 'ContactKeyPressed', 'ContactChatFlowAdvanced']);
    expect(events[0]).toMatchObject({ data: { from: 'CUSTOMER', text: 'My order', seq: 2, clientMessageId: 'client-1' } });
    expect(events[1]).toMatchObject({ data: { from: 'SYSTEM', text: 'Order number?', seq: 3 } });
    expect(events[2]).toEqual({ type: 'ContactKeyPressed', data: { key: '1', label: 'My order', at: T1 } });
    // The same send again (a retry after a lost answer), even as a step from where the chat is now: nothing.
    spec.given([...inFlow, ...firstStep, ...events]).when({ ...withMessage, data: { ...withMessage.data, fromStep: 2 } } as ContactCommand).then([]);
  });

  it("puts a collected variable after the flow's next question, with the customer's answer and the question in one run", () => {
    const answered: ChatFlowPosition = { ...atOrder, now: T1 };
    const events = contactDecider.decide(
      {
        type: 'AdvanceChatFlow',
        data: {
          contactId,
          flowId: 'flow-1',
          version: 2,
          fromStep: 1,
          actions: [{ type: 'setVariable', name: 'orderNumber', value: 'SO-1' }, { type: 'send', text: 'Your phone?', image: null, options: null }, { type: 'send', text: 'Or type skip', image: null, options: null }],
          position: answered,
          message: { messageId: 'm-1', clientMessageId: 'client-1', kind: 'TEXT', text: 'SO-1', attachment: null },
        },
        metadata: meta({ now: T1 }),
      },
      fold([...inFlow, ...firstStep]),
    );
    expect(events.map((e) => (e.type === 'ContactMessageRecorded' ? `${e.data.from} ${e.data.seq}` : e.type))).toEqual(['CUSTOMER 2', 'SYSTEM 3', 'SYSTEM 4', 'ContactVariablesSet', 'ContactChatFlowAdvanced']);
    expect(events[3]).toEqual({ type: 'ContactVariablesSet', data: { variables: { orderNumber: 'SO-1' } } });
    expect(fold([...inFlow, ...firstStep, ...events])).toMatchObject({ messageCount: 4 });
  });

  it('records the same step once: again with the same outcome is nothing (a retry, another process first)', () => {
    spec.given([...inFlow, ...firstStep]).when(step(0, [menu], atMenu)).then([]);
  });

  it('refuses a step from a place the chat has left, or one that skips ahead', () => {
    spec.given([...inFlow, ...firstStep]).when(step(0, [menu], atOrder)).thenThrows(ConflictError, /moved on/);
    spec.given(inFlow).when(step(1, [menu], atOrder)).thenThrows(ConflictError, /moved on/);
  });

  it('refuses a step on a chat that left its flow (the customer ended it) or is no web chat', () => {
    const ended: ContactEvent = { type: 'ContactEnded', data: { reason: 'customerHangUp', endedBy: 'CUSTOMER', agentId: null, at: T1 } };
    spec.given([...inFlow, ...firstStep, ended]).when(step(1, [menu], atOrder)).thenThrows(ConflictError, /already ended/);
    const phone: ContactEvent = { type: 'ContactCreated', data: { contactId, channel: 'PHONE', direction: 'IN', customer: { kind: 'PHONE', id: '+861', name: null }, data: {}, createdAt: T0 } };
    spec.given([phone]).when(step(0, [menu], atMenu)).thenThrows(ConflictError, /not a web chat/);
  });
});
