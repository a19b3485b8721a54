import type { Transaction } from 'kysely';
import type { InstanceEvent } from '../../domain/instance/instance.ts';
import type { Projection } from '../projection.ts';
import type { ReadModelDb } from '../read-model-db.ts';

type Trx = Transaction<ReadModelDb>;
type Of<T extends InstanceEvent['type']> = Extract<InstanceEvent, { type: T }>['data'];

const handled: InstanceEvent['type'][] = [
  'InstanceCreated',
  'InstanceRenamed',
  'QualificationSubmitted',
  'QualificationApproved',
  'QualificationRejected',
  'SeatsPurchased',
  'ApiKeyCreated',
  'ApiKeyRevoked',
  'BreakReasonsConfigured',
  'AgentSeatAssigned',
  'AgentSeatReleased',
  'AgentLoginChanged',
  'ScreenPopConfigured',
  'ScreenPopSecretRotated',
  'SatisfactionSurveyConfigured',
];

/** Each change of an instance, published after its write (InstanceBreakReasons forgets what it kept). */
export const instanceTopic = (instanceId: string) => `kefu.${instanceId}.instance`;

export const instancesProjection: Projection = {
  name: 'instances',
  tables: ['instances', 'api_keys', 'instance_seat_holders'],
  eventTypes: new Set(handled),
  async apply(trx, e, changes) {
    const event = { type: e.type, data: e.data } as InstanceEvent;
    const id = e.metadata.instanceId;
    changes.publish(instanceTopic(id), { type: e.type });
    const at = e.metadata.occurredAt;
    switch (event.type) {
      case 'InstanceCreated':
        return projectInstanceCreated(trx, event.data, at);
      case 'InstanceRenamed':
        await trx.updateTable('instances').set({ name: event.data.name }).where('id', '=', id).execute();
        return;
      case 'QualificationSubmitted':
        return projectQualificationSubmitted(trx, id, event.data, at);
      case 'QualificationApproved':
      case 'QualificationRejected':
        await trx
          .updateTable('instances')
          .set({
            qualification_status: event.type === 'QualificationApproved' ? 'APPROVED' : 'REJECTED',
            qualification_reviewed_at: at,
            qualification_review_reason: event.data.reason,
          })
          .where('id', '=', id)
          .execute();
        return;
      case 'SeatsPurchased':
        await trx.updateTable('instances').set({ seats: event.data.totalSeats }).where('id', '=', id).execute();
        return;
      case 'ApiKeyCreated':
        return projectApiKeyCreated(trx, id, event.data, at);
      case 'ApiKeyRevoked':
        await trx.updateTable('api_keys').set({ revoked_at: at }).where('id', '=', event.data.keyId).where('revoked_at', 'is', null).execute();
        return;
      case 'BreakReasonsConfigured':
        await trx.updateTable('instances').set({ break_reasons: JSON.stringify(event.data.reasons) }).where('id', '=', id).execute();
        return;
      case 'AgentSeatAssigned':
        await trx
          .insertInto('instance_seat_holders')
          .values({ instance_id: id, agent_id: event.data.agentId, login: event.data.login })
          .onConflict((c) => c.columns(['instance_id', 'agent_id']).doNothing())
          .execute();
        return countSeats(trx, id);
      case 'AgentSeatReleased':
        await trx.deleteFrom('instance_seat_holders').where('instance_id', '=', id).where('agent_id', '=', event.data.agentId).execute();
        return countSeats(trx, id);
      case 'AgentLoginChanged':
        await trx
          .updateTable('instance_seat_holders')
          .set({ login: event.data.to })
          .where('instance_id', '=', id)
          .where('agent_id', '=', event.data.agentId)
          .execute();
        return;
      case 'ScreenPopConfigured':
        await trx
          .updateTable('instances')
          .set({ screen_pop_url_template: event.data.urlTemplate, screen_pop_pinned: event.data.pinned, screen_pop_configured_at: at })
          .where('id', '=', id)
          .execute();
        return;
      case 'ScreenPopSecretRotated':
        await trx.updateTable('instances').set({ screen_pop_secret: event.data.secret, screen_pop_secret_rotated_at: at }).where('id', '=', id).execute();
        return;
      case 'SatisfactionSurveyConfigured':
        await trx.updateTable('instances').set({ satisfaction_survey: JSON.stringify(event.data) }).where('id', '=', id).execute();
        return;
      case 'ReportSettingsConfigured':
        // The reports projection keeps them (report_settings).
        return;
      default: {
        const unknown: never = event;
        return unknown;
      }
    }
  },
};

async function projectInstanceCreated(trx: Trx, d: Of<'InstanceCreated'>, at: string) {
  await trx
    .insertInto('instances')
    .values({
      id: d.instanceId,
      name: d.name,
      created_at: at,
      qualification_status: 'NOT_SUBMITTED',
      documents: '[]',
      seats: 0,
      seats_used: 0,
      break_reasons: JSON.stringify(d.breakReasons),
    })
    .onConflict((c) => c.column('id').doNothing())
    .execute();
}

async function projectQualificationSubmitted(trx: Trx, id: string, d: Of<'QualificationSubmitted'>, at: string) {
  await trx
    .updateTable('instances')
    .set({
      qualification_status: 'PENDING',
      company_name: d.companyName,
      registration_number: d.registrationNumber,
      documents: JSON.stringify(d.documents),
      qualification_submitted_at: at,
      qualification_reviewed_at: null,
      qualification_review_reason: null,
    })
    .where('id', '=', id)
    .execute();
}

async function projectApiKeyCreated(trx: Trx, instanceId: string, d: Of<'ApiKeyCreated'>, at: string) {
  await trx
    .insertInto('api_keys')
    .values({ id: d.keyId, instance_id: instanceId, name: d.name, role: d.role, secret_hash: d.secretHash, created_at: at })
    .onConflict((c) => c.column('id').doNothing())
    .execute();
}

/** seats_used is counted, not incremented, so applying an event twice gives the same row. */
async function countSeats(trx: Trx, instanceId: string) {
  await trx
    .updateTable('instances')
    .set((eb) => ({
      seats_used: eb.selectFrom('instance_seat_holders').select(eb.fn.countAll<number>().as('n')).where('instance_id', '=', instanceId),
    }))
    .where('id', '=', instanceId)
    .execute();
}
