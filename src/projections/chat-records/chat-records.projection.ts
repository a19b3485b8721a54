// chatRecords: one row per ONLINE contact (a chat), as contact center users know a chat record (CCC's
// IMCdrInfo, CHANNELS.md): where it came from (a web channel or an integration), the customer, the time of
// each stage (created, queued, first offered, accepted, the agent's first reply, ended) and the queue,
// first-response and total durations, how it ended (chatEndStatusOf) and who ended it, the agents who
// served it and its transfers, and how many messages each side sent. Other contacts are ignored.
//
// Idempotent: the row keeps the stream revision of the last event applied, and an event at or before it is
// a repeat (a retried batch, a parked part replayed) that changes nothing. So counts never double, and a
// rebuild from zero gives the same rows.
//
// Reads ContactMessageRecorded in both shapes: before issue 11 (from AGENT | CUSTOMER, no seq) and after
// (seq, from SYSTEM, kind), so events recorded before and after the change count the same way.
import { sql, type Selectable, type Transaction, type Updateable } from 'kysely';
import type { RecordedEvent } from '../../domain/ports/event-store.ts';
import { chatEndStatusOf } from '../../domain/contact/chat-end-status.ts';
import type { ContactEvent, ContactRating, EndedBy, RejectReason } from '../../domain/contact/contact.ts';
import { preparedMark } from '../../adapters/sql/kysely-dialect.ts';
import type { Projection } from '../projection.ts';
import { countMessages, isCountableInBatch, type MessageRecorded } from './count-messages.ts';
import type { ReadModelDb } from '../read-model-db.ts';

export type ChatRecordRow = Selectable<ReadModelDb['chat_records']>;

/** A chat record changed: `{ contactId }`. */
export const chatRecordsTopic = (instanceId: string) => `kefu.${instanceId}.chatRecords`;

/** One transfer of a chat (OL-4): from the agent serving it, to an agent or a skill group, with a note. */
export interface ChatTransfer {
  fromAgentId: string;
  toAgentId: string | null;
  toSkillGroupId: string | null;
  note: string | null;
  at: string;
  /** Who took the chat after this transfer, and when (null until someone did). */
  acceptedByAgentId: string | null;
  acceptedAt: string | null;
}

/** The satisfaction the customer left (issue 12), as CCC's { id, label }; call records keep the same. */
export interface ChatSatisfaction {
  value: number;
  label: string;
  comment?: string | null;
  /** The keypad survey's key (calls). */
  key?: string | null;
  ratedAt?: string;
}

/** What a record keeps of a ContactRated. */
export function ratingRecord(d: ContactRating): ChatSatisfaction {
  return { value: d.value, label: d.label, comment: d.comment, key: d.key, ratedAt: d.at };
}

type Trx = Transaction<ReadModelDb>;
type Patch = Updateable<ReadModelDb['chat_records']>;
interface Ref {
  instanceId: string;
  contactId: string;
  revision: number;
  /** When the event happened (metadata.occurredAt), for events without their own time. */
  at: string;
}

// The event data read here, loosely: fields added later (issue 11) are optional.
interface Created {
  channel: string;
  customer: { kind: string; id: string; name: string | null };
  createdAt: string;
  source?: { kind?: string; webChannelId?: string; verified?: boolean; pageUrl?: string | null } | null;
}

const handled: ContactEvent['type'][] = [
  'ContactCreated',
  'ContactRejected',
  'ContactQueued',
  'ContactOffered',
  'ContactAccepted',
  'ContactTransferred',
  'ContactMessageRecorded',
  'ContactEnded',
  'ContactRated',
];

export const chatRecordsProjection: Projection = {
  name: 'chatRecords',
  tables: ['chat_records'],
  eventTypes: new Set(handled),
  /** Events one by one, but a run of messages counted in one statement (count-messages.ts). */
  async applyBatch(trx, events, changes) {
    let run: RecordedEvent[] = [];
    const flush = async () => {
      if (run.length === 1) await chatRecordsProjection.apply!(trx, run[0]!, changes);
      else if (run.length > 1) for (const c of await countMessages(trx, run)) changes.publish(chatRecordsTopic(c.instanceId), { contactId: c.contactId });
      run = [];
    };
    for (const e of events) {
      if (isCountableInBatch(e)) {
        run.push(e);
        continue;
      }
      await flush();
      await chatRecordsProjection.apply!(trx, e, changes);
    }
    await flush();
  },
  async apply(trx, e, changes) {
    const ref: Ref = { instanceId: e.metadata.instanceId, contactId: e.streamId.slice(e.streamId.indexOf('.') + 1), revision: e.revision, at: e.metadata.occurredAt };
    const changed =
      e.type === 'ContactCreated'
        ? await insertRow(trx, ref, e.data as unknown as Created)
        : e.type === 'ContactMessageRecorded'
          ? await countMessage(trx, ref, e.data as unknown as MessageRecorded)
          : e.type === 'ContactQueued'
            ? await queued(trx, ref, e.data as { skillGroupId: string; queuedAt: string })
            : await patchRow(trx, ref, (row) => change(row, ref, e));
    if (changed) changes.publish(chatRecordsTopic(ref.instanceId), { contactId: ref.contactId });
  },
};

