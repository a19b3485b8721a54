import { defaultRoutingOptions, type RoutingOptions, type SkillGroupEvent } from '../../domain/skill-group/skill-group.ts';
import type { Projection } from '../projection.ts';

const handled: SkillGroupEvent['type'][] = [
  'SkillGroupCreated',
  'SkillGroupUpdated',
  'SkillGroupDeleted',
  'SkillGroupMemberAdded',
  'SkillGroupMemberLevelChanged',
  'SkillGroupMemberRemoved',
  'SkillGroupOutboundNumbersSet',
];

/** The routing options present in an event, as columns. */
function routingColumns(o: Partial<RoutingOptions>) {
  return {
    ...(o.autoAccept !== undefined && { auto_accept: o.autoAccept }),
    ...(o.lastAgentFirstSeconds !== undefined && { last_agent_first_seconds: o.lastAgentFirstSeconds }),
    ...(o.maxQueueLength !== undefined && { max_queue_length: o.maxQueueLength }),
    ...(o.maxWaitSeconds !== undefined && { max_wait_seconds: o.maxWaitSeconds }),
    ...(o.overflowSkillGroupId !== undefined && { overflow_skill_group_id: o.overflowSkillGroupId }),
    ...(o.whenNoAgentOnline !== undefined && { when_no_agent_online: o.whenNoAgentOnline }),
    ...(o.breakAfterMissedOffer !== undefined && { break_after_missed_offer: o.breakAfterMissedOffer }),
    ...(o.chatIdleEndSeconds !== undefined && { chat_idle_end_seconds: o.chatIdleEndSeconds }),
    ...(o.onAgentDeviceLost !== undefined && { on_agent_device_lost: o.onAgentDeviceLost }),
  };
}

export const skillGroupsTopic = (instanceId: string) => `kefu.${instanceId}.skillGroups`;

export const skillGroupsProjection: Projection = {
  name: 'skillGroups',
  tables: ['skill_groups', 'skill_group_members'],
  eventTypes: new Set(handled),
  async apply(trx, e, changes) {
    const event = { type: e.type, data: e.data } as SkillGroupEvent;
    const instanceId = e.metadata.instanceId;
    const id = e.streamId.slice(e.streamId.indexOf('.') + 1);
    const at = e.metadata.occurredAt;
    switch (event.type) {
      case 'SkillGroupCreated': {
        const d = event.data;
        await trx
          .insertInto('skill_groups')
          .values({
            instance_id: instanceId,
            id: d.skillGroupId,
            name: d.name,
            channel: d.channel,
            strategy: d.strategy,
            max_concurrency: d.maxConcurrency,
            ring_timeout_seconds: d.ringTimeoutSeconds,
            wrap_up_seconds: d.wrapUpSeconds,
            ...routingColumns({ ...defaultRoutingOptions, ...d }),
            created_at: at,
            updated_at: at,
          })
          .onConflict((c) => c.columns(['instance_id', 'id']).doNothing())
          .execute();
        break;
      }
      case 'SkillGroupUpdated': {
        const d = event.data;
        await trx
          .updateTable('skill_groups')
          .set({
            ...(d.name !== undefined && { name: d.name }),
            ...(d.strategy !== undefined && { strategy: d.strategy }),
            ...(d.maxConcurrency !== undefined && { max_concurrency: d.maxConcurrency }),
            ...(d.ringTimeoutSeconds !== undefined && { ring_timeout_seconds: d.ringTimeoutSeconds }),
            ...(d.wrapUpSeconds !== undefined && { wrap_up_seconds: d.wrapUpSeconds }),
            ...routingColumns(d),
            updated_at: at,
          })
          .where('instance_id', '=', instanceId)
          .where('id', '=', id)
          .execute();
        break;
      }
      case 'SkillGroupDeleted':
        await trx.updateTable('skill_groups').set({ deleted_at: at, updated_at: at }).where('instance_id', '=', instanceId).where('id', '=', id).execute();
        await trx.deleteFrom('skill_group_members').where('instance_id', '=', instanceId).where('skill_group_id', '=', id).execute();
        break;
      case 'SkillGroupMemberAdded':
      case 'SkillGroupMemberLevelChanged':
        await trx
          .insertInto('skill_group_members')
          .values({ instance_id: instanceId, skill_group_id: id, agent_id: event.data.agentId, level: event.data.level, added_at: at })
          .onConflict((c) => c.columns(['instance_id', 'skill_group_id', 'agent_id']).doUpdateSet({ level: event.data.level }))
          .execute();
        break;
      case 'SkillGroupMemberRemoved':
        await trx
          .deleteFrom('skill_group_members')
          .where('instance_id', '=', instanceId)
          .where('skill_group_id', '=', id)
          .where('agent_id', '=', event.data.agentId)
          .execute();
        break;
      case 'SkillGroupOutboundNumbersSet':
        await trx.updateTable('skill_groups').set({ outbound_numbers: event.data.numbers, updated_at: at }).where('instance_id', '=', instanceId).where('id', '=', id).execute();
        break;
      default: {
        const unknown: never = event;
        return unknown;
      }
    }
    changes.publish(skillGroupsTopic(instanceId), { skillGroupId: id });
  },
};
