// Chat flow documents are checked in full on save, with the path of the fault: unknown nodes, loops that
// never wait for the customer, loops with no way out, clashing menu answers, unsafe answer patterns; the
// flow decider versions them by their kind and keeps a flow a web channel uses.
import { describe, expect, it } from 'vitest';
import { ConflictError, ValidationError } from '../../src/domain/errors.ts';
import { chatFlowReferences, checkAnswerPattern, parseChatFlowDocument } from '../../src/domain/flow/chat-flow-document.ts';
import { flowDecider } from '../../src/domain/flow/flow.decide.ts';
import type { FlowEvent } from '../../src/domain/flow/flow.ts';
import { deciderSpec, meta } from '../support/decider-spec.ts';

const sales = '11111111-1111-4111-8111-111111111111';
const support = '22222222-2222-4222-8222-222222222222';

const simple = {
  start: 'menu',
  nodes: [
    { id: 'menu', type: 'menu', text: 'Pick one', options: [{ number: 1, label: 'Sales', next: 'sales' }, { number: 2, label: 'Others', next: 'choose' }], onFailure: 'bye' },
    { id: 'sales', type: 'route', skillGroupId: sales },
    { id: 'choose', type: 'chooseSkillGroup', text: 'Who?', options: [{ number: 1, label: 'Support', skillGroupId: support }, { number: 2, label: 'Sales', skillGroupId: sales }], onFailure: 'bye' },
    { id: 'bye', type: 'end', text: 'Bye' },
  ],
};

function problem(raw: unknown): { field: string; problem: string } {
  try {
    parseChatFlowDocument(raw);
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return { field: (err as ValidationError).field, problem: (err as ValidationError).problem };
  }
  throw new Error('expected a ValidationError');
}

const withNode = (i: number, patch: Record<string, unknown>) => ({ ...simple, nodes: simple.nodes.map((n, j) => (j === i ? { ...n, ...patch } : n)) });
const plus = (...nodes: Record<string, unknown>[]) => ({ ...simple, nodes: [...simple.nodes, ...nodes] });

