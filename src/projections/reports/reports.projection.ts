// reports: contact and agent events counted into 15-minute UTC buckets (issue 15, RP-1 and RP-2). Each
// bucket holds numerators and denominators (counts and millisecond sums), never rates, per instance ×
// channel × direction × skill group × agent; report-queries.ts sums them for any interval and time zone.
// Definitions: DEFINITIONS.md. Every count goes to the bucket of the event that makes it.
//
// To count an event the projection must know what came before it (was the contact queued when the customer
// hung up? since when?): report_contacts and report_agents keep that, with the last stream revision
// applied, so an event seen twice (after a crash) is counted once.
import { sql, type Transaction } from 'kysely';
import type { AgentEvent } from '../../domain/agent/agent.ts';
import type { ContactEvent } from '../../domain/contact/contact.ts';
import type { InstanceEvent } from '../../domain/instance/instance.ts';
import type { RecordedEvent } from '../../domain/ports/event-store.ts';
import type { Projection } from '../projection.ts';
import type { ReadModelDb } from '../read-model-db.ts';
import { serviceLevelThresholds } from '../../domain/instance/report-settings.ts';
import type { AgentCounter, ContactCounter } from './reports.tables.ts';

/** The report figures of an instance changed (the overview subscription recomputes): `{}`. */
export const reportsTopic = (instanceId: string) => `kefu.${instanceId}.reports`;

export const bucketMs = 15 * 60 * 1000;
export const bucketOf = (at: number) => new Date(Math.floor(at / bucketMs) * bucketMs);

type Trx = Transaction<ReadModelDb>;
type Of<T extends ContactEvent['type']> = Extract<ContactEvent, { type: T }>['data'];

const contactEventTypes: ContactEvent['type'][] = [
  'ContactCreated',
  'ContactFlowStarted',
  'ContactQueued',
  'ContactOffered',
  'ContactOfferDeclined',
  'ContactOfferTimedOut',
  'ContactOfferWithdrawn',
  'ContactAccepted',
  'ContactTransferred',
  'ContactMessageRecorded',
  'ContactEnded',
  'ContactRejected',
  'CallHeld',
  'CallResumed',
  'ConsultCompleted',
  'ContactAssigned',
  'CallCustomerAnswered',
];
const agentEventTypes: AgentEvent['type'][] = [
  'AgentCreated',
  'AgentDeleted',
  'AgentWentAvailable',
  'AgentWentOnBreak',
  'AgentWentOffline',
  'AgentForcedOffline',
  'AgentReserved',
  'AgentReservationReleased',
  'AgentContactConnected',
  'AgentContactFinished',
  'AgentWrapUpStarted',
  'AgentWrapUpEnded',
];
const instanceEventTypes: InstanceEvent['type'][] = ['ReportSettingsConfigured'];

export const reportsProjection: Projection = {
  name: 'reports',
  tables: ['report_contact_buckets', 'report_agent_buckets', 'report_agent_break_buckets', 'report_contacts', 'report_agents', 'report_settings'],
  eventTypes: new Set<string>([...contactEventTypes, ...agentEventTypes, ...instanceEventTypes]),
  async apply(trx, e, changes) {
    const category = e.streamId.slice(0, e.streamId.indexOf('-'));
    const entityId = e.streamId.slice(e.streamId.indexOf('.') + 1);
    const instanceId = e.metadata.instanceId;
    let changed = false;
    if (category === 'contact') changed = await projectContactEvent(trx, instanceId, entityId, e);
    else if (category === 'agent') changed = await projectAgentEvent(trx, instanceId, entityId, e);
    else if (category === 'instance' && e.type === 'ReportSettingsConfigured') changed = await projectSettings(trx, instanceId, e);
    if (changed) changes.publish(reportsTopic(instanceId), {});
  },
};

const ms = (v: Date | string) => new Date(v).getTime();
const since = (from: Date | string | null, to: string) => (from ? Math.max(0, ms(to) - ms(from)) : 0);

// ---- buckets -------------------------------------------------------------------------------------------

interface ContactKey {
  channel: string;
  direction: string;
  skillGroupId: string | null;
  agentId: string | null;
}

type Counts = Partial<Record<ContactCounter, number>>;

