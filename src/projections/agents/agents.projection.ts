import { sql, type Selectable, type Transaction } from 'kysely';
import type { AgentEvent } from '../../domain/agent/agent.ts';
import { comparePositions, type Position, type RecordedEvent } from '../../domain/ports/event-store.ts';
import type { ChangeSink, Projection } from '../projection.ts';
import type { ReadModelDb } from '../read-model-db.ts';
import { closeOnlineSpell } from './online-time.ts';
import { queuesTopic } from '../contacts/contacts.projection.ts';

type Trx = Transaction<ReadModelDb>;
export type AgentRow = Selectable<ReadModelDb['agents']>;

export const agentStatusTopic = (instanceId: string) => `kefu.${instanceId}.agentStatus`;

/** What subscribers of agentStatusChanged receive: the agent's row without its password hash. */
export type AgentStatusMessage = Omit<AgentRow, 'password_hash' | 'status_since' | 'online_since' | 'created_at' | 'updated_at' | 'deleted_at' | 'wrap_up_until'> & {
  wrap_up_until: string | null;
  status_since: string;
  online_since: string | null;
  created_at: string;
  updated_at: string;
  deleted_at: string | null;
};

const handled: AgentEvent['type'][] = [
  'AgentReserved',
  'AgentReservationReleased',
  'AgentContactConnected',
  'AgentContactFinished',
  'AgentWrapUpStarted',
  'AgentWrapUpExtended',
  'AgentWrapUpEnded',
  'AgentCreated',
  'AgentUpdated',
  'AgentPasswordChanged',
  'AgentDeleted',
  'AgentWentAvailable',
  'AgentWentOnBreak',
  'AgentWentOffline',
  'AgentForcedOffline',
  'AgentRestored',
  'AgentMobileAnsweringSet',
];

/**
 * Agents' rows as committed, kept between batches (issue 10): a presence change is folded into the row this
 * projection wrote last instead of reading it again, one statement less before the change's frame. Only this
 * projection writes the table. Filled after a batch commits (ChangeSink.committed), never from a try that rolls
 * back; emptied by reset when a runner starts the projection (another process may have run it), before a
 * rebuild, and when a parked part was retried. Bounded: past maxKeptRows it starts again empty.
 */
const committedRows = new Map<string, AgentRow>();
/** The position of the batch that committed each kept row: the row shows every event up to it (see committedAgentRow). */
const committedAt = new WeakMap<AgentRow, Position>();
const maxKeptRows = 20_000;
const keyOf = (instanceId: string, agentId: string) => `${instanceId}/${agentId}`;

/**
 * The agent's row as this process's runner committed it, if that commit took in the event at `position` (a
 * mutation's answer after settle, without reading the row back). Undefined when the row is not kept or older
 * (another process ran the batch): then read it. A row kept from a batch at or past `position` shows at least
 * the mutation's change, as a read after settle would.
 */
export function committedAgentRow(instanceId: string, agentId: string, position: Position): AgentRow | undefined {
  const row = committedRows.get(keyOf(instanceId, agentId));
  const at = row && committedAt.get(row);
  return at && comparePositions(at, position) >= 0 ? row : undefined;
}

/**
 * Works a whole batch at once: reads the rows its events touch that it does not keep (one query), folds the
 * events into them in memory, and writes the changed rows back in one statement. Catch-up costs two round
 * trips per batch, not several per event; a live change one (the write).
 */
export const agentsProjection: Projection = {
  name: 'agents',
  tables: ['agents'],
  // Presence changes reach supervisors' monitors before reports and webhooks store theirs (bench/live.ts).
  live: true,
  eventTypes: new Set(handled),
  reset() {
    committedRows.clear();
  },
  async applyBatch(trx, events, changes) {
    const wanted = new Map<string, { instanceId: string; agentId: string }>();
    const rows = new Map<string, AgentRow>();
    // Kept rows only where the runner tells of the commit (else nothing is kept, and nothing trusted either).
    const keep = changes.committed !== undefined;
    for (const e of events) {
      const agentId = e.streamId.slice(e.streamId.indexOf('.') + 1);
      const key = keyOf(e.metadata.instanceId, agentId);
      const kept = keep ? committedRows.get(key) : undefined;
      if (kept) rows.set(key, kept);
      else wanted.set(key, { instanceId: e.metadata.instanceId, agentId });
    }
    const targets = [...wanted.values()];
    if (targets.length > 0) {
      // One join against the keys as two arrays: planned once, whatever the batch size (an OR per key was not).
      const found = await sql<AgentRow>`
        SELECT a.* FROM agents a
        JOIN unnest(${targets.map((k) => k.instanceId)}::text[], ${targets.map((k) => k.agentId)}::text[]) AS k(instance_id, agent_id)
          ON a.instance_id = k.instance_id AND a.id = k.agent_id`.execute(trx);
      for (const row of found.rows) rows.set(keyOf(row.instance_id, row.id), row);
    }
    const written = fold(events, rows, changes);
    await writeRows(trx, written);
    if (keep) keepCommitted(events, written, changes);
  },
  /**
   * A live change of agents whose rows are all kept: folded in memory and written with the checkpoint's move in
   * one statement (no read needed). An agent not kept (created, or another process ran the batch that wrote it):
   * applyBatch, which reads it.
   */
  batchStatement(events, changes) {
    if (changes.committed === undefined) return null;
    const rows = new Map<string, AgentRow>();
    for (const e of events) {
      const key = keyOf(e.metadata.instanceId, e.streamId.slice(e.streamId.indexOf('.') + 1));
      const kept = committedRows.get(key);
      if (!kept) return null;
      rows.set(key, kept);
    }
    const written = fold(events, rows, changes);
    keepCommitted(events, written, changes);
    return writeRowsIfMoved(written);
  },
};

