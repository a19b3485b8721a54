// reports: contact and agent events counted into 15-minute UTC buckets (issue 15, RP-1 and RP-2). Each
// bucket holds numerators and denominators (counts and millisecond sums), never rates, per instance ×
// channel × direction × skill group × agent; report-queries.ts sums them for any interval and time zone.
// Definitions: README.md, "Report definitions". Every count goes to the bucket of the event that makes it.
// The same deltas are summed per local day of the instance's zone into the day tables (report-days.ts).
//
// To count an event the projection must know what came before it (was the contact queued when the customer
// hung up? since when?): report_contacts and report_agents keep that, with the last stream revision
// applied, so an event seen twice (after a crash) is counted once.
import type { Transaction } from 'kysely';
import type { AgentEvent } from '../../domain/agent/agent.ts';
import type { ContactEvent } from '../../domain/contact/contact.ts';
import type { InstanceEvent } from '../../domain/instance/instance.ts';
import type { RecordedEvent } from '../../domain/ports/event-store.ts';
import type { Projection } from '../projection.ts';
import type { ReadModelDb } from '../read-model-db.ts';
import { serviceLevelThresholds } from '../../domain/instance/report-settings.ts';
import { agentContactCounters, agentCounters, contactCounters, type AgentCounter, type ContactCounter } from './reports.tables.ts';
import { localDays, lockRecounts, needDays, recountDaysStep, spanDayParts, startRecounts } from './report-days.ts';
import { readStates, writeRows, type RowsOf } from './report-writes.ts';

/** The report figures of an instance changed (the overview subscription recomputes): `{}`. */
export const reportsTopic = (instanceId: string) => `kefu.${instanceId}.reports`;

export const bucketMs = 15 * 60 * 1000;
export const bucketOf = (at: number) => new Date(Math.floor(at / bucketMs) * bucketMs);
/** A report_agent_spans row ends at the next UTC midnight (a longer state is several rows): a query finds a range's spans by span_from. */
export const spanMaxMs = 86_400_000;

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

/** Whether a recount of day rows may be under way (report_day_recounts has a row): true until a look finds none. */
let recountsPending = true;

/**
 * Chats whose first response is counted, or that never count one (not ONLINE), as committed (issue 11): their
 * agents' later messages count nothing here, and are left out before anything is read (a busy chat's batches
 * no longer read report_contacts). Filled after a batch commits (ChangeSink.committed) from the states of the
 * chats its messages named, never from a try that rolls back; trusted only where the runner tells of commits;
 * emptied by reset (a runner starting the projection, a rebuild, a parked part retried). A first response, once
 * counted, is never uncounted. Bounded: past maxAnsweredChats it starts again empty.
 */
const answeredChats = new Set<string>();
const maxAnsweredChats = 100_000;

/**
 * The agents' states and the instances' zones as the last committed batches left them (issue 10: a presence
 * change read them back at each batch, a statement of its own in the projection's transaction). A batch that
 * names no contact, whose agents and instances are all kept here, reads nothing. An instance is kept only with
 * no recount of its days under way (none is started but by this projection, in a batch that changes its zone,
 * which drops it). Trusted as answeredChats is: filled after a commit only, from the batch's own states (never
 * mutated after: a batch copies a state before it changes it), emptied by reset. Bounded: past maxKept each
 * starts again empty.
 */
const committedAgents = new Map<string, AgentState | null>();
/** Instance -> its zone (null: none set, UTC), with no recount under way. */
const committedInstances = new Map<string, string | null>();
const maxKept = 100_000;

export const reportsProjection: Projection = {
  name: 'reports',
  tables: ['report_contact_buckets', 'report_group_buckets', 'report_group_days', 'report_agent_contact_days', 'report_agent_channel_days', 'report_agent_days', 'report_agent_break_days', 'report_agent_buckets', 'report_agent_spans', 'report_agent_break_buckets', 'report_contacts', 'report_agents', 'report_settings', 'report_day_recounts'],
  // Not report_day_recounts_done: the status of the last finished recount (its wall-clock times), not figures of the events.
  eventTypes: new Set<string>([...contactEventTypes, ...agentEventTypes, ...instanceEventTypes]),
  // Each bucket, day and state row is written once a batch: a rebuild of a year writes an agent's day
  // rows once per 50,000 events instead of once per 5,000.
  catchUpBatchSize: 50_000,
  // A zone change's recount of the day rows, a chunk at a time between batches (report-days.ts).
  async backgroundStep(db) {
    if (!recountsPending) return false;
    const more = await recountDaysStep(db as never);
    if (!more) recountsPending = false;
    return more;
  },
  reset() {
    recountsPending = true;
    answeredChats.clear();
    committedAgents.clear();
    committedInstances.clear();
  },
  // A batch is counted in memory (states read once, bucket deltas summed) and written in a few statements.
  async applyBatch(trx, all, changes) {
    // Most of a busy chat's events are messages, and only an agent's can count (the first response): the
    // others are left out before anything is read (a replay leaves them out too).
    const trusted = changes.committed !== undefined;
    const events = all.filter(
      (e) => e.type !== 'ContactMessageRecorded' || (mayBeFirstResponse(e.data as unknown as Of<'ContactMessageRecorded'>) && !(trusted && answeredChats.has(chatKey(e)))),
    );
    if (events.length === 0) return;
    const batch = new ReportBatch(trx);
    await batch.prefetch(events, trusted);
    const changed = new Set<string>();
    for (const e of events) {
      const category = e.streamId.slice(0, e.streamId.indexOf('-'));
      const entityId = e.streamId.slice(e.streamId.indexOf('.') + 1);
      const instanceId = e.metadata.instanceId;
      let counted = false;
      if (category === 'contact') counted = await projectContactEvent(batch, instanceId, entityId, e);
      else if (category === 'agent') counted = await projectAgentEvent(batch, instanceId, entityId, e);
      else if (category === 'instance' && e.type === 'ReportSettingsConfigured') counted = projectSettings(batch, instanceId, e);
      if (counted) changed.add(instanceId);
    }
    await batch.flush();
    if (trusted) changes.committed!(batch.keepCommitted());
    if (trusted) {
      const answered = events.flatMap((e) => (e.type === 'ContactMessageRecorded' && batch.answered(chatKey(e)) ? [chatKey(e)] : []));
      if (answered.length > 0)
        changes.committed!(() => {
          if (answeredChats.size + answered.length > maxAnsweredChats) answeredChats.clear();
          for (const key of answered) answeredChats.add(key);
        });
    }
    // One message per instance and batch: the overview is recomputed once for all of them.
    for (const instanceId of changed) changes.publish(reportsTopic(instanceId), {});
  },
};