/** Adds counts to the contact bucket of `at`; `maxWaitMs` raises the bucket's longest answered wait. */
async function addContactCounts(trx: Trx, instanceId: string, at: string, key: ContactKey, counts: Counts, maxWaitMs = 0): Promise<void> {
  const names = Object.keys(counts) as ContactCounter[];
  if (names.length === 0 && maxWaitMs === 0) return;
  const values = Object.fromEntries(names.map((n) => [n, Math.round(counts[n]!)]));
  const updates = Object.fromEntries(names.map((n) => [n, sql`${sql.ref(`report_contact_buckets.${n}`)} + ${sql.ref(`excluded.${n}`)}`]));
  await trx
    .insertInto('report_contact_buckets')
    .values({
      instance_id: instanceId,
      bucket: bucketOf(ms(at)),
      channel: key.channel,
      direction: key.direction,
      skill_group_id: key.skillGroupId ?? '',
      agent_id: key.agentId ?? '',
      answer_wait_max_ms: Math.round(maxWaitMs),
      ...values,
    })
    .onConflict((oc) =>
      oc.columns(['instance_id', 'bucket', 'channel', 'direction', 'skill_group_id', 'agent_id']).doUpdateSet({
        ...updates,
        answer_wait_max_ms: sql`greatest(report_contact_buckets.answer_wait_max_ms, excluded.answer_wait_max_ms)`,
      } as never),
    )
    .execute();
}

/** Splits [from, to) at 15-minute boundaries: [bucket, milliseconds] pairs. */
export function splitIntoBuckets(from: number, to: number): [Date, number][] {
  const out: [Date, number][] = [];
  for (let t = from; t < to; ) {
    const start = Math.floor(t / bucketMs) * bucketMs;
    const end = Math.min(to, start + bucketMs);
    out.push([new Date(start), end - t]);
    t = end;
  }
  return out;
}

async function addAgentTime(trx: Trx, instanceId: string, agentId: string, counter: AgentCounter, from: number, to: number, breakReason: string | null): Promise<void> {
  for (const [bucket, span] of splitIntoBuckets(from, to)) {
    const columns = counter === 'online_ms' ? { online_ms: span } : { online_ms: span, [counter]: span };
    await trx
      .insertInto('report_agent_buckets')
      .values({ instance_id: instanceId, bucket, agent_id: agentId, ...columns })
      .onConflict((oc) =>
        oc.columns(['instance_id', 'bucket', 'agent_id']).doUpdateSet(
          Object.fromEntries(Object.keys(columns).map((n) => [n, sql`${sql.ref(`report_agent_buckets.${n}`)} + ${sql.ref(`excluded.${n}`)}`])) as never,
        ),
      )
      .execute();
    if (counter === 'break_ms') {
      await trx
        .insertInto('report_agent_break_buckets')
        .values({ instance_id: instanceId, bucket, agent_id: agentId, reason: breakReason ?? '', break_ms: span })
        .onConflict((oc) =>
          oc.columns(['instance_id', 'bucket', 'agent_id', 'reason']).doUpdateSet({ break_ms: sql`report_agent_break_buckets.break_ms + excluded.break_ms` }),
        )
        .execute();
    }
  }
}

// ---- contacts ------------------------------------------------------------------------------------------

interface ContactState {
  revision: number;
  channel: string;
  direction: string;
  stage: 'CREATED' | 'FLOW' | 'QUEUED' | 'OFFERED' | 'CONNECTED' | 'ENDED';
  skill_group_id: string | null;
  served_skill_group_id: string | null;
  created_at: Date | string;
  queued_at: Date | string | null;
  offered_at: Date | string | null;
  ringing_agent_ids: string[];
  in_transfer: boolean;
  agent_id: string | null;
  connected_at: Date | string | null;
  held_at: Date | string | null;
  first_response: boolean;
}

