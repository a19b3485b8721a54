// Web channels (OL-2): the admins' list, and the lookup of a widget's key when a customer session starts.
import type { Selectable, Transaction } from 'kysely';
import type { WebChannelEvent } from '../../domain/web-channel/web-channel.ts';
import type { EventMetadata } from '../../domain/ports/event-store.ts';
import type { Projection } from '../projection.ts';
import type { ReadModelDb } from '../read-model-db.ts';

export type WebChannelRow = Selectable<ReadModelDb['web_channels']>;

type Trx = Transaction<ReadModelDb>;
type Of<T extends WebChannelEvent['type']> = Extract<WebChannelEvent, { type: T }>['data'];

const handled: WebChannelEvent['type'][] = ['WebChannelCreated', 'WebChannelUpdated', 'WebChannelSecretRotated', 'WebChannelDeleted'];

/** The channel's id is the stream's entity: `webchannel-<instanceId>.<webChannelId>`. */
function channelIdOf(streamId: string): string {
  return streamId.slice(streamId.indexOf('.') + 1);
}

export const webChannelsProjection: Projection = {
  name: 'webChannels',
  tables: ['web_channels'],
  eventTypes: new Set(handled),
  async apply(trx, e) {
    const event = { type: e.type, data: e.data } as WebChannelEvent;
    const id = channelIdOf(e.streamId);
    switch (event.type) {
      case 'WebChannelCreated':
        return projectWebChannelCreated(trx, event.data, e.metadata);
      case 'WebChannelUpdated':
        return projectWebChannelUpdated(trx, id, event.data, e.metadata);
      case 'WebChannelSecretRotated':
        return update(trx, id, e.metadata, { identity_secret: event.data.identitySecret });
      case 'WebChannelDeleted':
        return update(trx, id, e.metadata, { deleted_at: e.metadata.occurredAt, enabled: false });
      default: {
        const unknown: never = event;
        return unknown;
      }
    }
  },
};

async function projectWebChannelCreated(trx: Trx, d: Of<'WebChannelCreated'>, m: EventMetadata) {
  await trx
    .insertInto('web_channels')
    .values({
      instance_id: m.instanceId,
      id: d.webChannelId,
      name: d.name,
      public_key: d.publicKey,
      allowed_origins: JSON.stringify(d.allowedOrigins),
      skill_group_id: d.skillGroupId,
      welcome_text: d.welcomeText,
      flow_id: d.flowId ?? null,
      reception_prompts: d.receptionPrompts ? JSON.stringify(d.receptionPrompts) : null,
      work_hours: d.workHours ? JSON.stringify(d.workHours) : null,
      av_settings: d.av ? JSON.stringify(d.av) : null,
      enabled: true,
      identity_secret: d.identitySecret,
      created_at: m.occurredAt,
      updated_at: m.occurredAt,
    })
    .onConflict((c) => c.columns(['instance_id', 'id']).doNothing())
    .execute();
}

async function projectWebChannelUpdated(trx: Trx, id: string, d: Of<'WebChannelUpdated'>, m: EventMetadata) {
  await update(trx, id, m, {
    ...(d.name !== undefined ? { name: d.name } : {}),
    ...(d.allowedOrigins !== undefined ? { allowed_origins: JSON.stringify(d.allowedOrigins) } : {}),
    ...(d.skillGroupId !== undefined ? { skill_group_id: d.skillGroupId } : {}),
    ...(d.welcomeText !== undefined ? { welcome_text: d.welcomeText } : {}),
    ...(d.flowId !== undefined ? { flow_id: d.flowId } : {}),
    ...(d.enabled !== undefined ? { enabled: d.enabled } : {}),
    ...(d.receptionPrompts !== undefined ? { reception_prompts: d.receptionPrompts === null ? null : JSON.stringify(d.receptionPrompts) } : {}),
    ...(d.workHours !== undefined ? { work_hours: d.workHours === null ? null : JSON.stringify(d.workHours) } : {}),
    ...(d.av !== undefined ? { av_settings: d.av === null ? null : JSON.stringify(d.av) } : {}),
  });
}

async function update(trx: Trx, id: string, m: EventMetadata, set: Partial<{ name: string; allowed_origins: string; skill_group_id: string; welcome_text: string | null; flow_id: string | null; enabled: boolean; identity_secret: string; deleted_at: string; reception_prompts: string | null; work_hours: string | null; av_settings: string | null }>) {
  await trx
    .updateTable('web_channels')
    .set({ ...set, updated_at: m.occurredAt })
    .where('instance_id', '=', m.instanceId)
    .where('id', '=', id)
    .execute();
}
