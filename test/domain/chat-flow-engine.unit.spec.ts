// The chat flow engine as a specification: given a chat flow and where the customer is, when a message (or
// a button, or the answer whether agents are online) comes, then these actions, in this order. Every node
// kind: send (text, image, variables filled in), menu (buttons; number, label or keyword typed; retries),
// collect (order number, phone, regex, any; retries), business hours (clock from the input), choose a
// skill group, route with and without a "no agent online" branch, end.
import { describe, expect, it } from 'vitest';
import { parseChatFlowDocument, type ChatFlowDocument } from '../../src/domain/flow/chat-flow-document.ts';
import {
  fillIn,
  newChatFlowPosition,
  stepChatFlow,
  validAnswer,
  type ChatFlowAction,
  type ChatFlowInput,
  type ChatFlowPosition,
  type ChatFlowStep,
} from '../../src/domain/flow/chat-flow-engine.ts';

const sales = '11111111-1111-4111-8111-111111111111';
const support = '22222222-2222-4222-8222-222222222222';
const returns = '33333333-3333-4333-8333-333333333333';
const mondayNoonShanghai = '2026-11-23T04:00:00.000Z'; // Monday 12:00 in Asia/Shanghai (UTC+8)
const mondayNightShanghai = '2026-11-23T13:00:00.000Z'; // Monday 21:00 in Asia/Shanghai
const sundayNoonShanghai = '2026-11-22T04:00:00.000Z';

/** A shop's chat reception: hours, welcome with a banner, a menu, an order number, a group choice. */
const shop: ChatFlowDocument = parseChatFlowDocument({
  start: 'hours',
  nodes: [
    {
      id: 'hours',
      type: 'businessHours',
      timeZone: 'Asia/Shanghai',
      weekly: [{ days: ['MON', 'TUE', 'WED', 'THU', 'FRI'], open: '09:00', close: '18:00' }],
      holidays: [{ date: '2026-12-25', name: 'Christmas' }],
      open: 'welcome',
      closed: 'closed',
    },
    { id: 'welcome', type: 'send', text: 'Welcome to the shop!', image: { url: 'https://shop.example/banner.png', alt: 'Sale' }, next: 'menu' },
    {
      id: 'menu',
      type: 'menu',
      text: 'How can we help?',
      options: [
        { number: 1, label: 'Buy something', keywords: ['sales', '购买'], next: 'sales' },
        { number: 2, label: 'Where is my order', keywords: ['order', '订单'], next: 'order' },
        { number: 3, label: 'Talk to someone', next: 'choose' },
      ],
      invalidText: 'Please pick one of the options.',
      onFailure: 'choose',
    },
    { id: 'order', type: 'collect', text: 'Your order number?', variable: 'orderNumber', validate: { kind: 'orderNumber' }, invalidText: 'That does not look like an order number.', next: 'thanks', onFailure: 'support' },
    { id: 'thanks', type: 'send', text: 'Thanks, looking up order {{orderNumber}}.', next: 'support' },
    { id: 'sales', type: 'route', skillGroupId: sales, priority: 5, onNoAgent: 'nobody' },
    { id: 'support', type: 'route', skillGroupId: support },
    {
      id: 'choose',
      type: 'chooseSkillGroup',
      text: 'Who would you like to talk to?',
      options: [
        { number: 1, label: 'Sales', skillGroupId: sales },
        { number: 2, label: 'Returns', keywords: ['refund'], skillGroupId: returns },
      ],
      variable: 'department',
      retries: 0,
      onFailure: 'support',
      onNoAgent: 'nobody',
    },
    { id: 'nobody', type: 'end', text: 'Nobody is online right now, please come back later.' },
    { id: 'closed', type: 'end', text: 'We are open 9 to 6, Monday to Friday.' },
  ],
});

const menuAsk: ChatFlowAction = {
  type: 'send',
  text: 'How can we help?',
  image: null,
  options: [
    { number: 1, label: 'Buy something' },
    { number: 2, label: 'Where is my order' },
    { number: 3, label: 'Talk to someone' },
  ],
};
const chooseAsk: ChatFlowAction = {
  type: 'send',
  text: 'Who would you like to talk to?',
  image: null,
  options: [
    { number: 1, label: 'Sales' },
    { number: 2, label: 'Returns' },
  ],
};
const text = (t: string): ChatFlowAction => ({ type: 'send', text: t, image: null, options: null });

