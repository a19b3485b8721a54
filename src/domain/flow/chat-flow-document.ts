// The chat flow document (OL-13): the reception of a web chat as a versioned JSON graph, interpreted by
// the chat side of the flow engine (chat-flow-engine.ts). Same format version, node ids, business hours
// and save-time checks as the IVR document (flow-document.ts); the nodes are the chat's: send a text or an
// image (or a link card, issue 13: an optional field, so documents saved before it stay valid), a menu (buttons in the widget, or the option's number, label or a keyword typed), collect a value
// into a flow variable with validation, business hours, choose a skill group from a list, route (with a
// "no agent online" branch) and end.
import { z } from 'zod';
import { ValidationError } from '../errors.ts';
import { businessHoursNode, checkNoLoopWithoutWait, checkOpeningTimes, flowFormatVersion, nodeId, seconds } from './flow-document.ts';
import { linkDescriptionValue, linkTitleValue, linkUrlValue } from '../contact/chat-link.ts';

const text = (max: number) => z.string().trim().min(1, 'must not be empty').max(max, `at most ${max} characters`);
const variableName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'a name of letters, digits and _ (not starting with a digit)');

const image = z.strictObject({
  url: z
    .string()
    .max(2000, 'at most 2000 characters')
    .refine((u) => {
      try {
        return new URL(u).protocol === 'https:';
      } catch {
        return false;
      }
    }, 'an https:// URL'),
  alt: z.string().trim().max(200, 'at most 200 characters').optional(),
});

/** A choice the customer can make: a button, or its number, label or one of its keywords typed. */
const choice = {
  number: z.number().int('a whole number').min(0, 'must not be negative').max(99, 'at most 99'),
  label: text(100),
  keywords: z.array(text(50)).max(20, 'at most 20 keywords').default([]),
};

const retries = seconds(0, 10).default(2);

/**
 * A link card (issue 13): a web page with a title, an optional description and picture, checked as agents' links
 * are (chat-link.ts: http or https, no credentials, lengths, no control characters). The widget shows it as the
 * card of an agent's link; WeChat gets its customer-service link card. Its words and address go out as written.
 */
const linkCard = z.strictObject({ title: linkTitleValue, description: linkDescriptionValue.optional(), url: linkUrlValue, thumbUrl: linkUrlValue.optional() });

const sendNode = z
  .strictObject({ id: nodeId, type: z.literal('send'), text: text(4000).optional(), image: image.optional(), link: linkCard.optional(), next: nodeId })
  .refine((n) => n.text !== undefined || n.image !== undefined || n.link !== undefined, { message: 'a text, an image (or both) or a link card', path: ['text'] })
  // WeChat sends a card as a message of its own, with no words beside it: a card is a send node of its own too.
  .refine((n) => n.link === undefined || (n.text === undefined && n.image === undefined), { message: 'a link card is sent alone: put its text or image in a send node before it', path: ['link'] });

const menuNode = z.strictObject({
  id: nodeId,
  type: z.literal('menu'),
  text: text(4000),
  options: z.array(z.strictObject({ ...choice, next: nodeId })).min(1, 'at least one option').max(20, 'at most 20 options'),
  /** Further attempts after an answer that is no option, before onFailure. */
  retries,
  invalidText: text(1000).optional(),
  onFailure: nodeId,
});

/** Built-in checks of a collected value; a regex is matched against the whole (trimmed) answer. */
export const collectKinds = ['orderNumber', 'phone', 'regex', 'any'] as const;
const validation = z.discriminatedUnion(
  'kind',
  [
    z.strictObject({ kind: z.literal('orderNumber'), pattern: z.string().min(1).max(200, 'at most 200 characters').optional() }),
    z.strictObject({ kind: z.literal('phone') }),
    z.strictObject({ kind: z.literal('regex'), pattern: z.string().min(1, 'must not be empty').max(200, 'at most 200 characters'), ignoreCase: z.boolean().default(false) }),
    z.strictObject({ kind: z.literal('any') }),
  ],
  { message: `kind must be one of ${collectKinds.join(', ')}` },
);

