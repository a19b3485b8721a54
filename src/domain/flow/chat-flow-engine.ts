// The flow engine for chats (OL-13): the same pure step as the IVR's (flow-engine.ts), (flow, position,
// input) → { actions, position }, over a chat flow document. The adapter carries the customer's messages
// (or a button's choice) in and performs the actions in order: sends to the customer, variables kept with
// the contact, a question whether anyone of a group is online, and the end (route or end the chat). One
// step runs from the node it waits at through every node that needs no input, to the next wait.
import { isOpenAt } from './business-hours.ts';
import { normalizeAnswer, type ChatFlowDocument, type ChatFlowNode, type ChatNodeOf, type CollectValidation } from './chat-flow-document.ts';

/**
 * Why a chat flow ended the chat: `flowEnd` (an end node), `afterHours` (an end reached through a closed
 * business-hours branch), `noAgentOnline` (through a "no agent online" branch), `flowError` (a document it
 * cannot run). The chat's end reason (chat records read afterHours and noAgentOnline as NO_AGENT_ONLINE).
 */
export type ChatFlowEndReason = 'flowEnd' | 'afterHours' | 'noAgentOnline' | 'flowError';

/** A choice shown as a button: the customer clicks it (input `choice`) or types its number or label. */
export interface ChatFlowOption {
  number: number;
  label: string;
}

/** A send node's link card (issue 13): a web page, as the document gives it. */
export interface ChatFlowLink {
  title: string;
  description: string | null;
  url: string;
  thumbUrl: string | null;
}

export type ChatFlowAction =
  /**
   * Show the customer a message from the flow (a bot/system message the transcript keeps): a text, an
   * image, or both; `options` (menus, skill group choices) are buttons the client renders under it; or a
   * link card alone (`link`, with text and image null).
   */
  | { type: 'send'; text: string | null; image: { url: string; alt: string | null } | null; options: ChatFlowOption[] | null; link?: ChatFlowLink }
  /** The customer chose an option of a menu or of a skill group choice: the adapter may record it. */
  | { type: 'chosen'; nodeId: string; number: number; label: string }
  /** Keep a flow variable with the contact (offers, screen pop and records carry it). */
  | { type: 'setVariable'; name: string; value: string }
  /** Ask whether any agent of the group is online; answer with input `agentsOnline`. */
  | { type: 'checkAgentsOnline'; skillGroupId: string }
  /** The end of the flow: queue the chat in this skill group; leftMessage: the customer left a message there (leaveMessage). */
  | { type: 'route'; skillGroupId: string; priority: number; leftMessage?: true }
  /** The end of the flow: end the chat. */
  | { type: 'end'; reason: ChatFlowEndReason };

export type ChatFlowInput =
  /** The chat enters the flow; `now` (the adapter's clock) decides business hours. */
  | { type: 'start'; now: string }
  /** A message the customer typed. */
  | { type: 'message'; text: string; now?: string }
  /** A button the customer clicked: the option's number. */
  | { type: 'choice'; number: number; now?: string }
  /** The answer to `checkAgentsOnline`. */
  | { type: 'agentsOnline'; online: boolean; now?: string };

interface Walk {
  afterHours: boolean;
  /** Set once the flow took a "no agent online" branch. */
  noAgent?: true;
  now: string;
  variables: Record<string, string>;
}

export type ChatFlowPosition =
  | { status: 'new' }
  /** Waiting at a menu, collect or chooseSkillGroup node for the customer; `failures` counts answers that were no option or invalid. */
  | ({ status: 'waiting'; nodeId: string; failures: number } & Walk)
  /** Waiting for the answer to checkAgentsOnline, before routing to this group. */
  | ({ status: 'checkingAgents'; nodeId: string; skillGroupId: string; priority: number } & Walk)
  | { status: 'ended'; outcome: Extract<ChatFlowAction, { type: 'route' | 'end' }>; variables: Record<string, string> };

export interface ChatFlowStep {
  actions: ChatFlowAction[];
  position: ChatFlowPosition;
}

export const newChatFlowPosition = (): ChatFlowPosition => ({ status: 'new' });

/** Nodes run within one step before the engine gives up: the validator forbids loops, this guards against unvalidated documents. */
const maxNodesPerStep = 100;

type Outcome = Extract<ChatFlowAction, { type: 'route' | 'end' }>;

function end(actions: ChatFlowAction[], outcome: Outcome, walk: Walk): ChatFlowStep {
  return { actions: [...actions, outcome], position: { status: 'ended', outcome, variables: walk.variables } };
}

/** `{{name}}` in a text becomes the flow variable's value (empty when it has none). */
export function fillIn(text: string, variables: Record<string, string>): string {
  return text.replace(/\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g, (_, name: string) => (Object.hasOwn(variables, name) ? variables[name]! : ''));
}

