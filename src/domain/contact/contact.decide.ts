import type { CommandMetadata } from '../decider.ts';
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import type { Channel } from '../skill-group/skill-group.ts';
import { chatEndStatusOf } from './chat-end-status.ts';
import { chatLinkProblem, type ChatLink } from './chat-link.ts';
import { maxRatingCommentLength, scaleEntryOf, surveyOn, type SatisfactionSurvey } from '../instance/satisfaction.ts';
import type {
  AgentDevice,
  CallInfo,
  CallSide,
  ChatAttachment,
  ConsultEnd,
  ContactEvent,
  ContactState,
  Customer,
  Direction,
  EndedBy,
  MediaFigures,
  OutboundProgress,
  RejectReason,
  SystemMessage,
  Transfer,
  ChatSource,
} from './contact.ts';
import { evolveContact, initialContactState, sentMessageKey, sentMessageSeq, silentSideKey } from './contact.ts';
import { decideReceptionPrompt, type SendReceptionPrompt } from './reception-prompt.decide.ts';
import { decideDeliveryFailure, type RecordDeliveryFailure } from './wechat-delivery.decide.ts';
import type { ChatFlowAction, ChatFlowPosition } from '../flow/chat-flow-engine.ts';
import { sameFlowDocument } from '../flow/flow-document.ts';

/** What a chat flow step does to its chat: every engine action but the question about agents (the runner answers it). */
export type ChatFlowStepAction = Exclude<ChatFlowAction, { type: 'checkAgentsOnline' }>;

type Cmd<T extends string, D> = { type: T; data: D & { contactId: string }; metadata: CommandMetadata };

export type ContactCommand =
  | Cmd<'CreateContact', { channel: Channel; direction: Direction; customer: Customer; data: Record<string, string>; call?: CallInfo; source?: ChatSource | null }>
  /**
   * A web chat (issue 11), in one append: created with its source, the customer's first message if any, then
   * queued in the group or turned away (`reject`, decided by the caller from the blacklist and the queue).
   * Again with the same contact id: a retry, nothing.
   */
  | Cmd<
      'StartChat',
      {
        customer: Customer;
        data: Record<string, string>;
        source: ChatSource;
        skillGroupId: string;
        priority: number;
        reject: RejectReason | null;
        firstMessage: NewChatMessage | null;
        /** Issue 12: the web channel's chat flow; the chat enters it (IN_FLOW) instead of the queue. */
        flowId?: string | null;
        /**
         * Issue 12: the flow's first step, computed by the flow runner before the chat exists, recorded in the same
         * append (as AdvanceChatFlow from step 0 would): one append and one wait for a chat's start. Absent: the
         * runner takes the first step on its own after the start.
         */
        firstStep?: { version: number; actions: ChatFlowStepAction[]; position: ChatFlowPosition } | null;
        /** AV: a customer's audio/video call from the web (issue 14), with the same conversation; ONLINE when absent. */
        channel?: 'ONLINE' | 'AV';
      }
    >
  /**
   * One step of a web chat's chat flow (issue 12), computed by the flow runner from the step before
   * (`fromStep`, 0 for the first): its actions (the flow's messages, the choice made, variables, then queue or
   * end) and the position it leaves the flow at, in one append. The same step again (a retry, or another
   * process that took it first): nothing; a step from a place the chat has left: CONFLICT.
   */
  | Cmd<
      'AdvanceChatFlow',
      {
        flowId: string;
        version: number;
        fromStep: number;
        actions: ChatFlowStepAction[];
        position: ChatFlowPosition;
        /** The customer's message the step answers, recorded first in the same append (null: a step of its own, e.g. the start). */
        message?: NewChatMessage | null;
      }
    >
  | Cmd<'RejectContact', { reason: RejectReason }>
  | Cmd<'StartFlow', { flowId: string | null }>
  | Cmd<'PressKey', { key: string; label: string | null }>
  | Cmd<'SetVariables', { variables: Record<string, string> }>
  | Cmd<'QueueContact', { skillGroupId: string; priority: number }>
  | Cmd<'OverflowContact', { toSkillGroupId: string }>
  | Cmd<'OfferContact', { offerId: string; agentIds: string[]; expiresAt: string }>
  | Cmd<'AcceptOffer', { offerId: string; agentId: string }>
  | Cmd<'DeclineOffer', { offerId: string; agentId: string }>
  | Cmd<'TimeOutOffer', { offerId: string }>
  | Cmd<'TransferContact', { agentId: string; toAgentId: string | null; toSkillGroupId: string | null; note: string | null }>
  | Cmd<'EndContact', { reason: string; endedBy: EndedBy; agentId: string | null }>
  /** A message from the customer or the agent holding the contact; a clientMessageId seen before from the same sender: nothing. */
  | Cmd<'RecordMessage', NewChatMessage & { from: 'AGENT' | 'CUSTOMER'; agentId: string | null }>
  /** A side read the conversation up to seq; nothing unless it advances. */
  | Cmd<'MarkMessagesRead', { by: 'AGENT' | 'CUSTOMER'; agentId: string | null; seq: number }>
  | Cmd<'EndIdleChat', { lastAgentMessageAt: string; idleSeconds: number }>
  | Cmd<'RingAgentLeg', { offerId: string; agentId: string; device: AgentDevice; address: string }>
  | Cmd<'StartRecording', { recordingId: string; agentId: string | null }>
  | Cmd<'CompleteRecording', { recordingId: string; durationMs: number; bytes: number }>
  // Call control (PH-4). agentId: the agent acting, who must hold the call; null for a supervisor or the system.
  | Cmd<'HoldCall', { agentId: string | null }>
  | Cmd<'ResumeCall', { agentId: string | null }>
  | Cmd<'StartConsult', { agentId: string | null; consultId: string; toAgentId: string; expiresAt: string }>
  | Cmd<'AnswerConsult', { consultId: string; agentId: string; device: AgentDevice; address: string }>
  /** consultId null: whichever consultation is in progress (the API); named: only that one, else nothing (the call session). */
  | Cmd<'CancelConsult', { agentId: string | null; consultId: string | null; reason: ConsultEnd }>
  | Cmd<'CompleteConsult', { agentId: string | null }>
  // Outbound calls (PH-2): started for one agent; their leg answers, then the customer's is dialled and answers.
  | Cmd<'StartOutboundCall', { agentId: string; skillGroupId: string | null; customer: Customer; data: Record<string, string>; call: CallInfo }>
  | Cmd<'AnswerAgentLeg', { agentId: string }>
  | Cmd<'DialCustomer', { callId: string }>
  | Cmd<'AnswerCustomerLeg', Record<never, never>>
  // Media (issue 9): the call session reports a side that stays silent while connected, and each leg's figures.
  | Cmd<'ReportMediaSilence', { side: CallSide; agentId: string | null; silentSeconds: number }>
  | Cmd<'RecordMediaFigures', { side: CallSide; agentId: string | null; figures: MediaFigures }>
  /**
   * Satisfaction (issue 12): the customer rates the ended contact once, on the instance's survey setting as the
   * caller read it (scale and channel switches). KEYPAD: the post-call keypad survey, naming the key.
   */
  | Cmd<'RateContact', { value: number; comment: string | null; by: 'CUSTOMER' | 'KEYPAD'; key: string | null; survey: SatisfactionSurvey }>
  /** Issue 12: one of the web channel's reception prompts, as a SYSTEM message, once per key (reception-prompt.decide.ts). */
  | SendReceptionPrompt
  /** Issue 13: WeChat refused an agent's message for good; a SYSTEM message says so, once per message (wechat-delivery.decide.ts). */
  | RecordDeliveryFailure;