const ms = (v: Date | string) => (typeof v === 'string' ? Date.parse(v) : v.getTime());

/** Bucket bounds as ISO text (rows go to PostgreSQL as JSON: a Date's toJSON a row was a good part of it), kept. */
const isoTexts = new Map<number, string>();
function isoOf(t: number): string {
  let text = isoTexts.get(t);
  if (text === undefined) {
    if (isoTexts.size >= 200_000) isoTexts.clear();
    isoTexts.set(t, (text = new Date(t).toISOString()));
  }
  return text;
}
const since = (from: Date | string | null, to: string) => (from ? Math.max(0, ms(to) - ms(from)) : 0);

// ---- the batch: states read once, bucket deltas summed in memory, written at the end -------------------

interface ContactKey {
  channel: string;
  direction: string;
  skillGroupId: string | null;
  agentId: string | null;
}

type Counts = Partial<Record<ContactCounter, number>>;

interface ContactState {
  instance_id: string;
  contact_id: string;
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

interface AgentState {
  instance_id: string;
  agent_id: string;
  revision: number;
  presence: string;
  break_reason: string | null;
  since: Date | string | null;
  contacts: Record<string, 'offered' | 'connected'>;
  wrap_up_contact_id: string | null;
  wrap_up_since: Date | string | null;
}

/** A bucket's deltas: only the counters the batch added to (the rest are 0, the statement's defaults). */
type ContactBucket = { instance_id: string; bucket: string; at: number; channel: string; direction: string; skill_group_id: string; agent_id: string; answer_wait_max_ms: number } & Partial<Record<ContactCounter, number>>;
type AgentBucket = { instance_id: string; bucket: string; at: number; agent_id: string } & Record<AgentCounter, number>;
interface AgentSpan {
  instance_id: string;
  agent_id: string;
  span_from: string;
  span_to: string;
  /** span_from and span_to in milliseconds (not a column: json_populate_recordset leaves such keys out). */
  from: number;
  to: number;
  counter: AgentCounter;
  reason: string;
}
interface BreakBucket {
  instance_id: string;
  bucket: string;
  at: number;
  agent_id: string;
  reason: string;
  break_ms: number;
}

/** Every contact counter, as a set of names (`c in zeroCounters`). */
const zeroCounters = Object.fromEntries(contactCounters.map((c) => [c, 0]));

const chunk = <T>(rows: T[], size: number): T[][] => Array.from({ length: Math.ceil(rows.length / size) }, (_, i) => rows.slice(i * size, (i + 1) * size));
const pairKey = (a: string, b: string) => `${a}|${b}`;
/** A contact event's instance and contact, as pairKey. */
const chatKey = (e: RecordedEvent) => pairKey(e.metadata.instanceId, e.streamId.slice(e.streamId.indexOf('.') + 1));

class ReportBatch {
  /** Known states (null: known not to exist), and the ones to write back. */
  private readonly contacts = new Map<string, ContactState | null>();
  private readonly agents = new Map<string, AgentState | null>();
  private readonly dirtyContacts = new Set<string>();
  private readonly dirtyAgents = new Set<string>();
  private readonly contactBuckets = new Map<string, ContactBucket>();
  private readonly agentBuckets = new Map<string, AgentBucket>();
  private readonly breakBuckets = new Map<string, BreakBucket>();
  private readonly agentSpans: AgentSpan[] = [];
  private readonly settings = new Map<string, { instance_id: string; time_zone: string; service_level_seconds: number; updated_at: string }>();
  /** The time zones of the batch's instances as committed (report_settings; absent: UTC), read with the states. */
  private readonly zones = new Map<string, string>();
  /** The recounts under way of the batch's instances, their rows locked until the batch commits (report-days.ts). */
  private readonly recounts = new Map<string, { phase: string; countedTo: Date | null }>();
  /** The instances of the batch's events (their zones and recounts read, or kept from committed batches). */
  private instanceIds = new Set<string>();

  private readonly trx: Trx;

  constructor(trx: Trx) {
    this.trx = trx;
  }

  /**
   * Reads the states of every contact and agent the batch names, its instances' zones and recounts (locked)
   * in one statement (a few for a catch-up's thousands of contacts): a live batch of one event reads once.
   */
  async prefetch(events: RecordedEvent[], trusted = false): Promise<void> {
    const contactIds = new Map<string, [string, string]>();
    const agentIds = new Map<string, [string, string]>();
    const instanceIds = new Set<string>();
    for (const e of events) {
      const category = e.streamId.slice(0, e.streamId.indexOf('-'));
      const id = e.streamId.slice(e.streamId.indexOf('.') + 1);
      const pair: [string, string] = [e.metadata.instanceId, id];
      instanceIds.add(pair[0]);
      if (category === 'contact') contactIds.set(pairKey(...pair), pair);
      else if (category === 'agent') agentIds.set(pairKey(...pair), pair);
    }
    this.instanceIds = instanceIds;
    if (trusted && contactIds.size === 0 && this.fromCommitted(agentIds, instanceIds)) return;
    const contacts = chunk([...contactIds.values()], 1000);
    const agents = chunk([...agentIds.values()], 1000);
    for (let i = 0; i < Math.max(1, contacts.length, agents.length); i++) await this.load(contacts[i] ?? [], agents[i] ?? [], i === 0 ? [...instanceIds] : []);
  }