const collectNode = z.strictObject({
  id: nodeId,
  type: z.literal('collect'),
  text: text(4000),
  variable: variableName,
  validate: validation.default({ kind: 'any' }),
  /** Longest answer taken (characters); a longer one is invalid. */
  maxLength: seconds(1, 500).default(100),
  retries,
  invalidText: text(1000).optional(),
  next: nodeId,
  /** Where the answer goes after the last retry; without it the flow keeps asking. */
  onFailure: nodeId.optional(),
});

const priority = z.number().int('a whole number').min(0, 'must not be negative').max(100, 'at most 100').default(0);
const skillGroupId = z.uuid({ message: 'not a valid skill group id' });

/**
 * A skill group the customer chooses: its number (the order shown), its label and the group. One definition
 * for the chooseSkillGroup node's options and the AV visual menu's entries (src/domain/web-channel/av-settings.ts).
 */
export const skillGroupChoice = { number: choice.number, label: choice.label, skillGroupId };

const chooseSkillGroupNode = z.strictObject({
  id: nodeId,
  type: z.literal('chooseSkillGroup'),
  text: text(4000),
  options: z.array(z.strictObject({ ...skillGroupChoice, keywords: choice.keywords })).min(1, 'at least one option').max(20, 'at most 20 options'),
  /** The chosen option's label is kept in this flow variable, if named. */
  variable: variableName.optional(),
  priority,
  retries,
  invalidText: text(1000).optional(),
  onFailure: nodeId,
  /** Where the flow goes when no agent of the chosen group is online; without it the chat is queued anyway. */
  onNoAgent: nodeId.optional(),
});

const routeNode = z.strictObject({
  id: nodeId,
  type: z.literal('route'),
  skillGroupId,
  priority,
  /** Where the flow goes when no agent of the group is online; without it the chat is queued anyway. */
  onNoAgent: nodeId.optional(),
});

/**
 * Leaving a message (issue 12, item 3): the flow asks the customer to write their message; what they write
 * next is it, and the chat waits in the group (without the group's wait limit) until an agent takes it, e.g.
 * when one of the group comes online. Usually behind a route's "no agent online" branch or off hours.
 */
const leaveMessageNode = z.strictObject({
  id: nodeId,
  type: z.literal('leaveMessage'),
  text: text(4000),
  skillGroupId,
  priority,
  /** Said once the message is left. */
  thanksText: text(4000).optional(),
});

export const chatEndReasons = ['flowEnd', 'afterHours', 'noAgentOnline'] as const;
const endNode = z.strictObject({ id: nodeId, type: z.literal('end'), text: text(4000).optional(), reason: z.enum(chatEndReasons).optional() });

export const chatFlowNodeSchema = z.discriminatedUnion('type', [sendNode, menuNode, collectNode, businessHoursNode, chooseSkillGroupNode, routeNode, leaveMessageNode, endNode], {
  message: 'type must be one of send, menu, collect, businessHours, chooseSkillGroup, route, leaveMessage, end',
});

export const chatFlowDocumentSchema = z.strictObject({
  version: z.literal(flowFormatVersion, { message: `the format version must be ${flowFormatVersion}` }).default(flowFormatVersion),
  start: nodeId,
  nodes: z.array(chatFlowNodeSchema).min(1, 'at least one node').max(500, 'at most 500 nodes'),
});

export type ChatFlowNode = z.infer<typeof chatFlowNodeSchema>;
export type ChatFlowDocument = z.infer<typeof chatFlowDocumentSchema>;
export type ChatNodeOf<T extends ChatFlowNode['type']> = Extract<ChatFlowNode, { type: T }>;
export type CollectValidation = ChatNodeOf<'collect'>['validate'];
export type ChatEndReasonSetting = (typeof chatEndReasons)[number];

/** Each node's exits, with the path (below the node) that names it. */
export function chatExitsOf(node: ChatFlowNode): { path: string; to: string }[] {
  switch (node.type) {
    case 'send':
      return [{ path: 'next', to: node.next }];
    case 'menu':
      return [...node.options.map((o, i) => ({ path: `options.${i}.next`, to: o.next })), { path: 'onFailure', to: node.onFailure }];
    case 'collect':
      return [{ path: 'next', to: node.next }, ...(node.onFailure === undefined ? [] : [{ path: 'onFailure', to: node.onFailure }])];
    case 'businessHours':
      return [{ path: 'open', to: node.open }, { path: 'closed', to: node.closed }];
    case 'chooseSkillGroup':
      return [{ path: 'onFailure', to: node.onFailure }, ...(node.onNoAgent === undefined ? [] : [{ path: 'onNoAgent', to: node.onNoAgent }])];
    case 'route':
      return node.onNoAgent === undefined ? [] : [{ path: 'onNoAgent', to: node.onNoAgent }];
    case 'leaveMessage':
    case 'end':
      return [];
    default: {
      const unknown: never = node;
      return unknown;
    }
  }
}