/** A message as sent: text, a file (IMAGE or FILE) with an optional caption, or an agent's link card (LINK, issue 13). */
export interface NewChatMessage {
  messageId: string;
  /** The client's id for the message; null only for sends without one (the old sendMessage). */
  clientMessageId: string | null;
  kind?: 'TEXT' | 'IMAGE' | 'FILE' | 'LINK';
  text: string;
  attachment?: ChatAttachment | null;
  link?: ChatLink | null;
}

type Live = Exclude<ContactState, { status: 'none' }>;

function live(state: ContactState, id: string): Live {
  if (state.status === 'none') throw new NotFoundError('Contact', id);
  return state;
}

function open(state: ContactState, id: string): Exclude<Live, { status: 'ended' | 'rejected' }> {
  const s = live(state, id);
  if (s.status === 'ended' || s.status === 'rejected') throw new ConflictError(`Contact ${id} has already ended`);
  return s;
}

type Connected = Extract<ContactState, { status: 'connected' }>;

/** A phone call (or, for hold and resume, a customer's AV call) connected to an agent, and `agentId` (when given) is that agent. */
function connectedCall(state: ContactState, id: string, agentId: string | null, avToo = false): Connected {
  const s = open(state, id);
  if (!s.call && !(avToo && s.channel === 'AV')) throw new ConflictError(`Contact ${id} is not a call`);
  if (s.status !== 'connected') throw new ConflictError(`Contact ${id} is ${s.status}, not connected to an agent`);
  if (agentId !== null && s.agentId !== agentId) throw new ConflictError(`Agent ${agentId} does not hold contact ${id}`);
  return s;
}

