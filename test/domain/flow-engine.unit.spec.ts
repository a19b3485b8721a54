// The flow engine as a specification: given a flow and where the caller is, when input comes, then these
// actions, in this order. Every node type; menu retries, invalid keys and timeouts; business hours across
// time zones, DST, holidays and overnight ranges.
import { describe, expect, it } from 'vitest';
import { isOpenAt } from '../../src/domain/flow/business-hours.ts';
import { parseFlowDocument, type FlowDocument } from '../../src/domain/flow/flow-document.ts';
import { newFlowPosition, stepFlow, type FlowInput, type FlowPosition, type FlowStep } from '../../src/domain/flow/flow-engine.ts';

const sales = '11111111-1111-4111-8111-111111111111';
const support = '22222222-2222-4222-8222-222222222222';
const welcomeAudio = '33333333-3333-4333-8333-333333333333';
const mondayNoonShanghai = '2026-11-23T04:00:00.000Z'; // Monday 12:00 in Asia/Shanghai (UTC+8)
const sundayNoonShanghai = '2026-11-22T04:00:00.000Z';

const say = (text: string) => ({ text });

/** The reception flow of a shop: hours check, welcome, a menu, an order-number collect. */
const shop: FlowDocument = parseFlowDocument({
  start: 'hours',
  nodes: [
    {
      id: 'hours',
      type: 'businessHours',
      timeZone: 'Asia/Shanghai',
      weekly: [{ days: ['MON', 'TUE', 'WED', 'THU', 'FRI'], open: '09:00', close: '18:00' }],
      holidays: ['2026-10-01', { date: '2026-12-25', name: 'Christmas' }],
      open: 'welcome',
      closed: 'closed',
    },
    { id: 'welcome', type: 'play', prompt: { audioId: welcomeAudio }, next: 'menu' },
    {
      id: 'menu',
      type: 'menu',
      prompt: say('Press 1 for sales, 2 for support, 3 to track an order'),
      options: { '1': { next: 'sales', label: 'Sales' }, '2': { next: 'support', label: 'Support' }, '3': { next: 'order', label: 'Order status' } },
      invalidPrompt: say('That is not an option'),
      timeoutPrompt: say('We did not hear you'),
      onFailure: 'goodbye',
    },
    { id: 'order', type: 'collect', prompt: say('Enter your order number, then #'), variable: 'orderNumber', minDigits: 4, maxDigits: 8, next: 'support', onFailure: 'menu' },
    { id: 'sales', type: 'route', skillGroupId: sales, priority: 5 },
    { id: 'support', type: 'route', skillGroupId: support },
    { id: 'goodbye', type: 'hangup', prompt: say('Goodbye') },
    { id: 'closed', type: 'hangup', prompt: say('We are closed: 9 to 6, Monday to Friday') },
  ],
});

const menuPrompt = say('Press 1 for sales, 2 for support, 3 to track an order');
const menuWait = [
  { type: 'play', prompt: menuPrompt, bargeIn: true },
  { type: 'collect', maxDigits: 1, terminator: null, timeoutSeconds: 5 },
];

/** given(flow, inputs so far).when(input).then(actions): the position is whatever the earlier inputs left. */
function given(flow: FlowDocument, inputs: FlowInput[] = []) {
  const position = inputs.reduce<FlowPosition>((p, i) => stepFlow(flow, p, i).position, newFlowPosition());
  return {
    position,
    when(input: FlowInput): FlowStep {
      return stepFlow(flow, position, input);
    },
  };
}

const start = (now = mondayNoonShanghai): FlowInput => ({ type: 'start', now });
const key = (k: string): FlowInput => ({ type: 'key', key: k });
const timeout: FlowInput = { type: 'timeout' };

