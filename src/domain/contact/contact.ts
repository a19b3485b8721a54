import type { DomainEvent } from '../decider.ts';
import type { ChatFlowOption, ChatFlowPosition } from '../flow/chat-flow-engine.ts';
import type { Channel } from '../skill-group/skill-group.ts';
import type { ChatEndStatus } from './chat-end-status.ts';
import type { ReceptionPromptKind } from '../web-channel/reception-prompts.ts';
import type { ChatLink } from './chat-link.ts';

export type { ChatLink } from './chat-link.ts';

export type Direction = 'IN' | 'OUT';
export type CustomerKind = 'PHONE' | 'WECHAT' | 'WEB';
export type RejectReason = 'BLACKLISTED' | 'NO_AGENT' | 'AFTER_HOURS' | 'QUEUE_TIMEOUT' | 'QUEUE_FULL';
export type EndedBy = 'AGENT' | 'CUSTOMER' | 'SYSTEM';

export interface Customer {
  kind: CustomerKind;
  /** Phone number, WeChat OpenID or web visitor id. */
  id: string;
  name: string | null;
}

export interface KeyPress {
  key: string;
  label: string | null;
  at: string;
}

/** The SIP side of a phone contact: who called whom, through which trunk, handled on which SIP node. */
export interface CallInfo {
  callId: string;
  direction: Direction;
  /** Caller and callee numbers (or SIP users) as signalled. */
  from: string;
  to: string;
  trunkId: string | null;
  /** The Kefu SIP node holding the call: on its restart, calls it held end with systemError. */
  node: string;
}

export type AgentDevice = 'SIP_PHONE' | 'WEBRTC' | 'MOBILE';

export interface Transfer {
  fromAgentId: string;
  note: string | null;
}

/** A warm transfer in progress (PH-4): the serving agent talks to another agent while the customer holds. */
export interface Consult {
  consultId: string;
  fromAgentId: string;
  toAgentId: string;
  /** The target has picked up: the two agents are talking. */
  answered: boolean;
  /** When the target's ringing gives up. */
  expiresAt: string;
}

/** The two ends of a call's media: the customer's leg and the serving agent's device. */
export type CallSide = 'CUSTOMER' | 'AGENT';

/** What one media leg of a call received and sent (the call record shows it per leg). */
export interface MediaFigures {
  packetsReceived: number;
  packetsSent: number;
  /** From the RTP sequence numbers: packets the peer sent that never came. */
  packetsLost: number;
  /** RFC 3550 interarrival jitter, milliseconds. */
  jitterMs: number;
  /** Seconds without audio received while the leg was connected (bridged), gaps of a second or more. */
  silentSeconds: number;
  /** Packets dropped, by why. */
  dropped: { malformed: number; wrongSource: number; unknownPayloadType: number; beforeNegotiation: number };
}

/** Where a web chat came from (issue 11): the channel, the customer's identity claim and what their browser said. */
export interface WebSource {
  kind: 'WEB';
  webChannelId: string;
  /** The client's id for the chat: a retried startChat names the same chat. */
  clientChatId: string;
  /** The customer id was verified by the business's HMAC (else an anonymous visitor id). */
  verified: boolean;
  pageUrl: string | null;
  referrer: string | null;
  userAgent: string | null;
  /** The client's address as Kefu saw it. */
  address: string | null;
}

/** Where a WeChat chat came from (issue 13): the account, and the customer as WeChat names them (OpenID, UnionID). */
export interface WechatSource {
  kind: 'WECHAT';
  wechatAccountId: string;
  accountKind: 'OFFICIAL_ACCOUNT' | 'MINI_PROGRAM';
  appId: string;
  openId: string;
  unionId: string | null;
  /** Mini programs: the SessionFrom of the button that opened the chat (screen-pop data, OL-6). */
  sessionFrom: string | null;
}

/** Where a chat came from. */
export type ChatSource = WebSource | WechatSource;

export type MessageSender = 'AGENT' | 'CUSTOMER' | 'SYSTEM';
/** LINK (issue 13): a link card (chat-link.ts). */
export type ChatMessageKind = 'TEXT' | 'IMAGE' | 'FILE' | 'LINK' | 'SYSTEM';