function decideCallControl(command: Extract<ContactCommand, { type: CallControlCommand }>, state: ContactState): ContactEvent[] {
  const id = command.data.contactId;
  const now = command.metadata.now;
  switch (command.type) {
    case 'HoldCall': {
      const s = connectedCall(state, id, command.data.agentId, true);
      return s.held ? [] : [{ type: 'CallHeld', data: { agentId: command.data.agentId, at: now } }];
    }
    case 'ResumeCall': {
      const s = connectedCall(state, id, command.data.agentId, true);
      if (!s.held) return [];
      if (s.consult) throw new ConflictError(`Contact ${id} is on hold for a consultation with agent ${s.consult.toAgentId}: complete or cancel it`);
      return [{ type: 'CallResumed', data: { agentId: command.data.agentId, at: now } }];
    }
    case 'StartConsult': {
      const { agentId, consultId, toAgentId, expiresAt } = command.data;
      const s = connectedCall(state, id, agentId);
      if (s.consult?.consultId === consultId) return [];
      if (s.consult) throw new ConflictError(`Contact ${id} already has a consultation with agent ${s.consult.toAgentId}`);
      if (toAgentId === s.agentId) throw new ValidationError('toAgentId', 'an agent cannot consult themselves');
      const events: ContactEvent[] = s.held ? [] : [{ type: 'CallHeld', data: { agentId, at: now } }];
      events.push({ type: 'ConsultStarted', data: { consultId, fromAgentId: s.agentId, toAgentId, expiresAt, at: now } });
      return events;
    }
    case 'AnswerConsult': {
      const { consultId, agentId, device, address } = command.data;
      const s = open(state, id);
      if (s.consult?.consultId !== consultId || s.consult.toAgentId !== agentId) throw new ConflictError(`Consultation ${consultId} of contact ${id} is not open to agent ${agentId}`);
      if (s.consult.answered) return [];
      return [{ type: 'ConsultAnswered', data: { consultId, agentId, device, address, at: now } }];
    }
    case 'CancelConsult': {
      const { agentId, consultId, reason } = command.data;
      const s = live(state, id);
      const consult = s.consult;
      if (consultId !== null) {
        // The call session's own ends (no answer, the target hung up): late or twice, nothing.
        if (consult?.consultId !== consultId || s.status !== 'connected') return [];
      } else {
        const c = connectedCall(state, id, agentId);
        if (!c.consult) throw new ConflictError(`Contact ${id} has no consultation in progress`);
      }
      const events: ContactEvent[] = [{ type: 'ConsultCancelled', data: { consultId: consult!.consultId, toAgentId: consult!.toAgentId, reason, at: now } }];
      // The consulting agent is back with the customer.
      if (s.held) events.push({ type: 'CallResumed', data: { agentId, at: now } });
      return events;
    }
    case 'CompleteConsult': {
      const s = connectedCall(state, id, command.data.agentId);
      if (!s.consult) throw new ConflictError(`Contact ${id} has no consultation in progress`);
      if (!s.consult.answered) throw new ConflictError(`Agent ${s.consult.toAgentId} has not answered the consultation yet`);
      const { consultId, fromAgentId, toAgentId } = s.consult;
      const events: ContactEvent[] = [{ type: 'ConsultCompleted', data: { consultId, fromAgentId, toAgentId, at: now } }];
      if (s.held) events.push({ type: 'CallResumed', data: { agentId: toAgentId, at: now } });
      return events;
    }
    default: {
      const unknown: never = command;
      throw new Error(`Unknown command ${(unknown as { type: string }).type}`);
    }
  }
}

type CallControlCommand = 'HoldCall' | 'ResumeCall' | 'StartConsult' | 'AnswerConsult' | 'CancelConsult' | 'CompleteConsult';

type OutboundCall = Extract<Live, { status: 'connected' }> & { outbound: OutboundProgress };

/** An open outbound call (connected to its agent from the start). */
function outboundCall(state: ContactState, id: string): OutboundCall {
  const s = open(state, id);
  if (s.status !== 'connected' || !s.outbound) throw new ConflictError(`Contact ${id} is not an outbound call in progress`);
  return s as OutboundCall;
}

export function decideContact(command: ContactCommand, state: ContactState): ContactEvent[] {
  return withSystemMessages(state, decideCore(command, state), command.data.contactId, command.metadata.now);
}

/**
 * A chat's SYSTEM messages (issue 11) come in the same append as what they tell: queued (the first time),
 * connected, transferred, ended or turned away. Each is numbered after the messages before it.
 */
function withSystemMessages(state: ContactState, events: ContactEvent[], contactId: string, now: string): ContactEvent[] {
  if (events.length === 0) return events;
  const out: ContactEvent[] = [];
  let s = state;
  for (const e of events) {
    const before = s;
    out.push(e);
    s = evolveContact(s, e);
    // Chats and customers' AV calls (their conversation goes on during the call) tell their customer.
    if (s.status === 'none' || s.channel === 'PHONE') continue;
    const system = systemMessageFor(before, e);
    if (!system) continue;
    const seq = (s.messageCount ?? 0) + 1;
    const message: ContactEvent = {
      type: 'ContactMessageRecorded',
      data: { messageId: `${contactId}:${seq}`, from: 'SYSTEM', agentId: system.agentId, text: '', at: now, seq, clientMessageId: null, kind: 'SYSTEM', attachment: null, system },
    };
    out.push(message);
    s = evolveContact(s, message);
  }
  return out;
}

