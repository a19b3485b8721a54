// callRecords: one row per phone call (a contact with a CallStarted), as contact center users know a call
// record (CCC's TelCdrInfo): numbers, the times of each stage and their durations, how it ended and who
// hung up, the skill groups, the serving agent, the keys pressed, the recording, and one leg per agent it
// rang. Contacts without a call are ignored. Every handler is idempotent: applied twice, the row is the same.
import type { Selectable, Transaction, Updateable } from 'kysely';
import type { AgentDevice, ContactEvent, MediaFigures, RejectReason } from '../../domain/contact/contact.ts';
import type { Projection } from '../projection.ts';
import { ratingRecord } from '../chat-records/chat-records.projection.ts';
import type { ReadModelDb } from '../read-model-db.ts';

export type CallRecordRow = Selectable<ReadModelDb['call_records']>;
export type CallRecordingRow = Selectable<ReadModelDb['call_recordings']>;

/** A call record changed (for a future subscription): `{ contactId }`. */
export const callRecordsTopic = (instanceId: string) => `kefu.${instanceId}.callRecords`;

export type CallLegResult = 'ANSWERED' | 'NO_ANSWER' | 'DECLINED' | 'WITHDRAWN' | 'CANCELLED';

/** One agent leg: an agent's device rang for an offer of the call (CCC's "serve participant"). */
export interface CallLeg {
  /** 1, 2, … in the order the agents were offered the call. */
  sequence: number;
  agentId: string;
  offerId: string;
  /** The skill group the call was offered from. */
  skillGroupId: string | null;
  device: AgentDevice;
  /** The SIP address or number that rang, once the media side reports it. */
  address: string | null;
  ringAt: string;
  acceptAt: string | null;
  endAt: string | null;
  /** Null while it rings; ANSWERED from the accept on (endAt set when the agent's part ends). */
  result: CallLegResult | null;
  transferredFromAgentId: string | null;
  transferredToAgentId: string | null;
  transferredToSkillGroupId: string | null;
  /** OFFER: rang for an offer from the queue; CONSULT: rang for a warm transfer (offerId = the consultation). Absent on older rows: OFFER. */
  kind?: CallLegKind;
  /** The customer's hold time while this agent served the call, closed holds only (ms); absent = 0. */
  holdMs?: number;
  holdCount?: number;
  /** When the hold in progress began (null when not on hold). */
  heldAt?: string | null;
  /** What the agent's device sent and Kefu received, measured when this leg's part ended (issue 9). */
  media?: MeasuredMedia | null;
  /** When Kefu reported this agent's side silent while connected. */
  silentAt?: string | null;
}

/** Media figures with the time they were measured (which also makes the handler idempotent). */
export type MeasuredMedia = MediaFigures & { measuredAt: string };

export type CallLegKind = 'OFFER' | 'CONSULT';

export interface CallKey {
  key: string;
  label: string | null;
  at: string;
}

/** The end status CCC users know for a contact turned away before any agent. */
export const rejectEndStatus: Record<RejectReason, string> = {
  BLACKLISTED: 'blacklisted',
  NO_AGENT: 'noAgentOnline',
  AFTER_HOURS: 'afterHours',
  QUEUE_FULL: 'queueFull',
  QUEUE_TIMEOUT: 'queueTimeout',
};

type Trx = Transaction<ReadModelDb>;
type Of<T extends ContactEvent['type']> = Extract<ContactEvent, { type: T }>['data'];
type Patch = Updateable<ReadModelDb['call_records']>;
interface Ref {
  instanceId: string;
  contactId: string;
  /** When the event happened (metadata.occurredAt), for events without their own time. */
  at: string;
}

const handled: ContactEvent['type'][] = [
  'ContactCreated',
  'CallStarted',
  'ContactRejected',
  'ContactFlowStarted',
  'ContactKeyPressed',
  'ContactQueued',
  'ContactOffered',
  'ContactOfferDeclined',
  'ContactOfferTimedOut',
  'ContactOfferWithdrawn',
  'ContactAccepted',
  'ContactTransferred',
  'ContactEnded',
  'CallAgentLegRinging',
  'CallRecordingStarted',
  'CallRecordingCompleted',
  'CallHeld',
  'CallResumed',
  'ConsultStarted',
  'ConsultAnswered',
  'ConsultCancelled',
  'ConsultCompleted',
  'ContactAssigned',
  'CallAgentLegAnswered',
  'CallCustomerDialled',
  'CallCustomerAnswered',
  'CallMediaSilent',
  'CallMediaMeasured',
  'ContactRated',
];