/** A file sent in a chat (stored by the chat files aggregate; this is what the message keeps of it). */
export interface ChatAttachment {
  fileId: string;
  name: string;
  contentType: string;
  bytes: number;
  width: number | null;
  height: number | null;
  thumbnail: boolean;
}

/** PROMPT (issue 12): one of the web channel's reception prompts; its words are the message's text. */
export type SystemMessageType = 'QUEUED' | 'CONNECTED' | 'TRANSFERRED' | 'ENDED' | 'PROMPT' | 'DELIVERY_FAILED';

/** What a SYSTEM message says; the agent's display name is read when shown. */
export interface SystemMessage {
  type: SystemMessageType;
  agentId: string | null;
  endStatus: ChatEndStatus | null;
  /** PROMPT only: which prompt, and the key it is sent once under (see chat-reception.ts). */
  prompt?: ReceptionPromptKind | null;
  promptKey?: string | null;
}

/**
 * A message of a conversation. Events recorded before issue 11 have only messageId, from (AGENT or CUSTOMER),
 * agentId, text and at: they are TEXT, numbered by their place (see messageOf).
 */
export interface ContactMessageData {
  messageId: string;
  from: MessageSender;
  agentId: string | null;
  /** '' for files and system messages. */
  text: string;
  at: string;
  /** Gap-free from 1 per contact. */
  seq?: number;
  clientMessageId?: string | null;
  kind?: ChatMessageKind;
  attachment?: ChatAttachment | null;
  system?: SystemMessage | null;
  /** A chat flow's message (issue 12, SYSTEM sender, TEXT kind): the buttons under it (menus, skill group choices). */
  options?: ChatFlowOption[] | null;
  /** A chat flow's image (an https URL the flow names). */
  image?: ChatFlowImage | null;
  /** LINK messages: the card (issue 13). */
  link?: ChatLink | null;
}

export interface ChatFlowImage {
  url: string;
  alt: string | null;
}

/** Where a chat stands in its chat flow (issue 12): the flow version it started with, the steps taken and the engine's position. */
export interface ContactChatFlow {
  flowId: string;
  version: number;
  /** Steps recorded so far: the next one names this as its `fromStep`. */
  step: number;
  position: ChatFlowPosition;
}

export type ChatMessage = Required<ContactMessageData>;

/** A recorded message with every field, old events upcast: TEXT, numbered `fallbackSeq` (its place in the stream). */
export function messageOf(data: ContactMessageData, fallbackSeq: number): ChatMessage {
  return {
    messageId: data.messageId,
    from: data.from,
    agentId: data.agentId ?? null,
    text: data.text ?? '',
    at: data.at,
    seq: data.seq ?? fallbackSeq,
    clientMessageId: data.clientMessageId ?? null,
    kind: data.kind ?? (data.from === 'SYSTEM' ? 'SYSTEM' : 'TEXT'),
    attachment: data.attachment ?? null,
    system: data.system ?? null,
    options: data.options ?? null,
    image: data.image ?? null,
    link: data.link ?? null,
  };
}

/** The key a sender's client message id is remembered under: a repeat from the same sender is the same message. */
export function sentMessageKey(from: 'AGENT' | 'CUSTOMER', agentId: string | null, clientMessageId: string): string {
  return from === 'CUSTOMER' ? `CUSTOMER:${clientMessageId}` : `AGENT:${agentId ?? ''}:${clientMessageId}`;
}

/**
 * The customer's satisfaction rating (issue 12), given once after the contact ended: the value on the
 * instance's scale and its label then, an optional comment (chats), the key pressed (the phone's keypad survey).
 */
export interface ContactRating {
  value: number;
  label: string;
  comment: string | null;
  /** CUSTOMER: the chat's customer through the widget; KEYPAD: the caller in the post-call keypad survey. */
  by: 'CUSTOMER' | 'KEYPAD';
  key: string | null;
  at: string;
}

/** Why a consultation ended without the transfer. */
export type ConsultEnd = 'CANCELLED' | 'NO_ANSWER' | 'DECLINED' | 'TARGET_HUNG_UP' | 'TARGET_UNAVAILABLE';

