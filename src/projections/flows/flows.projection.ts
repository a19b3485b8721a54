// Flows and their versions (PH-15): the current version of each flow, and every version published.
import type { Selectable, Transaction } from 'kysely';
import type { FlowEvent } from '../../domain/flow/flow.ts';
import type { EventMetadata, RecordedEvent } from '../../domain/ports/event-store.ts';
import type { Projection } from '../projection.ts';
import type { ReadModelDb } from '../read-model-db.ts';

export type FlowRow = Selectable<ReadModelDb['flows']>;
export type FlowVersionRow = Selectable<ReadModelDb['flow_versions']>;

type Trx = Transaction<ReadModelDb>;
type Of<T extends FlowEvent['type']> = Extract<FlowEvent, { type: T }>['data'];

const handled: FlowEvent['type'][] = ['FlowCreated', 'FlowRenamed', 'FlowVersionPublished', 'FlowDeleted'];

/** The flow id is the part of the stream name after the instance: `flow-<instanceId>.<flowId>`. */
const flowIdOf = (e: RecordedEvent) => e.streamId.slice(e.streamId.indexOf('.') + 1);

/**
 * Each change of a flow is published on the instance's flows topic after its write (`{ flowId }`): a process that
 * keeps a flow's current version in memory (the chat flows' ports, issue 12) reads it again on the next chat start.
 */
export const flowsTopic = (instanceId: string) => `kefu.${instanceId}.flows`;

export const flowsProjection: Projection = {
  name: 'flows',
  tables: ['flows', 'flow_versions'],
  eventTypes: new Set(handled),
  async apply(trx, e, changes) {
    const event = { type: e.type, data: e.data } as FlowEvent;
    switch (event.type) {
      case 'FlowCreated':
        await projectFlowCreated(trx, event.data, e.metadata);
        return changes.publish(flowsTopic(e.metadata.instanceId), { flowId: event.data.flowId });
      case 'FlowRenamed':
        await projectFlowRenamed(trx, flowIdOf(e), event.data, e.metadata);
        break;
      case 'FlowVersionPublished':
        await projectFlowVersionPublished(trx, flowIdOf(e), event.data, e.metadata);
        break;
      case 'FlowDeleted':
        await projectFlowDeleted(trx, flowIdOf(e), e.metadata);
        break;
      default: {
        const unknown: never = event;
        return unknown;
      }
    }
    changes.publish(flowsTopic(e.metadata.instanceId), { flowId: flowIdOf(e) });
  },
};

async function projectFlowCreated(trx: Trx, d: Of<'FlowCreated'>, m: EventMetadata) {
  const definition = JSON.stringify(d.definition);
  await trx
    .insertInto('flows')
    .values({ instance_id: m.instanceId, id: d.flowId, name: d.name, kind: d.kind, version: 1, definition, created_at: m.occurredAt, updated_at: m.occurredAt })
    .onConflict((c) => c.columns(['instance_id', 'id']).doNothing())
    .execute();
  await trx
    .insertInto('flow_versions')
    .values({ instance_id: m.instanceId, flow_id: d.flowId, version: 1, definition, created_by: m.actor, created_at: m.occurredAt })
    .onConflict((c) => c.columns(['instance_id', 'flow_id', 'version']).doNothing())
    .execute();
}

async function projectFlowRenamed(trx: Trx, flowId: string, d: Of<'FlowRenamed'>, m: EventMetadata) {
  await trx.updateTable('flows').set({ name: d.name, updated_at: m.occurredAt }).where('instance_id', '=', m.instanceId).where('id', '=', flowId).execute();
}

async function projectFlowVersionPublished(trx: Trx, flowId: string, d: Of<'FlowVersionPublished'>, m: EventMetadata) {
  const definition = JSON.stringify(d.definition);
  await trx
    .updateTable('flows')
    .set({ version: d.version, definition, updated_at: m.occurredAt })
    .where('instance_id', '=', m.instanceId)
    .where('id', '=', flowId)
    .where('version', '<', d.version)
    .execute();
  await trx
    .insertInto('flow_versions')
    .values({ instance_id: m.instanceId, flow_id: flowId, version: d.version, definition, created_by: m.actor, created_at: m.occurredAt })
    .onConflict((c) => c.columns(['instance_id', 'flow_id', 'version']).doNothing())
    .execute();
}

async function projectFlowDeleted(trx: Trx, flowId: string, m: EventMetadata) {
  await trx
    .updateTable('flows')
    .set({ deleted_at: m.occurredAt, updated_at: m.occurredAt })
    .where('instance_id', '=', m.instanceId)
    .where('id', '=', flowId)
    .where('deleted_at', 'is', null)
    .execute();
}
