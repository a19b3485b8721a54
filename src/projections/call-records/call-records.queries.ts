// Reading call records. `onlyAgentId` narrows to the calls in which that agent had a leg (what an agent
// may see); null reads every call of the instance.
import { sql } from 'kysely';
import type { ReadModel } from '../projection.ts';
import type { CallRecordingRow, CallRecordRow } from './call-records.projection.ts';

export interface CallRecordFilter {
  from?: Date | null;
  to?: Date | null;
  agentId?: string | null;
  /** Calls that queued in, or were served from, this skill group. */
  skillGroupId?: string | null;
  number?: string | null;
  endStatus?: string | null;
  direction?: 'IN' | 'OUT' | null;
  /** true: a side went silent while connected; false: none did. */
  mediaSilent?: boolean | null;
  silentSide?: 'CUSTOMER' | 'AGENT' | null;
  /** Issue 12: rated with this value; rated (true) or not (false). */
  satisfaction?: number | null;
  rated?: boolean | null;
}

const hasAgent = (agentId: string) => sql<boolean>`agent_ids @> ARRAY[${agentId}]::text[]`;

export async function findCallRecord(db: ReadModel, instanceId: string, contactId: string, onlyAgentId: string | null): Promise<CallRecordRow | undefined> {
  let q = db.selectFrom('call_records').selectAll().where('instance_id', '=', instanceId).where('contact_id', '=', contactId);
  if (onlyAgentId) q = q.where(hasAgent(onlyAgentId));
  return q.executeTakeFirst();
}

/** A page of records, newest first; `after` is the (started_at, contact_id) of the previous page's last row. */
export async function listCallRecords(db: ReadModel, instanceId: string, options: CallRecordPage): Promise<CallRecordRow[]> {
  return callRecordsPage(db, instanceId, options).selectAll().execute();
}

interface CallRecordPage {
  first: number;
  after: [string, string] | null;
  filter: CallRecordFilter;
  onlyAgentId: string | null;
}

/**
 * A call record as the CSV export reads it: its scalar columns, and of its legs and keys only what the CSV
 * writes (summed in SQL), so a page of a million-row export makes a few small objects a row, not the legs'.
 */
export type CallRecordExportRow = Pick<
  CallRecordRow,
  | 'contact_id' | 'call_id' | 'direction' | 'caller' | 'callee' | 'trunk_id' | 'started_at' | 'flow_started_at' | 'queued_at' | 'ring_at' | 'accepted_at' | 'ended_at'
  | 'ivr_seconds' | 'queue_seconds' | 'ring_seconds' | 'talk_seconds' | 'end_status' | 'ended_by' | 'skill_group_id' | 'served_skill_group_id' | 'agent_id'
  | 'recording_id' | 'silent_sides' | 'satisfaction'
> & {
  /** Closed holds of every leg, summed (CallLeg.holdMs). */
  hold_ms: number;
  /** Each leg's agent, in leg order. */
  leg_agent_ids: string[];
  /** The keys pressed, in order. */
  key_names: string[];
};

/** listCallRecords' page (same filter and order) with the export's columns only. */
export async function listCallRecordsForExport(db: ReadModel, instanceId: string, options: CallRecordPage): Promise<CallRecordExportRow[]> {
  return callRecordsPage(db, instanceId, options)
    .select([
      'contact_id', 'call_id', 'direction', 'caller', 'callee', 'trunk_id', 'started_at', 'flow_started_at', 'queued_at', 'ring_at', 'accepted_at', 'ended_at',
      'ivr_seconds', 'queue_seconds', 'ring_seconds', 'talk_seconds', 'end_status', 'ended_by', 'skill_group_id', 'served_skill_group_id', 'agent_id',
      'recording_id', 'silent_sides', 'satisfaction',
    ])
    .select([
      sql<number>`(SELECT coalesce(sum((l->>'holdMs')::float8), 0) FROM jsonb_array_elements(legs) l)`.as('hold_ms'),
      sql<string[]>`(SELECT coalesce(array_agg(l->>'agentId' ORDER BY i), '{}') FROM jsonb_array_elements(legs) WITH ORDINALITY x(l, i))`.as('leg_agent_ids'),
      sql<string[]>`(SELECT coalesce(array_agg(k->>'key' ORDER BY i), '{}') FROM jsonb_array_elements(keys) WITH ORDINALITY x(k, i))`.as('key_names'),
    ])
    .execute() as Promise<CallRecordExportRow[]>;
}

function callRecordsPage(db: ReadModel, instanceId: string, options: CallRecordPage) {
  const { filter: f } = options;
  let q = db.selectFrom('call_records').where('instance_id', '=', instanceId);
  if (options.onlyAgentId) q = q.where(hasAgent(options.onlyAgentId));
  if (f.agentId) q = q.where(hasAgent(f.agentId));
  if (f.from) q = q.where('started_at', '>=', f.from);
  if (f.to) q = q.where('started_at', '<', f.to);
  if (f.skillGroupId) {
    const group = f.skillGroupId;
    q = q.where((eb) => eb.or([eb('skill_group_id', '=', group), eb('served_skill_group_id', '=', group)]));
  }
  if (f.number) {
    const number = f.number;
    q = q.where((eb) => eb.or([eb('caller', '=', number), eb('callee', '=', number)]));
  }
  if (f.endStatus) q = q.where('end_status', '=', f.endStatus);
  if (f.direction) q = q.where('direction', '=', f.direction);
  if (f.mediaSilent === true) q = q.where(sql<boolean>`cardinality(silent_sides) > 0`);
  if (f.mediaSilent === false) q = q.where(sql<boolean>`cardinality(silent_sides) = 0`);
  if (f.silentSide) q = q.where(sql<boolean>`silent_sides @> ARRAY[${f.silentSide}]::text[]`);
  if (f.satisfaction !== undefined && f.satisfaction !== null) q = q.where(sql<boolean>`satisfaction IS NOT NULL AND (satisfaction->>'value')::int = ${f.satisfaction}`);
  if (f.rated === true) q = q.where('satisfaction', 'is not', null);
  if (f.rated === false) q = q.where('satisfaction', 'is', null);
  if (options.after) {
    const [startedAt, contactId] = options.after;
    q = q.where(sql<boolean>`(started_at, contact_id) < (${startedAt}::timestamptz, ${contactId})`);
  }
  return q.orderBy('started_at', 'desc').orderBy('contact_id', 'desc').limit(options.first);
}

export function recordingsOfCall(db: ReadModel, instanceId: string, contactId: string): Promise<CallRecordingRow[]> {
  return db
    .selectFrom('call_recordings')
    .selectAll()
    .where('instance_id', '=', instanceId)
    .where('contact_id', '=', contactId)
    .orderBy('started_at')
    .orderBy('id')
    .execute();
}

/** A recording, if its call is one `onlyAgentId` may see. */
export async function findRecording(db: ReadModel, instanceId: string, recordingId: string, onlyAgentId: string | null): Promise<CallRecordingRow | undefined> {
  const recording = await db.selectFrom('call_recordings').selectAll().where('instance_id', '=', instanceId).where('id', '=', recordingId).executeTakeFirst();
  if (!recording) return undefined;
  if (onlyAgentId && !(await findCallRecord(db, instanceId, recording.contact_id, onlyAgentId))) return undefined;
  return recording;
}