export type ContactEvent =
  | DomainEvent<
      'ContactCreated',
      {
        contactId: string;
        channel: Channel;
        direction: Direction;
        customer: Customer;
        data: Record<string, string>;
        createdAt: string;
        /** Web chats only (issue 11); absent on other contacts and on older events. */
        source?: ChatSource | null;
      }
    >
  | DomainEvent<'ContactRejected', { reason: RejectReason }>
  | DomainEvent<'ContactFlowStarted', { flowId: string | null }>
  | DomainEvent<'ContactKeyPressed', KeyPress>
  | DomainEvent<'ContactVariablesSet', { variables: Record<string, string> }>
  /** leftMessage (issue 12): the customer left a message for the group (a chat flow's leaveMessage); it waits without a wait limit. */
  | DomainEvent<'ContactQueued', { skillGroupId: string; priority: number; queuedAt: string; leftMessage?: boolean }>
  | DomainEvent<'ContactOffered', { offerId: string; agentIds: string[]; expiresAt: string; transfer: Transfer | null }>
  | DomainEvent<'ContactOfferDeclined', { offerId: string; agentId: string }>
  | DomainEvent<'ContactOfferTimedOut', { offerId: string; agentIds: string[] }>
  | DomainEvent<'ContactOfferWithdrawn', { offerId: string; agentIds: string[] }>
  | DomainEvent<'ContactAccepted', { offerId: string; agentId: string; at: string }>
  | DomainEvent<'ContactTransferred', { fromAgentId: string; toAgentId: string | null; toSkillGroupId: string | null; note: string | null }>
  | DomainEvent<'ContactMessageRecorded', ContactMessageData>
  /** A side of a chat read up to seq (only when it advances). */
  | DomainEvent<'ContactMessagesRead', { by: 'AGENT' | 'CUSTOMER'; agentId: string | null; seq: number; at: string }>
  | DomainEvent<'ContactEnded', { reason: string; endedBy: EndedBy; agentId: string | null; at: string }>
  | DomainEvent<'CallStarted', CallInfo & { at: string }>
  | DomainEvent<'CallAgentLegRinging', { offerId: string; agentId: string; device: AgentDevice; address: string; at: string }>
  | DomainEvent<'CallRecordingStarted', { recordingId: string; agentId: string | null; at: string }>
  | DomainEvent<'CallRecordingCompleted', { recordingId: string; durationMs: number; bytes: number; at: string }>
  // Call control (PH-4): hold, and warm transfer through a consultation.
  | DomainEvent<'CallHeld', { agentId: string | null; at: string }>
  | DomainEvent<'CallResumed', { agentId: string | null; at: string }>
  | DomainEvent<'ConsultStarted', { consultId: string; fromAgentId: string; toAgentId: string; expiresAt: string; at: string }>
  | DomainEvent<'ConsultAnswered', { consultId: string; agentId: string; device: AgentDevice; address: string; at: string }>
  | DomainEvent<'ConsultCancelled', { consultId: string; toAgentId: string; reason: ConsultEnd; at: string }>
  | DomainEvent<'ConsultCompleted', { consultId: string; fromAgentId: string; toAgentId: string; at: string }>
  // Outbound calls (PH-2): the contact is the agent's from the start, no queue; the agent's leg rings first,
  // then the customer is dialled through the trunk.
  | DomainEvent<'ContactAssigned', { agentId: string; skillGroupId: string | null; at: string }>
  | DomainEvent<'CallAgentLegAnswered', { agentId: string; at: string }>
  | DomainEvent<'CallCustomerDialled', { callId: string; at: string }>
  | DomainEvent<'CallCustomerAnswered', { at: string }>
  // Media (issue 9): a side that went silent while connected, and each leg's figures when its part ends.
  | DomainEvent<'CallMediaSilent', { side: CallSide; agentId: string | null; silentSeconds: number; at: string }>
  | DomainEvent<'CallMediaMeasured', { side: CallSide; agentId: string | null; figures: MediaFigures; at: string }>
  // Satisfaction (issue 12): once, after the end.
  | DomainEvent<'ContactRated', ContactRating>
  // Chat flows (issue 12): one step of the chat's flow, recorded after what the step did (messages, keys, variables, queue or end).
  | DomainEvent<'ContactChatFlowAdvanced', ContactChatFlow>;

