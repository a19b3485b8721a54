// What a chat started now can come to in a chat flow (the widget's "leave a message" and "closed", issue 12):
// business-hours steps take the branch of the time given, every other step any of its exits.
import { describe, expect, it } from 'vitest';
import { parseChatFlowDocument } from '../../src/domain/flow/chat-flow-document.ts';
import { canLeaveMessageAt, flowOpenAt } from '../../src/domain/flow/chat-flow-reach.ts';

const group = '11111111-1111-4111-8111-111111111111';
const weekdays = [{ days: ['MON', 'TUE', 'WED', 'THU', 'FRI'], open: '09:00', close: '18:00' }];
const sundayNight = '2026-11-22T03:00:00Z';
const mondayTen = '2026-11-23T10:00:00Z';

const shop = (closed: 'leave' | 'bye') =>
  parseChatFlowDocument({
    start: 'hello',
    nodes: [
      { id: 'hello', type: 'send', text: 'Hi', next: 'hours' },
      { id: 'hours', type: 'businessHours', timeZone: 'UTC', weekly: weekdays, open: 'menu', closed },
      { id: 'menu', type: 'menu', text: '1 buy, 2 other', options: [{ number: 1, label: 'Buy', next: 'route' }, { number: 2, label: 'Other', next: 'bye' }], onFailure: 'bye' },
      { id: 'route', type: 'route', skillGroupId: group, onNoAgent: 'leave' },
      { id: 'leave', type: 'leaveMessage', text: 'Leave a message?', skillGroupId: group, thanksText: 'Thanks' },
      { id: 'bye', type: 'end', text: 'Bye' },
    ],
  });

describe('chat flow reach', () => {
  it('open hours: a message can be left through the route\'s no-agent branch', () => {
    expect(canLeaveMessageAt(shop('bye'), mondayTen)).toBe(true);
    expect(flowOpenAt(shop('bye'), mondayTen)).toBe(true);
  });

  it('closed hours: only what the closed branch leads to counts', () => {
    expect(canLeaveMessageAt(shop('bye'), sundayNight)).toBe(false);
    expect(canLeaveMessageAt(shop('leave'), sundayNight)).toBe(true);
    expect(flowOpenAt(shop('bye'), sundayNight)).toBe(false);
  });

  it('a flow that does not start with business hours says nothing about them', () => {
    const doc = parseChatFlowDocument({ start: 'bye', nodes: [{ id: 'bye', type: 'end', text: 'Bye' }] });
    expect(flowOpenAt(doc, sundayNight)).toBeNull();
    expect(canLeaveMessageAt(doc, sundayNight)).toBe(false);
  });
});
