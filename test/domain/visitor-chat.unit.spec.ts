// The claim on a customer's chat (one open chat per customer and channel): the first start claims it, a start
// for another chat is refused with the chat that holds it unless the caller found that chat over, a retry of
// the holder changes nothing, and a release frees the claim only for its holder.
import { describe, expect, it } from 'vitest';
import { fold } from '../../src/domain/decider.ts';
import { decideVisitorChat, visitorChatDecider, VisitorChatHeldError, type VisitorChatCommand, type VisitorChatEvent } from '../../src/domain/web-channel/visitor-chat.ts';

const metadata = { now: '2026-12-05T10:00:00.000Z', instanceId: 'i', actor: 'customer:v', correlationId: 'c' };
const claim = (contactId: string, replaceable: string | null = null): VisitorChatCommand => ({ type: 'ClaimVisitorChat', data: { contactId, replaceable }, metadata });
const release = (contactId: string): VisitorChatCommand => ({ type: 'ReleaseVisitorChat', data: { contactId }, metadata });

function run(commands: VisitorChatCommand[]): VisitorChatEvent[] {
  const events: VisitorChatEvent[] = [];
  for (const c of commands) events.push(...decideVisitorChat(c, fold(visitorChatDecider, events)));
  return events;
}

describe('the claim on a customer\'s chat', () => {
  it('is taken by the first start, with its time', () => {
    expect(run([claim('a')])).toEqual([{ type: 'VisitorChatClaimed', data: { contactId: 'a', claimedAt: metadata.now } }]);
  });
  it('refuses another chat with the holder named, and a retry of the holder changes nothing', () => {
    const events = run([claim('a')]);
    const state = fold(visitorChatDecider, events);
    expect(decideVisitorChat(claim('a'), state)).toEqual([]);
    let refused: unknown;
    try {
      decideVisitorChat(claim('b'), state);
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(VisitorChatHeldError);
    expect((refused as VisitorChatHeldError).claim.contactId).toBe('a');
    // Naming a chat that is not the holder replaces nothing.
    expect(() => decideVisitorChat(claim('b', 'z'), state)).toThrow(VisitorChatHeldError);
  });
  it('passes to a new chat when the caller found the holder over', () => {
    const events = run([claim('a'), claim('b', 'a')]);
    expect(fold(visitorChatDecider, events).claim?.contactId).toBe('b');
  });
  it('is released by its holder only', () => {
    expect(run([claim('a'), release('b')])).toHaveLength(1);
    const events = run([claim('a'), release('a'), claim('b')]);
    expect(events.map((e) => e.type)).toEqual(['VisitorChatClaimed', 'VisitorChatReleased', 'VisitorChatClaimed']);
    expect(fold(visitorChatDecider, events).claim?.contactId).toBe('b');
  });
});