/** An outbound call's progress, on its connected state: the agent's leg first, then the customer's. */
export interface OutboundProgress {
  agentAnsweredAt: string | null;
  customerCallId: string | null;
  customerAnsweredAt: string | null;
}

interface Common {
  id: string;
  channel: Channel;
  direction: Direction;
  customer: Customer;
  data: Record<string, string>;
  keyTrail: KeyPress[];
  variables: Record<string, string>;
  /** Agents who declined or missed this contact, tried last by the router. */
  triedAgentIds: string[];
  /** The transfer the next offer carries, if the contact is being transferred. */
  pendingTransfer: Transfer | null;
  /** A transfer to one agent: the next offer goes to them only. */
  directAgentId: string | null;
  /** The latest offer made, open or not: a reservation naming another offer may still be on its way. */
  lastOfferId: string | null;
  /** Agents who let an offer of this contact ring out (a subset of triedAgentIds). */
  missedAgentIds: string[];
  /** Times of the last message each way, for ending idle chats (OL-8). */
  lastAgentMessageAt: string | null;
  lastCustomerMessageAt: string | null;
  /** Phone contacts only. */
  call: CallInfo | null;
  recordingIds: string[];
  completedRecordingIds: string[];
  /** Phone: the customer is on hold (music), by the agent or for a consultation. */
  held: boolean;
  consult: Consult | null;
  /** Agents who handed this contact over by a completed warm transfer (they get after-call work). */
  handedOverBy: string[];
  /** Sides reported silent: 'CUSTOMER', or 'AGENT:<agentId>' (each agent's part once). Absent before issue 9. */
  silentSides?: string[];
  /** Issue 11 (absent on states folded before it): a web chat's source, its messages and read state. */
  source?: ChatSource | null;
  /** Messages recorded: the next one is seq messageCount + 1. */
  messageCount?: number;
  /** Client message ids seen (sentMessageKey) → the seq they were stored with. */
  sentMessages?: SentMessages;
  customerLastReadSeq?: number;
  agentLastReadSeq?: number;
  /** The contact was transferred at least once (a chat's end status says so). */
  transferred?: boolean;
  /** Issue 12: the satisfaction rating, once given (absent before). */
  rating?: ContactRating | null;
  /** Issue 12: the keys of the reception prompts sent (each is sent once). */
  receptionPromptKeys?: string[];
  /** Issue 12: the chat's place in its chat flow (null: in none). */
  chatFlow?: ContactChatFlow | null;
  /** Issue 12: the customer left a message for the group (a chat flow's leaveMessage). */
  leftMessage?: boolean;
}

export type ContactState =
  | { status: 'none' }
  | (Common & { status: 'created' | 'inFlow' })
  | (Common & { status: 'queued'; skillGroupId: string; priority: number; queuedAt: string })
  | (Common & {
      status: 'offered';
      skillGroupId: string;
      priority: number;
      queuedAt: string;
      offer: { offerId: string; pendingAgentIds: string[]; expiresAt: string };
    })
  | (Common & {
      status: 'connected';
      /** Null for an outbound call made outside any skill group. */
      skillGroupId: string | null;
      priority: number;
      queuedAt: string;
      agentId: string;
      /** Outbound calls only. */
      outbound?: OutboundProgress;
    })
  | (Common & { status: 'ended'; reason: string; endedBy: EndedBy })
  | (Common & { status: 'rejected'; reason: RejectReason });

export const initialContactState = (): ContactState => ({ status: 'none' });

type Live = Exclude<ContactState, { status: 'none' }>;

