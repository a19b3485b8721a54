// A chat flow's message as WeChat text (issue 13): WeChat's customer-service text has no buttons, so a menu's
// options follow the text as a numbered list the customer answers by number or word.
import { describe, expect, it } from 'vitest';
import { flowMessageText } from '../../src/processes/wechat-outbox/wechat-outbox.ts';

describe('flowMessageText', () => {
  it('puts each option on a line of its own after the text, numbered as the flow numbers them', () => {
    expect(flowMessageText('How can we help?', [
      { number: 1, label: 'Buy something' },
      { number: 7, label: 'Where is my order' },
    ])).toBe('How can we help?\n\n1. Buy something\n7. Where is my order');
  });
  it('is the text alone without options, and the list alone without text', () => {
    expect(flowMessageText('Welcome! 😀', null)).toBe('Welcome! 😀');
    expect(flowMessageText('Welcome!', [])).toBe('Welcome!');
    expect(flowMessageText('  ', [{ number: 1, label: 'Sales' }])).toBe('1. Sales');
  });
});