async function projectContactEvent(trx: Trx, instanceId: string, contactId: string, e: RecordedEvent): Promise<boolean> {
  const event = { type: e.type, data: e.data } as ContactEvent;
  if (event.type === 'ContactCreated') {
    const d = event.data;
    const inserted = await trx
      .insertInto('report_contacts')
      .values({
        instance_id: instanceId,
        contact_id: contactId,
        revision: e.revision,
        channel: d.channel,
        direction: d.direction,
        stage: 'CREATED',
        created_at: d.createdAt,
        in_transfer: false,
        first_response: false,
      })
      .onConflict((oc) => oc.columns(['instance_id', 'contact_id']).doNothing())
      .executeTakeFirst();
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) === 0) return false;
    await addContactCounts(trx, instanceId, d.createdAt, { channel: d.channel, direction: d.direction, skillGroupId: null, agentId: null }, { created: 1 });
    return true;
  }
  const row = (await trx.selectFrom('report_contacts').selectAll().where('instance_id', '=', instanceId).where('contact_id', '=', contactId).executeTakeFirst()) as
    | ContactState
    | undefined;
  // No row: a contact created before... nothing; a revision already applied: counted once.
  if (!row || e.revision <= row.revision) return false;
  const s: ContactState = { ...row, ringing_agent_ids: [...row.ringing_agent_ids] };
  const at = e.metadata.occurredAt;
  const counted = await countContactEvent(trx, instanceId, s, event, at);
  await trx
    .updateTable('report_contacts')
    .set({
      revision: e.revision,
      stage: s.stage,
      skill_group_id: s.skill_group_id,
      served_skill_group_id: s.served_skill_group_id,
      queued_at: s.queued_at,
      offered_at: s.offered_at,
      ringing_agent_ids: s.ringing_agent_ids,
      in_transfer: s.in_transfer,
      agent_id: s.agent_id,
      connected_at: s.connected_at,
      held_at: s.held_at,
      first_response: s.first_response,
    })
    .where('instance_id', '=', instanceId)
    .where('contact_id', '=', contactId)
    .execute();
  return counted;
}

/** The key of a count about the contact in its current group, by `agentId` (null: the contact's own figures). */
const keyOf = (s: ContactState, agentId: string | null, group: string | null = s.skill_group_id): ContactKey => ({
  channel: s.channel,
  direction: s.direction,
  skillGroupId: group,
  agentId,
});

/** The within-X counters a contact leaving the queue after `waitMs` adds. */
function queueExit(waitMs: number): Counts {
  const counts: Counts = { queue_exits: 1 };
  for (const x of serviceLevelThresholds) if (waitMs <= x * 1000) counts[`sl_${x}`] = 1;
  return counts;
}

const waiting = (s: ContactState) => s.stage === 'QUEUED' || s.stage === 'OFFERED';

/** Ends the serving agent's part at `at`: their talk (and a hold in progress) is counted. */
async function endPart(trx: Trx, instanceId: string, s: ContactState, at: string): Promise<void> {
  if (!s.agent_id || !s.connected_at) return;
  const counts: Counts = { talk_ms: since(s.connected_at, at) };
  if (s.held_at) counts.hold_ms = since(s.held_at, at);
  await addContactCounts(trx, instanceId, at, keyOf(s, s.agent_id, s.served_skill_group_id ?? s.skill_group_id), counts);
  s.agent_id = null;
  s.connected_at = null;
  s.held_at = null;
}

