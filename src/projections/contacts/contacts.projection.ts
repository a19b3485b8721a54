import { sql, type Selectable } from 'kysely';
import type { ChatAttachment, ChatFlowImage, ChatLink, ContactEvent, SystemMessage } from '../../domain/contact/contact.ts';
import type { ChatFlowOption } from '../../domain/flow/chat-flow-engine.ts';
import { messageOf } from '../../domain/contact/contact.ts';
import { busMessage, isRunEvent, messageRow, recordRun, runStatements } from './contact-messages.ts';
import type { RecordedEvent } from '../../domain/ports/event-store.ts';
import type { Projection } from '../projection.ts';
import type { ReadModelDb } from '../read-model-db.ts';

export type ContactRow = Selectable<ReadModelDb['contacts']>;

/** Offers and their ends, per instance; each agent's subscription keeps those naming them. */
export const agentOffersTopic = (instanceId: string) => `kefu.${instanceId}.agentOffers`;
export const contactsTopic = (instanceId: string) => `kefu.${instanceId}.contacts`;
/** Something that changes queues or who is free: skill group monitors and queue positions recompute. */
export const queuesTopic = (instanceId: string) => `kefu.${instanceId}.queues`;
/** One chat's messages, read state, typing (published by the API) and status changes (issue 11). */
export const conversationTopic = (instanceId: string, contactId: string) => `kefu.${instanceId}.conversation.${contactId}`;

/** A stored chat message as it travels on the bus (and as the read model's row reads). */
export interface ConversationMessage {
  id: string;
  contactId: string;
  seq: number;
  clientMessageId: string | null;
  sender: 'AGENT' | 'CUSTOMER' | 'SYSTEM';
  kind: 'TEXT' | 'IMAGE' | 'FILE' | 'LINK' | 'SYSTEM';
  agentId: string | null;
  text: string;
  attachment: ChatAttachment | null;
  system: SystemMessage | null;
  /** A chat flow's buttons and image (issue 12); absent on other messages. */
  options?: ChatFlowOption[] | null;
  image?: ChatFlowImage | null;
  /** A LINK message's card (issue 13); absent on other messages. */
  link?: ChatLink | null;
  sentAt: string;
}

export type ConversationBusMessage =
  | { kind: 'MESSAGE'; contactId: string; message: ConversationMessage }
  | { kind: 'READ'; contactId: string; sender: 'AGENT' | 'CUSTOMER'; agentId: string | null; readSeq: number }
  | { kind: 'TYPING'; contactId: string; sender: 'AGENT' | 'CUSTOMER'; agentId: string | null; typing: boolean }
  | { kind: 'STATUS'; contactId: string; status: string };

export interface OfferMessage {
  state: 'OFFERED' | 'ACCEPTED' | 'DECLINED' | 'TIMED_OUT' | 'WITHDRAWN' | 'CANCELLED';
  offerId: string;
  agentIds: string[];
  expiresAt: string;
  contactId: string;
}

const handled: ContactEvent['type'][] = [
  'ContactCreated',
  'ContactRejected',
  'ContactFlowStarted',
  'ContactKeyPressed',
  'ContactVariablesSet',
  'ContactQueued',
  'ContactOffered',
  'ContactOfferDeclined',
  'ContactOfferTimedOut',
  'ContactOfferWithdrawn',
  'ContactAccepted',
  'ContactTransferred',
  'ContactEnded',
  'ContactMessageRecorded',
  'ContactMessagesRead',
  'ConsultCompleted',
  'ContactAssigned',
];

/** Events that change what a chat's customer sees of its status. */
const chatStatusEvents = new Set<ContactEvent['type']>([
  'ContactRejected',
  'ContactQueued',
  'ContactOffered',
  'ContactOfferDeclined',
  'ContactOfferTimedOut',
  'ContactOfferWithdrawn',
  'ContactAccepted',
  'ContactTransferred',
  'ContactEnded',
]);

interface OfferColumn {
  offerId: string;
  agentIds: string[];
  expiresAt: string;
  transfer: { fromAgentId: string; note: string | null } | null;
}

