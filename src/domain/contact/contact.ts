import type { DomainEvent } from '../decider.ts';
import type { Channel } from '../skill-group/skill-group.ts';

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

export type ContactEvent =
  | DomainEvent<
      'ContactCreated',
      { contactId: string; channel: Channel; direction: Direction; customer: Customer; data: Record<string, string>; createdAt: string }
    >
  | DomainEvent<'ContactRejected', { reason: RejectReason }>
  | DomainEvent<'ContactFlowStarted', { flowId: string | null }>
  | DomainEvent<'ContactKeyPressed', KeyPress>
  | DomainEvent<'ContactVariablesSet', { variables: Record<string, string> }>
  | DomainEvent<'ContactQueued', { skillGroupId: string; priority: number; queuedAt: string }>
  | DomainEvent<'ContactOffered', { offerId: string; agentIds: string[]; expiresAt: string; transfer: Transfer | null }>
  | DomainEvent<'ContactOfferDeclined', { offerId: string; agentId: string }>
  | DomainEvent<'ContactOfferTimedOut', { offerId: string; agentIds: string[] }>
  | DomainEvent<'ContactOfferWithdrawn', { offerId: string; agentIds: string[] }>
  | DomainEvent<'ContactAccepted', { offerId: string; agentId: string; at: string }>
  | DomainEvent<'ContactTransferred', { fromAgentId: string; toAgentId: string | null; toSkillGroupId: string | null; note: string | null }>
  | DomainEvent<'ContactMessageRecorded', { messageId: string; from: 'AGENT' | 'CUSTOMER'; agentId: string | null; text: string; at: string }>
  | DomainEvent<'ContactEnded', { reason: string; endedBy: EndedBy; agentId: string | null; at: string }>
  | DomainEvent<'CallStarted', CallInfo & { at: string }>
  | DomainEvent<'CallAgentLegRinging', { offerId: string; agentId: string; device: AgentDevice; address: string; at: string }>
  | DomainEvent<'CallRecordingStarted', { recordingId: string; agentId: string | null; at: string }>
  | DomainEvent<'CallRecordingCompleted', { recordingId: string; durationMs: number; bytes: number; at: string }>;

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
  | (Common & { status: 'connected'; skillGroupId: string; priority: number; queuedAt: string; agentId: string })
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
  };
}

export function evolveContact(state: ContactState, event: ContactEvent): ContactState {
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
      return { ...c, status: 'queued', skillGroupId: event.data.skillGroupId, priority: event.data.priority, queuedAt: event.data.queuedAt };
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
        skillGroupId: event.data.toSkillGroupId ?? state.skillGroupId,
        pendingTransfer: transfer,
        directAgentId: event.data.toAgentId,
        triedAgentIds: [event.data.fromAgentId],
      };
    }
    case 'ContactMessageRecorded':
      return event.data.from === 'AGENT' ? { ...state, lastAgentMessageAt: event.data.at } : { ...state, lastCustomerMessageAt: event.data.at };
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
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}