  /** The batch's states and zones from the last committed batches' (committedAgents), if all are kept there. */
  private fromCommitted(agentIds: Map<string, [string, string]>, instanceIds: Set<string>): boolean {
    for (const key of agentIds.keys()) if (!committedAgents.has(key)) return false;
    for (const id of instanceIds) if (!committedInstances.has(id)) return false;
    for (const key of agentIds.keys()) this.agents.set(key, committedAgents.get(key)!);
    for (const id of instanceIds) {
      const zone = committedInstances.get(id)!;
      if (zone !== null) this.zones.set(id, zone);
    }
    return true;
  }

  /**
   * What to keep once the batch has committed: its agents' states as it leaves them, and the zones of its
   * instances with no recount under way whose settings it did not change.
   */
  keepCommitted(): () => void {
    const agents = [...this.agents];
    const instances = [...this.instanceIds].map((id): [string, string | null, boolean] => [id, this.zones.get(id) ?? null, !this.recounts.has(id) && !this.settings.has(id)]);
    return () => {
      if (committedAgents.size + agents.length > maxKept) committedAgents.clear();
      for (const [key, state] of agents) committedAgents.set(key, state);
      if (committedInstances.size + instances.length > maxKept) committedInstances.clear();
      for (const [id, zone, keep] of instances) {
        if (keep) committedInstances.set(id, zone);
        else committedInstances.delete(id);
      }
    };
  }

  /** Reads states (and, for `instanceIds`, zones and recounts) into the batch; pairs not found are known not to exist. */
  private async load(contacts: [string, string][], agents: [string, string][], instanceIds: string[]): Promise<void> {
    for (const p of contacts) if (!this.contacts.has(pairKey(...p))) this.contacts.set(pairKey(...p), null);
    for (const p of agents) if (!this.agents.has(pairKey(...p))) this.agents.set(pairKey(...p), null);
    const read = await readStates<ContactState, AgentState>(this.trx, contacts, agents, instanceIds);
    // The statement matches instances × ids: only the batch's pairs are taken.
    for (const row of read.contacts) if (this.contacts.has(pairKey(row.instance_id, row.contact_id)) && !this.dirtyContacts.has(pairKey(row.instance_id, row.contact_id))) this.contacts.set(pairKey(row.instance_id, row.contact_id), row);
    for (const row of read.agents) if (this.agents.has(pairKey(row.instance_id, row.agent_id)) && !this.dirtyAgents.has(pairKey(row.instance_id, row.agent_id))) this.agents.set(pairKey(row.instance_id, row.agent_id), row);
    for (const [id, zone] of read.zones) this.zones.set(id, zone);
    for (const [id, job] of read.recounts) this.recounts.set(id, job);
  }

  async contact(instanceId: string, contactId: string): Promise<ContactState | null> {
    const key = pairKey(instanceId, contactId);
    if (!this.contacts.has(key)) await this.load([[instanceId, contactId]], [], []);
    return this.contacts.get(key) ?? null;
  }

  async agent(instanceId: string, agentId: string): Promise<AgentState | null> {
    const key = pairKey(instanceId, agentId);
    if (!this.agents.has(key)) await this.load([], [[instanceId, agentId]], []);
    return this.agents.get(key) ?? null;
  }

  /** Whether the contact's state, as this batch leaves it, can count no first response any more. */
  answered(key: string): boolean {
    const s = this.contacts.get(key);
    return s != null && (s.first_response || s.channel !== 'ONLINE');
  }

  putContact(s: ContactState): void {
    const key = pairKey(s.instance_id, s.contact_id);
    this.contacts.set(key, s);
    this.dirtyContacts.add(key);
  }

  putAgent(s: AgentState): void {
    const key = pairKey(s.instance_id, s.agent_id);
    this.agents.set(key, s);
    this.dirtyAgents.add(key);
  }

  putSettings(instanceId: string, timeZone: string, serviceLevelSeconds: number, at: string): void {
    this.settings.set(instanceId, { instance_id: instanceId, time_zone: timeZone, service_level_seconds: serviceLevelSeconds, updated_at: at });
  }

  /** Adds counts to the contact bucket of `at`; `maxWaitMs` raises the bucket's longest answered wait. */
  addContactCounts(instanceId: string, at: string, key: ContactKey, counts: Counts, maxWaitMs = 0): void {
    const t = Math.floor(ms(at) / bucketMs) * bucketMs;
    const id = `${instanceId}|${t}|${key.channel}|${key.direction}|${key.skillGroupId ?? ''}|${key.agentId ?? ''}`;
    let row = this.contactBuckets.get(id);
    if (!row) {
      row = { instance_id: instanceId, bucket: isoOf(t), at: t, channel: key.channel, direction: key.direction, skill_group_id: key.skillGroupId ?? '', agent_id: key.agentId ?? '', answer_wait_max_ms: 0 };
      this.contactBuckets.set(id, row);
    }
    for (const name in counts) row[name as ContactCounter] = (row[name as ContactCounter] ?? 0) + Math.round(counts[name as ContactCounter]!);
    if (maxWaitMs > row.answer_wait_max_ms) row.answer_wait_max_ms = Math.round(maxWaitMs);
  }

