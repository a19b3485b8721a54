// The flow document (PH-15, OL-13, AV-5): a versioned JSON graph of nodes that the flow engine
// (flow-engine.ts) interprets. It is checked in full when a flow is saved, so the engine can trust it.
import { z } from 'zod';
import { ValidationError } from '../errors.ts';

/** The document format this code reads; a later format is upcast to it on read. */
export const flowFormatVersion = 1;

export const nodeId = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(64, 'at most 64 characters')
  .regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits and _ . - only');

export const promptSchema = z.union([
  z.strictObject({ audioId: z.uuid({ message: 'not a valid audio id' }) }),
  z.strictObject({
    text: z.string().trim().min(1, 'must not be empty').max(2000, 'at most 2000 characters'),
    voice: z.string().trim().min(1).max(64).optional(),
  }),
], { message: 'a prompt is { audioId } or { text, voice? }' });

/** A key on the phone's keypad. */
export const keypadKey = z.string().regex(/^[0-9*#]$/, "one of 0-9, * and #");

export const seconds = (min: number, max: number) => z.number().int('a whole number').min(min, `at least ${min}`).max(max, `at most ${max}`);

/** 'HH:MM', 00:00 to 24:00 (24:00 only as a closing time). */
const clockTime = z.string().regex(/^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$/, 'a time HH:MM, 00:00 to 24:00');
const isoDate = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'a date YYYY-MM-DD')
  .refine((d) => {
    const t = Date.parse(`${d}T00:00:00Z`);
    return !Number.isNaN(t) && new Date(t).toISOString().slice(0, 10) === d;
  }, 'not a real date');

export const weekdays = ['MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT', 'SUN'] as const;
export type Weekday = (typeof weekdays)[number];

const playNode = z.strictObject({ id: nodeId, type: z.literal('play'), prompt: promptSchema, next: nodeId });

const menuNode = z.strictObject({
  id: nodeId,
  type: z.literal('menu'),
  prompt: promptSchema,
  options: z
    .record(keypadKey, z.strictObject({ next: nodeId, label: z.string().trim().min(1, 'must not be empty').max(100, 'at most 100 characters') }))
    .refine((o) => Object.keys(o).length > 0, 'at least one option'),
  timeoutSeconds: seconds(1, 60).default(5),
  /** Further attempts after an invalid key or a timeout, before onFailure. */
  retries: seconds(0, 10).default(2),
  invalidPrompt: promptSchema.optional(),
  timeoutPrompt: promptSchema.optional(),
  onFailure: nodeId,
});

const collectNode = z.strictObject({
  id: nodeId,
  type: z.literal('collect'),
  prompt: promptSchema,
  variable: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'a name of letters, digits and _ (not starting with a digit)'),
  minDigits: seconds(1, 32).default(1),
  maxDigits: seconds(1, 32),
  terminator: z.enum(['#', '*']).nullable().default('#'),
  timeoutSeconds: seconds(1, 60).default(5),
  next: nodeId,
  /** Where a timeout or too few digits lead; without it the call ends. */
  onFailure: nodeId.optional(),
});

const weeklyRange = z.strictObject({
  days: z.array(z.enum(weekdays, { message: `one of ${weekdays.join(', ')}` })).min(1, 'at least one day'),
  open: clockTime,
  close: clockTime,
});

const holiday = z.union([isoDate, z.strictObject({ date: isoDate, name: z.string().trim().max(100, 'at most 100 characters') })]);

export const businessHoursNode = z.strictObject({
  id: nodeId,
  type: z.literal('businessHours'),
  timeZone: z.string().min(1, 'must not be empty').refine(isTimeZone, 'not an IANA time zone (e.g. Asia/Shanghai)'),
  weekly: z.array(weeklyRange).max(50, 'at most 50 ranges'),
  holidays: z.array(holiday).max(500, 'at most 500 holidays').default([]),
  open: nodeId,
  closed: nodeId,
});

const routeNode = z.strictObject({
  id: nodeId,
  type: z.literal('route'),
  skillGroupId: z.uuid({ message: 'not a valid skill group id' }),
  priority: z.number().int('a whole number').min(0, 'must not be negative').max(100, 'at most 100').default(0),
});

export const hangupReasons = ['ivrEnd', 'afterHours'] as const;
const hangupNode = z.strictObject({
  id: nodeId,
  type: z.literal('hangup'),
  prompt: promptSchema.optional(),
  reason: z.enum(hangupReasons).optional(),
});

export const flowNodeSchema = z.discriminatedUnion('type', [playNode, menuNode, collectNode, businessHoursNode, routeNode, hangupNode], {
  message: 'type must be one of play, menu, collect, businessHours, route, hangup',
});

export const flowDocumentSchema = z.strictObject({
  version: z.literal(flowFormatVersion, { message: `the format version must be ${flowFormatVersion}` }).default(flowFormatVersion),
  start: nodeId,
  nodes: z.array(flowNodeSchema).min(1, 'at least one node').max(500, 'at most 500 nodes'),
});

export type Prompt = z.infer<typeof promptSchema>;
export type FlowNode = z.infer<typeof flowNodeSchema>;
export type FlowDocument = z.infer<typeof flowDocumentSchema>;
export type HangupReasonSetting = (typeof hangupReasons)[number];
export type NodeOf<T extends FlowNode['type']> = Extract<FlowNode, { type: T }>;

