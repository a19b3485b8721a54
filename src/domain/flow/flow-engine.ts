// The flow engine: one pure step function, (flow, position, input) → { actions, position }, for the phone
// IVR now and chat flows later. The adapter carries input in and performs the actions in order; the engine
// never waits for anything but the caller (a key, digits or a timeout), so one step runs from the node it
// waits at through every node that needs no input, to the next wait, a route or a hang-up.
import { isOpenAt } from './business-hours.ts';
import type { FlowDocument, FlowNode, NodeOf, Prompt } from './flow-document.ts';

/** Why the flow ended a call: `ivrEnd` (the flow hung up), `afterHours` (it did so after a closed business-hours branch), `flowError` (a node it cannot run). */
export type FlowHangupReason = 'ivrEnd' | 'afterHours' | 'flowError';

export type FlowAction =
  /** Play a recording or speak a text. With bargeIn, a key pressed meanwhile stops it and counts as input. */
  | { type: 'play'; prompt: Prompt; bargeIn: boolean }
  /**
   * Wait for the caller, counting timeoutSeconds from the end of the prompts before it: up to maxDigits
   * keys, ended early by the terminator. Answer with `key` (menus), `digits`, or `timeout`.
   */
  | { type: 'collect'; maxDigits: number; terminator: string | null; timeoutSeconds: number }
  /** A valid menu choice: the adapter records it (ContactKeyPressed) for the key trail. */
  | { type: 'keyPressed'; key: string; label: string }
  | { type: 'setVariable'; name: string; value: string }
  /** The end of the flow: queue the contact in this skill group. */
  | { type: 'route'; skillGroupId: string; priority: number }
  /** The end of the flow: hang up. */
  | { type: 'hangup'; reason: FlowHangupReason };

export type FlowInput =
  /** The contact enters the flow; `now` decides business hours. */
  | { type: 'start'; now: string }
  /** One key (menus; in a collect it counts as one digit). */
  | { type: 'key'; key: string; now?: string }
  /** The keys a collect gathered, with or without its terminator. */
  | { type: 'digits'; digits: string; now?: string }
  /** Nothing came within the collect's timeout. */
  | { type: 'timeout'; now?: string }
  /** A prompt finished; the engine needs no such notice (actions run in order), so it changes nothing. */
  | { type: 'playFinished'; now?: string };

export type FlowPosition =
  | { status: 'new' }
  /** Waiting at a menu or collect node for input; `failures` counts invalid keys and timeouts there. */
  | { status: 'waiting'; nodeId: string; failures: number; afterHours: boolean; now: string }
  | { status: 'ended'; outcome: Extract<FlowAction, { type: 'route' | 'hangup' }> };

export interface FlowStep {
  actions: FlowAction[];
  position: FlowPosition;
}

export const newFlowPosition = (): FlowPosition => ({ status: 'new' });

/** Nodes run within one step before the engine gives up: the validator forbids loops, this guards against unvalidated documents. */
const maxNodesPerStep = 100;

interface Walk {
  afterHours: boolean;
  now: string;
}

function nodeById(flow: FlowDocument, id: string): FlowNode | undefined {
  return flow.nodes.find((n) => n.id === id);
}

function end(actions: FlowAction[], outcome: Extract<FlowAction, { type: 'route' | 'hangup' }>): FlowStep {
  return { actions: [...actions, outcome], position: { status: 'ended', outcome } };
}

function waitAt(node: NodeOf<'menu'> | NodeOf<'collect'>, failures: number, walk: Walk): FlowPosition {
  return { status: 'waiting', nodeId: node.id, failures, afterHours: walk.afterHours, now: walk.now };
}

function promptAndWait(node: NodeOf<'menu'> | NodeOf<'collect'>): FlowAction[] {
  const collect: FlowAction =
    node.type === 'menu'
      ? { type: 'collect', maxDigits: 1, terminator: null, timeoutSeconds: node.timeoutSeconds }
      : { type: 'collect', maxDigits: node.maxDigits, terminator: node.terminator, timeoutSeconds: node.timeoutSeconds };
  return [{ type: 'play', prompt: node.prompt, bargeIn: true }, collect];
}