  /**
   * Adds [from, to) of an agent's time to `counter` (and online time): two or more whole buckets as span
   * rows, one per UTC day (an agent idle all night is two rows, not one per 15 minutes), the parts of
   * buckets at either end split at bucket boundaries into bucket rows.
   */
  addAgentTime(instanceId: string, agentId: string, counter: AgentCounter, from: number, to: number, breakReason: string | null): void {
    const wholeFrom = Math.ceil(from / bucketMs) * bucketMs;
    const wholeTo = Math.floor(to / bucketMs) * bucketMs;
    if (wholeTo - wholeFrom >= 2 * bucketMs) {
      const reason = counter === 'break_ms' ? (breakReason ?? '') : '';
      for (let t = wholeFrom; t < wholeTo; ) {
        const next = Math.min(wholeTo, (Math.floor(t / spanMaxMs) + 1) * spanMaxMs);
        this.agentSpans.push({ instance_id: instanceId, agent_id: agentId, span_from: isoOf(t), span_to: isoOf(next), from: t, to: next, counter, reason });
        t = next;
      }
      this.addAgentBuckets(instanceId, agentId, counter, from, wholeFrom, breakReason);
      this.addAgentBuckets(instanceId, agentId, counter, wholeTo, to, breakReason);
    } else this.addAgentBuckets(instanceId, agentId, counter, from, to, breakReason);
  }

  private addAgentBuckets(instanceId: string, agentId: string, counter: AgentCounter, from: number, to: number, breakReason: string | null): void {
    for (let t = from; t < to; ) {
      const at = Math.floor(t / bucketMs) * bucketMs;
      const end = Math.min(to, at + bucketMs);
      const span = end - t;
      t = end;
      const id = `${instanceId}|${at}|${agentId}`;
      let row = this.agentBuckets.get(id);
      if (!row) {
        row = { instance_id: instanceId, bucket: isoOf(at), at, agent_id: agentId, online_ms: 0, idle_ms: 0, ringing_ms: 0, on_contact_ms: 0, acw_ms: 0, break_ms: 0 };
        this.agentBuckets.set(id, row);
      }
      row.online_ms += span;
      if (counter !== 'online_ms') row[counter] += span;
      if (counter === 'break_ms') {
        const reason = breakReason ?? '';
        const bid = `${id}|${reason}`;
        const b = this.breakBuckets.get(bid) ?? { instance_id: instanceId, bucket: isoOf(at), at, agent_id: agentId, reason, break_ms: 0 };
        b.break_ms += span;
        this.breakBuckets.set(bid, b);
      }
    }
  }

  /**
   * Writes the states and adds the bucket and day deltas: each table's rows as one JSON parameter, expanded by
   * json_populate_recordset (report-writes.ts), the tables' upserts joined into one statement (a few for a
   * catch-up's thousands of rows): a live batch of one event writes once. Binding a parameter per value was
   * most of the projection's CPU; a statement per table, most of a live batch's.
   */
  async flush(): Promise<void> {
    // Nothing counted (a batch of messages past their chats' first responses): no statement to build.
    if (this.contactBuckets.size + this.agentBuckets.size + this.breakBuckets.size + this.agentSpans.length + this.dirtyContacts.size + this.dirtyAgents.size + this.settings.size === 0) return;
    // Only the agents' rows: a contact's own figures (agent '': created, queued, abandoned...) are read from
    // report_group_buckets, which sums them with the agents' (every reader of this table filters agent_id <> '').
    // They were more than half of its rows, never read.
    const agentContactBuckets = [...this.contactBuckets.values()].filter((row) => row.agent_id !== '');
    // The same deltas without the agent, for the reports that do not split by agent.
    const groups = new Map<string, Omit<ContactBucket, 'agent_id'>>();
    for (const { agent_id: _agent, ...row } of this.contactBuckets.values()) {
      const id = `${row.instance_id}|${row.at}|${row.channel}|${row.direction}|${row.skill_group_id}`;
      const sum = groups.get(id);
      if (!sum) groups.set(id, { ...row });
      else {
        for (const c in row) if (c in zeroCounters) sum[c as ContactCounter] = (sum[c as ContactCounter] ?? 0) + row[c as ContactCounter]!;
        sum.answer_wait_max_ms = Math.max(sum.answer_wait_max_ms, row.answer_wait_max_ms);
      }
    }
    // A new time zone: the instance's day rows are counted again from its buckets and spans (which hold
    // this batch's deltas already); other instances' days get this batch's deltas (report-days.ts).
    const rezoned = await this.writeSettings();
    if (rezoned.length > 0) {
      await startRecounts(this.trx as never, new Map(rezoned.map((id) => [id, this.settings.get(id)!.time_zone])), new Date());
      recountsPending = true;
      for (const [id, job] of await lockRecounts(this.trx as never, rezoned)) this.recounts.set(id, job);
    }
    // An instance whose days are being counted again (its zone changed, maybe in this batch) gets the deltas
    // of the buckets its recount has passed; the recount counts the others from the base tables.
    const recounts = this.recounts;
    const keep = <T extends { instance_id: string }>(rows: Iterable<T>, at: (row: T) => number) =>
      recounts.size === 0
        ? [...rows]
        : [...rows].filter((row) => {
            const job = recounts.get(row.instance_id);
            return !job || (job.phase === 'count' && job.countedTo !== null && at(row) < job.countedTo.getTime());
          });
    const bucket = (row: { at: number }) => row.at;
    const contactColumns = ['revision', 'stage', 'skill_group_id', 'served_skill_group_id', 'queued_at', 'offered_at', 'ringing_agent_ids', 'in_transfer', 'agent_id', 'connected_at', 'held_at', 'first_response'] as const;
    const agentColumns = ['revision', 'presence', 'break_reason', 'since', 'contacts', 'wrap_up_contact_id', 'wrap_up_since'] as const;
    const contactKey = ['instance_id', 'bucket', 'channel', 'direction', 'skill_group_id', 'agent_id'] as const;
    const writes: RowsOf[] = [
      { table: 'report_contact_buckets', rows: agentContactBuckets, conflict: contactKey, add: contactCounters, max: ['answer_wait_max_ms'], zeros: true },
      { table: 'report_agent_buckets', rows: [...this.agentBuckets.values()], conflict: ['instance_id', 'bucket', 'agent_id'], add: agentCounters },
      // Spans are new rows: an event applied once (the revision check) adds its span once.
      { table: 'report_agent_spans', rows: this.agentSpans, conflict: [] },
      { table: 'report_agent_break_buckets', rows: [...this.breakBuckets.values()], conflict: ['instance_id', 'bucket', 'agent_id', 'reason'], add: ['break_ms'] },
      { table: 'report_contacts', rows: [...this.dirtyContacts].map((k) => this.contacts.get(k)!), conflict: ['instance_id', 'contact_id'], set: contactColumns },
      { table: 'report_group_buckets', rows: [...groups.values()], conflict: contactKey.filter((c) => c !== 'agent_id'), add: contactCounters, max: ['answer_wait_max_ms'], zeros: true },
      { table: 'report_agents', rows: [...this.dirtyAgents].map((k) => this.agents.get(k)!), conflict: ['instance_id', 'agent_id'], set: agentColumns },
      ...(await this.days(keep(groups.values(), bucket), keep(agentContactBuckets, bucket), keep(this.agentBuckets.values(), bucket), keep(this.agentSpans, (x) => x.from), keep(this.breakBuckets.values(), bucket))),
    ];
    await writeRows(this.trx, writes);
  }