function systemMessageFor(before: ContactState, e: ContactEvent): SystemMessage | null {
  switch (e.type) {
    case 'ContactQueued':
      // Queued the first time; an overflow to another group is the same wait.
      return before.status === 'none' || before.status === 'created' || before.status === 'inFlow' ? { type: 'QUEUED', agentId: null, endStatus: null } : null;
    case 'ContactAccepted':
      return { type: 'CONNECTED', agentId: e.data.agentId, endStatus: null };
    case 'ContactTransferred':
      return { type: 'TRANSFERRED', agentId: e.data.toAgentId, endStatus: null };
    case 'ContactEnded': {
      const transferred = before.status !== 'none' && (before.transferred ?? false);
      return { type: 'ENDED', agentId: e.data.agentId, endStatus: chatEndStatusOf({ reason: e.data.reason, endedBy: e.data.endedBy }, null, transferred) };
    }
    case 'ContactRejected':
      return { type: 'ENDED', agentId: null, endStatus: chatEndStatusOf(null, e.data.reason, false) };
    default:
      return null;
  }
}

/** The message event of a send, numbered after the messages so far. */
function messageRecorded(s: Live, m: NewChatMessage, from: 'AGENT' | 'CUSTOMER', agentId: string | null, now: string): ContactEvent {
  const kind = m.kind ?? 'TEXT';
  const attachment = m.attachment ?? null;
  const link = m.link ?? null;
  if (kind === 'LINK') {
    // The card as chat-link.ts defines it (the API parsed it with the same value); agents send cards, customers do not.
    if (from !== 'AGENT') throw new ValidationError('link', 'only agents send link cards');
    if (!link) throw new ValidationError('link', 'a LINK message carries a link');
    const problem = chatLinkProblem(link);
    if (problem) throw new ValidationError(problem.field, problem.message);
    if (attachment) throw new ValidationError('fileId', 'a LINK message carries no file (a mini program page names its cover as link.thumbFileId)');
  } else if (link) throw new ValidationError('link', `a ${kind} message carries no link`);
  if (kind === 'TEXT' && m.text === '') throw new ValidationError('text', 'a message needs text or a file');
  if (kind === 'TEXT' && attachment) throw new ValidationError('kind', 'a message with a file is an IMAGE or a FILE');
  if ((kind === 'IMAGE' || kind === 'FILE') && !attachment) throw new ValidationError('fileId', `an ${kind} message carries a file`);
  return {
    type: 'ContactMessageRecorded',
    data: {
      messageId: m.messageId,
      from,
      agentId: from === 'AGENT' ? agentId : null,
      text: m.text,
      at: now,
      seq: (s.messageCount ?? 0) + 1,
      clientMessageId: m.clientMessageId,
      kind,
      attachment,
      system: null,
      ...(link ? { link } : {}),
    },
  };
}