/**
 * Exits taken without waiting for the customer: a cycle of them would never stop. A route's "no agent
 * online" branch counts: with nobody online it is taken at once, again and again.
 */
function immediateExits(node: ChatFlowNode): string[] {
  if (node.type === 'send') return [node.next];
  if (node.type === 'businessHours') return [node.open, node.closed];
  if (node.type === 'route' && node.onNoAgent !== undefined) return [node.onNoAgent];
  return [];
}

/** Where a chat flow can stop: it hands the chat to a skill group or ends it. */
const isTerminal = (node: ChatFlowNode) => node.type === 'route' || node.type === 'chooseSkillGroup' || node.type === 'leaveMessage' || node.type === 'end';

/** Menus and keywords compare what the customer typed this way: width, case and spacing do not matter. */
export function normalizeAnswer(s: string): string {
  return s
    .normalize('NFKC')
    .trim()
    .replace(/\s+/g, ' ')
    .replace(/[.。、,，)）]+$/u, '')
    .toLowerCase();
}

/** Numbers unique, and no label or keyword that two options would both answer to (`list`: the options' field). */
export function checkChoices(options: { number: number; label: string; keywords?: string[] }[], at: string, list = 'options'): void {
  const owner = new Map<string, number>();
  options.forEach((o, i) => {
    if (options.findIndex((p) => p.number === o.number) !== i) throw new ValidationError(`${at}.${list}.${i}.number`, `number ${o.number} is used twice`);
  });
  options.forEach((o, i) => owner.set(String(o.number), i));
  options.forEach((o, i) => {
    const words: [string, string][] = [[normalizeAnswer(o.label), `${at}.${list}.${i}.label`], ...(o.keywords ?? []).map((k, j): [string, string] => [normalizeAnswer(k), `${at}.${list}.${i}.keywords.${j}`])];
    for (const [word, path] of words) {
      const taken = owner.get(word);
      if (taken !== undefined && taken !== i) throw new ValidationError(path, `'${word}' already answers option ${options[taken]!.number}`);
      owner.set(word, i);
    }
  });
}

/** Whether a pattern's next token repeats what is before it more than once (`*`, `+`, `{2}`, `{1,}`, `{0,3}`). */
function repeats(next: string): boolean {
  if (next.startsWith('*') || next.startsWith('+')) return true;
  const m = /^\{(\d+)(,(\d*))?\}/.exec(next);
  if (!m) return false;
  if (m[2] === undefined) return Number(m[1]) > 1;
  return m[3] === '' || Number(m[3]) > 1;
}

/**
 * A regex for customer answers must compile and must not take exponential time on a crafted answer: no
 * back-references, no repeated group that repeats or alternates inside (`(a+)+`, `(\d*)*`, `(a|a)*`),
 * at most 200 characters. Answers are at most 500 characters (maxLength), which bounds the rest.
 */
export function checkAnswerPattern(pattern: string, at: string): void {
  try {
    new RegExp(`^(?:${pattern})$`, 'u');
  } catch (err) {
    throw new ValidationError(at, `not a valid regular expression: ${(err as Error).message}`);
  }
  if (/\\[1-9]|\\k</.test(pattern)) throw new ValidationError(at, 'back-references are not allowed');
  // Walk the groups: a group holding a quantifier or an alternation must not be quantified itself.
  const stack: boolean[] = [];
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\') {
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    const quantifier = (c === '*' || c === '+' || c === '{') && repeats(pattern.slice(i));
    if (c === '[') inClass = true;
    else if (c === '(') stack.push(false);
    else if (c === ')') {
      const repeatsInside = stack.pop() ?? false;
      const repeated = repeats(pattern.slice(i + 1));
      if (repeatsInside && repeated) {
        throw new ValidationError(at, 'a repeated group must not repeat or alternate inside (e.g. (a+)+, (a|ab)*): it can take exponential time; use a character class');
      }
      if (repeatsInside || repeated) {
        if (stack.length > 0) stack[stack.length - 1] = true;
      }
    } else if ((quantifier || c === '|') && stack.length > 0) stack[stack.length - 1] = true;
  }
}