async function insertRow(trx: Trx, ref: Ref, d: Created): Promise<boolean> {
  // Chats, and customers' AV calls from the web (issue 14: the same conversation, queue and agents).
  if (d.channel !== 'ONLINE' && d.channel !== 'AV') return false;
  const web = d.source?.kind === 'WEB' ? d.source : null;
  const r = await trx
    .insertInto('chat_records')
    .values({
      instance_id: ref.instanceId,
      contact_id: ref.contactId,
      last_revision: ref.revision,
      source_kind: web ? 'WEB' : d.source?.kind === 'WECHAT' ? 'WECHAT' : 'API',
      web_channel_id: web?.webChannelId ?? null,
      page_url: web?.pageUrl ?? null,
      customer_kind: d.customer.kind,
      customer_id: d.customer.id,
      customer_name: d.customer.name ?? null,
      customer_verified: web ? (web.verified ?? false) : null,
      created_at: d.createdAt,
      transfers: '[]',
      updated_at: ref.at,
    })
    .onConflict((c) => c.columns(['instance_id', 'contact_id']).doNothing())
    .executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0n) > 0;
}

/** Reads the chat's row, lets `change` compute a patch, and writes it. No row (not a chat) or a repeat: nothing. */
async function patchRow(trx: Trx, ref: Ref, compute: (row: ChatRecordRow) => Patch | null): Promise<boolean> {
  const row = await trx
    .selectFrom('chat_records')
    .selectAll()
    .where('instance_id', '=', ref.instanceId)
    .where('contact_id', '=', ref.contactId)
    .executeTakeFirst();
  if (!row || ref.revision <= row.last_revision) return false;
  const patch = compute(row);
  await trx
    .updateTable('chat_records')
    .set({ ...(patch ?? {}), last_revision: ref.revision, ...(patch ? { updated_at: ref.at } : {}) })
    .where('instance_id', '=', ref.instanceId)
    .where('contact_id', '=', ref.contactId)
    .execute();
  return patch !== null;
}

/**
 * A queue in one statement (a chat flow's route on the send path, issue 12): the same change as `change`
 * computes for ContactQueued, made by the UPDATE on the row as it is, and only past the row's revision.
 */