/**
 * Contacts known to be no call (issue 12): a chat (channel ONLINE) never gets a CallStarted (only CreateContact
 * and StartOutboundCall of a PHONE contact record one, in the append that creates it) nor a recording (an AV
 * call's are projected here), so its queue, flow, key and end events leave it alone without reading for a row that is not
 * there (a chat flow's steps on the send path). A fact of the event log, kept whether the batch commits or
 * not; forgotten by reset (a runner starting, a rebuild). Bounded: past maxKnownChats the oldest go (their
 * events read for the row again).
 */
const knownChats = new Set<string>();
const maxKnownChats = 50_000;
const chatKey = (ref: Ref) => `${ref.instanceId}/${ref.contactId}`;

export const callRecordsProjection: Projection = {
  name: 'callRecords',
  tables: ['call_records', 'call_recordings'],
  eventTypes: new Set(handled),
  reset() {
    knownChats.clear();
  },
  async apply(trx, e, changes) {
    const event = { type: e.type, data: e.data } as ContactEvent;
    const ref: Ref = { instanceId: e.metadata.instanceId, contactId: e.streamId.slice(e.streamId.indexOf('.') + 1), at: e.metadata.occurredAt };
    if (event.type === 'ContactCreated') {
      // Chats only: an AV call (channel AV) has no CallStarted but its recordings are rows of call_recordings.
      if (event.data.channel === 'ONLINE') {
        if (knownChats.size >= maxKnownChats) knownChats.delete(knownChats.values().next().value!);
        knownChats.add(chatKey(ref));
      }
      return;
    }
    if (event.type !== 'CallStarted' && knownChats.has(chatKey(ref))) return;
    const changed = await project(trx, ref, event);
    if (changed) changes.publish(callRecordsTopic(ref.instanceId), { contactId: ref.contactId });
  },
};