describe('flow engine', () => {
  describe('when the caller starts the flow in business hours', () => {
    it('plays the welcome, then the menu prompt (barge-in) and waits for one key', () => {
      const step = given(shop).when(start());
      expect(step.actions).toEqual([{ type: 'play', prompt: { audioId: welcomeAudio }, bargeIn: false }, ...menuWait]);
      expect(step.position).toMatchObject({ status: 'waiting', nodeId: 'menu', failures: 0, afterHours: false });
    });
  });

  describe('when at the menu', () => {
    const atMenu = [start()];

    it('records the key with its label and routes with the priority', () => {
      const step = given(shop, atMenu).when(key('1'));
      expect(step.actions).toEqual([
        { type: 'keyPressed', key: '1', label: 'Sales' },
        { type: 'route', skillGroupId: sales, priority: 5 },
      ]);
      expect(step.position).toEqual({ status: 'ended', outcome: { type: 'route', skillGroupId: sales, priority: 5 } });
    });

    it('routes with priority 0 by default', () => {
      expect(given(shop, atMenu).when(key('2')).actions.at(-1)).toEqual({ type: 'route', skillGroupId: support, priority: 0 });
    });

    it('takes the first of several digits as the key', () => {
      expect(given(shop, atMenu).when({ type: 'digits', digits: '21' }).actions[0]).toEqual({ type: 'keyPressed', key: '2', label: 'Support' });
    });

    it('says an invalid key is not an option and asks again, without recording it', () => {
      const step = given(shop, atMenu).when(key('9'));
      expect(step.actions).toEqual([{ type: 'play', prompt: say('That is not an option'), bargeIn: false }, ...menuWait]);
      expect(step.position).toMatchObject({ status: 'waiting', nodeId: 'menu', failures: 1 });
    });

    it('says it did not hear the caller after a timeout and asks again', () => {
      const step = given(shop, atMenu).when(timeout);
      expect(step.actions).toEqual([{ type: 'play', prompt: say('We did not hear you'), bargeIn: false }, ...menuWait]);
    });

    it('counts invalid keys and timeouts together: after the retries (2) it goes to onFailure', () => {
      const step = given(shop, [...atMenu, key('9'), timeout]).when(key('#'));
      expect(step.actions).toEqual([
        { type: 'play', prompt: say('That is not an option'), bargeIn: false },
        { type: 'play', prompt: say('Goodbye'), bargeIn: false },
        { type: 'hangup', reason: 'ivrEnd' },
      ]);
      expect(step.position.status).toBe('ended');
    });

    it('still takes a valid key on the last attempt', () => {
      expect(given(shop, [...atMenu, timeout, timeout]).when(key('1')).actions[0]).toEqual({ type: 'keyPressed', key: '1', label: 'Sales' });
    });

    it('plays nothing before asking again when the menu has no invalid or timeout prompt', () => {
      const bare = parseFlowDocument({
        start: 'm',
        nodes: [
          { id: 'm', type: 'menu', prompt: say('1 or 2'), options: { '1': { next: 'bye', label: 'One' } }, retries: 0, timeoutSeconds: 8, onFailure: 'bye' },
          { id: 'bye', type: 'hangup' },
        ],
      });
      const first = given(bare).when(start());
      expect(first.actions).toEqual([
        { type: 'play', prompt: say('1 or 2'), bargeIn: true },
        { type: 'collect', maxDigits: 1, terminator: null, timeoutSeconds: 8 },
      ]);
      // retries 0: the first failure ends the menu.
      expect(given(bare, [start()]).when(timeout).actions).toEqual([{ type: 'hangup', reason: 'ivrEnd' }]);
    });
  });

  describe('when collecting digits', () => {
    const atCollect = [start(), key('3')];

    it('prompts and waits for up to maxDigits, ended by #', () => {
      expect(given(shop, [start()]).when(key('3')).actions).toEqual([
        { type: 'keyPressed', key: '3', label: 'Order status' },
        { type: 'play', prompt: say('Enter your order number, then #'), bargeIn: true },
        { type: 'collect', maxDigits: 8, terminator: '#', timeoutSeconds: 5 },
      ]);
    });

    it('sets the variable (without the terminator) and goes on', () => {
      expect(given(shop, atCollect).when({ type: 'digits', digits: '123456#' }).actions).toEqual([
        { type: 'setVariable', name: 'orderNumber', value: '123456' },
        { type: 'route', skillGroupId: support, priority: 0 },
      ]);
    });

    it('goes to onFailure with too few digits, or on a timeout', () => {
      expect(given(shop, atCollect).when({ type: 'digits', digits: '12#' }).actions).toEqual(menuWait);
      expect(given(shop, atCollect).when(timeout).position).toMatchObject({ status: 'waiting', nodeId: 'menu', failures: 0 });
    });

    it('hangs up on a failure when there is no onFailure', () => {
      const flow = parseFlowDocument({
        start: 'c',
        nodes: [
          { id: 'c', type: 'collect', prompt: say('PIN'), variable: 'pin', maxDigits: 4, terminator: null, next: 'r' },
          { id: 'r', type: 'route', skillGroupId: sales },
        ],
      });
      expect(given(flow, [start()]).when({ type: 'digits', digits: '12345' }).actions).toEqual([{ type: 'hangup', reason: 'ivrEnd' }]);
      expect(given(flow, [start()]).when({ type: 'digits', digits: '1234' }).actions[0]).toEqual({ type: 'setVariable', name: 'pin', value: '1234' });
    });
  });

  describe('when the flow ends or input does not apply', () => {
    it('changes nothing for input after the end, input before the start, a second start, or playFinished', () => {
      const ended = given(shop, [start(), key('1')]);
      expect(ended.when(key('2'))).toEqual({ actions: [], position: ended.position });
      expect(given(shop).when(key('1'))).toEqual({ actions: [], position: { status: 'new' } });
      const waiting = given(shop, [start()]);
      expect(waiting.when(start())).toEqual({ actions: [], position: waiting.position });
      expect(waiting.when({ type: 'playFinished' })).toEqual({ actions: [], position: waiting.position });
    });
  });

  describe('when outside business hours', () => {
    it('takes the closed branch and hangs up with afterHours', () => {
      const step = given(shop).when(start(sundayNoonShanghai));
      expect(step.actions).toEqual([
        { type: 'play', prompt: say('We are closed: 9 to 6, Monday to Friday'), bargeIn: false },
        { type: 'hangup', reason: 'afterHours' },
      ]);
    });

    it('keeps afterHours for a hang-up reached through a menu on the closed branch', () => {
      const flow = parseFlowDocument({
        start: 'h',
        nodes: [
          { id: 'h', type: 'businessHours', timeZone: 'UTC', weekly: [], open: 'r', closed: 'm' },
          { id: 'm', type: 'menu', prompt: say('Press 1 to leave a message'), options: { '1': { next: 'bye', label: 'Message' } }, onFailure: 'bye' },
          { id: 'bye', type: 'hangup' },
          { id: 'r', type: 'route', skillGroupId: sales },
        ],
      });
      expect(given(flow, [start()]).when(key('1')).actions.at(-1)).toEqual({ type: 'hangup', reason: 'afterHours' });
    });

    it('uses a hang-up node reason when it names one', () => {
      const flow = parseFlowDocument({ start: 'x', nodes: [{ id: 'x', type: 'hangup', reason: 'afterHours' }] });
      expect(given(flow).when(start()).actions).toEqual([{ type: 'hangup', reason: 'afterHours' }]);
    });
  });

  it('hangs up with flowError on a document it cannot run (never saved, so never validated)', () => {
    const broken = { version: 1, start: 'nowhere', nodes: [] } as unknown as FlowDocument;
    expect(given(broken).when(start()).actions).toEqual([{ type: 'hangup', reason: 'flowError' }]);
  });
});