function decideCore(command: ContactCommand, state: ContactState): ContactEvent[] {
  const id = command.data.contactId;
  const now = command.metadata.now;
  switch (command.type) {
    case 'CreateContact': {
      // Creating again with the same id is a retry: nothing to do.
      if (state.status !== 'none') return [];
      const { contactId, channel, direction, customer, data, call, source } = command.data;
      if (source && channel !== 'ONLINE') throw new ValidationError('source', 'only web chats come from a web channel');
      const created: ContactEvent = { type: 'ContactCreated', data: { contactId, channel, direction, customer, data, createdAt: now, ...(source ? { source } : {}) } };
      if (!call) return [created];
      if (channel !== 'PHONE') throw new ValidationError('call', 'only phone contacts carry a call');
      return [created, { type: 'CallStarted', data: { ...call, at: now } }];
    }
    case 'RejectContact': {
      const s = open(state, id);
      if (s.status === 'connected') throw new ConflictError(`Contact ${id} is connected to an agent; end it instead`);
      return [{ type: 'ContactRejected', data: { reason: command.data.reason } }];
    }
    case 'StartFlow': {
      const s = open(state, id);
      if (s.status !== 'created') throw new ConflictError(`Contact ${id} is ${s.status}; a flow starts only on a new contact`);
      return [{ type: 'ContactFlowStarted', data: { flowId: command.data.flowId } }];
    }
    case 'PressKey': {
      open(state, id);
      return [{ type: 'ContactKeyPressed', data: { key: command.data.key, label: command.data.label, at: now } }];
    }
    case 'SetVariables': {
      open(state, id);
      return Object.keys(command.data.variables).length === 0 ? [] : [{ type: 'ContactVariablesSet', data: { variables: command.data.variables } }];
    }
    case 'QueueContact': {
      const s = open(state, id);
      if (s.status === 'queued' && s.skillGroupId === command.data.skillGroupId) return [];
      if (s.status !== 'created' && s.status !== 'inFlow') throw new ConflictError(`Contact ${id} is ${s.status} and cannot join a queue`);
      return [{ type: 'ContactQueued', data: { skillGroupId: command.data.skillGroupId, priority: command.data.priority, queuedAt: now } }];
    }
    case 'OverflowContact': {
      // After the wait limit: the contact moves to the overflow group's queue, joining it now.
      const s = open(state, id);
      if (s.status !== 'queued') throw new ConflictError(`Contact ${id} is ${s.status}, not waiting in a queue`);
      if (s.skillGroupId === command.data.toSkillGroupId) return [];
      return [{ type: 'ContactQueued', data: { skillGroupId: command.data.toSkillGroupId, priority: s.priority, queuedAt: now } }];
    }
    case 'OfferContact': {
      const s = open(state, id);
      if (s.status === 'offered' && s.offer.offerId === command.data.offerId) return [];
      if (s.status !== 'queued') throw new ConflictError(`Contact ${id} is ${s.status}, not waiting in a queue`);
      if (command.data.agentIds.length === 0) throw new ValidationError('agentIds', 'an offer goes to at least one agent');
      if (s.directAgentId && (command.data.agentIds.length !== 1 || command.data.agentIds[0] !== s.directAgentId)) {
        throw new ConflictError(`Contact ${id} was transferred to agent ${s.directAgentId}`);
      }
      const transfer: Transfer | null = s.pendingTransfer;
      return [{ type: 'ContactOffered', data: { offerId: command.data.offerId, agentIds: command.data.agentIds, expiresAt: command.data.expiresAt, transfer } }];
    }
    case 'AcceptOffer': {
      const s = open(state, id);
      const { offerId, agentId } = command.data;
      if (s.status === 'connected' && s.agentId === agentId) return [];
      if (s.status !== 'offered' || s.offer.offerId !== offerId || !s.offer.pendingAgentIds.includes(agentId)) {
        throw new ConflictError(`This offer of contact ${id} is no longer open to agent ${agentId}`);
      }
      if (Date.parse(now) >= Date.parse(s.offer.expiresAt)) throw new ConflictError(`The offer of contact ${id} timed out at ${s.offer.expiresAt}`);
      const others = s.offer.pendingAgentIds.filter((a) => a !== agentId);
      const events: ContactEvent[] = [{ type: 'ContactAccepted', data: { offerId, agentId, at: now } }];
      // RING_ALL: the first to accept wins; the other phones stop ringing.
      if (others.length > 0) events.unshift({ type: 'ContactOfferWithdrawn', data: { offerId, agentIds: others } });
      return events;
    }
    case 'DeclineOffer': {
      const s = open(state, id);
      const { offerId, agentId } = command.data;
      if (s.status !== 'offered' || s.offer.offerId !== offerId || !s.offer.pendingAgentIds.includes(agentId)) {
        throw new ConflictError(`This offer of contact ${id} is no longer open to agent ${agentId}`);
      }
      return [{ type: 'ContactOfferDeclined', data: { offerId, agentId } }];
    }
    case 'TimeOutOffer': {
      // Fired by a durable timer: late, early or twice, it changes only the offer it names, once.
      if (state.status !== 'offered' || state.offer.offerId !== command.data.offerId) return [];
      if (Date.parse(now) < Date.parse(state.offer.expiresAt)) return [];
      return [{ type: 'ContactOfferTimedOut', data: { offerId: command.data.offerId, agentIds: state.offer.pendingAgentIds } }];
    }
    case 'TransferContact': {
      const s = open(state, id);
      const { agentId, toAgentId, toSkillGroupId, note } = command.data;
      if (s.status !== 'connected' || s.agentId !== agentId) throw new ConflictError(`Agent ${agentId} does not hold contact ${id}`);
      if ((toAgentId === null) === (toSkillGroupId === null)) throw new ValidationError('to', 'transfer to an agent or to a skill group');
      if (toAgentId === agentId) throw new ValidationError('toAgentId', 'an agent cannot transfer a contact to themselves');
      if (s.consult) throw new ConflictError(`Contact ${id} has a consultation in progress: complete or cancel it first`);
      if (s.outbound) throw new ConflictError(`Contact ${id} is an outbound call; transferring outbound calls is not supported yet`);
      return [{ type: 'ContactTransferred', data: { fromAgentId: agentId, toAgentId, toSkillGroupId, note } }];
    }
    case 'EndContact': {
      const s = open(state, id);
      const { reason, endedBy, agentId } = command.data;
      if (endedBy === 'AGENT' && (s.status !== 'connected' || s.agentId !== agentId)) {
        throw new ConflictError(`Agent ${agentId ?? ''} does not hold contact ${id}`);
      }
      const servedBy = s.status === 'connected' ? s.agentId : agentId;
      return [{ type: 'ContactEnded', data: { reason, endedBy, agentId: servedBy, at: now } }];
    }
    case 'StartChat': {
      if (state.status !== 'none') return [];
      const { contactId, customer, data, source, skillGroupId, priority, reject, firstMessage } = command.data;
      const channel = command.data.channel ?? 'ONLINE';
      const events: ContactEvent[] = [{ type: 'ContactCreated', data: { contactId, channel, direction: 'IN', customer, data, createdAt: now, source } }];
      if (firstMessage) {
        const created = evolveContact(state, events[0]!) as Live;
        events.push(messageRecorded(created, firstMessage, 'CUSTOMER', null, now));
      }
      if (reject) events.push({ type: 'ContactRejected', data: { reason: reject } });
      else if (command.data.flowId) {
        const flowId = command.data.flowId;
        events.push({ type: 'ContactFlowStarted', data: { flowId } });
        const first = command.data.firstStep;
        if (first) {
          const started = events.reduce(evolveContact, state);
          const step: Extract<ContactCommand, { type: 'AdvanceChatFlow' }> = {
            type: 'AdvanceChatFlow',
            data: { contactId, flowId, version: first.version, fromStep: 0, actions: first.actions, position: first.position, message: null },
            metadata: command.metadata,
          };
          events.push(...decideChatFlowStep(step, started));
        }
      } else events.push({ type: 'ContactQueued', data: { skillGroupId, priority, queuedAt: now } });
      return events;
    }
    case 'AdvanceChatFlow':
      return decideChatFlowStep(command, state);
    case 'RecordMessage': {
      const s = live(state, id);
      const { from, agentId, clientMessageId } = command.data;
      if (from === 'AGENT' && !agentId) throw new ValidationError('agentId', "an agent's message names the agent");
      // A retried send: stored once, whatever happened since (even if the chat ended in between).
      if (clientMessageId !== null && sentMessageSeq(s.sentMessages, sentMessageKey(from, agentId, clientMessageId)) !== undefined) return [];
      const o = open(state, id);
      if (from === 'AGENT' && (o.status !== 'connected' || o.agentId !== agentId)) throw new ConflictError(`Agent ${agentId ?? ''} does not hold contact ${id}`);
      return [messageRecorded(o, command.data, from, agentId, now)];
    }
    case 'MarkMessagesRead': {
      const s = live(state, id);
      const { by, agentId, seq } = command.data;
      if (!Number.isSafeInteger(seq) || seq < 0) throw new ValidationError('seq', 'must be a whole number, 0 or more');
      if (seq > (s.messageCount ?? 0)) throw new ValidationError('seq', `the conversation has ${s.messageCount ?? 0} messages`);
      const last = by === 'AGENT' ? (s.agentLastReadSeq ?? 0) : (s.customerLastReadSeq ?? 0);
      if (seq <= last) return [];
      return [{ type: 'ContactMessagesRead', data: { by, agentId: by === 'AGENT' ? agentId : null, seq, at: now } }];
    }
    case 'EndIdleChat': {
      // Fired by a timer set from the agent's last message: only if that is still the last word and it is old enough.
      if (state.status !== 'connected' || state.channel !== 'ONLINE') return [];
      const { lastAgentMessageAt, idleSeconds } = command.data;
      if (state.lastAgentMessageAt !== lastAgentMessageAt) return [];
      if (state.lastCustomerMessageAt && Date.parse(state.lastCustomerMessageAt) >= Date.parse(lastAgentMessageAt)) return [];
      if (Date.parse(now) < Date.parse(lastAgentMessageAt) + idleSeconds * 1000) return [];
      return [{ type: 'ContactEnded', data: { reason: 'customerIdle', endedBy: 'SYSTEM', agentId: state.agentId, at: now } }];
    }
    case 'RingAgentLeg': {
      // The agent's device rings for an open offer; a stale offer (already answered elsewhere or timed out) changes nothing.
      const s = open(state, id);
      const { offerId, agentId, device, address } = command.data;
      if (!s.call) throw new ConflictError(`Contact ${id} is not a call`);
      // An outbound call's agent leg rings under the contact's id: there is no offer.
      if (s.status === 'connected' && s.outbound && offerId === id && agentId === s.agentId) {
        return [{ type: 'CallAgentLegRinging', data: { offerId, agentId, device, address, at: now } }];
      }
      if (s.status !== 'offered' || s.offer.offerId !== offerId || !s.offer.pendingAgentIds.includes(agentId)) return [];
      return [{ type: 'CallAgentLegRinging', data: { offerId, agentId, device, address, at: now } }];
    }
    case 'StartRecording': {
      const s = open(state, id);
      // Phone calls, and AV calls (one WebM per participant, issue 14).
      if (!s.call && s.channel !== 'AV') throw new ConflictError(`Contact ${id} is not a call`);
      if (s.recordingIds.includes(command.data.recordingId)) return [];
      return [{ type: 'CallRecordingStarted', data: { recordingId: command.data.recordingId, agentId: command.data.agentId, at: now } }];
    }
    case 'CompleteRecording': {
      // A recording is finished after the call has ended: allowed on an ended contact, once.
      const s = live(state, id);
      const { recordingId, durationMs, bytes } = command.data;
      if (!s.recordingIds.includes(recordingId)) throw new NotFoundError('Recording', recordingId);
      if (s.completedRecordingIds.includes(recordingId)) return [];
      return [{ type: 'CallRecordingCompleted', data: { recordingId, durationMs, bytes, at: now } }];
    }
    case 'HoldCall':
    case 'ResumeCall':
    case 'StartConsult':
    case 'AnswerConsult':
    case 'CancelConsult':
    case 'CompleteConsult':
      return decideCallControl(command, state);
    case 'StartOutboundCall': {
      // Starting again with the same id is a retry: nothing to do.
      if (state.status !== 'none') return [];
      const { contactId, agentId, skillGroupId, customer, data, call } = command.data;
      if (call.direction !== 'OUT') throw new ValidationError('call.direction', 'an outbound call goes OUT');
      return [
        { type: 'ContactCreated', data: { contactId, channel: 'PHONE', direction: 'OUT', customer, data, createdAt: now } },
        { type: 'CallStarted', data: { ...call, at: now } },
        { type: 'ContactAssigned', data: { agentId, skillGroupId, at: now } },
      ];
    }
    case 'AnswerAgentLeg': {
      const s = outboundCall(state, id);
      if (s.agentId !== command.data.agentId) throw new ConflictError(`Agent ${command.data.agentId} does not hold contact ${id}`);
      if (s.outbound.agentAnsweredAt) return [];
      return [{ type: 'CallAgentLegAnswered', data: { agentId: s.agentId, at: now } }];
    }
    case 'DialCustomer': {
      const s = outboundCall(state, id);
      if (!s.outbound.agentAnsweredAt) throw new ConflictError(`The agent has not answered contact ${id} yet; the customer is dialled after`);
      if (s.outbound.customerCallId === command.data.callId) return [];
      if (s.outbound.customerCallId) throw new ConflictError(`The customer of contact ${id} was already dialled`);
      return [{ type: 'CallCustomerDialled', data: { callId: command.data.callId, at: now } }];
    }
    case 'AnswerCustomerLeg': {
      const s = outboundCall(state, id);
      if (!s.outbound.customerCallId) throw new ConflictError(`The customer of contact ${id} has not been dialled`);
      if (s.outbound.customerAnsweredAt) return [];
      return [{ type: 'CallCustomerAnswered', data: { at: now } }];
    }
    case 'ReportMediaSilence': {
      const { side, agentId, silentSeconds } = command.data;
      const s = open(state, id);
      if (!s.call) throw new ConflictError(`Contact ${id} is not a call`);
      if (s.status !== 'connected') throw new ConflictError(`Contact ${id} is ${s.status}, not a connected call`);
      if (side === 'AGENT' && !agentId) throw new ValidationError('agentId', "an agent's side names the agent");
      if (!Number.isInteger(silentSeconds) || silentSeconds < 1) throw new ValidationError('silentSeconds', 'must be a whole number of seconds, at least 1');
      // Once per side (per agent for the agent's side): the alert is that it happened, not how long it lasted.
      if ((s.silentSides ?? []).includes(silentSideKey(side, agentId))) return [];
      return [{ type: 'CallMediaSilent', data: { side, agentId: side === 'AGENT' ? agentId : null, silentSeconds, at: now } }];
    }
    case 'RecordMediaFigures': {
      // Measured when a leg's part ends, which may be after the call has ended.
      const { side, agentId, figures } = command.data;
      const s = live(state, id);
      if (!s.call) throw new ConflictError(`Contact ${id} is not a call`);
      if (side === 'AGENT' && !agentId) throw new ValidationError('agentId', "an agent's side names the agent");
      checkFigures(figures);
      return [{ type: 'CallMediaMeasured', data: { side, agentId: side === 'AGENT' ? agentId : null, figures, at: now } }];
    }
    case 'RateContact':
      return decideRating(command, state);
    case 'SendReceptionPrompt':
      return decideReceptionPrompt(command, state);
    case 'RecordDeliveryFailure':
      return decideDeliveryFailure(command, state);
    default: {
      const unknown: never = command;
      throw new Error(`Unknown command ${(unknown as { type: string }).type}`);
    }
  }
}

