import type { Selectable, Transaction } from 'kysely';
import type { AgentEvent } from '../../domain/agent/agent.ts';
import type { ChangeSink, Projection } from '../projection.ts';
import type { ReadModelDb } from '../read-model-db.ts';
import { closeOnlineSpell } from './online-time.ts';

type Trx = Transaction<ReadModelDb>;
export type AgentRow = Selectable<ReadModelDb['agents']>;

export const agentStatusTopic = (instanceId: string) => `kefu.${instanceId}.agentStatus`;

/** What subscribers of agentStatusChanged receive: the agent's row without its password hash. */
export type AgentStatusMessage = Omit<AgentRow, 'password_hash' | 'status_since' | 'online_since' | 'created_at' | 'updated_at' | 'deleted_at'> & {
  status_since: string;
  online_since: string | null;
  created_at: string;
  updated_at: string;
  deleted_at: string | null;
};

const handled: AgentEvent['type'][] = [
  'AgentCreated',
  'AgentUpdated',
  'AgentPasswordChanged',
  'AgentDeleted',
  'AgentWentAvailable',
  'AgentWentOnBreak',
  'AgentWentOffline',
  'AgentForcedOffline',
  'AgentRestored',
];

export const agentsProjection: Projection = {
  name: 'agents',
  tables: ['agents'],
  eventTypes: new Set(handled),
  async apply(trx, e, changes) {
    const event = { type: e.type, data: e.data } as AgentEvent;
    const instanceId = e.metadata.instanceId;
    const agentId = e.streamId.slice(e.streamId.indexOf('.') + 1);
    const at = e.metadata.occurredAt;
    if (event.type === 'AgentCreated') {
      const d = event.data;
      await trx
        .insertInto('agents')
        .values({
          instance_id: instanceId,
          id: d.agentId,
          name: d.name,
          login: d.login,
          phone: d.phone,
          role: d.role,
          password_hash: d.passwordHash,
          presence: 'OFFLINE',
          status_since: at,
          online_seconds_accumulated: 0,
          created_at: at,
          updated_at: at,
        })
        .onConflict((c) => c.columns(['instance_id', 'id']).doNothing())
        .execute();
      return publish(trx, instanceId, agentId, changes);
    }
    const row = await trx.selectFrom('agents').selectAll().where('instance_id', '=', instanceId).where('id', '=', agentId).executeTakeFirst();
    if (!row) return;
    const update = nextRow(row, event, at);
    if (!update) return;
    await trx.updateTable('agents').set(update).where('instance_id', '=', instanceId).where('id', '=', agentId).execute();
    await publish(trx, instanceId, agentId, changes);
  },
};

type RowUpdate = Partial<{
  name: string;
  login: string;
  phone: string | null;
  role: string;
  password_hash: string;
  presence: string;
  break_reason: string | null;
  forced_offline_reason: string | null;
  status_since: string;
  online_since: string | null;
  online_day: string | null;
  online_seconds_accumulated: number;
  updated_at: string;
  deleted_at: string;
}>;

/** The presence the row shows: forced offline wins over what the agent chose. */
function presenceChange(row: AgentRow, presence: string, at: string, breakReason: string | null = null): RowUpdate {
  const wasOnline = row.presence === 'AVAILABLE' || row.presence === 'BREAK';
  const isOnline = presence === 'AVAILABLE' || presence === 'BREAK';
  const update: RowUpdate = { presence, break_reason: breakReason, updated_at: at };
  if (row.presence !== presence || row.break_reason !== breakReason) update.status_since = at;
  if (!wasOnline && isOnline) update.online_since = at;
  if (wasOnline && !isOnline) {
    const closed = closeOnlineSpell(
      { onlineSince: row.online_since, onlineDay: row.online_day, secondsAccumulated: row.online_seconds_accumulated },
      new Date(at),
    );
    update.online_since = null;
    update.online_day = closed.onlineDay;
    update.online_seconds_accumulated = closed.secondsAccumulated;
  }
  return update;
}

function nextRow(row: AgentRow, event: Exclude<AgentEvent, { type: 'AgentCreated' }>, at: string): RowUpdate | null {
  switch (event.type) {
    case 'AgentUpdated':
      return { ...event.data, updated_at: at };
    case 'AgentPasswordChanged':
      return { password_hash: event.data.passwordHash, updated_at: at };
    case 'AgentDeleted':
      return { ...presenceChange(row, 'OFFLINE', at), deleted_at: at };
    case 'AgentWentAvailable':
      return presenceChange(row, 'AVAILABLE', at);
    case 'AgentWentOnBreak':
      return presenceChange(row, 'BREAK', at, event.data.reason);
    case 'AgentWentOffline':
      return presenceChange(row, 'OFFLINE', at);
    case 'AgentForcedOffline':
      return { ...presenceChange(row, 'FORCED_OFFLINE', at), forced_offline_reason: event.data.reason };
    case 'AgentRestored':
      return { ...presenceChange(row, 'OFFLINE', at), forced_offline_reason: null };
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}

async function publish(trx: Trx, instanceId: string, agentId: string, changes: ChangeSink) {
  const row = await trx.selectFrom('agents').selectAll().where('instance_id', '=', instanceId).where('id', '=', agentId).executeTakeFirstOrThrow();
  changes.publish(agentStatusTopic(instanceId), toAgentStatusMessage(row));
}

export function toAgentStatusMessage(row: AgentRow): AgentStatusMessage {
  const { password_hash: _secret, ...rest } = row;
  const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);
  return {
    ...rest,
    status_since: iso(row.status_since)!,
    online_since: iso(row.online_since),
    created_at: iso(row.created_at)!,
    updated_at: iso(row.updated_at)!,
    deleted_at: iso(row.deleted_at),
  };
}

