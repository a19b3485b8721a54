// The chat flow runner: the customer's messages and clicks go into the engine, its actions come out in
// order; questions about agents are answered and fed back within one call; each chat runs on the version
// it started with, one step at a time; actions map to the contact's commands.
import { describe, expect, it } from 'vitest';
import { parseChatFlowDocument, type ChatFlowDocument } from '../../src/domain/flow/chat-flow-document.ts';
import type { ChatFlowPosition } from '../../src/domain/flow/chat-flow-engine.ts';
import { ConflictError } from '../../src/domain/errors.ts';
import { ChatFlowRunner, InMemoryChatFlowStore, unansweredMessages, type ChatFlowPorts, type ChatRef, type PerformedAction } from '../../src/processes/chat-flows/chat-flow-runner.ts';

const sales = '11111111-1111-4111-8111-111111111111';
const mondayNoonShanghai = new Date('2026-11-23T04:00:00.000Z');
const sundayNoonShanghai = new Date('2026-11-22T04:00:00.000Z');

const v1 = parseChatFlowDocument({
  start: 'hours',
  nodes: [
    { id: 'hours', type: 'businessHours', timeZone: 'Asia/Shanghai', weekly: [{ days: ['MON', 'TUE', 'WED', 'THU', 'FRI'], open: '09:00', close: '18:00' }], open: 'menu', closed: 'closed' },
    { id: 'menu', type: 'menu', text: 'Hi! 1 sales, 2 order', options: [{ number: 1, label: 'Sales', next: 'sales' }, { number: 2, label: 'Order', next: 'order' }], onFailure: 'sales' },
    { id: 'order', type: 'collect', text: 'Order number?', variable: 'orderNumber', validate: { kind: 'orderNumber' }, next: 'sales' },
    { id: 'sales', type: 'route', skillGroupId: sales, priority: 2, onNoAgent: 'nobody' },
    { id: 'nobody', type: 'end', text: 'Nobody is online.' },
    { id: 'closed', type: 'end', text: 'Closed.' },
  ],
});
const v2 = parseChatFlowDocument({ start: 'x', nodes: [{ id: 'x', type: 'end', text: 'Version 2' }] });

function harness(o: { now?: Date; online?: boolean; versions?: Record<number, ChatFlowDocument> } = {}) {
  const performed: { chat: string; action: PerformedAction }[] = [];
  const asked: string[] = [];
  const clock = { now: o.now ?? mondayNoonShanghai };
  const state = { online: o.online ?? true, versions: o.versions ?? { 1: v1 }, delay: 0 };
  const ports: ChatFlowPorts = {
    now: () => clock.now,
    anyAgentOnline: (instanceId, skillGroupId) => {
      asked.push(`${instanceId}/${skillGroupId}`);
      return Promise.resolve(state.online);
    },
    perform: async (chat, action) => {
      if (state.delay > 0) await new Promise((r) => setTimeout(r, state.delay));
      performed.push({ chat: chat.contactId, action });
    },
    loadFlow: (_instanceId, _flowId, version) => {
      const numbers = Object.keys(state.versions).map(Number);
      const at = version ?? Math.max(...numbers);
      const definition = state.versions[at];
      return Promise.resolve(definition ? { version: at, definition } : null);
    },
    store: new InMemoryChatFlowStore(),
  };
  return { runner: new ChatFlowRunner(ports), performed, asked, clock, state, store: ports.store };
}

const chat: ChatRef = { instanceId: 'i1', contactId: 'c1' };
const texts = (performed: { action: PerformedAction }[]) => performed.flatMap((p) => (p.action.type === 'send' ? [p.action.text] : []));