/** Applies one event; true when a call record (or recording) may have changed. */
function project(trx: Trx, ref: Ref, event: ContactEvent): Promise<boolean> {
  switch (event.type) {
    case 'CallStarted':
      return projectCallStarted(trx, ref, event.data);
    case 'ContactRejected':
      return projectContactRejected(trx, ref, event.data);
    case 'ContactFlowStarted':
      return projectContactFlowStarted(trx, ref, event.data);
    case 'ContactKeyPressed':
      return projectContactKeyPressed(trx, ref, event.data);
    case 'ContactQueued':
      return projectContactQueued(trx, ref, event.data);
    case 'ContactOffered':
      return projectContactOffered(trx, ref, event.data);
    case 'ContactOfferDeclined':
      return projectContactOfferDeclined(trx, ref, event.data);
    case 'ContactOfferTimedOut':
      return projectContactOfferTimedOut(trx, ref, event.data);
    case 'ContactOfferWithdrawn':
      return projectContactOfferWithdrawn(trx, ref, event.data);
    case 'ContactAccepted':
      return projectContactAccepted(trx, ref, event.data);
    case 'ContactTransferred':
      return projectContactTransferred(trx, ref, event.data);
    case 'ContactEnded':
      return projectContactEnded(trx, ref, event.data);
    case 'CallAgentLegRinging':
      return projectCallAgentLegRinging(trx, ref, event.data);
    case 'CallRecordingStarted':
      return projectCallRecordingStarted(trx, ref, event.data);
    case 'CallRecordingCompleted':
      return projectCallRecordingCompleted(trx, ref, event.data);
    case 'CallHeld':
      return projectCallHeld(trx, ref, event.data);
    case 'CallResumed':
      return projectCallResumed(trx, ref, event.data);
    case 'ConsultStarted':
      return projectConsultStarted(trx, ref, event.data);
    case 'ConsultAnswered':
      return projectConsultAnswered(trx, ref, event.data);
    case 'ConsultCancelled':
      return projectConsultCancelled(trx, ref, event.data);
    case 'ConsultCompleted':
      return projectConsultCompleted(trx, ref, event.data);
    case 'ContactAssigned':
      return projectContactAssigned(trx, ref, event.data);
    case 'CallAgentLegAnswered':
      return projectCallAgentLegAnswered(trx, ref, event.data);
    case 'CallCustomerDialled':
      return projectCallCustomerDialled(trx, ref, event.data);
    case 'CallCustomerAnswered':
      return projectCallCustomerAnswered(trx, ref, event.data);
    case 'CallMediaSilent':
      return projectCallMediaSilent(trx, ref, event.data);
    case 'CallMediaMeasured':
      return projectCallMediaMeasured(trx, ref, event.data);
    case 'ContactRated':
      // Issue 12: the post-call keypad survey's rating (once; a repeat writes the same value).
      return patchRow(trx, ref, () => ({ satisfaction: JSON.stringify(ratingRecord(event.data)) }));
    case 'ContactCreated':
      // Seen in apply (which contacts are no call); the CallStarted that follows a phone contact's makes the row.
      return Promise.resolve(false);
    case 'ContactVariablesSet':
    case 'ContactMessageRecorded':
    case 'ContactMessagesRead':
    case 'ContactChatFlowAdvanced':
      // Not part of a call record.
      return Promise.resolve(false);
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}

/** Reads the call's row, lets `change` compute a patch from it, and writes it. No row (not a call): nothing. */
async function patchRow(trx: Trx, ref: Ref, change: (row: CallRecordRow) => Patch | null): Promise<boolean> {
  const row = await trx
    .selectFrom('call_records')
    .selectAll()
    .where('instance_id', '=', ref.instanceId)
    .where('contact_id', '=', ref.contactId)
    .executeTakeFirst();
  if (!row) return false;
  const patch = change(row);
  if (!patch) return false;
  await trx
    .updateTable('call_records')
    .set({ ...patch, updated_at: ref.at })
    .where('instance_id', '=', ref.instanceId)
    .where('contact_id', '=', ref.contactId)
    .execute();
  return true;
}

const iso = (v: Date | string) => new Date(v).toISOString();

/** Whole seconds from `from` to `to` (never negative); null when the stage did not happen. */
export function secondsBetween(from: Date | string | null, to: Date | string | null): number | null {
  if (!from || !to) return null;
  return Math.max(0, Math.round((new Date(to).getTime() - new Date(from).getTime()) / 1000));
}

type Times = Pick<CallRecordRow, 'flow_started_at' | 'queued_at' | 'ring_at' | 'accepted_at'>;

/** The stage durations of an ended call: IVR until queued, queue and ring until accepted, talk until the end. */
export function callDurations(r: Times, endedAt: string) {
  return {
    ivr_seconds: secondsBetween(r.flow_started_at, r.queued_at ?? endedAt),
    queue_seconds: secondsBetween(r.queued_at, r.accepted_at ?? endedAt),
    ring_seconds: secondsBetween(r.ring_at, r.accepted_at ?? endedAt),
    talk_seconds: secondsBetween(r.accepted_at, endedAt),
  };
}

function withAgents(row: CallRecordRow, agentIds: string[]): string[] | undefined {
  const merged = [...new Set([...row.agent_ids, ...agentIds])];
  return merged.length === row.agent_ids.length ? undefined : merged;
}

/** Legs with those matching `match` changed by `change`; null when none matched. */
function updateLegs(legs: CallLeg[], match: (leg: CallLeg) => boolean, change: (leg: CallLeg) => Partial<CallLeg>): CallLeg[] | null {
  let hit = false;
  const out = legs.map((leg) => {
    if (!match(leg)) return leg;
    hit = true;
    return { ...leg, ...change(leg) };
  });
  return hit ? out : null;
}

/** When the call ends: the answered leg still open ends, legs still ringing are cancelled, a hold in progress ends. */
function closeOpenLegs(legs: CallLeg[], at: string): CallLeg[] {
  return endHold(legs, at).map((leg) => {
    if (leg.result === null) return { ...leg, result: 'CANCELLED', endAt: at };
    if (leg.result === 'ANSWERED' && leg.endAt === null) return { ...leg, endAt: at };
    return leg;
  });
}

function newLeg(legs: CallLeg[], fields: Pick<CallLeg, 'agentId' | 'offerId' | 'skillGroupId' | 'ringAt' | 'transferredFromAgentId'>): CallLeg {
  return {
    sequence: legs.length + 1,
    device: 'SIP_PHONE',
    address: null,
    acceptAt: null,
    endAt: null,
    result: null,
    transferredToAgentId: null,
    transferredToSkillGroupId: null,
    ...fields,
  };
}

async function projectCallStarted(trx: Trx, ref: Ref, d: Of<'CallStarted'>): Promise<boolean> {
  const r = await trx
    .insertInto('call_records')
    .values({
      instance_id: ref.instanceId,
      contact_id: ref.contactId,
      call_id: d.callId,
      direction: d.direction,
      caller: d.from,
      callee: d.to,
      trunk_id: d.trunkId,
      node: d.node,
      started_at: d.at,
      keys: '[]',
      legs: '[]',
      updated_at: ref.at,
    })
    .onConflict((c) => c.columns(['instance_id', 'contact_id']).doNothing())
    .executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0n) > 0;
}