  /**
   * The batch's deltas summed per local day of each instance's zone (report-days.ts, localDays), each day
   * row written once: what addGroupDays, addAgentContactDays, addAgentDays and addBreakDays would add.
   */
  private async days(groups: Omit<ContactBucket, 'agent_id'>[], contacts: ContactBucket[], agents: AgentBucket[], spans: AgentSpan[], breaks: BreakBucket[]): Promise<RowsOf[]> {
    if (groups.length + contacts.length + agents.length + spans.length + breaks.length === 0) return [];
    // The zones read with the states, or set by this batch (written before the day rows are counted).
    const zoneOf = (instanceId: string) => this.settings.get(instanceId)?.time_zone ?? this.zones.get(instanceId) ?? 'UTC';
    const needs = new Map<string, Set<number>>();
    for (const r of [...groups, ...contacts, ...agents, ...breaks]) needDays(needs, zoneOf(r.instance_id), r.at);
    for (const r of spans) needDays(needs, zoneOf(r.instance_id), r.from, r.to);
    const days = await localDays(this.trx as never, needs);
    const dayOf = (r: { instance_id: string; at: number }) => days.day(zoneOf(r.instance_id), r.at);

    const sum = <T extends object>(into: Map<string, T>, id: string, fresh: () => T, add: (row: T) => void) => {
      let row = into.get(id);
      if (!row) into.set(id, (row = fresh()));
      add(row);
    };
    const addCounters = (to: Record<string, number | string>, from: Partial<Record<ContactCounter, number>>) => {
      for (const c in from) if (c in zeroCounters) to[c] = ((to[c] as number | undefined) ?? 0) + from[c as ContactCounter]!;
    };
    const groupDays = new Map<string, Record<string, number | string>>();
    for (const g of groups) {
      const day = dayOf(g);
      sum(groupDays, `${g.instance_id}|${day}|${g.channel}|${g.direction}|${g.skill_group_id}`, () => ({ instance_id: g.instance_id, day, channel: g.channel, direction: g.direction, skill_group_id: g.skill_group_id, answer_wait_max_ms: 0 }), (row) => {
        addCounters(row, g);
        row.answer_wait_max_ms = Math.max(row.answer_wait_max_ms as number, g.answer_wait_max_ms);
      });
    }
    const agentContactDays = new Map<string, Record<string, number | string>>();
    const agentChannelDays = new Map<string, Record<string, number | string>>();
    for (const c of contacts) {
      const day = dayOf(c);
      sum(agentContactDays, `${c.instance_id}|${day}|${c.agent_id}|${c.channel}|${c.direction}|${c.skill_group_id}`, () => ({ instance_id: c.instance_id, day, agent_id: c.agent_id, channel: c.channel, direction: c.direction, skill_group_id: c.skill_group_id }), (row) => addCounters(row, c));
      // The same per agent, day and channel (a row for every contact day row, even one adding none of these).
      sum(agentChannelDays, `${c.instance_id}|${day}|${c.agent_id}|${c.channel}`, () => ({ instance_id: c.instance_id, day, agent_id: c.agent_id, channel: c.channel }), (row) => {
        for (const k of agentContactCounters) if (c[k] !== undefined) row[k] = ((row[k] as number | undefined) ?? 0) + c[k];
      });
    }
    const agentDays = new Map<string, Record<string, number | string>>();
    const agentDay = (instanceId: string, day: string, agentId: string) => () => ({ instance_id: instanceId, day, agent_id: agentId, ...Object.fromEntries(agentCounters.map((c) => [c, 0])) });
    for (const a of agents) {
      const day = dayOf(a);
      sum(agentDays, `${a.instance_id}|${day}|${a.agent_id}`, agentDay(a.instance_id, day, a.agent_id), (row) => {
        for (const c of agentCounters) row[c] = (row[c] as number) + a[c];
      });
    }
    const breakDays = new Map<string, { instance_id: string; day: string; agent_id: string; reason: string; break_ms: number }>();
    for (const b of breaks) {
      const day = dayOf(b);
      sum(breakDays, `${b.instance_id}|${day}|${b.agent_id}|${b.reason}`, () => ({ instance_id: b.instance_id, day, agent_id: b.agent_id, reason: b.reason, break_ms: 0 }), (row) => (row.break_ms += b.break_ms));
    }
    for (const x of spans) {
      for (const [day, spanMs] of spanDayParts(days, zoneOf(x.instance_id), x.from, x.to)) {
        sum(agentDays, `${x.instance_id}|${day}|${x.agent_id}`, agentDay(x.instance_id, day, x.agent_id), (row) => {
          row.online_ms = (row.online_ms as number) + spanMs;
          if (x.counter !== 'online_ms') row[x.counter] = (row[x.counter] as number) + spanMs;
        });
        if (x.counter === 'break_ms') sum(breakDays, `${x.instance_id}|${day}|${x.agent_id}|${x.reason}`, () => ({ instance_id: x.instance_id, day, agent_id: x.agent_id, reason: x.reason, break_ms: 0 }), (row) => (row.break_ms += spanMs));
      }
    }
    return [
      { table: 'report_group_days', rows: [...groupDays.values()], conflict: ['instance_id', 'day', 'channel', 'direction', 'skill_group_id'], add: contactCounters, max: ['answer_wait_max_ms'], zeros: true },
      { table: 'report_agent_contact_days', rows: [...agentContactDays.values()], conflict: ['instance_id', 'day', 'agent_id', 'channel', 'direction', 'skill_group_id'], add: contactCounters, zeros: true },
      { table: 'report_agent_channel_days', rows: [...agentChannelDays.values()], conflict: ['instance_id', 'day', 'agent_id', 'channel'], add: agentContactCounters, zeros: true },
      { table: 'report_agent_days', rows: [...agentDays.values()], conflict: ['instance_id', 'day', 'agent_id'], add: agentCounters },
      { table: 'report_agent_break_days', rows: [...breakDays.values()], conflict: ['instance_id', 'day', 'agent_id', 'reason'], add: ['break_ms'] },
    ];
  }