/** Runs from `startId` through nodes that need no input, after `actions` already decided. */
function enter(flow: FlowDocument, startId: string, walk: Walk, actions: FlowAction[]): FlowStep {
  const out = [...actions];
  let afterHours = walk.afterHours;
  let id = startId;
  for (let i = 0; i < maxNodesPerStep; i++) {
    const node = nodeById(flow, id);
    if (!node) return end(out, { type: 'hangup', reason: 'flowError' });
    switch (node.type) {
      case 'play':
        out.push({ type: 'play', prompt: node.prompt, bargeIn: false });
        id = node.next;
        continue;
      case 'businessHours': {
        const open = isOpenAt(node, walk.now);
        if (!open) afterHours = true;
        id = open ? node.open : node.closed;
        continue;
      }
      case 'menu':
      case 'collect':
        return { actions: [...out, ...promptAndWait(node)], position: waitAt(node, 0, { afterHours, now: walk.now }) };
      case 'route':
        return end(out, { type: 'route', skillGroupId: node.skillGroupId, priority: node.priority });
      case 'hangup':
        if (node.prompt) out.push({ type: 'play', prompt: node.prompt, bargeIn: false });
        return end(out, { type: 'hangup', reason: node.reason ?? (afterHours ? 'afterHours' : 'ivrEnd') });
      default: {
        const unknown: never = node;
        return unknown;
      }
    }
  }
  return end(out, { type: 'hangup', reason: 'flowError' });
}

type Waiting = Extract<FlowPosition, { status: 'waiting' }>;

/** An invalid key or a timeout: prompt again, or after the last retry go to onFailure. */
function menuFailure(flow: FlowDocument, node: NodeOf<'menu'>, position: Waiting, walk: Walk, notice: Prompt | undefined): FlowStep {
  const failures = position.failures + 1;
  const said: FlowAction[] = notice ? [{ type: 'play', prompt: notice, bargeIn: false }] : [];
  if (failures > node.retries) return enter(flow, node.onFailure, walk, said);
  return { actions: [...said, ...promptAndWait(node)], position: waitAt(node, failures, walk) };
}

function menuInput(flow: FlowDocument, node: NodeOf<'menu'>, position: Waiting, input: FlowInput, walk: Walk): FlowStep {
  if (input.type === 'timeout') return menuFailure(flow, node, position, walk, node.timeoutPrompt);
  const key = input.type === 'key' ? input.key : input.type === 'digits' ? input.digits.slice(0, 1) : '';
  if (key === '') return menuFailure(flow, node, position, walk, node.timeoutPrompt);
  const option = node.options[key];
  if (!option) return menuFailure(flow, node, position, walk, node.invalidPrompt);
  return enter(flow, option.next, walk, [{ type: 'keyPressed', key, label: option.label }]);
}

function collectInput(flow: FlowDocument, node: NodeOf<'collect'>, input: FlowInput, walk: Walk): FlowStep {
  let digits = input.type === 'digits' ? input.digits : input.type === 'key' ? input.key : '';
  if (node.terminator !== null) {
    const cut = digits.indexOf(node.terminator);
    if (cut >= 0) digits = digits.slice(0, cut);
  }
  const valid = /^[0-9*#]*$/.test(digits) && digits.length >= node.minDigits && digits.length <= node.maxDigits;
  if (input.type === 'timeout' || !valid) {
    return node.onFailure === undefined ? end([], { type: 'hangup', reason: walk.afterHours ? 'afterHours' : 'ivrEnd' }) : enter(flow, node.onFailure, walk, []);
  }
  return enter(flow, node.next, walk, [{ type: 'setVariable', name: node.variable, value: digits }]);
}

/**
 * One step of a flow. Inputs that do not apply where the flow stands (a key before the start, anything
 * after the end, `playFinished`) change nothing: `{ actions: [], position }`.
 */
export function stepFlow(flow: FlowDocument, position: FlowPosition, input: FlowInput): FlowStep {
  const unchanged: FlowStep = { actions: [], position };
  if (input.type === 'playFinished') return unchanged;
  if (position.status === 'new') {
    if (input.type !== 'start') return unchanged;
    return enter(flow, flow.start, { afterHours: false, now: input.now }, []);
  }
  if (position.status === 'ended' || input.type === 'start') return unchanged;
  const walk: Walk = { afterHours: position.afterHours, now: input.now ?? position.now };
  const node = nodeById(flow, position.nodeId);
  if (node?.type === 'menu') return menuInput(flow, node, position, input, walk);
  if (node?.type === 'collect') return collectInput(flow, node, input, walk);
  return end([], { type: 'hangup', reason: 'flowError' });
}