async function queued(trx: Trx, ref: Ref, d: { skillGroupId: string; queuedAt: string }): Promise<boolean> {
  const r = await trx
    .updateTable('chat_records')
    .set({
      queued_at: sql<Date>`coalesce(queued_at, ${d.queuedAt}::timestamptz)`,
      skill_group_id: sql<string>`coalesce(skill_group_id, ${d.skillGroupId})`,
      last_skill_group_id: d.skillGroupId,
      last_revision: ref.revision,
      updated_at: ref.at,
    })
    .where('instance_id', '=', ref.instanceId)
    .where('contact_id', '=', ref.contactId)
    .where('last_revision', '<', ref.revision)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/**
 * A message counted in one statement (the busiest event of a chat): the same change as `change` computes
 * for ContactMessageRecorded, made by the UPDATE itself on the row as it is, and only past the row's revision.
 */
async function countMessage(trx: Trx, ref: Ref, d: MessageRecorded): Promise<boolean> {
  const seq = typeof d.seq === 'number' ? sql`greatest(last_seq, ${d.seq}::int)` : sql`last_seq + 1`;
  const side =
    d.from === 'SYSTEM' || d.kind === 'SYSTEM' || (d.system !== null && d.system !== undefined)
      ? sql`system_messages = system_messages + 1`
      : d.from === 'CUSTOMER'
        ? sql`customer_messages = customer_messages + 1`
        : // As secondsBetween(accepted_at, at): whole seconds, never negative, null without an accept.
          sql`agent_messages = agent_messages + 1,
            first_response_seconds = CASE WHEN first_agent_reply_at IS NULL THEN greatest(0, floor(extract(epoch FROM (${d.at}::timestamptz - accepted_at)) + 0.5))::int ELSE first_response_seconds END,
            first_agent_reply_at = coalesce(first_agent_reply_at, ${d.at}::timestamptz)`;
  // Marked (one text per side and seq form, every value a parameter): prepared on PostgreSQL, not parsed and
  // planned again at each message a batch counts alone (about every other batch under a chat load).
  const r = await sql`${sql.raw(preparedMark)}UPDATE chat_records SET ${side}, last_seq = ${seq}, last_revision = ${ref.revision}::int, updated_at = ${ref.at}::timestamptz
    WHERE instance_id = ${ref.instanceId}::text AND contact_id = ${ref.contactId}::text AND last_revision < ${ref.revision}::int`.execute(trx);
  return Number(r.numAffectedRows ?? 0n) > 0;
}

/** Whole seconds from `from` to `to` (never negative); null when either did not happen. */
export function secondsBetween(from: Date | string | null, to: Date | string | null): number | null {
  if (!from || !to) return null;
  return Math.max(0, Math.round((new Date(to).getTime() - new Date(from).getTime()) / 1000));
}

function change(row: ChatRecordRow, ref: Ref, e: RecordedEvent): Patch | null {
  const event = { type: e.type, data: e.data } as ContactEvent;
  switch (event.type) {
    case 'ContactQueued': {
      // The first queue is the record's; an overflow moves the last one.
      const d = event.data;
      return { queued_at: row.queued_at ?? d.queuedAt, skill_group_id: row.skill_group_id ?? d.skillGroupId, last_skill_group_id: d.skillGroupId };
    }
    case 'ContactOffered':
      return row.offered_at ? null : { offered_at: ref.at };
    case 'ContactAccepted': {
      const d = event.data;
      const agentIds = row.agent_ids.includes(d.agentId) ? row.agent_ids : [...row.agent_ids, d.agentId];
      const transfers = row.transfers;
      const last = transfers.at(-1);
      const taken = last && last.acceptedByAgentId === null ? [...transfers.slice(0, -1), { ...last, acceptedByAgentId: d.agentId, acceptedAt: d.at }] : transfers;
      return {
        agent_id: d.agentId,
        agent_ids: agentIds,
        transfers: JSON.stringify(taken),
        ...(row.accepted_at ? {} : { accepted_at: d.at, queue_seconds: secondsBetween(row.queued_at, d.at) }),
      };
    }
    case 'ContactTransferred': {
      const d = event.data;
      const transfer: ChatTransfer = { fromAgentId: d.fromAgentId, toAgentId: d.toAgentId, toSkillGroupId: d.toSkillGroupId, note: d.note, at: ref.at, acceptedByAgentId: null, acceptedAt: null };
      return { transfers: JSON.stringify([...row.transfers, transfer]), last_skill_group_id: d.toSkillGroupId ?? row.last_skill_group_id };
    }
    case 'ContactMessageRecorded': {
      const d = event.data as unknown as MessageRecorded;
      const seq = typeof d.seq === 'number' ? Math.max(row.last_seq, d.seq) : row.last_seq + 1;
      if (d.from === 'SYSTEM' || d.kind === 'SYSTEM' || (d.system !== null && d.system !== undefined)) return { system_messages: row.system_messages + 1, last_seq: seq };
      if (d.from === 'CUSTOMER') return { customer_messages: row.customer_messages + 1, last_seq: seq };
      const firstReply = row.first_agent_reply_at ? {} : { first_agent_reply_at: d.at, first_response_seconds: secondsBetween(row.accepted_at, d.at) };
      return { agent_messages: row.agent_messages + 1, last_seq: seq, ...firstReply };
    }
    case 'ContactEnded': {
      const d = event.data;
      return ending(row, d.at, { reason: d.reason, endedBy: d.endedBy }, null);
    }
    case 'ContactRejected':
      return ending(row, ref.at, null, event.data.reason);
    case 'ContactRated':
      return { satisfaction: JSON.stringify(ratingRecord(event.data)) };
    default:
      return null;
  }
}

function ending(row: ChatRecordRow, at: string, ended: { reason: string; endedBy: EndedBy } | null, rejected: RejectReason | null): Patch {
  return {
    ended_at: at,
    ended_by: ended?.endedBy ?? 'SYSTEM',
    end_reason: ended?.reason ?? rejected,
    end_status: chatEndStatusOf(ended, rejected, row.transfers.length > 0),
    total_seconds: secondsBetween(row.created_at, at),
    // A chat nobody took waited in the queue until it ended.
    ...(row.accepted_at ? {} : { queue_seconds: secondsBetween(row.queued_at, at) }),
  };
}