function projectContactFlowStarted(trx: Trx, ref: Ref, d: Of<'ContactFlowStarted'>) {
  return patchRow(trx, ref, (row) => ({ flow_id: row.flow_id ?? d.flowId, flow_started_at: row.flow_started_at ?? ref.at }));
}

function projectContactKeyPressed(trx: Trx, ref: Ref, d: Of<'ContactKeyPressed'>) {
  return patchRow(trx, ref, (row) => {
    const keys = row.keys;
    if (keys.some((k) => k.at === d.at && k.key === d.key)) return null;
    return { keys: JSON.stringify([...keys, { key: d.key, label: d.label, at: d.at } satisfies CallKey]) };
  });
}

function projectContactQueued(trx: Trx, ref: Ref, d: Of<'ContactQueued'>) {
  // The first queue is the one the call record names; an overflow moves the current one.
  return patchRow(trx, ref, (row) => ({
    queued_at: row.queued_at ?? d.queuedAt,
    skill_group_id: row.skill_group_id ?? d.skillGroupId,
    current_skill_group_id: d.skillGroupId,
  }));
}

function projectContactOffered(trx: Trx, ref: Ref, d: Of<'ContactOffered'>) {
  return patchRow(trx, ref, (row) => {
    const legs = [...row.legs];
    for (const agentId of d.agentIds) {
      if (legs.some((l) => l.offerId === d.offerId && l.agentId === agentId)) continue;
      legs.push(
        newLeg(legs, {
          agentId,
          offerId: d.offerId,
          skillGroupId: row.current_skill_group_id,
          ringAt: ref.at,
          transferredFromAgentId: d.transfer?.fromAgentId ?? null,
        }),
      );
    }
    const agentIds = withAgents(row, d.agentIds);
    return { legs: JSON.stringify(legs), ring_at: row.ring_at ?? ref.at, ...(agentIds ? { agent_ids: agentIds } : {}) };
  });
}

function endRinging(trx: Trx, ref: Ref, offerId: string, agentIds: string[], result: CallLegResult) {
  return patchRow(trx, ref, (row) => {
    const legs = updateLegs(row.legs, (l) => l.offerId === offerId && agentIds.includes(l.agentId) && l.result === null, () => ({ result, endAt: ref.at }));
    return legs ? { legs: JSON.stringify(legs) } : null;
  });
}

function projectContactOfferDeclined(trx: Trx, ref: Ref, d: Of<'ContactOfferDeclined'>) {
  return endRinging(trx, ref, d.offerId, [d.agentId], 'DECLINED');
}

function projectContactOfferTimedOut(trx: Trx, ref: Ref, d: Of<'ContactOfferTimedOut'>) {
  return endRinging(trx, ref, d.offerId, d.agentIds, 'NO_ANSWER');
}

function projectContactOfferWithdrawn(trx: Trx, ref: Ref, d: Of<'ContactOfferWithdrawn'>) {
  return endRinging(trx, ref, d.offerId, d.agentIds, 'WITHDRAWN');
}