function decideChatFlowStep(command: Extract<ContactCommand, { type: 'AdvanceChatFlow' }>, state: ContactState): ContactEvent[] {
  const id = command.data.contactId;
  const now = command.metadata.now;
  const { flowId, version, fromStep, actions, position } = command.data;
  const message = command.data.message ?? null;
  const s = live(state, id);
  if (s.channel !== 'ONLINE' || !s.source) throw new ConflictError(`Contact ${id} is not a web chat`);
  // The customer's message was recorded already, with the step it answered: a retry, nothing.
  if (message?.clientMessageId != null && sentMessageSeq(s.sentMessages, sentMessageKey('CUSTOMER', null, message.clientMessageId)) !== undefined) return [];
  const at = s.chatFlow?.step ?? 0;
  if (at !== fromStep) {
    // Taken already with the same outcome (a retry, or another process first): nothing.
    if (at === fromStep + 1 && s.chatFlow && sameFlowDocument(s.chatFlow.position, position)) return [];
    throw new ConflictError(`The chat ${id} moved on in its flow meanwhile`);
  }
  if (s.chatFlow && s.chatFlow.flowId !== flowId) throw new ConflictError(`The chat ${id} runs another flow`);
  const o = open(state, id);
  if (o.status !== 'created' && o.status !== 'inFlow') throw new ConflictError(`Contact ${id} is ${o.status}; its flow is over`);
  const events: ContactEvent[] = [];
  let cur: ContactState = o;
  const add = (e: ContactEvent) => {
    events.push(e);
    cur = evolveContact(cur, e);
  };
  if (message) add(messageRecorded(o, message, 'CUSTOMER', null, now));
  // The flow's messages right after the customer's, then the rest (a choice, variables, the route or end): one
  // run of messages the read model stores in one statement. Only route and end are ordered against messages
  // (they come last in a step), and nothing in a choice or a variable is what a message's seq depends on.
  const ordered = [...actions.filter((a) => a.type === 'send'), ...actions.filter((a) => a.type !== 'send')];
  for (const action of ordered) {
    switch (action.type) {
      case 'send': {
        const seq = ((cur as Live).messageCount ?? 0) + 1;
        if (action.link) {
          // A flow's link card (issue 13): a LINK message from SYSTEM, the card as agents' are (checked the same way).
          const link: ChatLink = { ...action.link, pagePath: null, thumbFileId: null };
          const problem = chatLinkProblem(link);
          if (problem) throw new ValidationError(problem.field, problem.message);
          add({
            type: 'ContactMessageRecorded',
            data: { messageId: `${id}:${seq}`, from: 'SYSTEM', agentId: null, text: '', at: now, seq, clientMessageId: null, kind: 'LINK', attachment: null, system: null, link },
          });
          break;
        }
        add({
          type: 'ContactMessageRecorded',
          data: {
            messageId: `${id}:${seq}`,
            from: 'SYSTEM',
            agentId: null,
            text: action.text ?? '',
            at: now,
            seq,
            clientMessageId: null,
            kind: 'TEXT',
            attachment: null,
            system: null,
            options: action.options,
            image: action.image,
          },
        });
        break;
      }
      case 'chosen':
        add({ type: 'ContactKeyPressed', data: { key: String(action.number), label: action.label, at: now } });
        break;
      case 'setVariable':
        add({ type: 'ContactVariablesSet', data: { variables: { [action.name]: action.value } } });
        break;
      case 'route':
        add({ type: 'ContactQueued', data: { skillGroupId: action.skillGroupId, priority: action.priority, queuedAt: now, ...(action.leftMessage ? { leftMessage: true } : {}) } });
        break;
      case 'end':
        add({ type: 'ContactEnded', data: { reason: action.reason, endedBy: 'SYSTEM', agentId: null, at: now } });
        break;
      default: {
        const unknown: never = action;
        throw new Error(`Unknown chat flow action ${(unknown as { type: string }).type}`);
      }
    }
  }
  events.push({ type: 'ContactChatFlowAdvanced', data: { flowId, version, step: fromStep + 1, position } });
  return events;
}