/** given(flow, inputs so far).when(input): the position is whatever the earlier inputs left. */
function given(flow: ChatFlowDocument, inputs: ChatFlowInput[] = []) {
  const position = inputs.reduce<ChatFlowPosition>((p, i) => stepChatFlow(flow, p, i).position, newChatFlowPosition());
  return {
    position,
    when(input: ChatFlowInput): ChatFlowStep {
      return stepChatFlow(flow, position, input);
    },
  };
}

const start = (now = mondayNoonShanghai): ChatFlowInput => ({ type: 'start', now });
const says = (t: string): ChatFlowInput => ({ type: 'message', text: t });
const clicks = (n: number): ChatFlowInput => ({ type: 'choice', number: n });
const online = (yes: boolean): ChatFlowInput => ({ type: 'agentsOnline', online: yes });

describe('chat flow engine', () => {
  describe('send', () => {
    it('sends the welcome text with its image, then the menu with its options as buttons, and waits', () => {
      const step = given(shop).when(start());
      expect(step.actions).toEqual([{ type: 'send', text: 'Welcome to the shop!', image: { url: 'https://shop.example/banner.png', alt: 'Sale' }, options: null }, menuAsk]);
      expect(step.position).toMatchObject({ status: 'waiting', nodeId: 'menu', failures: 0, afterHours: false, variables: {} });
    });

    it('sends an image alone, and fills {{variables}} into texts (unknown ones empty)', () => {
      const flow = parseChatFlowDocument({
        start: 'pic',
        nodes: [
          { id: 'pic', type: 'send', image: { url: 'https://x.example/a.jpg' }, next: 'ask' },
          { id: 'ask', type: 'collect', text: 'Name?', variable: 'name', next: 'hi' },
          { id: 'hi', type: 'send', text: 'Hi {{ name }}{{nope}}!', next: 'bye' },
          { id: 'bye', type: 'end' },
        ],
      });
      expect(given(flow).when(start()).actions[0]).toEqual({ type: 'send', text: null, image: { url: 'https://x.example/a.jpg', alt: null }, options: null });
      expect(given(flow, [start()]).when(says('  Ann ')).actions).toEqual([{ type: 'setVariable', name: 'name', value: 'Ann' }, text('Hi Ann!'), { type: 'end', reason: 'flowEnd' }]);
      expect(fillIn('{{a}} and {{b}}', { a: '1' })).toBe('1 and ');
    });

    it('sends a link card as it is written, and goes on', () => {
      const flow = parseChatFlowDocument({
        start: 'card',
        nodes: [
          { id: 'card', type: 'send', link: { title: 'Track {{x}}', description: '', url: 'https://shop.example/track', thumbUrl: 'https://shop.example/t.png' }, next: 'bye' },
          { id: 'bye', type: 'end', text: 'Bye' },
        ],
      });
      expect(given(flow).when(start()).actions).toEqual([
        { type: 'send', text: null, image: null, options: null, link: { title: 'Track {{x}}', description: null, url: 'https://shop.example/track', thumbUrl: 'https://shop.example/t.png' } },
        text('Bye'),
        { type: 'end', reason: 'flowEnd' },
      ]);
    });
  });

  describe('menu', () => {
    const atMenu = [start()];

    it('takes a clicked button, records the choice and routes (asking first whether anyone is online)', () => {
      const step = given(shop, atMenu).when(clicks(1));
      expect(step.actions).toEqual([
        { type: 'chosen', nodeId: 'menu', number: 1, label: 'Buy something' },
        { type: 'checkAgentsOnline', skillGroupId: sales },
      ]);
      expect(step.position).toMatchObject({ status: 'checkingAgents', skillGroupId: sales, priority: 5 });
    });

    it('takes the number, the label or a keyword typed, whatever the width, case, spacing or a trailing dot', () => {
      for (const typed of ['1', '１', ' 1. ', 'buy SOMETHING', 'Sales', '购买']) {
        expect(given(shop, atMenu).when(says(typed)).actions[0], typed).toEqual({ type: 'chosen', nodeId: 'menu', number: 1, label: 'Buy something' });
      }
      expect(given(shop, atMenu).when(says('订单')).actions[0]).toMatchObject({ number: 2 });
    });

    it('says an answer is no option and asks again with the buttons; after the retries (2) it goes to onFailure', () => {
      const once = given(shop, atMenu).when(says('hello?'));
      expect(once.actions).toEqual([text('Please pick one of the options.'), menuAsk]);
      expect(once.position).toMatchObject({ status: 'waiting', nodeId: 'menu', failures: 1 });
      expect(given(shop, [...atMenu, says('x'), clicks(9)]).when(says('')).actions).toEqual([text('Please pick one of the options.'), chooseAsk]);
    });

    it('still takes a valid answer on the last attempt', () => {
      expect(given(shop, [...atMenu, says('x'), says('y')]).when(says('3')).actions).toEqual([{ type: 'chosen', nodeId: 'menu', number: 3, label: 'Talk to someone' }, chooseAsk]);
    });
  });

  describe('collect', () => {
    const atOrder = [start(), clicks(2)];

    it('asks, keeps a valid answer in the variable and goes on', () => {
      expect(given(shop, [start()]).when(clicks(2)).actions).toEqual([{ type: 'chosen', nodeId: 'menu', number: 2, label: 'Where is my order' }, text('Your order number?')]);
      expect(given(shop, atOrder).when(says(' SO-20261123 ')).actions).toEqual([
        { type: 'setVariable', name: 'orderNumber', value: 'SO-20261123' },
        text('Thanks, looking up order SO-20261123.'),
        { type: 'route', skillGroupId: support, priority: 0 },
      ]);
    });

    it('carries the variables to the end of the flow', () => {
      expect(given(shop, atOrder).when(says('A1234')).position).toEqual({
        status: 'ended',
        outcome: { type: 'route', skillGroupId: support, priority: 0 },
        variables: { orderNumber: 'A1234' },
      });
    });

    it('says an invalid answer is invalid and asks again; after the retries it goes to onFailure', () => {
      const once = given(shop, atOrder).when(says('my order?'));
      expect(once.actions).toEqual([text('That does not look like an order number.'), text('Your order number?')]);
      expect(once.position).toMatchObject({ nodeId: 'order', failures: 1 });
      expect(given(shop, [...atOrder, says('?'), says('??')]).when(says('???')).actions).toEqual([
        text('That does not look like an order number.'),
        { type: 'route', skillGroupId: support, priority: 0 },
      ]);
    });

    it('keeps asking when it has no onFailure; a button is no answer to a question', () => {
      const flow = parseChatFlowDocument({
        start: 'phone',
        nodes: [
          { id: 'phone', type: 'collect', text: 'Phone?', variable: 'phone', validate: { kind: 'phone' }, retries: 0, next: 'r' },
          { id: 'r', type: 'route', skillGroupId: sales },
        ],
      });
      const step = given(flow, [start(), says('no'), says('nope')]).when(clicks(1));
      expect(step.actions).toEqual([text('Phone?')]);
      expect(step.position).toMatchObject({ status: 'waiting', nodeId: 'phone', failures: 3 });
      expect(given(flow, [start()]).when(says('+86 138-0013 8000')).actions[0]).toEqual({ type: 'setVariable', name: 'phone', value: '+8613800138000' });
    });

    it('checks answers by kind: order number (default or own pattern), phone, regex (whole answer, case optional), any; within maxLength', () => {
      expect(validAnswer({ kind: 'orderNumber' }, 'SO-1234', 100)).toBe('SO-1234');
      expect(validAnswer({ kind: 'orderNumber' }, '12', 100)).toBeNull();
      expect(validAnswer({ kind: 'orderNumber' }, 'order 1234', 100)).toBeNull();
      expect(validAnswer({ kind: 'orderNumber', pattern: '\\d{8}' }, '20261123', 100)).toBe('20261123');
      expect(validAnswer({ kind: 'orderNumber', pattern: '\\d{8}' }, 'SO-1234', 100)).toBeNull();
      expect(validAnswer({ kind: 'phone' }, '(010) 6552.9988', 100)).toBe('01065529988');
      expect(validAnswer({ kind: 'phone' }, '12-34', 100)).toBeNull();
      expect(validAnswer({ kind: 'phone' }, 'call me', 100)).toBeNull();
      expect(validAnswer({ kind: 'regex', pattern: '[a-z]{2}\\d{3}', ignoreCase: false }, 'ab123', 100)).toBe('ab123');
      expect(validAnswer({ kind: 'regex', pattern: '[a-z]{2}\\d{3}', ignoreCase: false }, 'AB123', 100)).toBeNull();
      expect(validAnswer({ kind: 'regex', pattern: '[a-z]{2}\\d{3}', ignoreCase: true }, 'AB123', 100)).toBe('AB123');
      expect(validAnswer({ kind: 'regex', pattern: '[a-z]{2}\\d{3}', ignoreCase: false }, 'xab123', 100)).toBeNull();
      expect(validAnswer({ kind: 'regex', pattern: 'yes|no', ignoreCase: false }, 'yesno', 100)).toBeNull();
      expect(validAnswer({ kind: 'any' }, 'anything at all', 100)).toBe('anything at all');
      expect(validAnswer({ kind: 'any' }, '   ', 100)).toBeNull();
      expect(validAnswer({ kind: 'any' }, 'x'.repeat(11), 10)).toBeNull();
    });
  });

  describe('business hours', () => {
    it('takes the off-hours branch by the clock the adapter gives: the text and the end, afterHours', () => {
      for (const at of [sundayNoonShanghai, mondayNightShanghai, '2026-12-25T04:00:00.000Z']) {
        expect(given(shop).when(start(at)).actions, at).toEqual([text('We are open 9 to 6, Monday to Friday.'), { type: 'end', reason: 'afterHours' }]);
      }
    });

    it('decides by the time of the message that reaches it, not of the start', () => {
      const flow = parseChatFlowDocument({
        start: 'm',
        nodes: [
          { id: 'm', type: 'menu', text: 'Go?', options: [{ number: 1, label: 'Go', next: 'h' }], onFailure: 'h' },
          { id: 'h', type: 'businessHours', timeZone: 'Asia/Shanghai', weekly: [{ days: ['MON'], open: '09:00', close: '18:00' }], open: 'r', closed: 'x' },
          { id: 'r', type: 'route', skillGroupId: sales },
          { id: 'x', type: 'end' },
        ],
      });
      const atMenu = [start(mondayNoonShanghai)];
      expect(given(flow, atMenu).when({ type: 'choice', number: 1, now: mondayNightShanghai }).actions.at(-1)).toEqual({ type: 'end', reason: 'afterHours' });
      expect(given(flow, atMenu).when(clicks(1)).actions.at(-1)).toEqual({ type: 'route', skillGroupId: sales, priority: 0 });
    });
  });

  describe('choose a skill group', () => {
    const atChoose = [start(), clicks(3)];

    it('keeps the chosen label in the variable and asks whether anyone of that group is online', () => {
      const step = given(shop, atChoose).when(says('refund'));
      expect(step.actions).toEqual([
        { type: 'chosen', nodeId: 'choose', number: 2, label: 'Returns' },
        { type: 'setVariable', name: 'department', value: 'Returns' },
        { type: 'checkAgentsOnline', skillGroupId: returns },
      ]);
      expect(given(shop, [...atChoose, says('refund')]).when(online(true))).toEqual({
        actions: [{ type: 'route', skillGroupId: returns, priority: 0 }],
        position: { status: 'ended', outcome: { type: 'route', skillGroupId: returns, priority: 0 }, variables: { department: 'Returns' } },
      });
    });

    it('goes to its "no agent online" branch when nobody of the chosen group is online, and ends with noAgentOnline', () => {
      expect(given(shop, [...atChoose, clicks(1)]).when(online(false)).actions).toEqual([text('Nobody is online right now, please come back later.'), { type: 'end', reason: 'noAgentOnline' }]);
    });

    it('goes to onFailure after an answer that is no group (retries 0)', () => {
      expect(given(shop, atChoose).when(says('billing')).actions).toEqual([{ type: 'route', skillGroupId: support, priority: 0 }]);
    });

    it('routes at once without a "no agent online" branch', () => {
      const flow = parseChatFlowDocument({ start: 'c', nodes: [{ id: 'c', type: 'chooseSkillGroup', text: 'Who?', options: [{ number: 1, label: 'Sales', skillGroupId: sales }], priority: 3, onFailure: 'c' }] });
      expect(given(flow, [start()]).when(clicks(1)).actions).toEqual([{ type: 'chosen', nodeId: 'c', number: 1, label: 'Sales' }, { type: 'route', skillGroupId: sales, priority: 3 }]);
    });
  });

  describe('route', () => {
    it('routes with the priority once agents are online', () => {
      expect(given(shop, [start(), clicks(1)]).when(online(true)).actions).toEqual([{ type: 'route', skillGroupId: sales, priority: 5 }]);
    });

    it('takes the "no agent online" branch when nobody is', () => {
      expect(given(shop, [start(), clicks(1)]).when(online(false)).actions).toEqual([text('Nobody is online right now, please come back later.'), { type: 'end', reason: 'noAgentOnline' }]);
    });

    it('remembers the "no agent online" branch through a menu on it (e.g. leave a message or end)', () => {
      const flow = parseChatFlowDocument({
        start: 'r',
        nodes: [
          { id: 'r', type: 'route', skillGroupId: sales, onNoAgent: 'm' },
          { id: 'm', type: 'menu', text: 'Nobody is here. 1: wait anyway, 2: leave', options: [{ number: 1, label: 'Wait', next: 'q' }, { number: 2, label: 'Leave', next: 'bye' }], onFailure: 'bye' },
          { id: 'q', type: 'route', skillGroupId: support },
          { id: 'bye', type: 'end' },
        ],
      });
      const atMenu = given(flow, [start()]).when(online(false));
      expect(atMenu.position).toMatchObject({ status: 'waiting', nodeId: 'm', noAgent: true });
      expect(given(flow, [start(), online(false)]).when(clicks(2)).actions.at(-1)).toEqual({ type: 'end', reason: 'noAgentOnline' });
      expect(given(flow, [start(), online(false)]).when(clicks(1)).actions.at(-1)).toEqual({ type: 'route', skillGroupId: support, priority: 0 });
    });

    it('ignores customer messages while it waits for that answer, and answers nobody asked for', () => {
      const checking = given(shop, [start(), clicks(1)]);
      expect(checking.when(says('hello?'))).toEqual({ actions: [], position: checking.position });
      const waiting = given(shop, [start()]);
      expect(waiting.when(online(true))).toEqual({ actions: [], position: waiting.position });
    });
  });

  describe('leaveMessage', () => {
    const leave = parseChatFlowDocument({
      start: 'route',
      nodes: [
        { id: 'route', type: 'route', skillGroupId: sales, onNoAgent: 'leave' },
        { id: 'leave', type: 'leaveMessage', text: 'Nobody is online. Leave a message?', skillGroupId: support, priority: 4, thanksText: 'Thanks!' },
      ],
    });

    it('asks for the message when nobody is online, and queues the chat marked as a left message once the customer writes', () => {
      const asked = given(leave, [start()]).when(online(false));
      expect(asked.actions).toEqual([text('Nobody is online. Leave a message?')]);
      const left = given(leave, [start(), online(false)]).when(says('Call me back please'));
      expect(left.actions).toEqual([text('Thanks!'), { type: 'route', skillGroupId: support, priority: 4, leftMessage: true }]);
      expect(left.position.status).toBe('ended');
    });

    it('waits on for words: a button or white space is no message', () => {
      const waiting = given(leave, [start(), online(false)]);
      expect(waiting.when(clicks(1))).toEqual({ actions: [], position: waiting.position });
      expect(waiting.when(says('   '))).toEqual({ actions: [], position: waiting.position });
    });

    it('is a way out for the save-time checks, and names its group', () => {
      expect(() => parseChatFlowDocument({ start: 'l', nodes: [{ id: 'l', type: 'leaveMessage', text: 'Leave one', skillGroupId: sales }] })).not.toThrow();
      expect(() => parseChatFlowDocument({ start: 'l', nodes: [{ id: 'l', type: 'leaveMessage', text: '', skillGroupId: sales }] })).toThrow(/must not be empty/);
    });
  });

  describe('end', () => {
    it('sends its text and ends with its reason, flowEnd by default', () => {
      const flow = parseChatFlowDocument({ start: 'x', nodes: [{ id: 'x', type: 'end', text: 'Bye', reason: 'afterHours' }] });
      expect(given(flow).when(start()).actions).toEqual([text('Bye'), { type: 'end', reason: 'afterHours' }]);
      expect(given(parseChatFlowDocument({ start: 'x', nodes: [{ id: 'x', type: 'end' }] })).when(start()).actions).toEqual([{ type: 'end', reason: 'flowEnd' }]);
    });

    it('changes nothing for input after the end, before the start, or a second start', () => {
      const ended = given(shop, [start(sundayNoonShanghai)]);
      expect(ended.when(says('hello'))).toEqual({ actions: [], position: ended.position });
      expect(given(shop).when(says('1'))).toEqual({ actions: [], position: { status: 'new' } });
      const waiting = given(shop, [start()]);
      expect(waiting.when(start())).toEqual({ actions: [], position: waiting.position });
    });

    it('ends with flowError on a document it cannot run (never saved, so never validated)', () => {
      const broken = { version: 1, start: 'nowhere', nodes: [] } as unknown as ChatFlowDocument;
      expect(given(broken).when(start()).actions).toEqual([{ type: 'end', reason: 'flowError' }]);
    });
  });
});
