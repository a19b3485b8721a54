// Link cards (issue 13): the one definition of a link (chat-link.ts) and the contact decider's LINK messages:
// web pages over http or https only, bounded lengths, no control characters (a description may break lines),
// a mini program page with its cover; agents send them, customers do not; other kinds carry no link.
import { describe, expect, it } from 'vitest';
import { chatLinkProblem, chatLinkValue } from '../../src/domain/contact/chat-link.ts';
import type { ContactCommand } from '../../src/domain/contact/contact.decide.ts';
import { contactDecider } from '../../src/domain/contact/contact.decide.ts';
import type { ContactEvent, ContactState } from '../../src/domain/contact/contact.ts';
import { ValidationError } from '../../src/domain/errors.ts';
import { meta } from '../support/decider-spec.ts';

const T0 = '2026-12-04T09:00:00.000Z';
const T1 = '2026-12-04T09:00:05.000Z';
const contactId = 'chat-1';
const fold = (events: ContactEvent[]): ContactState => events.reduce(contactDecider.evolve, contactDecider.initialState());
const talking = fold([
  { type: 'ContactCreated', data: { contactId, channel: 'ONLINE', direction: 'IN', customer: { kind: 'WECHAT', id: 'oX', name: null }, data: {}, createdAt: T0 } },
  { type: 'ContactQueued', data: { skillGroupId: 'chat', priority: 0, queuedAt: T0 } },
  { type: 'ContactOffered', data: { offerId: 'o1', agentIds: ['alice'], expiresAt: T1, transfer: null } },
  { type: 'ContactAccepted', data: { offerId: 'o1', agentId: 'alice', at: T0 } },
] as ContactEvent[]);

const send = (from: 'AGENT' | 'CUSTOMER', data: Record<string, unknown>): ContactCommand =>
  ({ type: 'RecordMessage', data: { contactId, messageId: 'm1', clientMessageId: 'c1', from, agentId: from === 'AGENT' ? 'alice' : null, text: '', ...data }, metadata: meta({ now: T1 }) }) as ContactCommand;

describe('chat links', () => {
  it('takes a web link and a mini program page, every field present after parsing', () => {
    expect(chatLinkValue.parse({ title: '  Sale  ', url: 'https://shop.example.com/sale', description: 'two\nlines' })).toEqual({
      title: 'Sale',
      description: 'two\nlines',
      url: 'https://shop.example.com/sale',
      thumbUrl: null,
      pagePath: null,
      thumbFileId: null,
    });
    expect(chatLinkValue.parse({ title: 'Order', pagePath: 'pages/order/detail?id=7&x=%20', thumbFileId: '0b7c2a4e-6f7a-4c53-9b1e-2d8f1a3c5e70', description: '' })).toMatchObject({
      url: null,
      pagePath: 'pages/order/detail?id=7&x=%20',
      description: null,
    });
  });

  it('refuses what is not a safe link, naming the field', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ title: 'x', url: 'javascript:alert(1)' }, 'link.url'],
      [{ title: 'x', url: 'ftp://example.com/' }, 'link.url'],
      [{ title: 'x', url: '/relative' }, 'link.url'],
      [{ title: 'x', url: 'https://u:p@example.com/' }, 'link.url'],
      [{ title: 'x', url: 'https://example.com/\u0000' }, 'link.url'],
      [{ title: 'x', url: 'https://example.com/', thumbUrl: 'data:image/png;base64,AAAA' }, 'link.thumbUrl'],
      [{ title: '', url: 'https://example.com/' }, 'link.title'],
      [{ title: 'a\nb', url: 'https://example.com/' }, 'link.title'],
      [{ title: 'x\u0085', url: 'https://example.com/' }, 'link.title'],
      [{ title: 'x', description: 'esc\u001b[31m', url: 'https://example.com/' }, 'link.description'],
      [{ title: 'x', description: 'd'.repeat(501), url: 'https://example.com/' }, 'link.description'],
      [{ title: 'x' }, 'link.url'],
      [{ title: 'x', url: 'https://example.com/', pagePath: 'pages/a/a' }, 'link.url'],
      [{ title: 'x', pagePath: 'pages/a/a' }, 'link.thumbFileId'],
      [{ title: 'x', pagePath: '/pages/a/a', thumbFileId: '0b7c2a4e-6f7a-4c53-9b1e-2d8f1a3c5e70' }, 'link.pagePath'],
      [{ title: 'x', pagePath: 'pages/../../etc', thumbFileId: '0b7c2a4e-6f7a-4c53-9b1e-2d8f1a3c5e70' }, 'link.pagePath'],
      [{ title: 'x', pagePath: 'pages/a <b>', thumbFileId: '0b7c2a4e-6f7a-4c53-9b1e-2d8f1a3c5e70' }, 'link.pagePath'],
      [{ title: 'x', url: 'https://example.com/', thumbFileId: '0b7c2a4e-6f7a-4c53-9b1e-2d8f1a3c5e70' }, 'link.thumbFileId'],
    ];
    for (const [link, field] of cases) expect(chatLinkProblem(link)?.field, JSON.stringify(link)).toBe(field);
  });

  it('the decider records an agent\'s LINK message with its card, and refuses a customer\'s or a link on another kind', () => {
    const link = chatLinkValue.parse({ title: 'Track', url: 'https://shop.example.com/t' });
    const [e] = contactDecider.decide(send('AGENT', { kind: 'LINK', link }), talking);
    expect(e).toMatchObject({ type: 'ContactMessageRecorded', data: { kind: 'LINK', from: 'AGENT', link, seq: 1 } });
    expect(() => contactDecider.decide(send('CUSTOMER', { kind: 'LINK', link }), talking)).toThrow(ValidationError);
    expect(() => contactDecider.decide(send('AGENT', { kind: 'LINK', link: null }), talking)).toThrow(ValidationError);
    expect(() => contactDecider.decide(send('AGENT', { kind: 'TEXT', text: 'hi', link }), talking)).toThrow(ValidationError);
    // A card that slipped past the API is still checked against the same definition.
    expect(() => contactDecider.decide(send('AGENT', { kind: 'LINK', link: { ...link, url: 'javascript:alert(1)' } }), talking)).toThrow(/http/);
  });
});