async function countContactEvent(trx: Trx, instanceId: string, s: ContactState, event: Exclude<ContactEvent, { type: 'ContactCreated' }>, at: string): Promise<boolean> {
  switch (event.type) {
    case 'ContactFlowStarted':
      if (s.stage !== 'CREATED') return false;
      s.stage = 'FLOW';
      await addContactCounts(trx, instanceId, at, keyOf(s, null, null), { ivr_entered: 1 });
      return true;
    case 'ContactQueued':
      return countQueued(trx, instanceId, s, event.data);
    case 'ContactOffered':
      return countOffered(trx, instanceId, s, event.data, at);
    case 'ContactOfferDeclined':
      return countOfferEnd(trx, instanceId, s, [event.data.agentId], at, 'agent_declined');
    case 'ContactOfferTimedOut':
      return countOfferEnd(trx, instanceId, s, event.data.agentIds, at, 'agent_missed');
    case 'ContactOfferWithdrawn':
      return countOfferEnd(trx, instanceId, s, event.data.agentIds, at, null);
    case 'ContactAccepted':
      return countAccepted(trx, instanceId, s, event.data);
    case 'ContactTransferred':
      await addContactCounts(trx, instanceId, at, keyOf(s, event.data.fromAgentId, s.served_skill_group_id ?? s.skill_group_id), { transferred: 1 });
      await endPart(trx, instanceId, s, at);
      // Queued again for the transfer (the same contact, not a new queueing: see DEFINITIONS.md).
      s.stage = 'QUEUED';
      s.in_transfer = true;
      s.skill_group_id = event.data.toSkillGroupId ?? s.skill_group_id;
      s.ringing_agent_ids = [];
      return true;
    case 'ConsultCompleted':
      await addContactCounts(trx, instanceId, event.data.at, keyOf(s, event.data.fromAgentId, s.served_skill_group_id ?? s.skill_group_id), { transferred: 1 });
      await endPart(trx, instanceId, s, event.data.at);
      s.agent_id = event.data.toAgentId;
      s.connected_at = event.data.at;
      await addContactCounts(trx, instanceId, event.data.at, keyOf(s, event.data.toAgentId, s.served_skill_group_id ?? s.skill_group_id), { agent_answered: 1 });
      return true;
    case 'ContactMessageRecorded':
      return countFirstResponse(trx, instanceId, s, event.data);
    case 'ContactEnded':
      return countEnded(trx, instanceId, s, event.data.at, event.data.endedBy === 'CUSTOMER');
    case 'ContactRejected':
      return countEnded(trx, instanceId, s, at, false);
    case 'CallHeld':
      if (s.held_at || !s.connected_at) return false;
      s.held_at = event.data.at;
      return false;
    case 'CallResumed': {
      if (!s.held_at) return false;
      await addContactCounts(trx, instanceId, event.data.at, keyOf(s, s.agent_id, s.served_skill_group_id ?? s.skill_group_id), { hold_ms: since(s.held_at, event.data.at) });
      s.held_at = null;
      return true;
    }
    case 'ContactAssigned': {
      // An outbound call: the agent's from the start, never queued.
      s.agent_id = event.data.agentId;
      s.skill_group_id = s.skill_group_id ?? event.data.skillGroupId;
      s.served_skill_group_id = event.data.skillGroupId;
      await addContactCounts(trx, instanceId, event.data.at, keyOf(s, event.data.agentId, event.data.skillGroupId), { agent_outbound: 1 });
      return true;
    }
    case 'CallCustomerAnswered': {
      if (s.direction !== 'OUT' || s.stage === 'CONNECTED' || s.stage === 'ENDED') return false;
      s.stage = 'CONNECTED';
      s.connected_at = event.data.at;
      await addContactCounts(trx, instanceId, event.data.at, keyOf(s, s.agent_id, s.served_skill_group_id), { handled: 1 });
      return true;
    }
    default:
      // Other contact events are not counted (eventTypes names only the ones above).
      return false;
  }
}

async function countQueued(trx: Trx, instanceId: string, s: ContactState, d: Of<'ContactQueued'>): Promise<boolean> {
  if (waiting(s)) {
    // An overflow moves the waiting contact to another group: the same queueing, counted where it ends.
    s.skill_group_id = d.skillGroupId;
    return false;
  }
  if (s.stage === 'ENDED') return false;
  s.stage = 'QUEUED';
  s.skill_group_id = d.skillGroupId;
  s.queued_at = d.queuedAt;
  s.in_transfer = false;
  await addContactCounts(trx, instanceId, d.queuedAt, keyOf(s, null), { queued: 1 });
  return true;
}

async function countOffered(trx: Trx, instanceId: string, s: ContactState, d: Of<'ContactOffered'>, at: string): Promise<boolean> {
  if (!waiting(s)) return false;
  const firstRing = s.stage === 'QUEUED' && s.ringing_agent_ids.length === 0 && !s.offered_at && !s.in_transfer;
  if (firstRing) await addContactCounts(trx, instanceId, at, keyOf(s, null), { offered: 1 });
  s.stage = 'OFFERED';
  s.offered_at = at;
  s.ringing_agent_ids = [...d.agentIds];
  for (const agentId of d.agentIds) await addContactCounts(trx, instanceId, at, keyOf(s, agentId), { agent_offered: 1 });
  return true;
}

async function countOfferEnd(trx: Trx, instanceId: string, s: ContactState, agentIds: string[], at: string, counter: 'agent_declined' | 'agent_missed' | null): Promise<boolean> {
  if (counter) for (const agentId of agentIds) await addContactCounts(trx, instanceId, at, keyOf(s, agentId), { [counter]: 1 });
  s.ringing_agent_ids = s.ringing_agent_ids.filter((a) => !agentIds.includes(a));
  if (s.stage === 'OFFERED' && s.ringing_agent_ids.length === 0) s.stage = 'QUEUED';
  return counter !== null;
}