describe('chat flow documents', () => {
  it('fills defaults: format version 1, 2 retries, priority 0, keywords none, collect any answer of up to 100 characters', () => {
    const doc = parseChatFlowDocument(plus({ id: 'c', type: 'collect', text: 'Name?', variable: 'name', next: 'bye' }));
    expect(doc.version).toBe(1);
    expect(doc.nodes[0]).toMatchObject({ retries: 2, options: [{ keywords: [] }, { keywords: [] }] });
    expect(doc.nodes[1]).toMatchObject({ priority: 0 });
    expect(doc.nodes[4]).toMatchObject({ validate: { kind: 'any' }, maxLength: 100, retries: 2 });
  });

  it('names the path of an unknown node', () => {
    expect(problem(withNode(0, { options: [{ number: 1, label: 'Sales', next: 'nowhere' }] }))).toEqual({ field: 'definition.nodes.0.options.0.next', problem: "no node 'nowhere'" });
    expect(problem(withNode(0, { onFailure: 'gone' })).field).toBe('definition.nodes.0.onFailure');
    expect(problem(withNode(1, { onNoAgent: 'gone' })).field).toBe('definition.nodes.1.onNoAgent');
    expect(problem(withNode(2, { onNoAgent: 'gone' })).field).toBe('definition.nodes.2.onNoAgent');
    expect(problem(plus({ id: 's', type: 'send', text: 'x', next: 'gone' })).field).toBe('definition.nodes.4.next');
    expect(problem({ ...simple, start: 'nope' })).toEqual({ field: 'definition.start', problem: "no node 'nope'" });
  });

  it('refuses unknown node kinds, IVR nodes, duplicate ids, an empty send and a non-https image', () => {
    expect(problem(withNode(3, { type: 'transfer' })).field).toBe('definition.nodes.3.type');
    expect(problem(plus({ id: 'p', type: 'play', prompt: { text: 'x' }, next: 'bye' })).field).toBe('definition.nodes.4.type');
    expect(problem(plus({ id: 'bye', type: 'end' }))).toEqual({ field: 'definition.nodes.4.id', problem: "duplicate node id 'bye'" });
    expect(problem(plus({ id: 's', type: 'send', next: 'bye' })).field).toBe('definition.nodes.4.text');
    expect(problem(plus({ id: 's', type: 'send', image: { url: 'http://x.example/a.png' }, next: 'bye' })).field).toBe('definition.nodes.4.image.url');
    expect(problem(plus({ id: 's', type: 'send', image: { url: 'javascript:alert(1)' }, next: 'bye' })).field).toBe('definition.nodes.4.image.url');
  });

  it('takes a link card in a send node, alone and checked as agents\' links are; documents without one stay valid', () => {
    const card = { title: 'Track your order', description: 'Line one\nline two', url: 'https://shop.example/track', thumbUrl: 'http://shop.example/t.png' };
    const doc = parseChatFlowDocument(plus({ id: 's', type: 'send', link: card, next: 'bye' }));
    expect(doc.nodes[4]).toEqual({ id: 's', type: 'send', link: card, next: 'bye' });
    expect(parseChatFlowDocument(plus({ id: 's', type: 'send', link: { title: 'x', url: 'https://a.example/' }, next: 'bye' })).nodes[4]).toMatchObject({ link: { title: 'x', url: 'https://a.example/' } });
    const bad = (link: Record<string, unknown>) => problem(plus({ id: 's', type: 'send', link, next: 'bye' })).field;
    expect(bad({ title: 'x', url: 'javascript:alert(1)' })).toBe('definition.nodes.4.link.url');
    expect(bad({ title: 'x', url: 'ftp://a.example/f' })).toBe('definition.nodes.4.link.url');
    expect(bad({ title: 'x', url: 'https://user:pw@a.example/' })).toBe('definition.nodes.4.link.url');
    expect(bad({ title: 'x', url: `https://a.example/${'a'.repeat(2000)}` })).toBe('definition.nodes.4.link.url');
    expect(bad({ title: 'x', url: 'https://a.example/', thumbUrl: 'file:///etc/passwd' })).toBe('definition.nodes.4.link.thumbUrl');
    expect(bad({ title: 'bell\u0007', url: 'https://a.example/' })).toBe('definition.nodes.4.link.title');
    expect(bad({ title: 'x'.repeat(201), url: 'https://a.example/' })).toBe('definition.nodes.4.link.title');
    expect(bad({ title: ' ', url: 'https://a.example/' })).toBe('definition.nodes.4.link.title');
    expect(bad({ title: 'x', description: 'tab\there', url: 'https://a.example/' })).toBe('definition.nodes.4.link.description');
    expect(bad({ title: 'x', description: 'd'.repeat(501), url: 'https://a.example/' })).toBe('definition.nodes.4.link.description');
    expect(bad({ title: 'x' })).toBe('definition.nodes.4.link.url');
    // Only web pages (a mini program page needs a chat's cover), and nothing unknown.
    expect(bad({ title: 'x', url: 'https://a.example/', pagePath: 'pages/a/a' })).toBe('definition.nodes.4.link');
    // A card goes alone (WeChat sends it as a message of its own).
    expect(problem(plus({ id: 's', type: 'send', text: 'Here:', link: { title: 'x', url: 'https://a.example/' }, next: 'bye' })).field).toBe('definition.nodes.4.link');
    expect(problem(plus({ id: 's', type: 'send', image: { url: 'https://a.example/p.png' }, link: { title: 'x', url: 'https://a.example/' }, next: 'bye' })).field).toBe('definition.nodes.4.link');
    // A document saved before link cards existed parses as it did.
    expect(parseChatFlowDocument(plus({ id: 's', type: 'send', text: 'Hi', next: 'bye' })).nodes[4]).toEqual({ id: 's', type: 'send', text: 'Hi', next: 'bye' });
  });

  it('refuses menu answers two options would share: a number, a label or keyword, or a keyword equal to another option number', () => {
    expect(problem(withNode(0, { options: [{ number: 1, label: 'A', next: 'bye' }, { number: 1, label: 'B', next: 'bye' }] })).field).toBe('definition.nodes.0.options.1.number');
    expect(problem(withNode(0, { options: [{ number: 1, label: 'Sales', next: 'bye' }, { number: 2, label: 'SALES', next: 'bye' }] })).field).toBe('definition.nodes.0.options.1.label');
    expect(problem(withNode(0, { options: [{ number: 1, label: 'A', keywords: ['help'], next: 'bye' }, { number: 2, label: 'B', keywords: ['x', 'Help'], next: 'bye' }] })).field).toBe('definition.nodes.0.options.1.keywords.1');
    expect(problem(withNode(2, { options: [{ number: 1, label: 'A', skillGroupId: sales }, { number: 2, label: 'B', keywords: ['1'], skillGroupId: sales }] })).field).toBe('definition.nodes.2.options.1.keywords.0');
    expect(problem(withNode(0, { options: [] })).field).toBe('definition.nodes.0.options');
    expect(problem(withNode(2, { options: [{ number: 1, label: 'A', skillGroupId: 'sales' }] })).field).toBe('definition.nodes.2.options.0.skillGroupId');
  });

  it('refuses a loop that never waits for the customer, also through a "no agent online" branch', () => {
    const sendLoop = { start: 'a', nodes: [{ id: 'a', type: 'send', text: 'a', next: 'b' }, { id: 'b', type: 'send', text: 'b', next: 'a' }] };
    expect(problem(sendLoop)).toEqual({ field: 'definition.nodes.0', problem: 'the flow loops without waiting for the customer: a → b → a' });
    const retryLoop = { start: 'r', nodes: [{ id: 'r', type: 'route', skillGroupId: sales, onNoAgent: 'sorry' }, { id: 'sorry', type: 'send', text: 'Nobody, trying again', next: 'r' }] };
    expect(problem(retryLoop).problem).toMatch(/loops without waiting for the customer: r → sorry → r/);
  });

  it('refuses a loop with no way out: a node from which no route or end can be reached', () => {
    const trap = plus({ id: 'trap', type: 'menu', text: 'Again?', options: [{ number: 1, label: 'Again', next: 'again' }], onFailure: 'trap' }, { id: 'again', type: 'send', text: 'Once more', next: 'trap' });
    expect(problem({ ...trap, start: 'trap' })).toEqual({ field: 'definition.nodes.4', problem: "a loop with no way out: from 'trap' the flow never reaches a route or an end" });
    // Reachable from the start through a menu option.
    const viaMenu = { ...trap, nodes: trap.nodes.map((n, j) => (j === 0 ? { ...n, options: [...simple.nodes[0]!.options!, { number: 3, label: 'More', next: 'trap' }] } : n)) };
    expect(problem(viaMenu).field).toBe('definition.nodes.4');
    // The same trap left unreachable is a draft, allowed; a menu that loops back but has an exit is fine.
    expect(() => parseChatFlowDocument(trap)).not.toThrow();
    expect(() => parseChatFlowDocument(plus({ id: 'loop', type: 'send', text: 'again', next: 'menu' }))).not.toThrow();
  });

  it('refuses bad collect settings: kind, variable name, regex that does not compile or may take exponential time', () => {
    const collect = (patch: Record<string, unknown>) => plus({ id: 'c', type: 'collect', text: 'x', variable: 'v', next: 'bye', ...patch });
    expect(problem(collect({ validate: { kind: 'email' } })).field).toBe('definition.nodes.4.validate.kind');
    expect(problem(collect({ variable: '1st' })).field).toBe('definition.nodes.4.variable');
    expect(problem(collect({ validate: { kind: 'regex', pattern: '([a-z' } })).field).toBe('definition.nodes.4.validate.pattern');
    expect(problem(collect({ validate: { kind: 'regex', pattern: '(a+)+b' } })).problem).toMatch(/exponential/);
    expect(problem(collect({ validate: { kind: 'orderNumber', pattern: '(\\d{2,})*' } })).field).toBe('definition.nodes.4.validate.pattern');
    expect(problem(collect({ validate: { kind: 'regex', pattern: '(a)\\1' } })).problem).toMatch(/back-references/);
    expect(problem(collect({ validate: { kind: 'regex', pattern: 'x'.repeat(201) } })).field).toBe('definition.nodes.4.validate.pattern');
    expect(() => parseChatFlowDocument(collect({ validate: { kind: 'regex', pattern: '(SO|PO)-\\d{6,10}', ignoreCase: true } }))).not.toThrow();
  });

  it('tells safe answer patterns from those that may backtrack without end', () => {
    const safe = (p: string) => () => checkAnswerPattern(p, 'p');
    for (const ok of ['\\d{8}', '[A-Z]{2}\\d+', '(ab)+', '(SO|PO)-\\d+', '(\\d{3})-(\\d{4})', '(?:SO|PO)?\\d+', '[(+*)]+', '(a+)?', '(a{1,1})+']) expect(safe(ok), ok).not.toThrow();
    for (const bad of ['(a+)+', '(a*)*', '(\\d+)*', '((ab)+)+', '(a{2,})+', '(a+){2}', '(?:x+y?)+', '(a|a)*b', '(a|b)*c']) expect(safe(bad), bad).toThrow(ValidationError);
  });

  it('checks business hours as the IVR does', () => {
    const hours = plus({ id: 'h', type: 'businessHours', timeZone: 'Mars/Olympus', weekly: [], open: 'bye', closed: 'bye' });
    expect(problem(hours).field).toBe('definition.nodes.4.timeZone');
    const same = plus({ id: 'h', type: 'businessHours', timeZone: 'UTC', weekly: [{ days: ['MON'], open: '09:00', close: '09:00' }], open: 'bye', closed: 'bye' });
    expect(problem(same).field).toBe('definition.nodes.4.weekly.0.close');
  });

  it('lists the skill groups it names, with the path of each first mention', () => {
    expect([...chatFlowReferences(parseChatFlowDocument(simple)).skillGroupIds]).toEqual([
      [sales, 'definition.nodes.1.skillGroupId'],
      [support, 'definition.nodes.2.options.0.skillGroupId'],
    ]);
  });
});