export const contactsProjection: Projection = {
  name: 'contacts',
  tables: ['contacts', 'contact_messages'],
  // Live: a chat message's send is answered once this projection has it (settle), and its batch publishes the
  // message to the agent's and the customer's subscriptions. Not live, each batch waited for the fan-out's frames
  // in flight (afterLive, up to 100 ms: about always under a steady chat load) and then for the statements of
  // reports, webhooks and chat records in their shared transaction.
  live: true,
  eventTypes: new Set(handled),
  /** Events one by one, but a run of messages (with a flow step's choice, variables, queue) in one go (one statement: contact-messages.ts). */
  async applyBatch(trx, events, changes) {
    let run: RecordedEvent[] = [];
    const flush = async () => {
      if (run.length > 0) await recordRun(trx, run, changes);
      run = [];
    };
    for (const e of events) {
      if (isRunEvent(e)) {
        run.push(e);
        continue;
      }
      await flush();
      await contactsProjection.apply!(trx, e, changes);
    }
    await flush();
  },
  /**
   * A batch that is only a run of messages (a chat send: its ContactMessageRecorded, maybe with a flow step's
   * choice and variables) written with the checkpoint's move in one statement (runStatements): one round trip
   * instead of BEGIN + move, the run's statement and COMMIT, on what every chat send waits for. Anything else
   * (a queued chat's status, a contact created, an offer): null, the transaction.
   */
  batchStatement(events, changes) {
    return runStatements(events, changes);
  },
  async apply(trx, e, changes) {
    const event = { type: e.type, data: e.data } as ContactEvent;
    const instanceId = e.metadata.instanceId;
    const id = e.streamId.slice(e.streamId.indexOf('.') + 1);
    const at = e.metadata.occurredAt;
    const where = { instance_id: instanceId, id };
    // The row's channel and status after this event's last update (status changes only here): chatStatus needs no read.
    let updated: { channel: string; status: string } | undefined;
    const update = async (set: Record<string, unknown>) => {
      updated = await trx
        .updateTable('contacts')
        .set({ ...set, updated_at: at })
        .where('instance_id', '=', where.instance_id)
        .where('id', '=', where.id)
        .returning(['channel', 'status'])
        .executeTakeFirst();
    };
    const current = async () =>
      trx.selectFrom('contacts').selectAll().where('instance_id', '=', instanceId).where('id', '=', id).executeTakeFirst();
    const offerEnded = async (state: OfferMessage['state'], offerId: string, agentIds: string[]) => {
      const row = await current();
      const offer = row?.offer as OfferColumn | null | undefined;
      changes.publish(agentOffersTopic(instanceId), {
        state,
        offerId,
        agentIds,
        expiresAt: offer?.expiresAt ?? at,
        contactId: id,
      } satisfies OfferMessage);
      return offer;
    };
    const served = async (agentId: string) => {
      await trx
        .updateTable('contacts')
        .set({ served_agent_ids: sql`CASE WHEN served_agent_ids @> ${JSON.stringify([agentId])}::jsonb THEN served_agent_ids ELSE served_agent_ids || ${JSON.stringify([agentId])}::jsonb END` })
        .where('instance_id', '=', instanceId)
        .where('id', '=', id)
        .execute();
    };
    // A chat's status changed: its conversation's subscribers look again (issue 11).
    const chatStatus = async () => {
      const row = updated ?? (await trx.selectFrom('contacts').select(['channel', 'status']).where('instance_id', '=', instanceId).where('id', '=', id).executeTakeFirst());
      if (row?.channel === 'ONLINE') changes.publish(conversationTopic(instanceId, id), { kind: 'STATUS', contactId: id, status: row.status } satisfies ConversationBusMessage);
    };
    switch (event.type) {
      case 'ContactCreated': {
        const d = event.data;
        const source = d.source ?? null;
        await trx
          .insertInto('contacts')
          .values({
            instance_id: instanceId,
            id: d.contactId,
            channel: d.channel,
            direction: d.direction,
            customer: JSON.stringify(d.customer),
            data: JSON.stringify(d.data),
            status: 'CREATED',
            priority: 0,
            key_trail: '[]',
            created_at: at,
            updated_at: at,
            ...(source?.kind === 'WECHAT' ? { source: JSON.stringify(source) } : {}),
            ...(source && source.kind !== 'WECHAT'
              ? { source: JSON.stringify(source), web_channel_id: source.webChannelId, web_customer_id: d.customer.id, web_verified: source.verified }
              : {}),
          })
          .onConflict((c) => c.columns(['instance_id', 'id']).doNothing())
          .execute();
        break;
      }
      case 'ContactRejected':
        await update({ status: 'REJECTED', end_reason: event.data.reason, ended_by: 'SYSTEM', ended_at: at });
        break;
      case 'ContactFlowStarted':
        await update({ status: 'IN_FLOW' });
        break;
      // One statement each, no read first (a chat flow's step sets both on the send path, issue 12). A key press
      // the trail holds already (the same key at the same time) is a replay: not appended again.
      case 'ContactKeyPressed': {
        const key = sql`jsonb_build_array(${JSON.stringify(event.data)}::jsonb)`;
        await update({ key_trail: sql`CASE WHEN key_trail @> ${key} THEN key_trail ELSE coalesce(key_trail, '[]'::jsonb) || ${key} END` });
        break;
      }
      case 'ContactVariablesSet':
        await update({ data: sql`coalesce(data, '{}'::jsonb) || ${JSON.stringify(event.data.variables)}::jsonb` });
        break;
      case 'ContactQueued':
        await update({
          status: 'QUEUED',
          skill_group_id: event.data.skillGroupId,
          priority: event.data.priority,
          queued_at: event.data.queuedAt,
          offer: null,
          ...(event.data.leftMessage ? { left_message: true } : {}),
        });
        break;
      case 'ContactOffered': {
        const offer: OfferColumn = { offerId: event.data.offerId, agentIds: event.data.agentIds, expiresAt: event.data.expiresAt, transfer: event.data.transfer };
        await update({ status: 'OFFERED', offer: JSON.stringify(offer) });
        changes.publish(agentOffersTopic(instanceId), {
          state: 'OFFERED',
          offerId: offer.offerId,
          agentIds: offer.agentIds,
          expiresAt: offer.expiresAt,
          contactId: id,
        } satisfies OfferMessage);
        break;
      }
      case 'ContactOfferDeclined':
      case 'ContactOfferTimedOut':
      case 'ContactOfferWithdrawn': {
        const agentIds = event.type === 'ContactOfferDeclined' ? [event.data.agentId] : event.data.agentIds;
        const state = event.type === 'ContactOfferDeclined' ? 'DECLINED' : event.type === 'ContactOfferTimedOut' ? 'TIMED_OUT' : 'WITHDRAWN';
        const offer = await offerEnded(state, event.data.offerId, agentIds);
        if (offer && offer.offerId === event.data.offerId) {
          const left = offer.agentIds.filter((a) => !agentIds.includes(a));
          if (left.length > 0) await update({ offer: JSON.stringify({ ...offer, agentIds: left }) });
          else if (event.type !== 'ContactOfferWithdrawn') await update({ status: 'QUEUED', offer: null });
        }
        break;
      }
      case 'ContactAccepted': {
        // One statement, one new version of the row (every chat and call taken): the row connected, the agent
        // added to those who served it (once), and the offer as it was before (its expiry for the ACCEPTED
        // message) from the statement's snapshot. It was a read, the update and a second update (served).
        const { agentId, offerId } = event.data;
        const agent = JSON.stringify([agentId]);
        const r = await sql<{ offer: OfferColumn | null; channel: string; status: string }>`UPDATE contacts AS c SET
            status = 'CONNECTED', agent_id = ${agentId}, offer = NULL, connected_at = ${event.data.at}, updated_at = ${at},
            served_agent_ids = CASE WHEN c.served_agent_ids @> ${agent}::jsonb THEN c.served_agent_ids ELSE c.served_agent_ids || ${agent}::jsonb END
          FROM (SELECT offer FROM contacts WHERE instance_id = ${instanceId} AND id = ${id}) AS o
          WHERE c.instance_id = ${instanceId} AND c.id = ${id}
          RETURNING o.offer, c.channel, c.status`.execute(trx);
        const row = r.rows[0];
        changes.publish(agentOffersTopic(instanceId), { state: 'ACCEPTED', offerId, agentIds: [agentId], expiresAt: row?.offer?.expiresAt ?? at, contactId: id } satisfies OfferMessage);
        updated = row && { channel: row.channel, status: row.status };
        break;
      }
      case 'ContactTransferred':
        await update({
          status: 'QUEUED',
          skill_group_id: event.data.toSkillGroupId ?? (await current())?.skill_group_id ?? null,
          agent_id: null,
          transfer: JSON.stringify(event.data),
        });
        break;
      case 'ContactMessageRecorded': {
        // Events before issue 11 carry no seq: they are numbered in order, after the messages stored so far.
        let fallbackSeq = 0;
        if (event.data.seq === undefined) {
          const last = await trx
            .selectFrom('contact_messages')
            .select((eb) => eb.fn.max('seq').as('seq'))
            .where('instance_id', '=', instanceId)
            .where('contact_id', '=', id)
            .executeTakeFirst();
          fallbackSeq = Number(last?.seq ?? 0) + 1;
        }
        const m = messageOf(event.data, fallbackSeq);
        // The message and the chat's last seq in one statement (the insert as a CTE: it runs exactly once).
        await trx
          .with('recorded', (db) =>
            db
              .insertInto('contact_messages')
              .values(messageRow(instanceId, id, m))
              // Applied again (a replay): the message (and its seq) is there already.
              .onConflict((c) => c.doNothing()),
          )
          .updateTable('contacts')
          .set({ last_seq: sql`greatest(last_seq, ${m.seq})`, updated_at: at })
          .where('instance_id', '=', instanceId)
          .where('id', '=', id)
          .execute();
        const message = busMessage(id, m);
        changes.publish(conversationTopic(instanceId, id), { kind: 'MESSAGE', contactId: id, message } satisfies ConversationBusMessage);
        // A message changes no queue and no contact's state: nothing else to tell.
        return;
      }
      case 'ContactMessagesRead': {
        const { by, agentId, seq } = event.data;
        const column = by === 'AGENT' ? 'agent_last_read_seq' : 'customer_last_read_seq';
        await trx
          .updateTable('contacts')
          .set({ [column]: sql`greatest(${sql.ref(column)}, ${seq})` })
          .where('instance_id', '=', instanceId)
          .where('id', '=', id)
          .execute();
        changes.publish(conversationTopic(instanceId, id), { kind: 'READ', contactId: id, sender: by, agentId, readSeq: seq } satisfies ConversationBusMessage);
        return;
      }
      case 'ContactEnded': {
        const row = await current();
        const offer = row?.offer as OfferColumn | null | undefined;
        if (row?.status === 'OFFERED' && offer) await offerEnded('CANCELLED', offer.offerId, offer.agentIds);
        await update({ status: 'ENDED', end_reason: event.data.reason, ended_by: event.data.endedBy, ended_at: at, offer: null, agent_id: event.data.agentId });
        break;
      }
      case 'CallStarted':
      case 'CallAgentLegRinging':
      case 'CallRecordingStarted':
      case 'CallRecordingCompleted':
      case 'CallHeld':
      case 'CallResumed':
      case 'ConsultStarted':
      case 'ConsultAnswered':
      case 'ConsultCancelled':
      case 'CallAgentLegAnswered':
      case 'CallCustomerDialled':
      case 'CallCustomerAnswered':
      case 'CallMediaSilent':
      case 'CallMediaMeasured':
      case 'ContactRated':
        // Phone details live in the callRecords read model (ratings: both record read models).
        return;
      case 'ContactChatFlowAdvanced':
        // The flow's place is the runner's; what the step did came as its own events before this one.
        return;
      case 'ContactAssigned':
        // An outbound call: the agent's from the start.
        await update({ status: 'CONNECTED', agent_id: event.data.agentId, skill_group_id: event.data.skillGroupId, connected_at: event.data.at });
        await served(event.data.agentId);
        break;
      case 'ConsultCompleted':
        // A warm transfer: the agent consulted now serves the contact.
        await update({ agent_id: event.data.toAgentId });
        await served(event.data.toAgentId);
        break;
      default: {
        const unknown: never = event;
        return unknown;
      }
    }
    changes.publish(contactsTopic(instanceId), { contactId: id });
    changes.publish(queuesTopic(instanceId), { contactId: id });
    if (chatStatusEvents.has(event.type)) await chatStatus();
  },
};