describe('chat flow runner', () => {
  it('starts the chat in the current version and sends the menu with its buttons', async () => {
    const h = harness();
    const r = await h.runner.start(chat, 'f1');
    expect(r.run).toMatchObject({ flowId: 'f1', version: 1, position: { status: 'waiting', nodeId: 'menu' } });
    expect(h.performed.map((p) => p.action)).toEqual([{ type: 'send', text: 'Hi! 1 sales, 2 order', image: null, options: [{ number: 1, label: 'Sales' }, { number: 2, label: 'Order' }] }]);
    expect(await h.runner.inFlow(chat)).toBe(true);
  });

  it('starts a chat once: a second start changes nothing', async () => {
    const h = harness();
    await h.runner.start(chat, 'f1');
    const again = await h.runner.start(chat, 'f1');
    expect(again.actions).toEqual([]);
    expect(h.performed).toHaveLength(1);
  });

  it('feeds typed answers and clicks in, keeps the variable, asks whether agents are online, and queues', async () => {
    const h = harness();
    await h.runner.start(chat, 'f1');
    await h.runner.choice(chat, 2);
    const r = await h.runner.message(chat, 'SO-20261123');
    expect(r.actions).toEqual([
      { type: 'setVariable', name: 'orderNumber', value: 'SO-20261123' },
      { type: 'checkAgentsOnline', skillGroupId: sales },
      { type: 'route', skillGroupId: sales, priority: 2 },
    ]);
    expect(h.asked).toEqual([`i1/${sales}`]);
    expect(h.performed.map((p) => p.action.type)).toEqual(['send', 'chosen', 'send', 'setVariable', 'route']);
    expect(r.run!.position).toMatchObject({ status: 'ended', variables: { orderNumber: 'SO-20261123' } });
    expect(await h.runner.inFlow(chat)).toBe(false);
    // Once the flow has ended, the customer's messages are the agent's, not the flow's.
    expect((await h.runner.message(chat, 'hello?')).actions).toEqual([]);
  });

  it('takes the "no agent online" branch when nobody is online', async () => {
    const h = harness({ online: false });
    await h.runner.start(chat, 'f1');
    await h.runner.message(chat, 'sales');
    expect(texts(h.performed)).toEqual(['Hi! 1 sales, 2 order', 'Nobody is online.']);
    expect(h.performed.at(-1)!.action).toEqual({ type: 'end', reason: 'noAgentOnline' });
  });

  it('decides business hours by its clock', async () => {
    const h = harness({ now: sundayNoonShanghai });
    await h.runner.start(chat, 'f1');
    expect(h.performed.map((p) => p.action)).toEqual([
      { type: 'send', text: 'Closed.', image: null, options: null },
      { type: 'end', reason: 'afterHours' },
    ]);
  });

  it('keeps a chat on the version it started with after a new one is published', async () => {
    const h = harness();
    await h.runner.start(chat, 'f1');
    h.state.versions = { 1: v1, 2: v2 };
    await h.runner.choice(chat, 1);
    expect(h.performed.at(-1)!.action).toEqual({ type: 'route', skillGroupId: sales, priority: 2 });
    const other: ChatRef = { instanceId: 'i1', contactId: 'c2' };
    const r = await h.runner.start(other, 'f1');
    expect(r.run!.version).toBe(2);
    expect(texts(h.performed.filter((p) => p.chat === 'c2'))).toEqual(['Version 2']);
  });

  it('runs one chat step at a time: a quick second message is answered after the first', async () => {
    const h = harness();
    await h.runner.start(chat, 'f1');
    h.state.delay = 20;
    // Both sent at once: the first picks "Order", the second is the order number.
    await Promise.all([h.runner.message(chat, '2'), h.runner.message(chat, 'A12345')]);
    expect(h.performed.slice(1).map((p) => p.action.type)).toEqual(['chosen', 'send', 'setVariable', 'route']);
  });

  it('does nothing for a chat in no flow, or a flow that is gone', async () => {
    const h = harness({ versions: {} });
    expect(await h.runner.start(chat, 'gone')).toEqual({ actions: [], run: null });
    expect(await h.runner.message(chat, 'hi')).toEqual({ actions: [], run: null });
    expect(h.performed).toEqual([]);
  });

  it('keeps the place unchanged when an action fails, so the same input can be tried again', async () => {
    const h = harness();
    await h.runner.start(chat, 'f1');
    const before = await h.store.get(chat);
    const failing = new ChatFlowRunner({
      now: () => mondayNoonShanghai,
      anyAgentOnline: () => Promise.resolve(true),
      perform: () => Promise.reject(new Error('store down')),
      loadFlow: () => Promise.resolve({ version: 1, definition: v1 }),
      store: h.store,
    });
    await expect(failing.choice(chat, 1)).rejects.toThrow('store down');
    expect(await h.store.get(chat)).toEqual(before);
    // The chat is not stuck behind the failure.
    expect((await h.runner.choice(chat, 1)).run!.position.status).toBe('ended');
  });
});