const say = (text: string, walk: Walk, options: ChatFlowOption[] | null = null): ChatFlowAction => ({ type: 'send', text: fillIn(text, walk.variables), image: null, options });

type Waits = ChatNodeOf<'menu'> | ChatNodeOf<'collect'> | ChatNodeOf<'chooseSkillGroup'> | ChatNodeOf<'leaveMessage'>;

function ask(node: Waits, walk: Walk): ChatFlowAction {
  return node.type === 'collect' || node.type === 'leaveMessage' ? say(node.text, walk) : say(node.text, walk, node.options.map((o) => ({ number: o.number, label: o.label })));
}

function waitAt(node: Waits, failures: number, walk: Walk, before: ChatFlowAction[]): ChatFlowStep {
  return { actions: [...before, ask(node, walk)], position: { status: 'waiting', nodeId: node.id, failures, ...walk } };
}

/** Route now, or first ask whether anyone is online when the flow has a branch for nobody. */
function routeTo(out: ChatFlowAction[], node: ChatNodeOf<'route'> | ChatNodeOf<'chooseSkillGroup'>, skillGroupId: string, walk: Walk): ChatFlowStep {
  if (node.onNoAgent === undefined) return end(out, { type: 'route', skillGroupId, priority: node.priority }, walk);
  return {
    actions: [...out, { type: 'checkAgentsOnline', skillGroupId }],
    position: { status: 'checkingAgents', nodeId: node.id, skillGroupId, priority: node.priority, ...walk },
  };
}

/** Runs from `startId` through nodes that need no input, after `actions` already decided. */
function enter(flow: ChatFlowDocument, startId: string, walk: Walk, actions: ChatFlowAction[]): ChatFlowStep {
  const out = [...actions];
  let w = walk;
  let id = startId;
  for (let i = 0; i < maxNodesPerStep; i++) {
    const node = flow.nodes.find((n) => n.id === id);
    if (!node) return end(out, { type: 'end', reason: 'flowError' }, w);
    switch (node.type) {
      case 'send':
        out.push({
          type: 'send',
          text: node.text === undefined ? null : fillIn(node.text, w.variables),
          image: node.image ? { url: node.image.url, alt: node.image.alt ?? null } : null,
          options: null,
          ...(node.link ? { link: { title: node.link.title, description: node.link.description || null, url: node.link.url, thumbUrl: node.link.thumbUrl ?? null } } : {}),
        });
        id = node.next;
        continue;
      case 'businessHours': {
        const open = isOpenAt(node, w.now);
        if (!open) w = { ...w, afterHours: true };
        id = open ? node.open : node.closed;
        continue;
      }
      case 'menu':
      case 'collect':
      case 'chooseSkillGroup':
      case 'leaveMessage':
        return waitAt(node, 0, w, out);
      case 'route':
        return routeTo(out, node, node.skillGroupId, w);
      case 'end':
        if (node.text !== undefined) out.push(say(node.text, w));
        return end(out, { type: 'end', reason: node.reason ?? (w.afterHours ? 'afterHours' : w.noAgent ? 'noAgentOnline' : 'flowEnd') }, w);
      default: {
        const unknown: never = node;
        return unknown;
      }
    }
  }
  return end(out, { type: 'end', reason: 'flowError' }, w);
}

type Waiting = Extract<ChatFlowPosition, { status: 'waiting' }>;

/** The option an answer names: a button's number, or the number, label or a keyword typed. */
export function matchOption<O extends { number: number; label: string; keywords: string[] }>(options: O[], input: ChatFlowInput): O | undefined {
  if (input.type === 'choice') return options.find((o) => o.number === input.number);
  if (input.type !== 'message') return undefined;
  const answer = normalizeAnswer(input.text);
  if (answer === '') return undefined;
  return options.find((o) => String(o.number) === answer || normalizeAnswer(o.label) === answer || o.keywords.some((k) => normalizeAnswer(k) === answer));
}

const patterns = new Map<string, RegExp>();
function wholeMatch(pattern: string, ignoreCase: boolean): RegExp {
  const key = `${ignoreCase ? 'i' : ''}/${pattern}`;
  let re = patterns.get(key);
  if (!re) {
    re = new RegExp(`^(?:${pattern})$`, ignoreCase ? 'iu' : 'u');
    if (patterns.size > 1000) patterns.clear();
    patterns.set(key, re);
  }
  return re;
}

/** Order numbers when the flow names no pattern of its own: 4 to 32 letters, digits and dashes. */
export const defaultOrderNumberPattern = '[A-Za-z0-9][A-Za-z0-9-]{3,31}';