function projectContactAccepted(trx: Trx, ref: Ref, d: Of<'ContactAccepted'>) {
  return patchRow(trx, ref, (row) => {
    const mine = (l: CallLeg) => l.offerId === d.offerId && l.agentId === d.agentId;
    const legs = row.legs.some(mine)
      ? row.legs
      : [...row.legs, newLeg(row.legs, { agentId: d.agentId, offerId: d.offerId, skillGroupId: row.current_skill_group_id, ringAt: d.at, transferredFromAgentId: null })];
    const answered = updateLegs(legs, (l) => mine(l) && (l.result === null || l.result === 'ANSWERED'), (l) => ({ result: 'ANSWERED', acceptAt: l.acceptAt ?? d.at })) ?? legs;
    const leg = answered.find(mine)!;
    const agentIds = withAgents(row, [d.agentId]);
    return {
      legs: JSON.stringify(answered),
      agent_id: d.agentId,
      accepted_at: row.accepted_at ?? d.at,
      served_skill_group_id: leg.skillGroupId ?? row.current_skill_group_id,
      ...(agentIds ? { agent_ids: agentIds } : {}),
    };
  });
}

function projectContactTransferred(trx: Trx, ref: Ref, d: Of<'ContactTransferred'>) {
  return patchRow(trx, ref, (row) => {
    const legs =
      updateLegs(
        row.legs,
        (l) => l.agentId === d.fromAgentId && l.result === 'ANSWERED' && l.endAt === null,
        () => ({ endAt: ref.at, transferredToAgentId: d.toAgentId, transferredToSkillGroupId: d.toSkillGroupId }),
      ) ?? row.legs;
    return { legs: JSON.stringify(legs), current_skill_group_id: d.toSkillGroupId ?? row.current_skill_group_id };
  });
}

function projectContactEnded(trx: Trx, ref: Ref, d: Of<'ContactEnded'>) {
  return patchRow(trx, ref, (row) => ({
    legs: JSON.stringify(closeOpenLegs(row.legs, d.at)),
    end_status: d.reason,
    ended_by: d.endedBy,
    ended_at: d.at,
    ...callDurations(row, d.at),
  }));
}

function projectContactRejected(trx: Trx, ref: Ref, d: Of<'ContactRejected'>) {
  return patchRow(trx, ref, (row) => ({
    legs: JSON.stringify(closeOpenLegs(row.legs, ref.at)),
    end_status: rejectEndStatus[d.reason],
    ended_by: 'SYSTEM',
    ended_at: ref.at,
    ...callDurations(row, ref.at),
  }));
}

function projectCallAgentLegRinging(trx: Trx, ref: Ref, d: Of<'CallAgentLegRinging'>) {
  return patchRow(trx, ref, (row) => {
    const mine = (l: CallLeg) => l.offerId === d.offerId && l.agentId === d.agentId;
    const legs = row.legs.some(mine)
      ? row.legs
      : [...row.legs, newLeg(row.legs, { agentId: d.agentId, offerId: d.offerId, skillGroupId: row.current_skill_group_id, ringAt: d.at, transferredFromAgentId: null })];
    const rung = updateLegs(legs, mine, () => ({ device: d.device, address: d.address })) ?? legs;
    const agentIds = withAgents(row, [d.agentId]);
    const ringAt = row.ring_at && iso(row.ring_at) <= d.at ? row.ring_at : d.at;
    return { legs: JSON.stringify(rung), ring_at: ringAt, ...(agentIds ? { agent_ids: agentIds } : {}) };
  });
}

async function projectCallRecordingStarted(trx: Trx, ref: Ref, d: Of<'CallRecordingStarted'>) {
  // The record names the call's first recording; call_recordings holds each of them.
  const recorded = await patchRow(trx, ref, (row) => (row.recording_id ? null : { recording_id: d.recordingId, recording_status: 'RECORDING' }));
  const r = await trx
    .insertInto('call_recordings')
    .values({ instance_id: ref.instanceId, id: d.recordingId, contact_id: ref.contactId, agent_id: d.agentId, status: 'RECORDING', started_at: d.at })
    .onConflict((c) => c.columns(['instance_id', 'id']).doNothing())
    .executeTakeFirst();
  return recorded || Number(r.numInsertedOrUpdatedRows ?? 0n) > 0;
}

async function projectCallRecordingCompleted(trx: Trx, ref: Ref, d: Of<'CallRecordingCompleted'>) {
  const r = await trx
    .updateTable('call_recordings')
    .set({ status: 'READY', completed_at: d.at, duration_ms: d.durationMs, bytes: d.bytes })
    .where('instance_id', '=', ref.instanceId)
    .where('id', '=', d.recordingId)
    .executeTakeFirst();
  const recorded = await patchRow(trx, ref, (row) =>
    row.recording_id === d.recordingId ? { recording_status: 'READY', recording_duration_ms: d.durationMs, recording_bytes: d.bytes } : null,
  );
  return recorded || Number(r.numUpdatedRows) > 0;
}

