import type { Selectable } from 'kysely';
import type { ContactEvent } from '../../domain/contact/contact.ts';
import type { Projection } from '../projection.ts';
import type { ReadModelDb } from '../read-model-db.ts';

export type ContactRow = Selectable<ReadModelDb['contacts']>;

/** Offers and their ends, per instance; each agent's subscription keeps those naming them. */
export const agentOffersTopic = (instanceId: string) => `kefu.${instanceId}.agentOffers`;
export const contactsTopic = (instanceId: string) => `kefu.${instanceId}.contacts`;
/** Something that changes queues or who is free: skill group monitors and queue positions recompute. */
export const queuesTopic = (instanceId: string) => `kefu.${instanceId}.queues`;

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
  'ConsultCompleted',
  'ContactAssigned',
];

interface OfferColumn {
  offerId: string;
  agentIds: string[];
  expiresAt: string;
  transfer: { fromAgentId: string; note: string | null } | null;
}

export const contactsProjection: Projection = {
  name: 'contacts',
  tables: ['contacts', 'contact_messages'],
  eventTypes: new Set(handled),
  async apply(trx, e, changes) {
    const event = { type: e.type, data: e.data } as ContactEvent;
    const instanceId = e.metadata.instanceId;
    const id = e.streamId.slice(e.streamId.indexOf('.') + 1);
    const at = e.metadata.occurredAt;
    const where = { instance_id: instanceId, id };
    const update = async (set: Record<string, unknown>) => {
      await trx
        .updateTable('contacts')
        .set({ ...set, updated_at: at })
        .where('instance_id', '=', where.instance_id)
        .where('id', '=', where.id)
        .execute();
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
    switch (event.type) {
      case 'ContactCreated': {
        const d = event.data;
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
      case 'ContactKeyPressed': {
        const row = await current();
        const trail = [...((row?.key_trail as unknown[]) ?? []), event.data];
        await update({ key_trail: JSON.stringify(trail) });
        break;
      }
      case 'ContactVariablesSet': {
        const row = await current();
        await update({ data: JSON.stringify({ ...((row?.data as Record<string, string>) ?? {}), ...event.data.variables }) });
        break;
      }
      case 'ContactQueued':
        await update({ status: 'QUEUED', skill_group_id: event.data.skillGroupId, priority: event.data.priority, queued_at: event.data.queuedAt, offer: null });
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
      case 'ContactAccepted':
        await offerEnded('ACCEPTED', event.data.offerId, [event.data.agentId]);
        await update({ status: 'CONNECTED', agent_id: event.data.agentId, offer: null, connected_at: event.data.at });
        break;
      case 'ContactTransferred':
        await update({
          status: 'QUEUED',
          skill_group_id: event.data.toSkillGroupId ?? (await current())?.skill_group_id ?? null,
          agent_id: null,
          transfer: JSON.stringify(event.data),
        });
        break;
      case 'ContactMessageRecorded':
        await trx
          .insertInto('contact_messages')
          .values({ instance_id: instanceId, contact_id: id, id: event.data.messageId, sender: event.data.from, agent_id: event.data.agentId, text: event.data.text, sent_at: event.data.at })
          .onConflict((c) => c.columns(['instance_id', 'contact_id', 'id']).doNothing())
          .execute();
        break;
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
        // Phone details live in the callRecords read model.
        return;
      case 'ContactAssigned':
        // An outbound call: the agent's from the start.
        await update({ status: 'CONNECTED', agent_id: event.data.agentId, skill_group_id: event.data.skillGroupId, connected_at: event.data.at });
        break;
      case 'ConsultCompleted':
        // A warm transfer: the agent consulted now serves the contact.
        await update({ agent_id: event.data.toAgentId });
        break;
      default: {
        const unknown: never = event;
        return unknown;
      }
    }
    changes.publish(contactsTopic(instanceId), { contactId: id });
    changes.publish(queuesTopic(instanceId), { contactId: id });
  },
};