/** The value kept for a valid answer (phone numbers without spaces, dashes, dots or brackets), or null. */
export function validAnswer(validate: CollectValidation, raw: string, maxLength: number): string | null {
  const answer = raw.normalize('NFKC').trim();
  if (answer === '' || answer.length > maxLength) return null;
  switch (validate.kind) {
    case 'any':
      return answer;
    case 'phone': {
      const compact = answer.replace(/[\s().-]/g, '');
      return /^\+?[0-9]{5,20}$/.test(compact) ? compact : null;
    }
    case 'orderNumber':
      return wholeMatch(validate.pattern ?? defaultOrderNumberPattern, false).test(answer) ? answer : null;
    case 'regex':
      return wholeMatch(validate.pattern, validate.ignoreCase).test(answer) ? answer : null;
    default: {
      const unknown: never = validate;
      return unknown;
    }
  }
}

/** An answer that was no option or invalid: say so and ask again, or after the last retry go to onFailure. */
function failure(flow: ChatFlowDocument, node: Exclude<Waits, ChatNodeOf<'leaveMessage'>>, position: Waiting, walk: Walk): ChatFlowStep {
  const failures = position.failures + 1;
  const said: ChatFlowAction[] = node.invalidText === undefined ? [] : [say(node.invalidText, walk)];
  if (node.onFailure !== undefined && failures > node.retries) return enter(flow, node.onFailure, walk, said);
  return waitAt(node, failures, walk, said);
}

function answer(flow: ChatFlowDocument, node: Waits, position: Waiting, input: ChatFlowInput, walk: Walk): ChatFlowStep {
  if (input.type === 'agentsOnline') return { actions: [], position };
  if (node.type === 'leaveMessage') {
    // Whatever they write is the message (it is in the conversation already); a button is no message.
    if (input.type !== 'message' || input.text.trim() === '') return { actions: [], position };
    const said: ChatFlowAction[] = node.thanksText === undefined ? [] : [say(node.thanksText, walk)];
    return end(said, { type: 'route', skillGroupId: node.skillGroupId, priority: node.priority, leftMessage: true }, walk);
  }
  if (node.type === 'collect') {
    const value = input.type === 'message' ? validAnswer(node.validate, input.text, node.maxLength) : null;
    if (value === null) return failure(flow, node, position, walk);
    const w = { ...walk, variables: { ...walk.variables, [node.variable]: value } };
    return enter(flow, node.next, w, [{ type: 'setVariable', name: node.variable, value }]);
  }
  if (node.type === 'menu') {
    const option = matchOption(node.options, input);
    if (!option) return failure(flow, node, position, walk);
    return enter(flow, option.next, walk, [{ type: 'chosen', nodeId: node.id, number: option.number, label: option.label }]);
  }
  const option = matchOption(node.options, input);
  if (!option) return failure(flow, node, position, walk);
  const out: ChatFlowAction[] = [{ type: 'chosen', nodeId: node.id, number: option.number, label: option.label }];
  let w = walk;
  if (node.variable !== undefined) {
    out.push({ type: 'setVariable', name: node.variable, value: option.label });
    w = { ...walk, variables: { ...walk.variables, [node.variable]: option.label } };
  }
  return routeTo(out, node, option.skillGroupId, w);
}

/**
 * One step of a chat flow. Input that does not apply where the flow stands (a message before the start,
 * anything after the end, a second start, an agentsOnline answer nobody asked for, a customer message
 * while it waits for that answer) changes nothing: `{ actions: [], position }`.
 */
export function stepChatFlow(flow: ChatFlowDocument, position: ChatFlowPosition, input: ChatFlowInput): ChatFlowStep {
  const unchanged: ChatFlowStep = { actions: [], position };
  if (position.status === 'new') {
    if (input.type !== 'start') return unchanged;
    return enter(flow, flow.start, { afterHours: false, now: input.now, variables: {} }, []);
  }
  if (position.status === 'ended' || input.type === 'start') return unchanged;
  const walk: Walk = { afterHours: position.afterHours, ...(position.noAgent ? { noAgent: true } : {}), now: input.now ?? position.now, variables: position.variables };
  const node: ChatFlowNode | undefined = flow.nodes.find((n) => n.id === position.nodeId);
  if (position.status === 'checkingAgents') {
    if (input.type !== 'agentsOnline') return unchanged;
    if (input.online) return end([], { type: 'route', skillGroupId: position.skillGroupId, priority: position.priority }, walk);
    if ((node?.type === 'route' || node?.type === 'chooseSkillGroup') && node.onNoAgent !== undefined) return enter(flow, node.onNoAgent, { ...walk, noAgent: true }, []);
    return end([], { type: 'end', reason: 'flowError' }, walk);
  }
  if (node?.type === 'menu' || node?.type === 'collect' || node?.type === 'chooseSkillGroup' || node?.type === 'leaveMessage') return answer(flow, node, position, input, walk);
  return end([], { type: 'end', reason: 'flowError' }, walk);
}