export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** Each node's exits, with the path (below the node) that names it. */
export function exitsOf(node: FlowNode): { path: string; to: string }[] {
  switch (node.type) {
    case 'play':
      return [{ path: 'next', to: node.next }];
    case 'menu':
      return [...Object.entries(node.options).map(([key, o]) => ({ path: `options.${key}.next`, to: o.next })), { path: 'onFailure', to: node.onFailure }];
    case 'collect':
      return [{ path: 'next', to: node.next }, ...(node.onFailure === undefined ? [] : [{ path: 'onFailure', to: node.onFailure }])];
    case 'businessHours':
      return [{ path: 'open', to: node.open }, { path: 'closed', to: node.closed }];
    case 'route':
    case 'hangup':
      return [];
    default: {
      const unknown: never = node;
      return unknown;
    }
  }
}

/** Exits taken without waiting for the caller: a cycle of them would never stop. */
function immediateExits(node: FlowNode): string[] {
  if (node.type === 'play') return [node.next];
  if (node.type === 'businessHours') return [node.open, node.closed];
  return [];
}

function minutes(hhmm: string): number {
  return Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
}

/**
 * Parses and checks a flow document: its shape (zod), unique node ids, the start node, every reference
 * to a node, opening times, and that it cannot loop without waiting for the caller. Unreachable nodes
 * are allowed (a draft may hold them). Problems are ValidationErrors naming the path, e.g.
 * `definition.nodes.2.options.1.next`. References to skill groups and audio files are checked by the
 * caller, who knows the instance's (see flowReferences).
 */
export function parseFlowDocument(raw: unknown, field = 'definition'): FlowDocument {
  const result = flowDocumentSchema.safeParse(raw);
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
    for (const exit of exitsOf(node)) {
      if (!index.has(exit.to)) throw new ValidationError(`${field}.nodes.${i}.${exit.path}`, `no node '${exit.to}'`);
    }
    if (node.type === 'collect' && node.minDigits > node.maxDigits) {
      throw new ValidationError(`${field}.nodes.${i}.minDigits`, 'must not be more than maxDigits');
    }
    if (node.type === 'businessHours') checkOpeningTimes(node, `${field}.nodes.${i}`);
  });
  // Loops through play and businessHours nodes only would run forever within one step.
  checkNoLoopWithoutWait(doc.nodes, index, immediateExits, field, 'the caller');
  return doc;
}

/** A business-hours node's ranges: none opens at 24:00, none opens and closes at the same minute. */
export function checkOpeningTimes(node: Pick<NodeOf<'businessHours'>, 'weekly'>, at: string): void {
  node.weekly.forEach((range, r) => {
    if (range.open === '24:00') throw new ValidationError(`${at}.weekly.${r}.open`, 'opens at 23:59 at the latest');
    if (minutes(range.open) === minutes(range.close)) {
      throw new ValidationError(`${at}.weekly.${r}.close`, 'must differ from open (00:00 to 24:00 is a whole day)');
    }
  });
}

/**
 * Refuses a cycle of exits taken without waiting for the caller or customer (it would run forever within
 * one step), naming the node where the cycle closes and the cycle itself.
 */
export function checkNoLoopWithoutWait<N extends { id: string }>(
  nodes: N[],
  index: Map<string, number>,
  immediate: (node: N) => string[],
  field: string,
  who: string,
): void {
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (id: string, trail: string[]): void => {
    const seen = state.get(id);
    if (seen === 'done') return;
    if (seen === 'visiting') {
      throw new ValidationError(`${field}.nodes.${index.get(id)!}`, `the flow loops without waiting for ${who}: ${[...trail, id].join(' → ')}`);
    }
    state.set(id, 'visiting');
    for (const to of immediate(nodes[index.get(id)!]!)) visit(to, [...trail, id]);
    state.set(id, 'done');
  };
  for (const node of nodes) visit(node.id, []);
}

/** The skill groups and audio files a document names, each with the path of its first mention. */
export function flowReferences(doc: FlowDocument, field = 'definition'): { skillGroupIds: Map<string, string>; audioIds: Map<string, string> } {
  const skillGroupIds = new Map<string, string>();
  const audioIds = new Map<string, string>();
  const prompt = (p: Prompt | undefined, path: string) => {
    if (p && 'audioId' in p && !audioIds.has(p.audioId)) audioIds.set(p.audioId, `${path}.audioId`);
  };
  doc.nodes.forEach((node, i) => {
    const at = `${field}.nodes.${i}`;
    switch (node.type) {
      case 'play':
        prompt(node.prompt, `${at}.prompt`);
        break;
      case 'menu':
        prompt(node.prompt, `${at}.prompt`);
        prompt(node.invalidPrompt, `${at}.invalidPrompt`);
        prompt(node.timeoutPrompt, `${at}.timeoutPrompt`);
        break;
      case 'collect':
        prompt(node.prompt, `${at}.prompt`);
        break;
      case 'hangup':
        prompt(node.prompt, `${at}.prompt`);
        break;
      case 'route':
        if (!skillGroupIds.has(node.skillGroupId)) skillGroupIds.set(node.skillGroupId, `${at}.skillGroupId`);
        break;
      case 'businessHours':
        break;
      default: {
        const unknown: never = node;
        return unknown;
      }
    }
  });
  return { skillGroupIds, audioIds };
}

/** Key-order-independent equality of two documents: saving the same document again is no new version. */
export function sameFlowDocument(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}