describe('flow decider with chat flows', () => {
  const spec = deciderSpec(flowDecider);
  const doc = parseChatFlowDocument(simple);
  const created: FlowEvent = { type: 'FlowCreated', data: { flowId: 'f1', name: 'Web reception', kind: 'CHAT', definition: doc } };

  it('creates a chat flow from a chat document, and refuses an IVR document for it (and the other way round)', () => {
    spec.given([]).when({ type: 'CreateFlow', data: { flowId: 'f1', name: 'Web reception', kind: 'CHAT', definition: simple }, metadata: meta() }).then([created]);
    spec.given([]).when({ type: 'CreateFlow', data: { flowId: 'f1', name: 'x', kind: 'IVR', definition: simple }, metadata: meta() }).thenThrows(ValidationError, /definition\.nodes\.0/);
    const ivr = { start: 'x', nodes: [{ id: 'x', type: 'hangup' }] };
    spec.given([]).when({ type: 'CreateFlow', data: { flowId: 'f1', name: 'x', kind: 'CHAT', definition: ivr }, metadata: meta() }).thenThrows(ValidationError, /definition\.nodes\.0\.type/);
  });

  it('publishes a changed chat document as the next version, checked as a chat document', () => {
    const changed = plus({ id: 'spare', type: 'end' });
    spec.given([created]).when({ type: 'UpdateFlow', data: { flowId: 'f1', definition: changed }, metadata: meta() }).then([{ type: 'FlowVersionPublished', data: { version: 2, definition: parseChatFlowDocument(changed) } }]);
    spec.given([created]).when({ type: 'UpdateFlow', data: { flowId: 'f1', definition: { start: 'x', nodes: [{ id: 'x', type: 'hangup' }] } }, metadata: meta() }).thenThrows(ValidationError);
  });

  it('refuses to delete a flow a web channel uses, and deletes it once none does', () => {
    spec.given([created]).when({ type: 'DeleteFlow', data: { flowId: 'f1', boundNumbers: [], boundWebChannels: ['Shop website'] }, metadata: meta() }).thenThrows(ConflictError, /Shop website/);
    spec.given([created]).when({ type: 'DeleteFlow', data: { flowId: 'f1', boundNumbers: [], boundWebChannels: [] }, metadata: meta() }).then([{ type: 'FlowDeleted', data: {} }]);
  });
});
