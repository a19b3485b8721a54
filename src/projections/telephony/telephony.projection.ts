// Trunks, numbers and agents' SIP extensions: what the SIP adapter looks up (through SipDirectory) and
// admins list.
import type { Selectable, Transaction } from 'kysely';
import type { EventMetadata, RecordedEvent } from '../../domain/ports/event-store.ts';
import type { PhoneNumberEvent } from '../../domain/telephony/phone-number.ts';
import { numberKey } from '../../domain/telephony/phone-number.ts';
import type { SipExtensionEvent } from '../../domain/telephony/sip-extension.ts';
import type { TrunkEvent } from '../../domain/telephony/trunk.ts';
import type { Projection } from '../projection.ts';
import type { ReadModelDb } from '../read-model-db.ts';

export type TrunkRow = Selectable<ReadModelDb['trunks']>;
export type PhoneNumberRow = Selectable<ReadModelDb['phone_numbers']>;
export type SipExtensionRow = Selectable<ReadModelDb['sip_extensions']>;

type Trx = Transaction<ReadModelDb>;
type TelephonyEvent = TrunkEvent | PhoneNumberEvent | SipExtensionEvent;
type Of<T extends TelephonyEvent['type']> = Extract<TelephonyEvent, { type: T }>['data'];

const handled: TelephonyEvent['type'][] = ['TrunkCreated', 'TrunkUpdated', 'TrunkDeleted', 'NumberBound', 'NumberUnbound', 'AgentSipCredentialsSet'];

const entityIdOf = (e: RecordedEvent) => e.streamId.slice(e.streamId.indexOf('.') + 1);

export const telephonyProjection: Projection = {
  name: 'telephony',
  tables: ['trunks', 'phone_numbers', 'sip_extensions'],
  eventTypes: new Set(handled),
  async apply(trx, e) {
    const event = { type: e.type, data: e.data } as TelephonyEvent;
    switch (event.type) {
      case 'TrunkCreated':
        return projectTrunkCreated(trx, event.data, e.metadata);
      case 'TrunkUpdated':
        return projectTrunkUpdated(trx, entityIdOf(e), event.data, e.metadata);
      case 'TrunkDeleted':
        return projectTrunkDeleted(trx, entityIdOf(e), e.metadata);
      case 'NumberBound':
        return projectNumberBound(trx, event.data, e.metadata);
      case 'NumberUnbound':
        return projectNumberUnbound(trx, event.data);
      case 'AgentSipCredentialsSet':
        return projectAgentSipCredentialsSet(trx, event.data, e.metadata);
      default: {
        const unknown: never = event;
        return unknown;
      }
    }
  },
};

async function projectTrunkCreated(trx: Trx, d: Of<'TrunkCreated'>, m: EventMetadata) {
  await trx
    .insertInto('trunks')
    .values({
      instance_id: m.instanceId,
      id: d.trunkId,
      name: d.name,
      allowed_addresses: JSON.stringify(d.allowedAddresses),
      digest_username: d.digest?.username ?? null,
      digest_ha1: d.digest?.ha1 ?? null,
      outbound_uri: d.outboundUri,
      created_at: m.occurredAt,
      updated_at: m.occurredAt,
    })
    .onConflict((c) => c.columns(['instance_id', 'id']).doNothing())
    .execute();
}

async function projectTrunkUpdated(trx: Trx, trunkId: string, d: Of<'TrunkUpdated'>, m: EventMetadata) {
  await trx
    .updateTable('trunks')
    .set({
      updated_at: m.occurredAt,
      ...(d.name === undefined ? {} : { name: d.name }),
      ...(d.allowedAddresses === undefined ? {} : { allowed_addresses: JSON.stringify(d.allowedAddresses) }),
      ...(d.digest === undefined ? {} : { digest_username: d.digest?.username ?? null, digest_ha1: d.digest?.ha1 ?? null }),
      ...(d.outboundUri === undefined ? {} : { outbound_uri: d.outboundUri }),
    })
    .where('instance_id', '=', m.instanceId)
    .where('id', '=', trunkId)
    .execute();
}

async function projectTrunkDeleted(trx: Trx, trunkId: string, m: EventMetadata) {
  await trx
    .updateTable('trunks')
    .set({ deleted_at: m.occurredAt, updated_at: m.occurredAt })
    .where('instance_id', '=', m.instanceId)
    .where('id', '=', trunkId)
    .where('deleted_at', 'is', null)
    .execute();
}

async function projectNumberBound(trx: Trx, d: Of<'NumberBound'>, m: EventMetadata) {
  await trx
    .insertInto('phone_numbers')
    .values({ number_key: numberKey(d.number), number: d.number, instance_id: d.instanceId, flow_id: d.flowId, bound_at: m.occurredAt, updated_at: m.occurredAt })
    .onConflict((c) =>
      c.column('number_key').doUpdateSet((eb) => ({
        number: eb.ref('excluded.number'),
        instance_id: eb.ref('excluded.instance_id'),
        flow_id: eb.ref('excluded.flow_id'),
        updated_at: eb.ref('excluded.updated_at'),
      })),
    )
    .execute();
}

async function projectNumberUnbound(trx: Trx, d: Of<'NumberUnbound'>) {
  await trx.deleteFrom('phone_numbers').where('number_key', '=', numberKey(d.number)).where('instance_id', '=', d.instanceId).execute();
}

async function projectAgentSipCredentialsSet(trx: Trx, d: Of<'AgentSipCredentialsSet'>, m: EventMetadata) {
  await trx
    .insertInto('sip_extensions')
    .values({ instance_id: m.instanceId, agent_id: d.agentId, username: d.username, ha1: d.ha1, updated_at: m.occurredAt })
    .onConflict((c) => c.columns(['instance_id', 'agent_id']).doUpdateSet({ username: d.username, ha1: d.ha1, updated_at: m.occurredAt }))
    .execute();
}