// Call control (PH-4): the hold time goes to the leg of the agent serving the call when the hold began;
// a consultation is a leg of its own (kind CONSULT) that, once completed, serves the call.

/** The leg serving the call now: the serving agent's answered leg that has not ended. */
const servingLeg = (row: CallRecordRow) => (l: CallLeg) => l.agentId === row.agent_id && l.result === 'ANSWERED' && l.endAt === null;

/** Legs with the hold in progress closed at `at`: its time is added to holdMs. */
function endHold(legs: CallLeg[], at: string): CallLeg[] {
  return (
    updateLegs(
      legs,
      (l) => !!l.heldAt,
      (l) => ({ heldAt: null, holdMs: (l.holdMs ?? 0) + Math.max(0, Date.parse(at) - Date.parse(l.heldAt!)) }),
    ) ?? legs
  );
}

function projectCallHeld(trx: Trx, ref: Ref, d: Of<'CallHeld'>) {
  return patchRow(trx, ref, (row) => {
    if (row.legs.some((l) => l.heldAt)) return null;
    const legs = updateLegs(row.legs, servingLeg(row), (l) => ({ heldAt: d.at, holdCount: (l.holdCount ?? 0) + 1 }));
    return legs ? { legs: JSON.stringify(legs) } : null;
  });
}

function projectCallResumed(trx: Trx, ref: Ref, d: Of<'CallResumed'>) {
  return patchRow(trx, ref, (row) => (row.legs.some((l) => l.heldAt) ? { legs: JSON.stringify(endHold(row.legs, d.at)) } : null));
}

function projectConsultStarted(trx: Trx, ref: Ref, d: Of<'ConsultStarted'>) {
  return patchRow(trx, ref, (row) => {
    if (row.legs.some((l) => l.offerId === d.consultId)) return null;
    const leg: CallLeg = {
      ...newLeg(row.legs, { agentId: d.toAgentId, offerId: d.consultId, skillGroupId: row.current_skill_group_id, ringAt: d.at, transferredFromAgentId: d.fromAgentId }),
      kind: 'CONSULT',
    };
    const agentIds = withAgents(row, [d.toAgentId]);
    return { legs: JSON.stringify([...row.legs, leg]), ...(agentIds ? { agent_ids: agentIds } : {}) };
  });
}

function projectConsultAnswered(trx: Trx, ref: Ref, d: Of<'ConsultAnswered'>) {
  return patchRow(trx, ref, (row) => {
    const legs = updateLegs(
      row.legs,
      (l) => l.offerId === d.consultId && l.result === null,
      () => ({ result: 'ANSWERED', acceptAt: d.at, device: d.device, address: d.address }),
    );
    return legs ? { legs: JSON.stringify(legs) } : null;
  });
}

const consultLegResult: Record<Of<'ConsultCancelled'>['reason'], CallLegResult> = {
  CANCELLED: 'CANCELLED',
  NO_ANSWER: 'NO_ANSWER',
  DECLINED: 'DECLINED',
  TARGET_HUNG_UP: 'CANCELLED',
  TARGET_UNAVAILABLE: 'CANCELLED',
};

function projectConsultCancelled(trx: Trx, ref: Ref, d: Of<'ConsultCancelled'>) {
  return patchRow(trx, ref, (row) => {
    const legs = updateLegs(
      row.legs,
      (l) => l.offerId === d.consultId && l.endAt === null,
      (l) => ({ endAt: d.at, result: l.result ?? consultLegResult[d.reason] }),
    );
    return legs ? { legs: JSON.stringify(legs) } : null;
  });
}

function projectConsultCompleted(trx: Trx, ref: Ref, d: Of<'ConsultCompleted'>) {
  return patchRow(trx, ref, (row) => {
    if (row.agent_id === d.toAgentId) return null;
    // The consulting agent's part ends now (its hold, if any, with it); the consultation leg serves the call.
    const closed = endHold(row.legs, d.at);
    const legs =
      updateLegs(
        closed,
        (l) => l.agentId === d.fromAgentId && l.result === 'ANSWERED' && l.endAt === null && l.offerId !== d.consultId,
        () => ({ endAt: d.at, transferredToAgentId: d.toAgentId }),
      ) ?? closed;
    return { legs: JSON.stringify(legs), agent_id: d.toAgentId };
  });
}