function common(s: Live): Common {
  return {
    id: s.id,
    channel: s.channel,
    direction: s.direction,
    customer: s.customer,
    data: s.data,
    keyTrail: s.keyTrail,
    variables: s.variables,
    triedAgentIds: s.triedAgentIds,
    pendingTransfer: s.pendingTransfer,
    directAgentId: s.directAgentId,
    lastOfferId: s.lastOfferId,
    missedAgentIds: s.missedAgentIds,
    lastAgentMessageAt: s.lastAgentMessageAt,
    lastCustomerMessageAt: s.lastCustomerMessageAt,
    call: s.call,
    recordingIds: s.recordingIds,
    completedRecordingIds: s.completedRecordingIds,
    held: s.held,
    consult: s.consult,
    handedOverBy: s.handedOverBy,
    silentSides: s.silentSides ?? [],
    source: s.source ?? null,
    messageCount: s.messageCount ?? 0,
    sentMessages: s.sentMessages ?? noSentMessages,
    customerLastReadSeq: s.customerLastReadSeq ?? 0,
    agentLastReadSeq: s.agentLastReadSeq ?? 0,
    transferred: s.transferred ?? false,
    rating: s.rating ?? null,
    receptionPromptKeys: s.receptionPromptKeys ?? [],
    chatFlow: s.chatFlow ?? null,
    leftMessage: s.leftMessage ?? false,
  };
}

/** The entries behind SentMessages: shared by the states folded one after another from one start. */
interface SentLog {
  /** Key → its place in keys and seqs. */
  readonly places: Map<string, number>;
  readonly keys: string[];
  readonly seqs: number[];
}

/**
 * The client message ids a chat has seen (sentMessageKey) and the seq each was stored with, as one state sees
 * them: the first `size` entries of a log. Adding a key to the newest state appends to the log in place (no copy
 * of a long chat's keys at each message: that was quadratic, and every process folding contacts paid it);
 * adding to an older state whose next entry is another key (a fold that branched) copies its part of the log
 * first. What a state sees never changes, so states stay shared immutable values.
 */
export interface SentMessages {
  readonly log: SentLog | null;
  readonly size: number;
}

export const noSentMessages: SentMessages = Object.freeze({ log: null, size: 0 });

/** The seq a sender's client message id was stored with, or undefined if this state has not seen it. */
export function sentMessageSeq(sent: SentMessages | undefined, key: string): number | undefined {
  const place = sent?.log?.places.get(key);
  return place !== undefined && place < sent!.size ? sent!.log!.seqs[place] : undefined;
}

function withSentMessage(prev: SentMessages | undefined, key: string, seq: number): SentMessages {
  const size = prev?.size ?? 0;
  let log = prev?.log ?? null;
  if (log && log.keys.length > size) {
    // This state's next entry is in the log already: the same message folded again from the same state.
    if (log.keys[size] === key && log.seqs[size] === seq) return { log, size: size + 1 };
    log = { places: new Map([...log.places].filter(([, place]) => place < size)), keys: log.keys.slice(0, size), seqs: log.seqs.slice(0, size) };
  }
  log ??= { places: new Map(), keys: [], seqs: [] };
  // A key seen already (a message stored twice under one id before the decider checked ids) keeps its first seq.
  if (sentMessageSeq({ log, size }, key) !== undefined) return { log, size };
  log.places.set(key, log.keys.length);
  log.keys.push(key);
  log.seqs.push(seq);
  return { log, size: size + 1 };
}

export function evolveContact(state: ContactState, event: ContactEvent): ContactState {
  return evolve(state, event, true);
}

/**
 * evolveContact for the states a process keeps of every contact without deciding on them (the router, the chat
 * reception): the same state, but its sentMessages stays empty. Only the decider reads the client message ids
 * (a retried send is answered with its stored message), and it decides on the command handler's fold of the
 * stream; each of these processes kept its own copy of every chat's ids too, one entry per message, for as long
 * as it kept the chat (issue 11: what each message leaves alive in memory).
 */
export function evolveContactWithoutSentMessages(state: ContactState, event: ContactEvent): ContactState {
  return evolve(state, event, false);
}