describe('business hours', () => {
  const weekdays9to18 = { timeZone: 'Asia/Shanghai', weekly: [{ days: ['MON', 'TUE', 'WED', 'THU', 'FRI'] as const, open: '09:00', close: '18:00' }].map((r) => ({ ...r, days: [...r.days] })), holidays: [] };

  it('opens at the opening minute and closes at the closing minute, in the flow time zone', () => {
    expect(isOpenAt(weekdays9to18, '2026-11-23T01:00:00Z')).toBe(true); // Mon 09:00 Shanghai
    expect(isOpenAt(weekdays9to18, '2026-11-23T00:59:00Z')).toBe(false); // Mon 08:59
    expect(isOpenAt(weekdays9to18, '2026-11-23T09:59:00Z')).toBe(true); // Mon 17:59
    expect(isOpenAt(weekdays9to18, '2026-11-23T10:00:00Z')).toBe(false); // Mon 18:00
  });

  it('reads the weekday in the flow time zone, not UTC', () => {
    // Sunday 20:00 UTC is Monday 04:00 in Shanghai and still Sunday 12:00 in Los Angeles.
    const at = '2026-11-22T20:00:00Z';
    expect(isOpenAt({ ...weekdays9to18, weekly: [{ days: ['MON'], open: '00:00', close: '24:00' }] }, at)).toBe(true);
    expect(isOpenAt({ timeZone: 'America/Los_Angeles', weekly: [{ days: ['MON'], open: '00:00', close: '24:00' }], holidays: [] }, at)).toBe(false);
  });

  it('follows daylight saving time: New York 09:00 is 14:00 UTC in winter, 13:00 UTC in summer', () => {
    const ny = { timeZone: 'America/New_York', weekly: [{ days: ['SAT', 'SUN', 'MON'] as ('SAT' | 'SUN' | 'MON')[], open: '09:00', close: '17:00' }], holidays: [] };
    // 2026-03-08 (Sunday) DST starts at 02:00 local.
    expect(isOpenAt(ny, '2026-03-07T13:30:00Z')).toBe(false); // Sat 08:30 EST
    expect(isOpenAt(ny, '2026-03-07T14:30:00Z')).toBe(true); // Sat 09:30 EST
    expect(isOpenAt(ny, '2026-03-08T13:30:00Z')).toBe(true); // Sun 09:30 EDT
    expect(isOpenAt(ny, '2026-03-08T21:30:00Z')).toBe(false); // Sun 17:30 EDT
  });

  it('closes the whole local date of a holiday, given as a date or with a name', () => {
    const hours = { ...weekdays9to18, holidays: ['2026-12-25', { date: '2026-12-24', name: 'Eve' }] };
    expect(isOpenAt(hours, '2026-12-25T04:00:00Z')).toBe(false); // Fri 12:00
    expect(isOpenAt(hours, '2026-12-24T04:00:00Z')).toBe(false); // Thu 12:00
    expect(isOpenAt(hours, '2026-12-23T04:00:00Z')).toBe(true); // Wed 12:00
    // 2026-12-24T20:00Z is already the 25th in Shanghai: a holiday, though not in UTC.
    expect(isOpenAt({ ...hours, weekly: [{ days: ['FRI'], open: '00:00', close: '24:00' }], holidays: ['2026-12-25'] }, '2026-12-24T20:00:00Z')).toBe(false);
  });

  it('runs an overnight range (22:00–06:00) from its day into the next morning', () => {
    const night = { timeZone: 'UTC', weekly: [{ days: ['FRI'] as 'FRI'[], open: '22:00', close: '06:00' }], holidays: [] };
    expect(isOpenAt(night, '2026-11-27T22:00:00Z')).toBe(true); // Fri 22:00
    expect(isOpenAt(night, '2026-11-28T05:59:00Z')).toBe(true); // Sat 05:59
    expect(isOpenAt(night, '2026-11-28T06:00:00Z')).toBe(false); // Sat 06:00
    expect(isOpenAt(night, '2026-11-27T05:00:00Z')).toBe(false); // Fri 05:00: Thursday night is not open
    expect(isOpenAt(night, '2026-11-28T22:30:00Z')).toBe(false); // Sat 22:30
  });

  it('is open around the clock with 00:00–24:00, and closed with no ranges', () => {
    expect(isOpenAt({ timeZone: 'Europe/Berlin', weekly: [{ days: ['SUN'], open: '00:00', close: '24:00' }], holidays: [] }, '2026-11-22T22:59:00Z')).toBe(true);
    expect(isOpenAt({ timeZone: 'Europe/Berlin', weekly: [], holidays: [] }, '2026-11-22T12:00:00Z')).toBe(false);
  });
});