// Outbound calls (PH-2). The record reads caller = the number called from, callee = the customer; its one
// leg is the agent's (offerId = the contact id), rung first; acceptedAt is when the customer answered, so
// ringSeconds covers both legs ringing and talkSeconds the conversation.

function projectContactAssigned(trx: Trx, ref: Ref, d: Of<'ContactAssigned'>) {
  return patchRow(trx, ref, (row) => {
    if (row.legs.some((l) => l.offerId === ref.contactId && l.agentId === d.agentId)) return null;
    const legs = [...row.legs, newLeg(row.legs, { agentId: d.agentId, offerId: ref.contactId, skillGroupId: d.skillGroupId, ringAt: d.at, transferredFromAgentId: null })];
    const agentIds = withAgents(row, [d.agentId]);
    return {
      legs: JSON.stringify(legs),
      agent_id: d.agentId,
      skill_group_id: row.skill_group_id ?? d.skillGroupId,
      current_skill_group_id: d.skillGroupId,
      served_skill_group_id: d.skillGroupId,
      ...(agentIds ? { agent_ids: agentIds } : {}),
    };
  });
}

function projectCallAgentLegAnswered(trx: Trx, ref: Ref, d: Of<'CallAgentLegAnswered'>) {
  return patchRow(trx, ref, (row) => {
    const legs = updateLegs(row.legs, (l) => l.offerId === ref.contactId && l.agentId === d.agentId && l.result === null, () => ({ result: 'ANSWERED', acceptAt: d.at }));
    return legs ? { legs: JSON.stringify(legs) } : null;
  });
}

function projectCallCustomerDialled(trx: Trx, ref: Ref, d: Of<'CallCustomerDialled'>) {
  // The customer's leg has its own SIP Call-ID; until it is dialled the record holds a placeholder.
  return patchRow(trx, ref, (row) => (row.call_id === d.callId ? null : { call_id: d.callId }));
}

function projectCallCustomerAnswered(trx: Trx, ref: Ref, d: Of<'CallCustomerAnswered'>) {
  return patchRow(trx, ref, (row) => (row.accepted_at ? null : { accepted_at: d.at }));
}

// Media (issue 9): which sides went silent while connected (a column a supervisor filters on, and the agent's
// leg), and each leg's figures: the customer's on the record, an agent's on that agent's answered leg.

const answeredBy = (agentId: string | null) => (l: CallLeg) => l.agentId === agentId && l.result === 'ANSWERED';

function projectCallMediaSilent(trx: Trx, ref: Ref, d: Of<'CallMediaSilent'>) {
  return patchRow(trx, ref, (row) => {
    const sides = row.silent_sides.includes(d.side) ? undefined : [...row.silent_sides, d.side];
    let legs: CallLeg[] | null = null;
    if (d.side === 'AGENT') {
      // The agent's part in progress when it went silent: their last answered leg.
      const last = row.legs.findLastIndex(answeredBy(d.agentId));
      if (last >= 0 && !row.legs[last]!.silentAt) legs = row.legs.map((l, i) => (i === last ? { ...l, silentAt: d.at } : l));
    }
    if (!sides && !legs) return null;
    return { ...(sides ? { silent_sides: sides } : {}), ...(legs ? { legs: JSON.stringify(legs) } : {}) };
  });
}

function projectCallMediaMeasured(trx: Trx, ref: Ref, d: Of<'CallMediaMeasured'>) {
  const measured: MeasuredMedia = { ...d.figures, measuredAt: d.at };
  return patchRow(trx, ref, (row) => {
    if (d.side === 'CUSTOMER') {
      // The customer's leg lasts the whole call: its latest figures are the call's.
      const current = row.customer_media;
      if (current && current.measuredAt >= d.at) return null;
      return { customer_media: JSON.stringify(measured) };
    }
    const mine = answeredBy(d.agentId);
    if (row.legs.some((l) => mine(l) && l.media?.measuredAt === d.at)) return null;
    // Legs are measured as their parts end, in order: the agent's first answered leg not measured yet.
    const index = row.legs.findIndex((l) => mine(l) && !l.media);
    if (index < 0) return null;
    return { legs: JSON.stringify(row.legs.map((l, i) => (i === index ? { ...l, media: measured } : l))) };
  });
}
