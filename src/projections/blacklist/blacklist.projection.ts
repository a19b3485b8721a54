import type { Selectable, Transaction } from 'kysely';
import type { BlacklistEvent } from '../../domain/blacklist/blacklist.ts';
import type { EventMetadata } from '../../domain/ports/event-store.ts';
import type { Projection } from '../projection.ts';
import type { ReadModelDb } from '../read-model-db.ts';

export type BlacklistEntryRow = Selectable<ReadModelDb['blacklist_entries']>;

type Trx = Transaction<ReadModelDb>;
type Of<T extends BlacklistEvent['type']> = Extract<BlacklistEvent, { type: T }>['data'];

const handled: BlacklistEvent['type'][] = ['CustomerBlacklisted', 'BlacklistEntryRemoved'];

export const blacklistProjection: Projection = {
  name: 'blacklist',
  tables: ['blacklist_entries'],
  eventTypes: new Set(handled),
  async apply(trx, e) {
    const event = { type: e.type, data: e.data } as BlacklistEvent;
    switch (event.type) {
      case 'CustomerBlacklisted':
        return projectCustomerBlacklisted(trx, event.data, e.metadata);
      case 'BlacklistEntryRemoved':
        return projectBlacklistEntryRemoved(trx, event.data, e.metadata);
      default: {
        const unknown: never = event;
        return unknown;
      }
    }
  },
};

async function projectCustomerBlacklisted(trx: Trx, d: Of<'CustomerBlacklisted'>, m: EventMetadata) {
  await trx
    .insertInto('blacklist_entries')
    .values({
      instance_id: m.instanceId,
      id: d.entryId,
      channel: d.channel,
      identity: d.identity,
      reason: d.reason,
      expires_at: d.expiresAt,
      by_agent_id: d.byAgentId,
      contact_id: d.contactId,
      created_by: m.actor,
      created_at: m.occurredAt,
    })
    .onConflict((c) => c.columns(['instance_id', 'id']).doNothing())
    .execute();
}

async function projectBlacklistEntryRemoved(trx: Trx, d: Of<'BlacklistEntryRemoved'>, m: EventMetadata) {
  await trx
    .updateTable('blacklist_entries')
    .set({ removed_by: d.by, removed_at: m.occurredAt })
    .where('instance_id', '=', m.instanceId)
    .where('id', '=', d.entryId)
    .where('removed_at', 'is', null)
    .execute();
}