async function countAccepted(trx: Trx, instanceId: string, s: ContactState, d: Of<'ContactAccepted'>): Promise<boolean> {
  if (!waiting(s)) return false;
  const agentKey = keyOf(s, d.agentId);
  const counts: Counts = { agent_answered: 1 };
  let maxWait = 0;
  if (s.offered_at) Object.assign(counts, { ring_count: 1, ring_ms: since(s.offered_at, d.at) });
  if (!s.in_transfer && s.queued_at) {
    const wait = since(s.queued_at, d.at);
    Object.assign(counts, { handled: 1, answer_wait_count: 1, answer_wait_ms: wait }, queueExit(wait));
    maxWait = wait;
  }
  await addContactCounts(trx, instanceId, d.at, agentKey, counts, maxWait);
  s.stage = 'CONNECTED';
  s.agent_id = d.agentId;
  s.connected_at = d.at;
  s.served_skill_group_id = s.skill_group_id;
  s.ringing_agent_ids = [];
  s.offered_at = null;
  s.in_transfer = false;
  return true;
}

async function countFirstResponse(trx: Trx, instanceId: string, s: ContactState, d: Of<'ContactMessageRecorded'>): Promise<boolean> {
  const kind = d.kind ?? (d.from === 'SYSTEM' ? 'SYSTEM' : 'TEXT');
  if (s.first_response || d.from !== 'AGENT' || kind === 'SYSTEM' || s.channel !== 'ONLINE') return false;
  s.first_response = true;
  const from = s.queued_at ?? s.created_at;
  await addContactCounts(trx, instanceId, d.at, keyOf(s, d.agentId, s.served_skill_group_id ?? s.skill_group_id), { first_responses: 1, first_response_ms: since(from, d.at) });
  return true;
}

async function countEnded(trx: Trx, instanceId: string, s: ContactState, at: string, byCustomer: boolean): Promise<boolean> {
  if (s.stage === 'ENDED') return false;
  await endPart(trx, instanceId, s, at);
  const stage = s.stage;
  s.stage = 'ENDED';
  if (s.in_transfer) return true;
  if (stage === 'CREATED' || stage === 'FLOW') {
    await addContactCounts(trx, instanceId, at, keyOf(s, null, null), byCustomer ? { ivr_abandoned: 1 } : { rejected: 1 });
    return true;
  }
  if (stage === 'QUEUED' || stage === 'OFFERED') {
    const wait = since(s.queued_at, at);
    const counts: Counts = byCustomer
      ? { [stage === 'QUEUED' ? 'queue_abandoned' : 'ringing_abandoned']: 1, abandon_wait_ms: wait, ...queueExit(wait) }
      : { rejected: 1, ...queueExit(wait) };
    await addContactCounts(trx, instanceId, at, keyOf(s, null), counts);
    return true;
  }
  return true;
}

// ---- agents --------------------------------------------------------------------------------------------

interface AgentState {
  revision: number;
  presence: string;
  break_reason: string | null;
  since: Date | string | null;
  contacts: Record<string, 'offered' | 'connected'>;
  wrap_up_contact_id: string | null;
  wrap_up_since: Date | string | null;
}

/** Where a moment of the agent's time counts: the first that applies (see AgentMetrics in the schema). */
export function agentTimeCounter(s: Pick<AgentState, 'presence' | 'contacts' | 'wrap_up_contact_id'>): AgentCounter | null {
  const held = Object.values(s.contacts);
  if (held.includes('connected')) return 'on_contact_ms';
  if (s.wrap_up_contact_id) return 'acw_ms';
  if (held.length > 0) return 'ringing_ms';
  if (s.presence === 'BREAK') return 'break_ms';
  if (s.presence === 'AVAILABLE') return 'idle_ms';
  return null;
}