function evolve(state: ContactState, event: ContactEvent, keepSent: boolean): ContactState {
  if (event.type === 'ContactCreated') {
    const d = event.data;
    return {
      status: 'created',
      id: d.contactId,
      channel: d.channel,
      direction: d.direction,
      customer: d.customer,
      data: d.data,
      keyTrail: [],
      variables: {},
      triedAgentIds: [],
      pendingTransfer: null,
      directAgentId: null,
      lastOfferId: null,
      missedAgentIds: [],
      lastAgentMessageAt: null,
      lastCustomerMessageAt: null,
      call: null,
      recordingIds: [],
      completedRecordingIds: [],
      held: false,
      consult: null,
      handedOverBy: [],
      silentSides: [],
      source: d.source ?? null,
      messageCount: 0,
      sentMessages: noSentMessages,
      customerLastReadSeq: 0,
      agentLastReadSeq: 0,
      transferred: false,
    };
  }
  if (state.status === 'none') return state;
  const c = common(state);
  switch (event.type) {
    case 'ContactRejected':
      return { ...c, status: 'rejected', reason: event.data.reason };
    case 'ContactFlowStarted':
      return { ...c, status: 'inFlow' };
    case 'ContactKeyPressed':
      return { ...state, keyTrail: [...state.keyTrail, event.data] };
    case 'ContactVariablesSet':
      return { ...state, variables: { ...state.variables, ...event.data.variables } };
    case 'ContactQueued':
      return {
        ...c,
        status: 'queued',
        skillGroupId: event.data.skillGroupId,
        priority: event.data.priority,
        queuedAt: event.data.queuedAt,
        ...(event.data.leftMessage ? { leftMessage: true } : {}),
      };
    case 'ContactOffered': {
      if (state.status !== 'queued') return state;
      return {
        ...state,
        status: 'offered',
        // The transfer note travels until someone takes the contact; a missed direct transfer falls back to the group.
        directAgentId: null,
        lastOfferId: event.data.offerId,
        offer: { offerId: event.data.offerId, pendingAgentIds: event.data.agentIds, expiresAt: event.data.expiresAt },
      };
    }
    case 'ContactOfferDeclined':
    case 'ContactOfferTimedOut':
    case 'ContactOfferWithdrawn': {
      if (state.status !== 'offered' || state.offer.offerId !== event.data.offerId) return state;
      const gone = event.type === 'ContactOfferDeclined' ? [event.data.agentId] : event.data.agentIds;
      const pendingAgentIds = state.offer.pendingAgentIds.filter((a) => !gone.includes(a));
      const triedAgentIds = event.type === 'ContactOfferWithdrawn' ? state.triedAgentIds : [...new Set([...state.triedAgentIds, ...gone])];
      const missedAgentIds = event.type === 'ContactOfferTimedOut' ? [...new Set([...state.missedAgentIds, ...gone])] : state.missedAgentIds;
      if (pendingAgentIds.length > 0) return { ...state, triedAgentIds, missedAgentIds, offer: { ...state.offer, pendingAgentIds } };
      // Nobody left ringing: back to its place in the queue (it keeps queuedAt).
      const { offer: _offer, ...rest } = state;
      return { ...rest, triedAgentIds, missedAgentIds, status: 'queued' };
    }
    case 'ContactAccepted': {
      if (state.status !== 'offered') return state;
      const { offer: _offer, ...rest } = state;
      return { ...rest, status: 'connected', agentId: event.data.agentId, pendingTransfer: null };
    }
    case 'ContactTransferred': {
      if (state.status !== 'connected') return state;
      const { agentId: _agent, ...rest } = state;
      const transfer = { fromAgentId: event.data.fromAgentId, note: event.data.note };
      return {
        ...rest,
        status: 'queued',
        // Outbound calls (the only contacts without a group) are not transferred: see TransferContact.
        skillGroupId: event.data.toSkillGroupId ?? state.skillGroupId ?? '',
        pendingTransfer: transfer,
        directAgentId: event.data.toAgentId,
        triedAgentIds: [event.data.fromAgentId],
        held: false,
        consult: null,
        transferred: true,
      };
    }
    case 'ContactMessageRecorded': {
      const m = messageOf(event.data, (state.messageCount ?? 0) + 1);
      const next = { ...state, messageCount: Math.max(state.messageCount ?? 0, m.seq) };
      if (keepSent && m.from !== 'SYSTEM' && m.clientMessageId !== null) {
        next.sentMessages = withSentMessage(state.sentMessages, sentMessageKey(m.from, m.agentId, m.clientMessageId), m.seq);
      }
      // System messages are nobody's word: they do not count for ending idle chats (OL-8).
      if (m.system?.type === 'PROMPT' && m.system.promptKey) next.receptionPromptKeys = [...(state.receptionPromptKeys ?? []), m.system.promptKey];
      // Issue 13: a WeChat delivery failure is told once per message, under its key (wechat-delivery.decide.ts).
      if (m.system?.type === 'DELIVERY_FAILED' && m.system.promptKey) next.receptionPromptKeys = [...(state.receptionPromptKeys ?? []), m.system.promptKey];
      if (m.from === 'AGENT') next.lastAgentMessageAt = m.at;
      else if (m.from === 'CUSTOMER') next.lastCustomerMessageAt = m.at;
      return next;
    }
    case 'ContactMessagesRead':
      return event.data.by === 'AGENT'
        ? { ...state, agentLastReadSeq: Math.max(state.agentLastReadSeq ?? 0, event.data.seq) }
        : { ...state, customerLastReadSeq: Math.max(state.customerLastReadSeq ?? 0, event.data.seq) };
    case 'ContactEnded':
      return { ...c, status: 'ended', reason: event.data.reason, endedBy: event.data.endedBy };
    case 'CallStarted': {
      const { at: _at, ...call } = event.data;
      return { ...state, call };
    }
    case 'CallRecordingStarted':
      return { ...state, recordingIds: [...state.recordingIds, event.data.recordingId] };
    case 'CallRecordingCompleted':
      return { ...state, completedRecordingIds: [...state.completedRecordingIds, event.data.recordingId] };
    case 'CallAgentLegRinging':
      return state;
    case 'CallHeld':
      return { ...state, held: true };
    case 'CallResumed':
      return { ...state, held: false };
    case 'ConsultStarted': {
      const { consultId, fromAgentId, toAgentId, expiresAt } = event.data;
      return { ...state, consult: { consultId, fromAgentId, toAgentId, expiresAt, answered: false } };
    }
    case 'ConsultAnswered':
      return state.consult?.consultId === event.data.consultId ? { ...state, consult: { ...state.consult, answered: true } } : state;
    case 'ConsultCancelled':
      return state.consult?.consultId === event.data.consultId ? { ...state, consult: null } : state;
    case 'ConsultCompleted': {
      if (state.status !== 'connected' || state.consult?.consultId !== event.data.consultId) return state;
      // The target now serves the customer; the agent who consulted is done with the contact.
      return { ...state, agentId: event.data.toAgentId, consult: null, handedOverBy: [...new Set([...state.handedOverBy, event.data.fromAgentId])] };
    }
    case 'ContactAssigned': {
      if (state.status !== 'created') return state;
      const { agentId, skillGroupId, at } = event.data;
      return { ...c, status: 'connected', skillGroupId, priority: 0, queuedAt: at, agentId, outbound: { agentAnsweredAt: null, customerCallId: null, customerAnsweredAt: null } };
    }
    case 'CallAgentLegAnswered':
      return state.status === 'connected' && state.outbound ? { ...state, outbound: { ...state.outbound, agentAnsweredAt: event.data.at } } : state;
    case 'CallCustomerDialled':
      return state.status === 'connected' && state.outbound ? { ...state, outbound: { ...state.outbound, customerCallId: event.data.callId } } : state;
    case 'CallCustomerAnswered':
      return state.status === 'connected' && state.outbound ? { ...state, outbound: { ...state.outbound, customerAnsweredAt: event.data.at } } : state;
    case 'CallMediaSilent':
      return { ...state, silentSides: [...(state.silentSides ?? []), silentSideKey(event.data.side, event.data.agentId)] };
    case 'CallMediaMeasured':
      return state;
    case 'ContactRated':
      return { ...state, rating: event.data };
    case 'ContactChatFlowAdvanced':
      return { ...state, chatFlow: event.data };
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}

/** How silentSides names a side: the customer once per call, an agent once per agent. */
export function silentSideKey(side: CallSide, agentId: string | null): string {
  return side === 'CUSTOMER' ? 'CUSTOMER' : `AGENT:${agentId ?? ''}`;
}