  /** Writes the batch's report settings; the instances whose time zone changed (from the zones read with the states). */
  private async writeSettings(): Promise<string[]> {
    if (this.settings.size === 0) return [];
    const ids = [...this.settings.keys()];
    for (const row of this.settings.values()) {
      await this.trx
        .insertInto('report_settings')
        .values(row)
        .onConflict((oc) => oc.column('instance_id').doUpdateSet({ time_zone: row.time_zone, service_level_seconds: row.service_level_seconds, updated_at: row.updated_at }))
        .execute();
    }
    return ids.filter((id) => (this.zones.get(id) ?? 'UTC') !== this.settings.get(id)!.time_zone);
  }
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

// ---- contacts ------------------------------------------------------------------------------------------

async function projectContactEvent(batch: ReportBatch, instanceId: string, contactId: string, e: RecordedEvent): Promise<boolean> {
  const event = { type: e.type, data: e.data } as ContactEvent;
  const known = await batch.contact(instanceId, contactId);
  if (event.type === 'ContactCreated') {
    if (known) return false;
    const d = event.data;
    batch.putContact({
      instance_id: instanceId,
      contact_id: contactId,
      revision: e.revision,
      channel: d.channel,
      direction: d.direction,
      stage: 'CREATED',
      skill_group_id: null,
      served_skill_group_id: null,
      created_at: d.createdAt,
      queued_at: null,
      offered_at: null,
      ringing_agent_ids: [],
      in_transfer: false,
      agent_id: null,
      connected_at: null,
      held_at: null,
      first_response: false,
    });
    batch.addContactCounts(instanceId, d.createdAt, { channel: d.channel, direction: d.direction, skillGroupId: null, agentId: null }, { created: 1 });
    return true;
  }
  // No state: a contact whose creation this projection never saw; a revision already applied: counted once.
  if (!known || e.revision <= known.revision) return false;
  const s: ContactState = { ...known, ringing_agent_ids: [...known.ringing_agent_ids] };
  const counted = countContactEvent(batch, instanceId, s, event, e.metadata.occurredAt);
  // An event that counted nothing and changed nothing (a message past the first response, an event the
  // contact's stage ignores) would count nothing again: its row is not written (its revision not moved).
  if (!counted && (event.type === 'ContactMessageRecorded' || sameContact(s, known))) return false;
  s.revision = e.revision;
  batch.putContact(s);
  return counted;
}

const contactFields = ['stage', 'skill_group_id', 'served_skill_group_id', 'created_at', 'queued_at', 'offered_at', 'in_transfer', 'agent_id', 'connected_at', 'held_at', 'first_response'] as const;
/** Whether two states of a contact are the same but for the revision. */
function sameContact(a: ContactState, b: ContactState): boolean {
  return contactFields.every((f) => a[f] === b[f]) && a.ringing_agent_ids.length === b.ringing_agent_ids.length && a.ringing_agent_ids.every((id, i) => id === b.ringing_agent_ids[i]);
}

/** The key of a count about the contact in its current group, by `agentId` (null: the contact's own figures). */
const keyOf = (s: ContactState, agentId: string | null, group: string | null = s.skill_group_id): ContactKey => ({
  channel: s.channel,
  direction: s.direction,
  skillGroupId: group,
  agentId,
});
const servedBy = (s: ContactState, agentId: string | null) => keyOf(s, agentId, s.served_skill_group_id ?? s.skill_group_id);

/** The within-X counters a contact leaving the queue after `waitMs` adds. */
function queueExit(waitMs: number): Counts {
  const counts: Counts = { queue_exits: 1 };
  for (const x of serviceLevelThresholds) if (waitMs <= x * 1000) counts[`sl_${x}`] = 1;
  return counts;
}

const waiting = (s: ContactState) => s.stage === 'QUEUED' || s.stage === 'OFFERED';

/** Ends the serving agent's part at `at`: their talk (and a hold in progress) is counted. */
function endPart(batch: ReportBatch, instanceId: string, s: ContactState, at: string): void {
  if (!s.agent_id || !s.connected_at) return;
  const counts: Counts = { talk_ms: since(s.connected_at, at) };
  if (s.held_at) counts.hold_ms = since(s.held_at, at);
  batch.addContactCounts(instanceId, at, servedBy(s, s.agent_id), counts);
  s.agent_id = null;
  s.connected_at = null;
  s.held_at = null;
}

function countContactEvent(batch: ReportBatch, instanceId: string, s: ContactState, event: Exclude<ContactEvent, { type: 'ContactCreated' }>, at: string): boolean {
  switch (event.type) {
    case 'ContactFlowStarted':
      if (s.stage !== 'CREATED') return false;
      s.stage = 'FLOW';
      batch.addContactCounts(instanceId, at, keyOf(s, null, null), { ivr_entered: 1 });
      return true;
    case 'ContactQueued':
      return countQueued(batch, instanceId, s, event.data);
    case 'ContactOffered':
      return countOffered(batch, instanceId, s, event.data, at);
    case 'ContactOfferDeclined':
      return countOfferEnd(batch, instanceId, s, [event.data.agentId], at, 'agent_declined');
    case 'ContactOfferTimedOut':
      return countOfferEnd(batch, instanceId, s, event.data.agentIds, at, 'agent_missed');
    case 'ContactOfferWithdrawn':
      return countOfferEnd(batch, instanceId, s, event.data.agentIds, at, null);
    case 'ContactAccepted':
      return countAccepted(batch, instanceId, s, event.data);
    case 'ContactTransferred':
      batch.addContactCounts(instanceId, at, servedBy(s, event.data.fromAgentId), { transferred: 1 });
      endPart(batch, instanceId, s, at);
      // Queued again for the transfer (the same contact, not a new queueing: see README.md, "Report definitions").
      s.stage = 'QUEUED';
      s.in_transfer = true;
      s.skill_group_id = event.data.toSkillGroupId ?? s.skill_group_id;
      s.ringing_agent_ids = [];
      return true;
    case 'ConsultCompleted':
      batch.addContactCounts(instanceId, event.data.at, servedBy(s, event.data.fromAgentId), { transferred: 1 });
      endPart(batch, instanceId, s, event.data.at);
      s.agent_id = event.data.toAgentId;
      s.connected_at = event.data.at;
      batch.addContactCounts(instanceId, event.data.at, servedBy(s, event.data.toAgentId), { agent_answered: 1 });
      return true;
    case 'ContactMessageRecorded':
      return countFirstResponse(batch, instanceId, s, event.data);
    case 'ContactEnded':
      return countEnded(batch, instanceId, s, event.data.at, event.data.endedBy === 'CUSTOMER');
    case 'ContactRejected':
      return countEnded(batch, instanceId, s, at, false);
    case 'CallHeld':
      if (s.held_at || !s.connected_at) return false;
      s.held_at = event.data.at;
      return false;
    case 'CallResumed':
      if (!s.held_at) return false;
      batch.addContactCounts(instanceId, event.data.at, servedBy(s, s.agent_id), { hold_ms: since(s.held_at, event.data.at) });
      s.held_at = null;
      return true;
    case 'ContactAssigned':
      // An outbound call: the agent's from the start, never queued.
      s.agent_id = event.data.agentId;
      s.skill_group_id = s.skill_group_id ?? event.data.skillGroupId;
      s.served_skill_group_id = event.data.skillGroupId;
      batch.addContactCounts(instanceId, event.data.at, keyOf(s, event.data.agentId, event.data.skillGroupId), { agent_outbound: 1 });
      return true;
    case 'CallCustomerAnswered':
      if (s.direction !== 'OUT' || s.stage === 'CONNECTED' || s.stage === 'ENDED') return false;
      s.stage = 'CONNECTED';
      s.connected_at = event.data.at;
      batch.addContactCounts(instanceId, event.data.at, keyOf(s, s.agent_id, s.served_skill_group_id), { handled: 1 });
      return true;
    default:
      // Other contact events are not counted (eventTypes names only the ones above).
      return false;
  }
}

function countQueued(batch: ReportBatch, instanceId: string, s: ContactState, d: Of<'ContactQueued'>): boolean {
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
  batch.addContactCounts(instanceId, d.queuedAt, keyOf(s, null), { queued: 1 });
  return true;
}

function countOffered(batch: ReportBatch, instanceId: string, s: ContactState, d: Of<'ContactOffered'>, at: string): boolean {
  if (!waiting(s)) return false;
  const firstRing = s.stage === 'QUEUED' && s.ringing_agent_ids.length === 0 && !s.offered_at && !s.in_transfer;
  if (firstRing) batch.addContactCounts(instanceId, at, keyOf(s, null), { offered: 1 });
  s.stage = 'OFFERED';
  s.offered_at = at;
  s.ringing_agent_ids = [...d.agentIds];
  for (const agentId of d.agentIds) batch.addContactCounts(instanceId, at, keyOf(s, agentId), { agent_offered: 1 });
  return true;
}

function countOfferEnd(batch: ReportBatch, instanceId: string, s: ContactState, agentIds: string[], at: string, counter: 'agent_declined' | 'agent_missed' | null): boolean {
  if (counter) for (const agentId of agentIds) batch.addContactCounts(instanceId, at, keyOf(s, agentId), { [counter]: 1 });
  s.ringing_agent_ids = s.ringing_agent_ids.filter((a) => !agentIds.includes(a));
  if (s.stage === 'OFFERED' && s.ringing_agent_ids.length === 0) s.stage = 'QUEUED';
  return counter !== null;
}

function countAccepted(batch: ReportBatch, instanceId: string, s: ContactState, d: Of<'ContactAccepted'>): boolean {
  if (!waiting(s)) return false;
  const counts: Counts = { agent_answered: 1 };
  let maxWait = 0;
  if (s.offered_at) Object.assign(counts, { ring_count: 1, ring_ms: since(s.offered_at, d.at) });
  if (!s.in_transfer && s.queued_at) {
    const wait = since(s.queued_at, d.at);
    Object.assign(counts, { handled: 1, answer_wait_count: 1, answer_wait_ms: wait }, queueExit(wait));
    maxWait = wait;
  }
  batch.addContactCounts(instanceId, d.at, keyOf(s, d.agentId), counts, maxWait);
  s.stage = 'CONNECTED';
  s.agent_id = d.agentId;
  s.connected_at = d.at;
  s.served_skill_group_id = s.skill_group_id;
  s.ringing_agent_ids = [];
  s.offered_at = null;
  s.in_transfer = false;
  return true;
}

/** Whether a message may be a chat's first response (an agent's words), whatever the chat's state. */
function mayBeFirstResponse(d: Of<'ContactMessageRecorded'>): boolean {
  const kind = d.kind ?? (d.from === 'SYSTEM' ? 'SYSTEM' : 'TEXT');
  return d.from === 'AGENT' && kind !== 'SYSTEM';
}

function countFirstResponse(batch: ReportBatch, instanceId: string, s: ContactState, d: Of<'ContactMessageRecorded'>): boolean {
  if (s.first_response || !mayBeFirstResponse(d) || s.channel !== 'ONLINE') return false;
  s.first_response = true;
  batch.addContactCounts(instanceId, d.at, servedBy(s, d.agentId), { first_responses: 1, first_response_ms: since(s.queued_at ?? s.created_at, d.at) });
  return true;
}

function countEnded(batch: ReportBatch, instanceId: string, s: ContactState, at: string, byCustomer: boolean): boolean {
  if (s.stage === 'ENDED') return false;
  endPart(batch, instanceId, s, at);
  const stage = s.stage;
  s.stage = 'ENDED';
  if (s.in_transfer) return true;
  if (stage === 'CREATED' || stage === 'FLOW') {
    batch.addContactCounts(instanceId, at, keyOf(s, null, null), byCustomer ? { ivr_abandoned: 1 } : { rejected: 1 });
  } else if (stage === 'QUEUED' || stage === 'OFFERED') {
    const wait = since(s.queued_at, at);
    const counts: Counts = byCustomer
      ? { [stage === 'QUEUED' ? 'queue_abandoned' : 'ringing_abandoned']: 1, abandon_wait_ms: wait, ...queueExit(wait) }
      : { rejected: 1, ...queueExit(wait) };
    batch.addContactCounts(instanceId, at, keyOf(s, null), counts);
  }
  return true;
}

// ---- agents --------------------------------------------------------------------------------------------

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

async function projectAgentEvent(batch: ReportBatch, instanceId: string, agentId: string, e: RecordedEvent): Promise<boolean> {
  const event = { type: e.type, data: e.data } as AgentEvent;
  const at = e.metadata.occurredAt;
  const known = await batch.agent(instanceId, agentId);
  if (event.type === 'AgentCreated') {
    if (!known) {
      batch.putAgent({ instance_id: instanceId, agent_id: agentId, revision: e.revision, presence: 'OFFLINE', break_reason: null, since: null, contacts: {}, wrap_up_contact_id: null, wrap_up_since: null });
    }
    return false;
  }
  if (!known || e.revision <= known.revision) return false;
  const s: AgentState = { ...known, contacts: { ...known.contacts } };
  // The time since the last change counts in the state the agent was in (event times never go backwards here).
  const before = agentTimeCounter(s);
  const now = s.since ? Math.max(ms(at), ms(s.since)) : ms(at);
  if (before && s.since) batch.addAgentTime(instanceId, agentId, before, ms(s.since), now, s.break_reason);
  const counted = await changeAgent(batch, instanceId, agentId, s, event, new Date(now).toISOString());
  s.revision = e.revision;
  s.since = new Date(now);
  batch.putAgent(s);
  return counted || before !== null;
}

async function changeAgent(batch: ReportBatch, instanceId: string, agentId: string, s: AgentState, event: Exclude<AgentEvent, { type: 'AgentCreated' }>, at: string): Promise<boolean> {
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
      if (s.wrap_up_contact_id) await endWrapUp(batch, instanceId, agentId, s, at);
      s.wrap_up_contact_id = event.data.contactId;
      s.wrap_up_since = at;
      return true;
    case 'AgentWrapUpEnded':
      return endWrapUp(batch, instanceId, agentId, s, at);
    default:
      return false;
  }
}

/** After-call work ends: its time counts for the contact it followed (channel, direction, group), by this agent. */
async function endWrapUp(batch: ReportBatch, instanceId: string, agentId: string, s: AgentState, at: string): Promise<boolean> {
  if (!s.wrap_up_contact_id || !s.wrap_up_since) return false;
  const contact = await batch.contact(instanceId, s.wrap_up_contact_id);
  if (contact) batch.addContactCounts(instanceId, at, servedBy(contact, agentId), { acw_ms: since(s.wrap_up_since, at) });
  s.wrap_up_contact_id = null;
  s.wrap_up_since = null;
  return true;
}

// ---- settings ------------------------------------------------------------------------------------------

function projectSettings(batch: ReportBatch, instanceId: string, e: RecordedEvent): boolean {
  const d = e.data as { timeZone: string; serviceLevelSeconds: number };
  batch.putSettings(instanceId, d.timeZone, d.serviceLevelSeconds, e.metadata.occurredAt);
  return true;
}