function decideRating(command: Extract<ContactCommand, { type: 'RateContact' }>, state: ContactState): ContactEvent[] {
  const id = command.data.contactId;
  const { value, comment, by, key, survey } = command.data;
  const s = live(state, id);
  if (!surveyOn(survey, s.channel)) throw new ConflictError(`Satisfaction surveys are off for ${s.channel} contacts`);
  if (s.status === 'rejected') throw new ConflictError(`Contact ${id} was turned away (${s.reason}); there is nothing to rate`);
  if (s.status !== 'ended') throw new ConflictError(`Contact ${id} has not ended yet; it is rated after it ends`);
  if (s.rating) throw new ConflictError(`Contact ${id} was already rated (${s.rating.value} ${s.rating.label})`);
  const entry = scaleEntryOf(survey, value);
  if (!entry) throw new ValidationError('value', `not on the rating scale (${survey.scale.map((e) => e.value).join(', ')})`);
  if (comment !== null && comment.length > maxRatingCommentLength) throw new ValidationError('comment', `at most ${maxRatingCommentLength} characters`);
  if (by === 'KEYPAD' && (key === null || !/^[0-9*#]$/.test(key))) throw new ValidationError('key', 'a keypad rating names the key pressed (0-9, * or #)');
  const text = comment?.trim() ?? '';
  return [{ type: 'ContactRated', data: { value, label: entry.label, comment: text === '' ? null : text, by, key: by === 'KEYPAD' ? key : null, at: command.metadata.now } }];
}

/** Counters are whole and not negative; jitter is a finite, non-negative number of milliseconds. */
function checkFigures(f: MediaFigures): void {
  const counts: [string, number][] = [
    ['figures.packetsReceived', f.packetsReceived],
    ['figures.packetsSent', f.packetsSent],
    ['figures.packetsLost', f.packetsLost],
    ['figures.silentSeconds', f.silentSeconds],
    ...Object.entries(f.dropped).map(([reason, n]): [string, number] => [`figures.dropped.${reason}`, n]),
  ];
  for (const [field, n] of counts) {
    if (!Number.isSafeInteger(n) || n < 0) throw new ValidationError(field, 'must be a whole number, 0 or more');
  }
  if (!Number.isFinite(f.jitterMs) || f.jitterMs < 0) throw new ValidationError('figures.jitterMs', 'must be a number of milliseconds, 0 or more');
}

export const contactDecider = { initialState: initialContactState, evolve: evolveContact, decide: decideContact };