/**
 * Parses and checks a chat flow document: its shape (zod), unique node ids, the start node, every
 * reference to a node, opening times, menu choices, answer patterns, that it cannot loop without waiting
 * for the customer, and that no node reachable from the start is a trap (from it no route or end can be
 * reached). Problems are ValidationErrors naming the path, e.g. `definition.nodes.2.options.1.next`.
 * References to skill groups are checked by the caller, who knows the instance's (chatFlowReferences).
 */
export function parseChatFlowDocument(raw: unknown, field = 'definition'): ChatFlowDocument {
  const result = chatFlowDocumentSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new ValidationError([field, ...issue.path.map(String)].join('.'), issue.message);
  }
  const doc = result.data;
  const index = new Map<string, number>();
  doc.nodes.forEach((node, i) => {
    if (index.has(node.id)) throw new ValidationError(`${field}.nodes.${i}.id`, `duplicate node id '${node.id}'`);
    index.set(node.id, i);
  });
  if (!index.has(doc.start)) throw new ValidationError(`${field}.start`, `no node '${doc.start}'`);
  doc.nodes.forEach((node, i) => {
    const at = `${field}.nodes.${i}`;
    for (const exit of chatExitsOf(node)) {
      if (!index.has(exit.to)) throw new ValidationError(`${at}.${exit.path}`, `no node '${exit.to}'`);
    }
    if (node.type === 'businessHours') checkOpeningTimes(node, at);
    if (node.type === 'menu' || node.type === 'chooseSkillGroup') checkChoices(node.options, at);
    if (node.type === 'collect' && (node.validate.kind === 'regex' || node.validate.kind === 'orderNumber') && node.validate.pattern !== undefined) {
      checkAnswerPattern(node.validate.pattern, `${at}.validate.pattern`);
    }
  });
  checkNoLoopWithoutWait(doc.nodes, index, immediateExits, field, 'the customer');
  checkWayOut(doc, index, field);
  return doc;
}

/** Every node reachable from the start can still reach a route or an end. */
function checkWayOut(doc: ChatFlowDocument, index: Map<string, number>, field: string): void {
  const into = new Map<string, string[]>();
  for (const node of doc.nodes) for (const exit of chatExitsOf(node)) into.set(exit.to, [...(into.get(exit.to) ?? []), node.id]);
  const canEnd = new Set<string>();
  const queue = doc.nodes.filter(isTerminal).map((n) => n.id);
  for (const id of queue) canEnd.add(id);
  while (queue.length > 0) {
    for (const from of into.get(queue.shift()!) ?? []) {
      if (!canEnd.has(from)) {
        canEnd.add(from);
        queue.push(from);
      }
    }
  }
  const seen = new Set<string>([doc.start]);
  const walk = [doc.start];
  while (walk.length > 0) {
    const id = walk.shift()!;
    const node = doc.nodes[index.get(id)!]!;
    if (!canEnd.has(id)) {
      throw new ValidationError(`${field}.nodes.${index.get(id)!}`, `a loop with no way out: from '${id}' the flow never reaches a route or an end`);
    }
    for (const exit of chatExitsOf(node)) {
      if (!seen.has(exit.to)) {
        seen.add(exit.to);
        walk.push(exit.to);
      }
    }
  }
}

/** The skill groups a chat flow names, each with the path of its first mention. */
export function chatFlowReferences(doc: ChatFlowDocument, field = 'definition'): { skillGroupIds: Map<string, string> } {
  const skillGroupIds = new Map<string, string>();
  const add = (id: string, path: string) => {
    if (!skillGroupIds.has(id)) skillGroupIds.set(id, path);
  };
  doc.nodes.forEach((node, i) => {
    const at = `${field}.nodes.${i}`;
    if (node.type === 'route' || node.type === 'leaveMessage') add(node.skillGroupId, `${at}.skillGroupId`);
    if (node.type === 'chooseSkillGroup') node.options.forEach((o, j) => add(o.skillGroupId, `${at}.options.${j}.skillGroupId`));
  });
  return { skillGroupIds };
}
