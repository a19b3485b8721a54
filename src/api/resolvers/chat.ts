// Chat conversations (issue 11): the customer starts a chat on their session's web channel, both sides send
// messages numbered without a gap, each send carrying a client message id so that a retry is stored once and
// answered with the same message; typing (never stored), read state, the customer's end; the conversation,
// the customer's own chats and the transcript paged both ways; and conversationEvents, which replays every
// message after the seq a client holds from the read model and then goes on live, with typing, read state
// and status (with the queue position) in between.
//
// Who sees a chat: its customer (same instance, same customer id, same verified flag), agents it was offered
// to or who hold or held it, supervisors, admins and integrations. Anyone else gets NOT_FOUND, as for a chat
// that does not exist.
import { createHash, randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { z } from 'zod';
import { chatEndStatusOf, type ChatEndStatus } from '../../domain/contact/chat-end-status.ts';
import { contactDecider, type ContactCommand, type NewChatMessage } from '../../domain/contact/contact.decide.ts';
import type { ChatAttachment, ChatFlowImage, ChatLink, ContactEvent, RejectReason, SystemMessage, WebSource } from '../../domain/contact/contact.ts';
import { chatLinkValue } from '../../domain/contact/chat-link.ts';
import type { ChatFlowOption } from '../../domain/flow/chat-flow-engine.ts';
import { ChatFlowRunner, contactChatFlowPorts, type ChatFlowAdvance } from '../../processes/chat-flows/chat-flow-runner.ts';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../../domain/errors.ts';
import { streams } from '../../domain/streams.ts';
import type { ContactRow, ConversationBusMessage, ConversationMessage } from '../../projections/contacts/contacts.projection.ts';
import { conversationTopic, queuesTopic } from '../../projections/contacts/contacts.projection.ts';
import { isSupervisor, requireCustomer, requireInstance, requirePrincipal, type CustomerPrincipal, type InstancePrincipal, type Principal } from '../auth.ts';
import { chatLimit } from '../chat-limits.ts';
import { commandMetadata, inInput, settle, type KefuContext } from '../context.ts';
import { decodeCursor, pageOf } from '../cursor.ts';
import { toGraphQLError } from '../errors.ts';
import { SlowConsumerError, attachDirect, liveSubscription, type DirectSource, type LiveFanout } from '../live-fanout.ts';
import { dataKey, dataValue, id, messageText, parseInput, storableText, text } from '../input.ts';
import { chatFileUrls, loadChatFile } from '../../adapters/chat-files/chat-files.ts';
import { findBlacklistEntry } from './blacklist.ts';
import { toAgent } from './agents.ts';
import { queuePlace } from './monitoring.ts';
import { isOpenAt } from '../../domain/flow/business-hours.ts';
import { cachedChatAccess, type ChatWriter } from './chat-access.ts';
import { claimVisitorChat, releaseVisitorChat } from './visitor-chat.ts';

// ---------------------------------------------------------------------------------------------------------
// Who is asking, and whether they may see a chat.

export type Viewer = { kind: 'customer'; p: CustomerPrincipal } | { kind: 'staff'; p: InstancePrincipal };

function viewerOf(principal: Principal | null): Viewer {
  const p = requirePrincipal(principal);
  if (p.kind === 'customer') return { kind: 'customer', p };
  return { kind: 'staff', p: requireInstance(p) };
}

/** What deciding who may see or write to a chat reads of its row. */
const chatAccessColumns = ['instance_id', 'id', 'channel', 'status', 'web_customer_id', 'web_verified', 'web_channel_id', 'agent_id', 'served_agent_ids', 'offer'] as const;
type ChatAccessRow = Pick<ContactRow, (typeof chatAccessColumns)[number]>;

function mayViewChat(v: Viewer, row: ChatAccessRow): boolean {
  if (row.channel !== 'ONLINE' && row.channel !== 'AV') return false;
  if (v.kind === 'customer') {
    // Only a chat from a web channel has a customer who may see it: same customer id, same verified flag.
    return row.web_customer_id === v.p.customerId && row.web_verified === v.p.verified;
  }
  const p = v.p;
  if (p.kind === 'apiKey' || isSupervisor(p)) return true;
  const offer = row.offer as { agentIds?: string[] } | null;
  return row.agent_id === p.agentId || (row.served_agent_ids ?? []).includes(p.agentId) || (offer?.agentIds ?? []).includes(p.agentId);
}

function contactRow(ctx: KefuContext, instanceId: string, contactId: string): Promise<ContactRow | undefined> {
  return ctx.deps.db.selectFrom('contacts').selectAll().where('instance_id', '=', instanceId).where('id', '=', contactId).executeTakeFirst();
}

/** The chat as the viewer may see it; NOT_FOUND for anything else (another customer's, another instance's). */
export async function loadChat(ctx: KefuContext, v: Viewer, contactId: string): Promise<ContactRow> {
  const row = await contactRow(ctx, v.p.instanceId, contactId);
  if (!row || !mayViewChat(v, row)) throw new NotFoundError('Conversation', contactId);
  return row;
}

/** loadChat for a write (sendChatMessage): only the columns the checks read, not the whole wide row (its
 * parsing was a noticeable part of a message's CPU). */
async function loadChatAccess(ctx: KefuContext, v: Viewer, contactId: string): Promise<ChatAccessRow> {
  const row = await ctx.deps.db.selectFrom('contacts').select(chatAccessColumns).where('instance_id', '=', v.p.instanceId).where('id', '=', contactId).executeTakeFirst();
  if (!row || !mayViewChat(v, row)) throw new NotFoundError('Conversation', contactId);
  return row;
}

// ---------------------------------------------------------------------------------------------------------
// What the schema's types are made from.

type ChatStatus = 'QUEUED' | 'OFFERED' | 'CONNECTED' | 'ENDED';

function chatStatusOf(status: string): ChatStatus {
  switch (status) {
    case 'OFFERED':
      return 'OFFERED';
    case 'CONNECTED':
      return 'CONNECTED';
    case 'ENDED':
    case 'REJECTED':
      return 'ENDED';
    default:
      // CREATED, IN_FLOW, QUEUED: waiting for an agent.
      return 'QUEUED';
  }
}

/** A customer is not told they were blacklisted: their chat simply ended (the issue's neutral refusal). */
function endStatusFor(v: Viewer, status: ChatEndStatus | null): ChatEndStatus | null {
  return v.kind === 'customer' && status === 'BLACKLISTED' ? null : status;
}

function rowEndStatus(row: ContactRow): ChatEndStatus | null {
  if (row.status === 'REJECTED') return chatEndStatusOf(null, row.end_reason as RejectReason, false);
  if (row.status !== 'ENDED') return null;
  return chatEndStatusOf({ reason: row.end_reason ?? '', endedBy: (row.ended_by ?? 'SYSTEM') as 'AGENT' | 'CUSTOMER' | 'SYSTEM' }, null, row.transfer !== null);
}

export interface ConversationView {
  contactId: string;
  instanceId: string;
  status: ChatStatus;
  /** Computed already (a STATUS event's), or undefined: the field computes it. */
  knownQueuePosition?: number | null;
  agentId: string | null;
  lastSeq: number;
  customerLastReadSeq: number;
  agentLastReadSeq: number;
  endStatus: ChatEndStatus | null;
  createdAt: Date | string;
  endedAt: Date | string | null;
  row: ContactRow;
  viewer: Viewer;
}

export function toConversation(row: ContactRow, v: Viewer, knownQueuePosition?: number | null): ConversationView {
  return {
    contactId: row.id,
    instanceId: row.instance_id,
    status: chatStatusOf(row.status),
    ...(knownQueuePosition !== undefined ? { knownQueuePosition } : {}),
    agentId: row.agent_id,
    lastSeq: row.last_seq ?? 0,
    customerLastReadSeq: row.customer_last_read_seq ?? 0,
    agentLastReadSeq: row.agent_last_read_seq ?? 0,
    endStatus: endStatusFor(v, rowEndStatus(row)),
    createdAt: row.created_at,
    endedAt: row.ended_at,
    row,
    viewer: v,
  };
}

interface ChatMessageView {
  id: string;
  contactId: string;
  instanceId: string;
  seq: number;
  clientMessageId: string | null;
  sender: 'AGENT' | 'CUSTOMER' | 'SYSTEM';
  kind: 'TEXT' | 'IMAGE' | 'FILE' | 'LINK' | 'SYSTEM';
  agentId: string | null;
  text: string | null;
  rawAttachment: ChatAttachment | null;
  rawSystem: SystemMessage | null;
  options: ChatFlowOption[] | null;
  image: ChatFlowImage | null;
  link: ChatLink | null;
  sentAt: string;
}

interface MessageRow {
  instance_id: string;
  contact_id: string;
  id: string;
  seq: number;
  client_message_id: string | null;
  sender: string;
  kind: string;
  agent_id: string | null;
  text: string;
  attachment: unknown;
  system: unknown;
  options?: unknown;
  image?: unknown;
  link?: unknown;
  sent_at: Date | string;
}

function busMessageOfRow(row: MessageRow): ConversationMessage {
  return {
    id: row.id,
    contactId: row.contact_id,
    seq: row.seq,
    clientMessageId: row.client_message_id,
    sender: row.sender as ConversationMessage['sender'],
    kind: row.kind as ConversationMessage['kind'],
    agentId: row.agent_id,
    text: row.text,
    attachment: (row.attachment as ChatAttachment | null) ?? null,
    system: (row.system as SystemMessage | null) ?? null,
    ...(row.options ? { options: row.options as ChatFlowOption[] } : {}),
    ...(row.image ? { image: row.image as ChatFlowImage } : {}),
    ...(row.link ? { link: row.link as ChatLink } : {}),
    sentAt: new Date(row.sent_at).toISOString(),
  };
}

function toChatMessage(instanceId: string, m: ConversationMessage): ChatMessageView {
  return {
    id: m.id,
    contactId: m.contactId,
    instanceId,
    seq: m.seq,
    clientMessageId: m.clientMessageId,
    sender: m.sender,
    kind: m.kind,
    agentId: m.agentId,
    text: m.text === '' && m.kind !== 'TEXT' ? null : m.text,
    rawAttachment: m.attachment,
    rawSystem: m.system,
    options: m.options ?? null,
    image: m.image ?? null,
    link: m.link ?? null,
    sentAt: m.sentAt,
  };
}

/** Agents' display names, read once per request (a page of messages names the same few agents). */
const agentNames = new WeakMap<object, Map<string, Promise<string | null>>>();
function agentNameOf(ctx: KefuContext, instanceId: string, agentId: string | null): Promise<string | null> {
  if (!agentId) return Promise.resolve(null);
  let names = agentNames.get(ctx);
  if (!names) {
    names = new Map();
    agentNames.set(ctx, names);
  }
  const key = `${instanceId}/${agentId}`;
  let name = names.get(key);
  if (!name) {
    name = ctx.deps.db
      .selectFrom('agents')
      .select('name')
      .where('instance_id', '=', instanceId)
      .where('id', '=', agentId)
      .executeTakeFirst()
      .then((r) => r?.name ?? null);
    names.set(key, name);
  }
  return name;
}

// ---------------------------------------------------------------------------------------------------------
// Reading messages.

const maxPage = 500;

async function readMessages(ctx: KefuContext, instanceId: string, contactId: string, range: { after?: number; before?: number; first: number; last?: boolean }): Promise<ConversationMessage[]> {
  let q = ctx.deps.db.selectFrom('contact_messages').selectAll().where('instance_id', '=', instanceId).where('contact_id', '=', contactId);
  if (range.after !== undefined) q = q.where('seq', '>', range.after);
  if (range.before !== undefined) q = q.where('seq', '<', range.before);
  const rows = await q
    .orderBy('seq', range.last ? 'desc' : 'asc')
    .limit(range.first)
    .execute();
  if (range.last) rows.reverse();
  return rows.map((r) => busMessageOfRow(r as unknown as MessageRow));
}

async function messagePage(ctx: KefuContext, row: ContactRow, range: { afterSeq?: number | null; beforeSeq?: number | null; first: number }) {
  const after = range.afterSeq ?? undefined;
  const before = range.beforeSeq ?? undefined;
  const backward = before !== undefined;
  const messages = await readMessages(ctx, row.instance_id, row.id, { ...(after !== undefined ? { after } : {}), ...(before !== undefined ? { before } : {}), first: range.first, last: backward });
  // Fresh: the row may be older than the messages just read.
  const lastSeq = Math.max(row.last_seq ?? 0, messages.at(-1)?.seq ?? 0);
  const firstSeq = messages[0]?.seq;
  const hasBefore = firstSeq !== undefined ? firstSeq > 1 : backward ? false : Math.min(after ?? 0, lastSeq) >= 1;
  const lastInPage = messages.at(-1)?.seq;
  const hasAfter = lastInPage !== undefined ? lastInPage < lastSeq : backward ? lastSeq >= before : false;
  return { messages: messages.map((m) => toChatMessage(row.instance_id, m)), hasBefore, hasAfter };
}

// ---------------------------------------------------------------------------------------------------------
// Inputs.

const seqArg = z.number().int().min(0, 'must not be negative').max(2_000_000_000, 'too large');
const firstArg = z.number().int().min(1, 'at least 1').max(maxPage, `at most ${maxPage}`);
const clientId = text({ min: 1, max: 100 });
const url = storableText(2000);
/** A button of a chat flow's message: the option's number (issue 12). */
const choiceNumber = z.number().int('a whole number').min(0, 'must not be negative').max(99, 'at most 99');
const messageInput = z.object({ clientMessageId: clientId, text: messageText.nullish(), fileId: id.nullish(), choice: choiceNumber.nullish(), link: chatLinkValue.nullish(), miniProgramCard: z.string().max(32, 'at most 32 characters').nullish() }).superRefine((m, c) => {
  const given = [m.text != null && m.text !== '', m.fileId != null, m.link != null, m.miniProgramCard != null].filter(Boolean).length;
  if (given !== 1) c.addIssue({ code: 'custom', path: ['text'], message: 'give text, fileId, link or miniProgramCard (one of them)' });
  else if (m.text != null && m.text.trim() === '') c.addIssue({ code: 'custom', path: ['text'], message: 'must not be only white space' });
  else if (m.choice != null && m.fileId != null) c.addIssue({ code: 'custom', path: ['choice'], message: "a choice is sent with its option's label as text, not with a file" });
});
// Built once: a zod object schema compiles its parser on first use, which a schema made per call repeats (tens
// of microseconds a request). The inputs of every chat message, typing and read (sendChatMessage,
// conversationEvents, setTyping, markRead) also go through z.compile: a generated check that answers a valid
// input itself and hands any other to the schema's own parser, so refusals keep their fields and messages
// (a plain send's parse: 2.5 -> 0.9 us, warm).
const contactIdArgs = z.object({ contactId: id });
const myConversationsArgs = z.object({ first: z.number().int().min(0).max(100, 'at most 100').nullish(), after: z.string().max(500).nullish() });
const transcriptArgs = z.object({ contactId: id, afterSeq: seqArg.nullish(), beforeSeq: seqArg.nullish(), first: firstArg.nullish() });
const sendChatMessageInput = z.compile(z.object({ contactId: id, message: messageInput }));
const setTypingInput = z.compile(z.object({ contactId: id, typing: z.boolean() }));
const markReadInput = z.compile(z.object({ contactId: id, seq: seqArg }));
const conversationEventsArgs = z.compile(z.object({ contactId: id, afterSeq: seqArg.nullish() }));
const messagesArgs = z.object({ afterSeq: seqArg.nullish(), first: firstArg.nullish() });
const startChatInput = z.object({
  clientChatId: clientId,
  visitor: z
    .object({
      pageUrl: url.nullish(),
      referrer: url.nullish(),
      userAgent: storableText(500).nullish(),
      attributes: z
        .array(z.object({ key: dataKey, value: dataValue }))
        .max(50, 'at most 50 entries')
        .nullish(),
    })
    .nullish(),
  firstMessage: messageInput.nullish(),
});

/** The contact id of a customer's chat: the same for a retried startChat (same customer, same clientChatId). */
function chatContactId(p: CustomerPrincipal, clientChatId: string): string {
  const h = createHash('sha256').update(JSON.stringify([p.instanceId, p.verified, p.customerId, clientChatId])).digest();
  h[6] = (h[6]! & 0x0f) | 0x50; // version 5 (name-based, SHA)
  h[8] = (h[8]! & 0x3f) | 0x80; // RFC 4122 variant
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

async function contactCommand(ctx: KefuContext, instanceId: string, command: ContactCommand, wait: boolean) {
  const result = await inInput(ctx.deps.commands.handle(streams.contact(instanceId, command.data.contactId), contactDecider, command));
  if (wait) await settle(ctx, result.position, ['contacts'], instanceId);
  return result;
}

/** What a background write will show soon: polled briefly (a retry racing its first attempt). */
async function eventually<T>(probe: () => Promise<T | undefined>, what: string): Promise<T> {
  for (let i = 0; i < 100; i++) {
    const v = await probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new ConflictError(`${what} is not readable yet; try again`);
}

function customerKeys(ctx: KefuContext, p: CustomerPrincipal): string[] {
  return [`visitor:${p.instanceId}:${p.verified ? 'verified' : 'visitor'}:${p.customerId}`, ctx.clientIp ? `ip:${ctx.clientIp}` : ''];
}

// ---------------------------------------------------------------------------------------------------------
// Chat flows (issue 12): a chat of a channel with a flow enters it; the customer's messages and button
// clicks step it while it runs. Each step is one append on the chat's contact (see chat-flow-runner.ts).

const defaultChatFlows = new WeakMap<object, ChatFlowRunner>();

function chatFlows(ctx: KefuContext): ChatFlowRunner {
  if (ctx.deps.chatFlows) return ctx.deps.chatFlows;
  let runner = defaultChatFlows.get(ctx.deps);
  if (!runner) {
    runner = new ChatFlowRunner(contactChatFlowPorts({ db: ctx.deps.db, commands: ctx.deps.commands, clock: ctx.deps.clock, bus: ctx.deps.bus }));
    defaultChatFlows.set(ctx.deps, runner);
  }
  return runner;
}

/** Answers once the read model shows what the step appended (the flow's messages, the queue, the end). */
async function flowStepShown(ctx: KefuContext, instanceId: string, step: Promise<ChatFlowAdvance>): Promise<ChatFlowAdvance> {
  const advance = await inInput(step);
  if (advance.appended) await settle(ctx, advance.appended, ['contacts'], instanceId);
  return advance;
}

/** The flow a chat waiting IN_FLOW enters: its channel's (a retry after a start that never ran its first step). */
async function startChatFlow(ctx: KefuContext, row: Pick<ContactRow, 'status' | 'web_channel_id' | 'instance_id' | 'id'>): Promise<void> {
  if (row.status !== 'IN_FLOW' || !row.web_channel_id) return;
  const channel = await ctx.deps.db.selectFrom('web_channels').select('flow_id').where('instance_id', '=', row.instance_id).where('id', '=', row.web_channel_id).executeTakeFirst();
  if (!channel?.flow_id) return;
  await flowStepShown(ctx, row.instance_id, chatFlows(ctx).start({ instanceId: row.instance_id, contactId: row.id }, channel.flow_id));
}

function openChat(row: Pick<ContactRow, 'status' | 'id'>): void {
  if (row.status === 'ENDED' || row.status === 'REJECTED') throw new ConflictError(`Conversation ${row.id} has ended`);
}

// ---------------------------------------------------------------------------------------------------------
// conversationEvents: replay from the read model, then live, without a gap or a repeat.

export type EventMessage =
  | { kind: 'MESSAGE'; contactId: string; message: ConversationMessage }
  | { kind: 'READ'; contactId: string; sender: 'AGENT' | 'CUSTOMER'; agentId: string | null; readSeq: number }
  | { kind: 'TYPING'; contactId: string; sender: 'AGENT' | 'CUSTOMER'; agentId: string | null; typing: boolean }
  | { kind: 'STATUS'; contactId: string; queuePosition: number | null; row: ContactRow };

/** Live messages a subscriber may have waiting before it is cut off as a slow consumer (it reconnects and resumes). */
const maxWaiting = 1000;
const replayPage = 200;

function subscribeLive(ctx: KefuContext, topic: string): Promise<AsyncIterable<unknown>> {
  // The topic comes from the shared fan-out (graphql-ws-server.ts puts it in every subscription's context).
  const { live } = ctx as unknown as { live?: LiveFanout };
  if (!live) throw new Error('Subscriptions are served over graphql-ws, whose context has the live fan-out');
  return live.topics.subscribe(topic);
}

/** Where a conversation's stream reads: the read model, and the queue's live changes while the chat waits. */
export interface ConversationSources {
  /** Messages after a seq, oldest first, at most `first`. */
  messagesAfter(seq: number, first: number): Promise<ConversationMessage[]>;
  /** The chat's row as it is now. */
  chatNow(): Promise<ContactRow | undefined>;
  queuePlace(row: ContactRow): Promise<number | null>;
  /** The queue's changes (any contact of the instance that may move this chat's place). */
  followQueue(row: ContactRow): Promise<AsyncIterable<unknown>>;
}

/** What a shared group queue tells one waiting chat: its place now (null: no longer waiting in that queue). */
export interface SharedQueuePlace {
  sharedQueuePosition: number | null;
}

/**
 * The places in one skill group's queue, shared by every waiting chat of the group followed in this process:
 * on a contact change of the instance (the queues topic), the group's waiting chats are listed once (one
 * statement, however many chats wait; changes arriving meanwhile coalesce into one more listing) and each
 * follower is told its place when it moved. Before this each follower re-read its row and counted the chats
 * ahead of it on every change: 200 waiting customers made one new chat cost 838 statements.
 */
class GroupQueue {
  private readonly followers = new Map<string, Set<(place: number | null) => void>>();
  private readonly source: AsyncIterator<unknown>;
  private dirty = false;
  private listing: Promise<void> | null = null;
  private readonly ctx: KefuContext;
  private readonly instanceId: string;
  private readonly skillGroupId: string;
  private readonly onEmpty: () => void;

  constructor(ctx: KefuContext, instanceId: string, skillGroupId: string, source: AsyncIterable<unknown>, onEmpty: () => void) {
    this.ctx = ctx;
    this.instanceId = instanceId;
    this.skillGroupId = skillGroupId;
    this.source = source[Symbol.asyncIterator]();
    this.onEmpty = onEmpty;
    void this.pump();
  }

  private async pump(): Promise<void> {
    try {
      for (;;) {
        const r = await this.source.next();
        if (r.done) break;
        // An agent's change moves no place in a queue (its chat's own status comes on the conversation's topic).
        const m = r.value as { contactId?: string } | null;
        if (m && typeof m === 'object' && m.contactId === undefined) continue;
        this.dirty = true;
        this.listing ??= this.list().finally(() => (this.listing = null));
      }
    } catch {
      // The fan-out ended the topic: followers see no more queue changes (their conversation goes on).
    }
  }

  private async list(): Promise<void> {
    while (this.dirty && this.followers.size > 0) {
      this.dirty = false;
      try {
        // Ordered as queuePlace counts the chats ahead: priority first, then queued_at, then id.
        const rows = await this.ctx.deps.db
          .selectFrom('contacts')
          .select('id')
          .where('instance_id', '=', this.instanceId)
          .where('skill_group_id', '=', this.skillGroupId)
          .where('status', '=', 'QUEUED')
          .orderBy('priority', 'desc')
          .orderBy('queued_at', 'asc')
          .orderBy('id', 'asc')
          .execute();
        const places = new Map<string, number>();
        rows.forEach((r, i) => places.set(r.id, i + 1));
        for (const [contactId, tell] of this.followers) for (const t of tell) t(places.get(contactId) ?? null);
      } catch (err) {
        this.ctx.deps.logger.warn({ err, skillGroupId: this.skillGroupId }, 'queue places not listed');
      }
    }
  }

  follow(contactId: string, tell: (place: number | null) => void): () => void {
    let set = this.followers.get(contactId);
    if (!set) this.followers.set(contactId, (set = new Set()));
    set.add(tell);
    return () => {
      set.delete(tell);
      if (set.size === 0 && this.followers.get(contactId) === set) this.followers.delete(contactId);
      if (this.followers.size === 0) {
        this.onEmpty();
        void this.source.return?.();
      }
    };
  }
}

/** The group queues followed in this process, by fan-out (one per graphql-ws server). */
const groupQueues = new WeakMap<object, Map<string, Promise<GroupQueue>>>();

/** A waiting chat's place in its group's queue, told when it moves (see GroupQueue). */
async function followGroupQueue(ctx: KefuContext, row: ContactRow): Promise<AsyncIterable<SharedQueuePlace>> {
  const { live } = ctx as unknown as { live?: LiveFanout };
  if (!live) throw new Error('Subscriptions are served over graphql-ws, whose context has the live fan-out');
  let byKey = groupQueues.get(live);
  if (!byKey) groupQueues.set(live, (byKey = new Map()));
  const key = `${row.instance_id}\u0000${row.skill_group_id ?? ''}`;
  let queue = byKey.get(key);
  if (!queue) {
    const map = byKey;
    queue = subscribeLive(ctx, queuesTopic(row.instance_id)).then((source) => new GroupQueue(ctx, row.instance_id, row.skill_group_id ?? '', source, () => map.delete(key)));
    queue.catch(() => map.delete(key));
    byKey.set(key, queue);
  }
  const group = await queue;
  const pending: SharedQueuePlace[] = [];
  let wake: (() => void) | null = null;
  let done = false;
  let last: number | null | undefined;
  const stop = group.follow(row.id, (place) => {
    if (place === last) return;
    last = place;
    // Only the latest place matters.
    pending.length = 0;
    pending.push({ sharedQueuePosition: place });
    const w = wake;
    wake = null;
    w?.();
  });
  const it: AsyncIterableIterator<SharedQueuePlace> = {
    async next() {
      for (;;) {
        if (done) return { value: undefined, done: true };
        const v = pending.shift();
        if (v) return { value: v, done: false };
        await new Promise<void>((resolve) => (wake = resolve));
      }
    },
    async return() {
      if (!done) {
        done = true;
        stop();
        const w = wake;
        wake = null;
        w?.();
      }
      return { value: undefined, done: true };
    },
    [Symbol.asyncIterator]() {
      return it;
    },
  };
  return it;
}

function conversationSources(ctx: KefuContext, row: ContactRow): ConversationSources {
  return {
    messagesAfter: (seq, first) => readMessages(ctx, row.instance_id, row.id, { after: seq, first }),
    chatNow: () => contactRow(ctx, row.instance_id, row.id),
    queuePlace: (r) => queuePlace(ctx, r),
    // The group the chat waits in now (the stream follows another group's queue when it moves).
    followQueue: (now) => followGroupQueue(ctx, now),
  };
}

/** Whether the viewer wants another side's typing or read event (not their own side's). */
function fromOtherSide(v: Viewer, m: { sender: 'AGENT' | 'CUSTOMER'; agentId: string | null }): boolean {
  if (v.kind === 'customer') return m.sender !== 'CUSTOMER';
  if (v.p.kind === 'agent' && m.sender === 'AGENT') return m.agentId !== v.p.agentId;
  return true;
}

/**
 * The conversation's live topic is subscribed first; then the read model's messages after `afterSeq` are sent
 * page by page; then live messages. A message whose seq the subscriber has is dropped; one past a gap (sent
 * while the pages were read) fills the gap from the read model first. While the chat waits in a queue the
 * queue's changes are followed too, and its place is sent when it moves. Once the pages were read and nothing
 * waits, the live fan-out attaches (attachDirect): a message next in seq, a typing or read event then goes from
 * the topic to the subscriber's frame with no promise or turn per subscriber (the chat bench's profile had the
 * iterator hops at ~2-3 % of Kefu's CPU); a gap or a status still goes through the same reads, in order.
 */
export function conversationStream(
  sources: ConversationSources,
  v: Viewer,
  contactId: string,
  afterSeq: number,
  live: AsyncIterable<unknown>,
): AsyncIterableIterator<EventMessage> & DirectSource<EventMessage> {
  let lastSeq = afterSeq;
  let replaying = true;
  const ready: EventMessage[] = [];
  const waiting: { from: 'conversation' | 'queue'; message: unknown }[] = [];
  let end: { error?: unknown } | null = null;
  let wake: (() => void) | null = null;
  /** Set by attachDirect: the reader's handler, and its end. */
  let direct: ((message: EventMessage) => void) | null = null;
  let directEnd: ((error?: unknown) => void) | null = null;
  /** Live messages that came straight from the topic before the conversation's pump let go of it. */
  let early: unknown[] | null = null;
  let draining = false;
  const notify = () => {
    if (direct) {
      void drainDirect();
      return;
    }
    const w = wake;
    wake = null;
    w?.();
  };
  const pumped: AsyncIterator<unknown>[] = [];
  let queueSource: AsyncIterator<unknown> | null = null;
  let queueFollowing: Promise<void> | null = null;
  let sent: { status: string; queuePosition: number | null; agentId: string | null } | null = null;

  const pump = (source: AsyncIterator<unknown>, from: 'conversation' | 'queue') => {
    pumped.push(source);
    void (async () => {
      try {
        for (;;) {
          const r = await source.next();
          if (from === 'conversation' && early) {
            // The reader attached (attachDirect): what this pump held first, then what came since, and the pump stops.
            const since = early;
            early = null;
            if (!r.done) accept(r.value);
            for (const m of since) accept(m);
            return;
          }
          if (r.done || end) break;
          waiting.push({ from, message: r.value });
          if (waiting.length > maxWaiting) {
            end ??= { error: new SlowConsumerError(`more than ${maxWaiting} messages waiting`) };
          }
          notify();
        }
        // The queue's topic ends when the chat leaves the queue; the conversation's only with the subscription.
        if (from === 'conversation') end ??= {};
      } catch (error) {
        end ??= { error };
      }
      notify();
    })();
  };
  pump(live[Symbol.asyncIterator](), 'conversation');

  let queueGroup: string | null = null;
  const followQueue = async (now: ContactRow) => {
    const status = now.status;
    const waitingInQueue = status === 'QUEUED' || status === 'CREATED' || status === 'IN_FLOW';
    // Queues are followed per skill group: a chat that waits in another group now (a flow queued it, an
    // overflow moved it) follows that group's queue instead.
    if (waitingInQueue && queueSource && !queueFollowing && queueGroup !== now.skill_group_id) {
      const s = queueSource;
      queueSource = null;
      pumped.splice(pumped.indexOf(s), 1);
      await s.return?.();
    }
    if (waitingInQueue && !queueSource && !queueFollowing) {
      queueGroup = now.skill_group_id;
      queueFollowing = sources.followQueue(now).then((it) => {
        if (end) {
          void it[Symbol.asyncIterator]().return?.();
          return;
        }
        queueSource = it[Symbol.asyncIterator]();
        pump(queueSource, 'queue');
      });
      await queueFollowing;
      queueFollowing = null;
    } else if (!waitingInQueue && queueSource) {
      const s = queueSource;
      queueSource = null;
      pumped.splice(pumped.indexOf(s), 1);
      await s.return?.();
    }
  };

  /** The chat's status as it is now, if it changed for the viewer since the last one sent. */
  const statusNow = async (knownPlace?: number): Promise<void> => {
    const now = await sources.chatNow();
    if (!now) return;
    await followQueue(now);
    // A place a shared group queue told (listed after this chat's change): no count of its own.
    const queuePosition = knownPlace !== undefined && now.status === 'QUEUED' ? knownPlace : await sources.queuePlace(now);
    const state = { status: chatStatusOf(now.status), queuePosition, agentId: now.agent_id };
    if (sent && sent.status === state.status && sent.queuePosition === state.queuePosition && sent.agentId === state.agentId) return;
    sent = state;
    ready.push({ kind: 'STATUS', contactId, queuePosition, row: now });
  };

  const replay = async (): Promise<void> => {
    const page = await sources.messagesAfter(lastSeq, replayPage);
    for (const m of page) ready.push({ kind: 'MESSAGE', contactId, message: m });
    if (page.length > 0) lastSeq = page.at(-1)!.seq;
    if (page.length < replayPage) replaying = false;
  };

  let started = false;
  const handle = async (item: { from: 'conversation' | 'queue'; message: unknown }): Promise<void> => {
    if (item.from === 'queue') {
      // Every waiting queue change says the same: look again, once (with the latest place a shared queue told).
      let latest = item.message;
      for (let i = waiting.length - 1; i >= 0; i--) {
        if (waiting[i]!.from !== 'queue') continue;
        if (latest === item.message) latest = waiting[i]!.message;
        waiting.splice(i, 1);
      }
      const told = latest as Partial<SharedQueuePlace> | null;
      const place = told && typeof told === 'object' && typeof told.sharedQueuePosition === 'number' ? told.sharedQueuePosition : undefined;
      // The same place as sent: nothing to look at.
      if (place !== undefined && sent !== null && sent.status === 'QUEUED' && sent.queuePosition === place) return;
      await statusNow(place);
      return;
    }
    const m = item.message as ConversationBusMessage;
    switch (m.kind) {
      case 'MESSAGE': {
        if (m.message.seq <= lastSeq) return;
        if (m.message.seq > lastSeq + 1) {
          // Behind: the read model has what came in between (it was committed before this was published).
          replaying = true;
          waiting.unshift(item);
          return;
        }
        lastSeq = m.message.seq;
        // The bus message itself: one frozen object for every subscriber, so their frames are shared (live-fanout.ts).
        ready.push(m);
        return;
      }
      case 'READ':
        if (fromOtherSide(v, m)) ready.push(m);
        return;
      case 'TYPING':
        if (fromOtherSide(v, m)) ready.push(m);
        return;
      case 'STATUS':
        await statusNow();
        return;
    }
  };

  /** The read model's next page, then (once caught up) where the chat stands. */
  const replayStep = async (): Promise<void> => {
    const from = lastSeq;
    await replay();
    // A gap the read model does not show yet (a lagging replica): look again shortly, not at once.
    if (lastSeq === from && waiting.length > 0) await new Promise((resolve) => setTimeout(resolve, 50));
    // After the first replay: where the chat stands (status, queue place).
    if (!replaying && sent === null) await statusNow();
  };
  /**
   * One piece of work (a page of the read model, or one waiting change); null at once when there is none (so
   * that a change arriving is never missed between the look and the wait).
   */
  const step = (): Promise<void> | null => {
    if (replaying) return replayStep();
    const item = waiting.shift();
    return item ? handle(item) : null;
  };

  /**
   * A live message of the conversation once the reader attached: a message next in seq, a typing or read event
   * goes to the reader at once (no promise, no turn); anything else (a status, a gap, or while earlier work is
   * under way) waits its turn in `waiting` for drainDirect.
   */
  const accept = (message: unknown): void => {
    if (end || !direct) return;
    if (!draining && !replaying && waiting.length === 0 && ready.length === 0) {
      const m = message as ConversationBusMessage;
      if (m.kind === 'MESSAGE') {
        if (m.message.seq <= lastSeq) return;
        if (m.message.seq === lastSeq + 1) {
          lastSeq = m.message.seq;
          direct(m);
          return;
        }
      } else if (m.kind === 'READ' || m.kind === 'TYPING') {
        if (fromOtherSide(v, m)) direct(m);
        return;
      }
    }
    waiting.push({ from: 'conversation', message });
    if (waiting.length > maxWaiting) end ??= { error: new SlowConsumerError(`more than ${maxWaiting} messages waiting`) };
    void drainDirect();
  };

  /** The work `next()` would do, for an attached reader: what it yields goes to the handler, the end to directEnd. */
  const drainDirect = async (): Promise<void> => {
    if (draining) return;
    draining = true;
    try {
      for (;;) {
        while (ready.length > 0 && !end) direct!(ready.shift()!);
        if (end) break;
        try {
          const work = step();
          if (!work) break;
          await work;
        } catch (error) {
          end ??= { error: toGraphQLError(error) };
        }
      }
    } finally {
      draining = false;
    }
    if (end && directEnd) {
      const tell = directEnd;
      directEnd = null;
      tell(end.error);
    }
  };

  const iterator: AsyncIterableIterator<EventMessage> & DirectSource<EventMessage> = {
    async next(): Promise<IteratorResult<EventMessage>> {
      for (;;) {
        if (ready.length > 0) return { value: ready.shift()!, done: false };
        if (end) {
          if (end.error !== undefined) throw end.error;
          return { value: undefined, done: true };
        }
        try {
          if (!started) {
            // One turn lets the bus subscription take (and later drop) what it had already.
            started = true;
            await new Promise((resolve) => setImmediate(resolve));
          }
          const work = step();
          if (work) {
            await work;
            continue;
          }
        } catch (error) {
          end ??= { error: toGraphQLError(error) };
          continue;
        }
        await new Promise<void>((resolve) => (wake = resolve));
      }
    },
    /**
     * Once the read model's messages and everything waiting were read: later live messages go straight to
     * `handler` (see accept), the stream's end or error to `onEnd`. The conversation's topic hands them over
     * the same way (its queue's attachDirect), so a message reaches a subscriber with no promise of its own.
     */
    [attachDirect](handler: (message: EventMessage) => void, onEnd?: (error?: unknown) => void): boolean {
      if (direct || !onEnd || !started || replaying || end || ready.length > 0 || waiting.length > 0 || draining) return false;
      const conversation = pumped[0] as (AsyncIterator<unknown> & DirectSource<unknown>) | undefined;
      if (!conversation?.[attachDirect]) return false;
      // The pump waits in conversation.next(): until it wakes (with nothing, or with a message already on its way), later messages wait behind it.
      early = [];
      if (!conversation[attachDirect]((m) => (early ? early.push(m) : accept(m)))) {
        early = null;
        return false;
      }
      direct = handler;
      directEnd = onEnd;
      return true;
    },
    async return(): Promise<IteratorResult<EventMessage>> {
      end ??= {};
      directEnd = null;
      waiting.length = 0;
      ready.length = 0;
      await Promise.all(pumped.map((s) => s.return?.()));
      notify();
      return { value: undefined, done: true };
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}

// ---------------------------------------------------------------------------------------------------------
// Resolvers.

export const chatResolvers = {
  Query: {
    async conversation(_: unknown, args: unknown, ctx: KefuContext) {
      const v = viewerOf(ctx.principal);
      const { contactId } = parseInput(contactIdArgs, args, '');
      return toConversation(await loadChat(ctx, v, contactId), v);
    },
    async myConversations(_: unknown, rawArgs: unknown, ctx: KefuContext) {
      const p = requireCustomer(ctx.principal);
      const args = parseInput(myConversationsArgs, rawArgs, '');
      const first = args.first ?? 20;
      let q = ctx.deps.db
        .selectFrom('contacts')
        .selectAll()
        .where('instance_id', '=', p.instanceId)
        .where('web_customer_id', '=', p.customerId)
        .where('web_verified', '=', p.verified);
      if (args.after) {
        const [createdAt, afterId] = decodeCursor(args.after);
        q = q.where(sql<boolean>`(created_at, id) < (${createdAt}::timestamptz, ${afterId})`);
      }
      const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(first + 1).execute();
      const v: Viewer = { kind: 'customer', p };
      return pageOf(rows, first, (r) => r, (r) => toConversation(r, v));
    },
    async chatTranscript(_: unknown, rawArgs: unknown, ctx: KefuContext) {
      const v = viewerOf(ctx.principal);
      const args = parseInput(transcriptArgs, rawArgs, '');
      const row = await loadChat(ctx, v, args.contactId);
      return messagePage(ctx, row, { afterSeq: args.afterSeq ?? null, beforeSeq: args.beforeSeq ?? null, first: args.first ?? 100 });
    },
  },
  Mutation: {
    async startChat(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireCustomer(ctx.principal);
      const input = parseInput(startChatInput, args.input);
      const v: Viewer = { kind: 'customer', p };
      const contactId = chatContactId(p, input.clientChatId);
      // A retry: the same chat, not another one (and not counted again).
      const existing = await contactRow(ctx, p.instanceId, contactId);
      if (existing) {
        // A start whose flow never took its first step (the process died in between) takes it now.
        if (existing.status === 'IN_FLOW') await startChatFlow(ctx, existing);
        return toConversation((await contactRow(ctx, p.instanceId, contactId)) ?? existing, v);
      }
      chatLimit(ctx.deps, 'chat', customerKeys(ctx, p));
      const channel = await ctx.deps.db
        .selectFrom('web_channels')
        .select(['skill_group_id', 'flow_id', 'work_hours'])
        .where('instance_id', '=', p.instanceId)
        .where('id', '=', p.webChannelId)
        .where('deleted_at', 'is', null)
        .where('enabled', '=', true)
        .executeTakeFirst();
      if (!channel) throw new NotFoundError('Web channel', p.webChannelId);
      const group = await ctx.deps.db
        .selectFrom('skill_groups')
        .select(['id', 'max_queue_length'])
        .where('instance_id', '=', p.instanceId)
        .where('id', '=', channel.skill_group_id)
        .where('deleted_at', 'is', null)
        .executeTakeFirst();
      if (!group) throw new NotFoundError('Skill group', channel.skill_group_id);
      if (input.firstMessage?.link || input.firstMessage?.miniProgramCard) throw new ValidationError('input.firstMessage.link', 'only agents send link cards');
      if (input.firstMessage?.fileId) throw new ValidationError('input.firstMessage.fileId', 'files are sent once the chat has started (uploads name the chat)');
      const now = ctx.deps.clock();
      // A blacklisted customer is turned away before any queue; they are told only that the chat ended.
      const blocked = await findBlacklistEntry(ctx.deps.db, p.instanceId, 'ONLINE', p.customerId, now);
      let reject: RejectReason | null = blocked ? 'BLACKLISTED' : null;
      // Off the channel's work hours (issue 12) a chat is not queued: it ends and gets the off-hours prompt. A chat flow decides itself.
      if (!reject && !channel.flow_id && channel.work_hours && !isOpenAt(channel.work_hours, now)) reject = 'AFTER_HOURS';
      if (!reject && group.max_queue_length > 0) {
        const waiting = await ctx.deps.db
          .selectFrom('contacts')
          .select((eb) => eb.fn.countAll<string>().as('n'))
          .where('instance_id', '=', p.instanceId)
          .where('skill_group_id', '=', group.id)
          .where('status', '=', 'QUEUED')
          .executeTakeFirstOrThrow();
        if (Number(waiting.n) >= group.max_queue_length) reject = 'QUEUE_FULL';
      }
      const visitor = input.visitor ?? {};
      const source: WebSource = {
        kind: 'WEB',
        webChannelId: p.webChannelId,
        clientChatId: input.clientChatId,
        verified: p.verified,
        pageUrl: visitor.pageUrl ?? null,
        referrer: visitor.referrer ?? null,
        userAgent: visitor.userAgent ?? null,
        address: ctx.clientIp || null,
      };
      const first = input.firstMessage;
      // One open chat per customer and channel: a second start (another tab, another device) joins the open one,
      // and its first message goes there.
      const turn = await claimVisitorChat(ctx, p, contactId);
      if (turn.kind === 'join') {
        const open = await eventually(() => contactRow(ctx, p.instanceId, turn.contactId), `Conversation ${turn.contactId}`);
        if (!first) return toConversation(open, v);
        await chatResolvers.Mutation.sendChatMessage(undefined, { input: { contactId: open.id, message: first } }, ctx);
        return toConversation((await contactRow(ctx, p.instanceId, open.id)) ?? open, v);
      }
      // A chat entering its channel's flow: the flow's first step (its greeting) goes in the start's append, one
      // append and one wait (issue 12). Without it (no live flow), the runner's start below takes the step (or
      // ends the chat), and the answer waits once, for what came last.
      const flowId = reject ? null : channel.flow_id;
      const firstStep = flowId
        ? await chatFlows(ctx)
            .firstStep({ instanceId: p.instanceId, contactId }, flowId)
            .catch(async (err: unknown) => {
              await releaseVisitorChat(ctx, p, contactId).catch(() => undefined);
              throw err;
            })
        : null;
      const started = await contactCommand(
        ctx,
        p.instanceId,
        {
          type: 'StartChat',
          data: {
            contactId,
            customer: { kind: 'WEB', id: p.customerId, name: p.name ?? null },
            data: Object.fromEntries((visitor.attributes ?? []).map((e) => [e.key, e.value])),
            source,
            skillGroupId: group.id,
            priority: 0,
            reject,
            firstMessage: first ? { messageId: randomUUID(), clientMessageId: first.clientMessageId, kind: 'TEXT', text: first.text ?? '', attachment: null } : null,
            flowId,
            ...(firstStep ? { firstStep } : {}),
          },
          metadata: commandMetadata(ctx, p.instanceId),
        },
        !flowId || firstStep !== null,
      ).catch(async (err: unknown) => {
        // Nothing started (a refused value): the claim goes, so the customer's next start is not kept waiting for it.
        await releaseVisitorChat(ctx, p, contactId).catch(() => undefined);
        throw err;
      });
      // The channel's chat flow greets the customer (its first step) before the chat is answered: here when the start
      // did not carry it (or appended nothing: another start of the chat came first). Whatever the runner's start
      // did (nothing appended, or it failed), the answer waits at least for the chat's start.
      if (flowId && (!firstStep || started.events.length === 0)) {
        const shownStart = () => settle(ctx, started.position, ['contacts'], p.instanceId);
        const advance = await flowStepShown(ctx, p.instanceId, chatFlows(ctx).start({ instanceId: p.instanceId, contactId }, flowId)).catch(async (err: unknown) => {
          await shownStart().catch(() => undefined);
          throw err;
        });
        if (!advance.appended) await shownStart();
      }
      return toConversation(await eventually(() => contactRow(ctx, p.instanceId, contactId), `Conversation ${contactId}`), v);
    },
    async sendChatMessage(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const v = viewerOf(ctx.principal);
      const input = parseInput(sendChatMessageInput, args.input);
      if (v.kind === 'staff' && v.p.kind !== 'agent') throw new ForbiddenError('Only the chat\'s customer and the agent holding it send chat messages');
      // The chat's customer, or the agent holding it, as the command handler's state of the chat tells (no read); else the read model.
      const writer: ChatWriter | null = v.kind === 'customer' ? { kind: 'customer', customerId: v.p.customerId, verified: v.p.verified } : v.p.kind === 'agent' ? { kind: 'agent', agentId: v.p.agentId } : null;
      const row = (writer && cachedChatAccess(ctx.deps.commands, v.p.instanceId, input.contactId, writer)) || (await loadChatAccess(ctx, v, input.contactId));
      const from = v.kind === 'customer' ? 'CUSTOMER' : 'AGENT';
      const agentId = v.kind === 'staff' && v.p.kind === 'agent' ? v.p.agentId : null;
      const m = input.message;
      const stored = () => {
        let q = ctx.deps.db
          .selectFrom('contact_messages')
          .selectAll()
          .where('instance_id', '=', row.instance_id)
          .where('contact_id', '=', row.id)
          .where('client_message_id', '=', m.clientMessageId)
          .where('sender', '=', from);
        if (agentId) q = q.where('agent_id', '=', agentId);
        return q.executeTakeFirst();
      };
      // A retry of a send already stored is answered with the same message: the decider appends nothing for a
      // repeated clientMessageId (see below), so the read model is asked only when a check refuses the send (a
      // retry after the chat ended, or over the rate limit, still gets its stored message).
      try {
        openChat(row);
        if (v.kind === 'customer') chatLimit(ctx.deps, 'message', customerKeys(ctx, v.p));
      } catch (err) {
        const before = await stored();
        if (before) return toChatMessage(row.instance_id, busMessageOfRow(before as unknown as MessageRow));
        throw err;
      }
      let link: ChatLink | null = null;
      if (m.miniProgramCard != null) {
        // One of the chat's WeChat account's configured cards, by key: its title, page and permanent cover (an
        // official account's card also names the linked mini program's AppID).
        if (from !== 'AGENT') throw new ValidationError('input.message.miniProgramCard', 'only agents send mini program cards');
        const r = await ctx.deps.db.selectFrom('contacts').select('source').where('instance_id', '=', row.instance_id).where('id', '=', row.id).executeTakeFirst();
        const source = r?.source as { kind?: string; wechatAccountId?: string } | null | undefined;
        if (source?.kind !== 'WECHAT' || !source.wechatAccountId) throw new ValidationError('input.message.miniProgramCard', 'mini program cards go to WeChat chats only');
        const account = await ctx.deps.db.selectFrom('wechat_accounts').select('mini_program_cards').where('instance_id', '=', row.instance_id).where('id', '=', source.wechatAccountId).executeTakeFirst();
        const card = (account?.mini_program_cards ?? []).find((c) => c.key === m.miniProgramCard);
        if (!card) throw new ValidationError('input.message.miniProgramCard', `the account has no card ${m.miniProgramCard}`);
        link = { title: card.title, description: null, url: null, thumbUrl: null, pagePath: card.pagePath, thumbFileId: null, thumbMediaId: card.thumbMediaId, cardKey: card.key, ...(card.appId ? { appId: card.appId } : {}) };
      } else if (m.link) {
        if (from !== 'AGENT') throw new ValidationError('input.message.link', 'only agents send link cards');
        link = m.link;
        if (link.pagePath) {
          const r = await ctx.deps.db.selectFrom('contacts').select('source').where('instance_id', '=', row.instance_id).where('id', '=', row.id).executeTakeFirst();
          const source = r?.source as { kind?: string; accountKind?: string } | null | undefined;
          if (source?.kind !== 'WECHAT' || source.accountKind !== 'MINI_PROGRAM') throw new ValidationError('input.message.link.pagePath', 'mini program pages go to WeChat mini program chats only; send a web link (url) here');
        }
        if (link.thumbFileId) {
          // A mini program page's cover: an image of this chat the agent uploaded (the outbox sends it to WeChat as temporary media).
          const cover = await loadChatFile(ctx.deps, row.instance_id, link.thumbFileId);
          const uploader = cover?.uploadedBy;
          if (!cover || cover.contactId !== row.id || uploader?.kind !== 'AGENT' || uploader.agentId !== agentId) throw new NotFoundError('File', link.thumbFileId);
          if (!cover.contentType.startsWith('image/')) throw new ValidationError('input.message.link.thumbFileId', 'the cover must be an image');
        }
      }
      let attachment: ChatAttachment | null = null;
      if (m.fileId) {
        const file = await loadChatFile(ctx.deps, row.instance_id, m.fileId);
        // A file of this chat, sent by whoever uploaded it: nobody sends another's upload as their own.
        const uploader = file?.uploadedBy;
        const theirs = uploader !== undefined && (uploader.kind === 'AGENT' ? uploader.agentId === agentId : from === 'CUSTOMER' && uploader.customerId === row.web_customer_id);
        if (!file || file.contactId !== row.id || !theirs) throw new NotFoundError('File', m.fileId);
        attachment = {
          fileId: file.fileId,
          name: file.name,
          contentType: file.contentType,
          bytes: file.bytes,
          width: file.width,
          height: file.height,
          thumbnail: file.thumbnail,
        };
      }
      let events: ContactEvent[] | null = null;
      let flowNotStarted = false;
      if (from === 'CUSTOMER' && (row.status === 'IN_FLOW' || row.status === 'CREATED') && m.text && !attachment) {
        // The chat's flow waits for this: a button's choice, or what was typed (a menu option's number or word, an
        // answer). The message and the flow's step go in one append (AdvanceChatFlow with the message).
        // A retried send already stored (with its step) appends nothing (AdvanceChatFlow checks its clientMessageId)
        // and is answered with the stored message below.
        const flowMessage: NewChatMessage = { messageId: randomUUID(), clientMessageId: m.clientMessageId, kind: 'TEXT', text: m.text, attachment: null };
        const chat = { instanceId: row.instance_id, contactId: row.id };
        const runner = chatFlows(ctx);
        const step = m.choice != null ? runner.choice(chat, m.choice, { message: flowMessage }) : runner.message(chat, m.text, { message: flowMessage });
        const advance = await flowStepShown(ctx, row.instance_id, step);
        if (advance.carried) events = (advance.events ?? []) as ContactEvent[];
        flowNotStarted = advance.run === null;
      }
      if (events === null) {
        const result = await contactCommand(
          ctx,
          row.instance_id,
          {
            type: 'RecordMessage',
            data: {
              contactId: row.id,
              messageId: randomUUID(),
              clientMessageId: m.clientMessageId,
              from,
              agentId,
              kind: link ? 'LINK' : attachment ? (attachment.contentType.startsWith('image/') ? 'IMAGE' : 'FILE') : 'TEXT',
              text: m.text ?? '',
              attachment,
              ...(link ? { link } : {}),
            },
            metadata: commandMetadata(ctx, row.instance_id),
          },
          // Answered once the read model has it too, as every mutation: a transcript read next shows it.
          true,
        );
        events = result.events;
        // A chat whose flow never took its first step (the process died in between) takes it now.
        if (flowNotStarted) await startChatFlow(ctx, row);
      }
      const recorded = events.find((e) => e.type === 'ContactMessageRecorded' && e.data.from === from);
      if (recorded?.type === 'ContactMessageRecorded') {
        const d = recorded.data;
        // Answered from the event itself (the read model has it now).
        return toChatMessage(row.instance_id, {
          id: d.messageId,
          contactId: row.id,
          seq: d.seq!,
          clientMessageId: d.clientMessageId ?? null,
          sender: d.from,
          kind: d.kind ?? 'TEXT',
          agentId: d.agentId,
          text: d.text,
          attachment: d.attachment ?? null,
          system: null,
          ...(d.link ? { link: d.link } : {}),
          sentAt: new Date(d.at).toISOString(),
        });
      }
      // A retry that raced the first attempt: its message is (or is about to be) in the read model.
      const again = await eventually(stored, `Message ${m.clientMessageId}`);
      return toChatMessage(row.instance_id, busMessageOfRow(again as unknown as MessageRow));
    },
    async setTyping(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const v = viewerOf(ctx.principal);
      const input = parseInput(setTypingInput, args.input);
      if (v.kind === 'staff' && v.p.kind !== 'agent') throw new ForbiddenError('Only the chat\'s customer and the agent holding it type in it');
      const row = await loadChat(ctx, v, input.contactId);
      openChat(row);
      const agentId = v.kind === 'staff' && v.p.kind === 'agent' ? v.p.agentId : null;
      if (agentId && row.agent_id !== agentId) throw new ConflictError(`Agent ${agentId} does not hold conversation ${row.id}`);
      const message: ConversationBusMessage = { kind: 'TYPING', contactId: row.id, sender: agentId ? 'AGENT' : 'CUSTOMER', agentId, typing: input.typing };
      await ctx.deps.bus.publish(conversationTopic(row.instance_id, row.id), message);
      // A WeChat customer sees the agent typing through WeChat's typing indicator (issue 13).
      if (agentId && (row.source as { kind?: string } | null)?.kind === 'WECHAT') void ctx.deps.wechat?.agentTyping?.(row.instance_id, row.id, input.typing);
      return true;
    },
    async markRead(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const v = viewerOf(ctx.principal);
      const input = parseInput(markReadInput, args.input);
      if (v.kind === 'staff' && v.p.kind !== 'agent') throw new ForbiddenError('Only the chat\'s customer and its agents mark it read');
      const row = await loadChat(ctx, v, input.contactId);
      const agentId = v.kind === 'staff' && v.p.kind === 'agent' ? v.p.agentId : null;
      await contactCommand(ctx, row.instance_id, { type: 'MarkMessagesRead', data: { contactId: row.id, by: agentId ? 'AGENT' : 'CUSTOMER', agentId, seq: input.seq }, metadata: commandMetadata(ctx, row.instance_id) }, true);
      return toConversation((await contactRow(ctx, row.instance_id, row.id)) ?? row, v);
    },
    async endChat(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireCustomer(ctx.principal);
      const v: Viewer = { kind: 'customer', p };
      const input = parseInput(contactIdArgs, args.input);
      const row = await loadChat(ctx, v, input.contactId);
      // Ending what has ended already (a retry): the chat as it is.
      if (row.status === 'ENDED' || row.status === 'REJECTED') return toConversation(row, v);
      try {
        await contactCommand(ctx, p.instanceId, { type: 'EndContact', data: { contactId: row.id, reason: 'customerHangUp', endedBy: 'CUSTOMER', agentId: null }, metadata: commandMetadata(ctx, p.instanceId) }, true);
      } catch (err) {
        // Ended meanwhile (by the agent, the idle timer): the chat as it is.
        if (!(err instanceof ConflictError)) throw err;
      }
      return toConversation(await loadChat(ctx, v, row.id), v);
    },
  },
  Subscription: {
    conversationEvents: {
      subscribe: liveSubscription(async (_: unknown, args: { contactId: string; afterSeq?: number | null }, ctx: KefuContext) => {
        try {
          const v = viewerOf(ctx.principal);
          const input = parseInput(conversationEventsArgs, args, '');
          const row = await loadChat(ctx, v, input.contactId);
          const live = await subscribeLive(ctx, conversationTopic(row.instance_id, row.id));
          return conversationStream(conversationSources(ctx, row), v, row.id, input.afterSeq ?? 0, live);
        } catch (err) {
          throw toGraphQLError(err);
        }
      }),
      resolve: (m: EventMessage, _: unknown, ctx: KefuContext) => {
        const v = viewerOf(ctx.principal);
        const instanceId = v.p.instanceId;
        switch (m.kind) {
          case 'MESSAGE':
            return { kind: 'MESSAGE', contactId: m.contactId, message: toChatMessage(instanceId, m.message), sender: m.message.sender };
          case 'TYPING':
            return { kind: 'TYPING', contactId: m.contactId, sender: m.sender, typing: m.typing };
          case 'READ':
            return { kind: 'READ', contactId: m.contactId, sender: m.sender, readSeq: m.readSeq };
          case 'STATUS':
            return { kind: 'STATUS', contactId: m.contactId, conversation: toConversation(m.row, v, m.queuePosition) };
        }
      },
    },
  },
  ConversationEvent: {
    // Asked for on any event (the widget does): the chat as it is now.
    async conversation(e: { contactId: string; conversation?: ConversationView }, _: unknown, ctx: KefuContext) {
      if (e.conversation) return e.conversation;
      const v = viewerOf(ctx.principal);
      return toConversation(await loadChat(ctx, v, e.contactId), v);
    },
  },
  Conversation: {
    inFlow: (c: ConversationView) => c.row.status === 'IN_FLOW',
    leftMessage: (c: ConversationView) => c.row.left_message ?? false,
    queuePosition(c: ConversationView, _: unknown, ctx: KefuContext) {
      return c.knownQueuePosition !== undefined ? c.knownQueuePosition : queuePlace(ctx, c.row);
    },
    agentName: (c: ConversationView, _: unknown, ctx: KefuContext) => agentNameOf(ctx, c.instanceId, c.agentId),
    async messages(c: ConversationView, rawArgs: unknown, ctx: KefuContext) {
      const args = parseInput(messagesArgs, rawArgs, '');
      return messagePage(ctx, c.row, { afterSeq: args.afterSeq ?? 0, first: args.first ?? 100 });
    },
  },
  ChatMessage: {
    agentName: (m: ChatMessageView, _: unknown, ctx: KefuContext) => (m.sender === 'AGENT' ? agentNameOf(ctx, m.instanceId, m.agentId) : null),
    async agent(m: ChatMessageView, _: unknown, ctx: KefuContext) {
      // Customers see the display name only.
      if (!m.agentId || m.sender !== 'AGENT' || ctx.principal?.kind === 'customer') return null;
      const row = await ctx.deps.db.selectFrom('agents').selectAll().where('instance_id', '=', m.instanceId).where('id', '=', m.agentId).executeTakeFirst();
      return row ? toAgent(row) : null;
    },
    async attachment(m: ChatMessageView, _: unknown, ctx: KefuContext) {
      const a = m.rawAttachment;
      if (!a) return null;
      // Whoever sees the message may see its file: links signed for them (chat-files.ts).
      const links = chatFileUrls(ctx.deps, m.instanceId, { fileId: a.fileId, thumbnail: a.thumbnail }, requirePrincipal(ctx.principal));
      return { fileId: a.fileId, name: a.name, contentType: a.contentType, bytes: a.bytes, width: a.width, height: a.height, url: links.url, thumbnailUrl: a.thumbnail ? links.thumbnailUrl : null };
    },
    system(m: ChatMessageView, _: unknown, ctx: KefuContext) {
      const s = m.rawSystem;
      if (!s) return null;
      const v = viewerOf(ctx.principal);
      return { type: s.type, agentId: s.agentId, instanceId: m.instanceId, endStatus: endStatusFor(v, s.endStatus), prompt: s.prompt ?? null };
    },
  },
  SystemMessage: {
    agentName: (s: { agentId: string | null; instanceId: string; type: string }, _: unknown, ctx: KefuContext) =>
      s.type === 'CONNECTED' || s.type === 'TRANSFERRED' ? agentNameOf(ctx, s.instanceId, s.agentId) : null,
  },
};