describe('chat flow runner with commit (live chats: one append per step)', () => {
  /** A contact stream in memory: steps recorded with the step they start from, as AdvanceChatFlow checks. */
  function committing(o: { groupOpen?: boolean } = {}) {
    const runs = new Map<string, { flowId: string; version: number; position: ChatFlowPosition; step: number }>();
    const steps: { fromStep: number; actions: PerformedAction[] }[] = [];
    let interfere: (() => void) | null = null;
    const ports: ChatFlowPorts = {
      now: () => mondayNoonShanghai,
      anyAgentOnline: () => Promise.resolve(true),
      loadFlow: () => Promise.resolve({ version: 1, definition: v1 }),
      perform: () => Promise.reject(new Error('not used with commit')),
      store: {
        get: (c) => Promise.resolve(runs.get(c.contactId) ?? null),
        set: () => Promise.reject(new Error('not used with commit')),
      },
      skillGroupOpen: () => Promise.resolve(o.groupOpen ?? true),
      commit(c, { previous, run, actions }) {
        interfere?.();
        interfere = null;
        const at = runs.get(c.contactId)?.step ?? 0;
        if (at !== (previous?.step ?? 0)) return Promise.reject(new ConflictError('moved on'));
        runs.set(c.contactId, { flowId: run.flowId, version: run.version, position: run.position, step: run.step! });
        steps.push({ fromStep: at, actions });
        return Promise.resolve({ appended: null });
      },
    };
    return { runner: new ChatFlowRunner(ports), steps, runs, interfereOnce: (f: () => void) => (interfere = f) };
  }

  it('records each step at once with the step it starts from', async () => {
    const h = committing();
    await h.runner.start(chat, 'f1');
    await h.runner.message(chat, '1');
    expect(h.steps.map((s) => [s.fromStep, s.actions.map((a) => a.type)])).toEqual([
      [0, ['send']],
      [1, ['chosen', 'route']],
    ]);
  });

  it('goes on from where the chat is now when another process stepped it meanwhile', async () => {
    const c = committing();
    await c.runner.start(chat, 'f1');
    // Another process answers "2" (Order) while this one handles "1": this one's step is refused, then taken from the new place.
    c.interfereOnce(() => {
      const run = c.runs.get(chat.contactId)!;
      c.runs.set(chat.contactId, { ...run, step: run.step + 1, position: { status: 'waiting', nodeId: 'order', failures: 0, afterHours: false, now: mondayNoonShanghai.toISOString(), variables: {} } });
    });
    await c.runner.message(chat, 'SO-1234');
    expect(c.runs.get(chat.contactId)!.position).toMatchObject({ status: 'ended', variables: { orderNumber: 'SO-1234' } });
    // The refused step left nothing; the step taken again starts from the other process's.
    expect(c.steps.map((s) => s.fromStep)).toEqual([0, 2]);
    expect(c.steps[1]!.actions.map((a) => a.type)).toEqual(['setVariable', 'route']);
  });

  it('ends the chat (flowError) instead of queueing it in a group deleted since', async () => {
    const h = committing({ groupOpen: false });
    await h.runner.start(chat, 'f1');
    const r = await h.runner.message(chat, '1');
    expect(h.steps.at(-1)!.actions.at(-1)).toEqual({ type: 'end', reason: 'flowError' });
    expect(r.run!.position).toMatchObject({ status: 'ended', outcome: { type: 'end', reason: 'flowError' } });
  });

  it('feeds a message stored without its step from the place it names, once; not when the chat moved on (no retry)', async () => {
    const h = committing();
    await h.runner.start(chat, 'f1');
    const fed = await h.runner.resumeMessage(chat, '2', 1);
    expect(fed.run).toMatchObject({ step: 2, position: { status: 'waiting', nodeId: 'order' } });
    // Another process (or a second restart) feeding the same message from the same place: nothing.
    expect((await h.runner.resumeMessage(chat, '2', 1)).actions).toEqual([]);
    // The chat moved on while this one fed it: refused, and not taken again from the new place.
    h.interfereOnce(() => {
      const run = h.runs.get(chat.contactId)!;
      h.runs.set(chat.contactId, { ...run, step: run.step + 1 });
    });
    const refused = await h.runner.resumeMessage(chat, 'SO-1234', 2);
    expect(refused.actions).toEqual([]);
    expect(h.steps.map((s) => s.fromStep)).toEqual([0, 1]);
  });
});

describe('messages a chat holds after its flow\'s last step', () => {
  const msg = (text: string, extra: Record<string, unknown> = {}) => ({ type: 'ContactMessageRecorded', data: { from: 'CUSTOMER', kind: 'TEXT', text, attachment: null, ...extra } });
  const step = (n: number) => ({ type: 'ContactChatFlowAdvanced', data: { step: n } });

  it('are the customer\'s texts after the last step, with that step\'s number', () => {
    expect(unansweredMessages([{ type: 'ContactCreated', data: {} }, step(1), msg('2'), { type: 'ContactMessageRecorded', data: { from: 'SYSTEM', text: 'x' } }, msg('SO-1')])).toEqual({ texts: ['2', 'SO-1'], atStep: 1 });
  });

  it('leave out what a step took (the message goes before its step in the same append), files, and words before the first step', () => {
    expect(unansweredMessages([step(1), msg('2'), step(2)])).toBeNull();
    expect(unansweredMessages([step(1), msg('look', { kind: 'IMAGE', attachment: { fileId: 'f' } })])).toBeNull();
    expect(unansweredMessages([msg('Hi'), step(1)])).toBeNull();
    expect(unansweredMessages([msg('Hi')])).toBeNull();
  });
});