async function projectAgentEvent(trx: Trx, instanceId: string, agentId: string, e: RecordedEvent): Promise<boolean> {
  const event = { type: e.type, data: e.data } as AgentEvent;
  const at = e.metadata.occurredAt;
  if (event.type === 'AgentCreated') {
    await trx
      .insertInto('report_agents')
      .values({ instance_id: instanceId, agent_id: agentId, revision: e.revision, presence: 'OFFLINE', contacts: '{}' })
      .onConflict((oc) => oc.columns(['instance_id', 'agent_id']).doNothing())
      .execute();
    return false;
  }
  const row = await trx.selectFrom('report_agents').selectAll().where('instance_id', '=', instanceId).where('agent_id', '=', agentId).executeTakeFirst();
  if (!row || e.revision <= row.revision) return false;
  const s: AgentState = { ...row, contacts: { ...row.contacts } };
  // The time since the last change counts in the state the agent was in.
  const before = agentTimeCounter(s);
  const now = s.since ? Math.max(ms(at), ms(s.since)) : ms(at);
  if (before && s.since) await addAgentTime(trx, instanceId, agentId, before, ms(s.since), now, s.break_reason);
  const counted = await changeAgent(trx, instanceId, agentId, s, event, new Date(now).toISOString());
  await trx
    .updateTable('report_agents')
    .set({
      revision: e.revision,
      presence: s.presence,
      break_reason: s.break_reason,
      since: new Date(now),
      contacts: JSON.stringify(s.contacts),
      wrap_up_contact_id: s.wrap_up_contact_id,
      wrap_up_since: s.wrap_up_since,
    })
    .where('instance_id', '=', instanceId)
    .where('agent_id', '=', agentId)
    .execute();
  return counted || before !== null;
}

async function changeAgent(trx: Trx, instanceId: string, agentId: string, s: AgentState, event: Exclude<AgentEvent, { type: 'AgentCreated' }>, at: string): Promise<boolean> {
  switch (event.type) {
    case 'AgentWentAvailable':
      s.presence = 'AVAILABLE';
      s.break_reason = null;
      return true;
    case 'AgentWentOnBreak':
      s.presence = 'BREAK';
      s.break_reason = event.data.reason;
      return true;
    case 'AgentWentOffline':
    case 'AgentForcedOffline':
    case 'AgentDeleted':
      s.presence = 'OFFLINE';
      s.break_reason = null;
      return true;
    case 'AgentReserved':
      s.contacts[event.data.contactId] = 'offered';
      return true;
    case 'AgentContactConnected':
      if (s.contacts[event.data.contactId]) s.contacts[event.data.contactId] = 'connected';
      return true;
    case 'AgentReservationReleased':
    case 'AgentContactFinished':
      delete s.contacts[event.data.contactId];
      return true;
    case 'AgentWrapUpStarted':
      if (s.wrap_up_contact_id) await endWrapUp(trx, instanceId, agentId, s, at);
      s.wrap_up_contact_id = event.data.contactId;
      s.wrap_up_since = at;
      return true;
    case 'AgentWrapUpEnded':
      return endWrapUp(trx, instanceId, agentId, s, at);
    default:
      return false;
  }
}

/** After-call work ends: its time counts for the contact it followed (channel, direction, group), by this agent. */
async function endWrapUp(trx: Trx, instanceId: string, agentId: string, s: AgentState, at: string): Promise<boolean> {
  if (!s.wrap_up_contact_id || !s.wrap_up_since) return false;
  const contact = await trx
    .selectFrom('report_contacts')
    .select(['channel', 'direction', 'skill_group_id', 'served_skill_group_id'])
    .where('instance_id', '=', instanceId)
    .where('contact_id', '=', s.wrap_up_contact_id)
    .executeTakeFirst();
  if (contact) {
    const key = { channel: contact.channel, direction: contact.direction, skillGroupId: contact.served_skill_group_id ?? contact.skill_group_id, agentId };
    await addContactCounts(trx, instanceId, at, key, { acw_ms: since(s.wrap_up_since, at) });
  }
  s.wrap_up_contact_id = null;
  s.wrap_up_since = null;
  return true;
}

// ---- settings ------------------------------------------------------------------------------------------

async function projectSettings(trx: Trx, instanceId: string, e: RecordedEvent): Promise<boolean> {
  const d = e.data as { timeZone: string; serviceLevelSeconds: number };
  await trx
    .insertInto('report_settings')
    .values({ instance_id: instanceId, time_zone: d.timeZone, service_level_seconds: d.serviceLevelSeconds, updated_at: e.metadata.occurredAt })
    .onConflict((oc) => oc.column('instance_id').doUpdateSet({ time_zone: d.timeZone, service_level_seconds: d.serviceLevelSeconds, updated_at: e.metadata.occurredAt }))
    .execute();
  return true;
}