/** Folds the events into their agents' rows (`rows`, updated), publishes each change; the rows changed. */
function fold(events: RecordedEvent[], rows: Map<string, AgentRow>, changes: ChangeSink): AgentRow[] {
  const dirty = new Set<string>();
  for (const e of events) {
    const event = { type: e.type, data: e.data } as AgentEvent;
    const agentId = e.streamId.slice(e.streamId.indexOf('.') + 1);
    const key = keyOf(e.metadata.instanceId, agentId);
    const at = e.metadata.occurredAt;
    let row = rows.get(key);
    if (event.type === 'AgentCreated') {
      if (row) continue;
      row = createdRow(e.metadata.instanceId, event.data, at);
    } else {
      if (!row) continue;
      const update = nextRow(row, event, at);
      if (!update) continue;
      row = mergeRow(row, update);
    }
    rows.set(key, row);
    dirty.add(key);
    changes.publish(agentStatusTopic(row.instance_id), toAgentStatusMessage(row));
    changes.publish(queuesTopic(row.instance_id), { agentId: row.id });
  }
  return [...dirty].map((k) => rows.get(k)!);
}

/** Keeps the rows written once the batch commits, with the batch's position. */
function keepCommitted(events: RecordedEvent[], written: AgentRow[], changes: ChangeSink): void {
  const at = events[events.length - 1]!.position;
  changes.committed!(() => {
    if (committedRows.size + written.length > maxKeptRows) committedRows.clear();
    for (const row of written) {
      committedRows.set(keyOf(row.instance_id, row.id), row);
      committedAt.set(row, at);
    }
  });
}

/** Every column of agents, in the order of json_populate_recordset's rows below. */
const agentColumns = [
  'instance_id', 'id', 'name', 'login', 'phone', 'role', 'password_hash', 'presence', 'break_reason', 'forced_offline_reason',
  'status_since', 'online_since', 'online_day', 'online_seconds_accumulated', 'held_phone', 'held_online', 'held_av', 'held_contacts',
  'wrap_up_until', 'handled_day', 'handled_today', 'answer_on_mobile', 'mobile_number', 'created_at', 'updated_at', 'deleted_at',
] as const satisfies readonly (keyof AgentRow)[];
const columnList = sql.raw(agentColumns.join(', '));
const updatedList = sql.raw(
  agentColumns
    .filter((c) => c !== 'instance_id' && c !== 'id' && c !== 'created_at')
    .map((c) => `${c} = excluded.${c}`)
    .join(', '),
);

/**
 * The rows' upsert as the body of a CTE that writes only if the CTE `moved` has a row (see batchStatement): the
 * rows as one JSON parameter typed by the table's own row type (json_populate_recordset), the same columns set
 * on conflict as writeRows.
 */
function writeRowsIfMoved(rows: AgentRow[]) {
  return sql`INSERT INTO agents (${columnList})
    SELECT ${columnList} FROM json_populate_recordset(null::agents, ${JSON.stringify(rows)}::json)
    WHERE EXISTS (SELECT 1 FROM moved)
    ON CONFLICT (instance_id, id) DO UPDATE SET ${updatedList}`;
}

