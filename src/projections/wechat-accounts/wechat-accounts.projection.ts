// WeChat accounts (issue 13): the admins' list, and the account a callback names.
import type { Selectable, Transaction } from 'kysely';
import type { WechatAccountEvent } from '../../domain/wechat-account/wechat-account.ts';
import type { EventMetadata } from '../../domain/ports/event-store.ts';
import type { Projection } from '../projection.ts';
import type { ReadModelDb } from '../read-model-db.ts';

export type WechatAccountRow = Selectable<ReadModelDb['wechat_accounts']>;

type Trx = Transaction<ReadModelDb>;
type Of<T extends WechatAccountEvent['type']> = Extract<WechatAccountEvent, { type: T }>['data'];

const handled: WechatAccountEvent['type'][] = ['WechatAccountCreated', 'WechatAccountUpdated', 'WechatAccountSecretsChanged', 'WechatAccountDeleted'];

/** Topic of changes to an instance's WeChat accounts (callbacks forget what they had cached). */
export const wechatAccountsTopic = (instanceId: string) => `kefu.${instanceId}.wechatAccounts`;

export const wechatAccountsProjection: Projection = {
  name: 'wechatAccounts',
  tables: ['wechat_accounts'],
  eventTypes: new Set(handled),
  async apply(trx, e, changes) {
    const event = { type: e.type, data: e.data } as WechatAccountEvent;
    const id = e.streamId.slice(e.streamId.indexOf('.') + 1);
    switch (event.type) {
      case 'WechatAccountCreated':
        await projectWechatAccountCreated(trx, event.data, e.metadata);
        break;
      case 'WechatAccountUpdated':
        await projectWechatAccountUpdated(trx, id, event.data, e.metadata);
        break;
      case 'WechatAccountSecretsChanged':
        await update(trx, id, e.metadata, {
          ...(event.data.appSecret !== undefined ? { app_secret: event.data.appSecret } : {}),
          ...(event.data.token !== undefined ? { token: event.data.token } : {}),
          ...(event.data.encodingAesKey !== undefined ? { encoding_aes_key: event.data.encodingAesKey } : {}),
        });
        break;
      case 'WechatAccountDeleted':
        await update(trx, id, e.metadata, { deleted_at: e.metadata.occurredAt, enabled: false });
        break;
      default: {
        const unknown: never = event;
        return unknown;
      }
    }
    changes.publish(wechatAccountsTopic(e.metadata.instanceId), { wechatAccountId: id });
  },
};

async function projectWechatAccountCreated(trx: Trx, d: Of<'WechatAccountCreated'>, m: EventMetadata) {
  await trx
    .insertInto('wechat_accounts')
    .values({
      instance_id: m.instanceId,
      id: d.wechatAccountId,
      name: d.name,
      kind: d.kind,
      app_id: d.appId,
      original_id: d.originalId,
      message_mode: d.messageMode,
      data_format: d.dataFormat,
      skill_group_id: d.skillGroupId,
      flow_id: d.flowId,
      send_quota: d.sendQuota,
      enabled: true,
      app_secret: d.appSecret,
      token: d.token,
      encoding_aes_key: d.encodingAesKey,
      welcome_text: d.welcomeText ?? null,
      reception_prompts: d.receptionPrompts ? JSON.stringify(d.receptionPrompts) : null,
      work_hours: d.workHours ? JSON.stringify(d.workHours) : null,
      mini_program_cards: d.miniProgramCards ? JSON.stringify(d.miniProgramCards) : null,
      created_at: m.occurredAt,
      updated_at: m.occurredAt,
    })
    .onConflict((c) => c.columns(['instance_id', 'id']).doNothing())
    .execute();
}

async function projectWechatAccountUpdated(trx: Trx, id: string, d: Of<'WechatAccountUpdated'>, m: EventMetadata) {
  await update(trx, id, m, {
    ...(d.name !== undefined ? { name: d.name } : {}),
    ...(d.kind !== undefined ? { kind: d.kind } : {}),
    ...(d.appId !== undefined ? { app_id: d.appId } : {}),
    ...(d.originalId !== undefined ? { original_id: d.originalId } : {}),
    ...(d.messageMode !== undefined ? { message_mode: d.messageMode } : {}),
    ...(d.dataFormat !== undefined ? { data_format: d.dataFormat } : {}),
    ...(d.skillGroupId !== undefined ? { skill_group_id: d.skillGroupId } : {}),
    ...(d.flowId !== undefined ? { flow_id: d.flowId } : {}),
    ...(d.sendQuota !== undefined ? { send_quota: d.sendQuota } : {}),
    ...(d.enabled !== undefined ? { enabled: d.enabled } : {}),
    ...(d.welcomeText !== undefined ? { welcome_text: d.welcomeText } : {}),
    ...(d.receptionPrompts !== undefined ? { reception_prompts: d.receptionPrompts ? JSON.stringify(d.receptionPrompts) : null } : {}),
    ...(d.workHours !== undefined ? { work_hours: d.workHours ? JSON.stringify(d.workHours) : null } : {}),
    ...(d.miniProgramCards !== undefined ? { mini_program_cards: d.miniProgramCards && d.miniProgramCards.length > 0 ? JSON.stringify(d.miniProgramCards) : null } : {}),
  });
}

type Writable = Omit<WechatAccountRow, 'instance_id' | 'id' | 'created_at' | 'updated_at' | 'deleted_at' | 'reception_prompts' | 'work_hours' | 'mini_program_cards'> & {
  reception_prompts: string | null;
  work_hours: string | null;
  mini_program_cards: string | null;
};

async function update(trx: Trx, id: string, m: EventMetadata, set: Partial<Writable> & { deleted_at?: string }) {
  await trx
    .updateTable('wechat_accounts')
    .set({ ...set, updated_at: m.occurredAt })
    .where('instance_id', '=', m.instanceId)
    .where('id', '=', id)
    .execute();
}