function createdRow(instanceId: string, d: Extract<AgentEvent, { type: 'AgentCreated' }>['data'], at: string): AgentRow {
  const when = new Date(at);
  return {
    instance_id: instanceId,
    id: d.agentId,
    name: d.name,
    login: d.login,
    phone: d.phone,
    role: d.role,
    password_hash: d.passwordHash,
    presence: 'OFFLINE',
    break_reason: null,
    forced_offline_reason: null,
    status_since: when,
    online_since: null,
    online_day: null,
    online_seconds_accumulated: 0,
    held_phone: 0,
    held_online: 0,
    held_av: 0,
    held_contacts: {},
    wrap_up_until: null,
    handled_day: null,
    handled_today: 0,
    answer_on_mobile: 'NEVER',
    mobile_number: null,
    created_at: when,
    updated_at: when,
    deleted_at: null,
  };
}

const timestampColumns = ['status_since', 'online_since', 'updated_at', 'deleted_at', 'wrap_up_until'] as const;

function mergeRow(row: AgentRow, update: RowUpdate): AgentRow {
  const next = { ...row, ...update } as Record<string, unknown>;
  for (const column of timestampColumns) {
    const v = next[column];
    if (typeof v === 'string') next[column] = new Date(v);
  }
  return next as AgentRow;
}

async function writeRows(trx: Trx, rows: AgentRow[]) {
  // 17 columns a row: 1,000 rows stay well under PostgreSQL's 65,535 parameters.
  for (let i = 0; i < rows.length; i += 1000) {
    await trx
      .insertInto('agents')
      .values(rows.slice(i, i + 1000).map((row) => ({ ...row, held_contacts: JSON.stringify(row.held_contacts ?? {}) })))
      .onConflict((c) =>
        c.columns(['instance_id', 'id']).doUpdateSet((eb) => ({
          name: eb.ref('excluded.name'),
          login: eb.ref('excluded.login'),
          phone: eb.ref('excluded.phone'),
          role: eb.ref('excluded.role'),
          password_hash: eb.ref('excluded.password_hash'),
          presence: eb.ref('excluded.presence'),
          break_reason: eb.ref('excluded.break_reason'),
          forced_offline_reason: eb.ref('excluded.forced_offline_reason'),
          status_since: eb.ref('excluded.status_since'),
          online_since: eb.ref('excluded.online_since'),
          online_day: eb.ref('excluded.online_day'),
          online_seconds_accumulated: eb.ref('excluded.online_seconds_accumulated'),
          held_phone: eb.ref('excluded.held_phone'),
          held_online: eb.ref('excluded.held_online'),
          held_av: eb.ref('excluded.held_av'),
          held_contacts: eb.ref('excluded.held_contacts'),
          wrap_up_until: eb.ref('excluded.wrap_up_until'),
          handled_day: eb.ref('excluded.handled_day'),
          handled_today: eb.ref('excluded.handled_today'),
          answer_on_mobile: eb.ref('excluded.answer_on_mobile'),
          mobile_number: eb.ref('excluded.mobile_number'),
          updated_at: eb.ref('excluded.updated_at'),
          deleted_at: eb.ref('excluded.deleted_at'),
        })),
      )
      .execute();
  }
}

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
  held_phone: number;
  held_online: number;
  held_av: number;
  held_contacts: Record<string, string>;
  wrap_up_until: string | null;
  handled_day: string | null;
  handled_today: number;
  answer_on_mobile: string;
  mobile_number: string | null;
}>;

/** What the agent holds, by channel, after adding or removing one contact. */
function holding(row: AgentRow, contactId: string, channel: string | null, at: string): RowUpdate {
  const contacts: Record<string, string> = { ...(row.held_contacts ?? {}) };
  if (channel) contacts[contactId] = channel;
  else delete contacts[contactId];
  const count = (c: string) => Object.values(contacts).filter((x) => x === c).length;
  return { held_contacts: contacts, held_phone: count('PHONE'), held_online: count('ONLINE'), held_av: count('AV'), updated_at: at };
}

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
    case 'AgentReserved':
      return holding(row, event.data.contactId, event.data.channel, at);
    case 'AgentReservationReleased':
    case 'AgentContactFinished':
      return holding(row, event.data.contactId, null, at);
    case 'AgentContactConnected': {
      const day = at.slice(0, 10);
      return { handled_day: day, handled_today: row.handled_day === day ? row.handled_today + 1 : 1, updated_at: at };
    }
    case 'AgentWrapUpStarted':
    case 'AgentWrapUpExtended':
      return { wrap_up_until: event.data.until, updated_at: at };
    case 'AgentWrapUpEnded':
      return { wrap_up_until: null, updated_at: at };
    case 'AgentMobileAnsweringSet':
      return { answer_on_mobile: event.data.mode, mobile_number: event.data.mobileNumber, updated_at: at };
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
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
    wrap_up_until: iso(row.wrap_up_until),
  };
}

