// Call records (PH-13, WS-3) and their recordings (PH-14): agents see the calls they had a leg of;
// supervisors, admins and API keys every call of the instance; the operator none (not instance-scoped).
import { z } from 'zod';
import { NotFoundError } from '../../domain/errors.ts';
import type { CallLeg, CallRecordingRow, CallRecordRow } from '../../projections/call-records/call-records.projection.ts';
import { findCallRecord, listCallRecords, recordingsOfCall } from '../../projections/call-records/call-records.queries.ts';
import { isSupervisor, requireInstance, type InstancePrincipal } from '../auth.ts';
import type { KefuContext } from '../context.ts';
import { decodeCursor, pageOf } from '../cursor.ts';
import { dateTime, id, parseInput, text } from '../input.ts';
import { toAgent } from './agents.ts';
import { toSkillGroup } from './skill-groups.ts';

/** The agent a principal is limited to (an agent sees only calls they had a leg of), or null for all. */
export function callRecordsLimitedTo(p: InstancePrincipal): string | null {
  return p.kind === 'agent' && !isSupervisor(p) ? p.agentId : null;
}

/** Where a recording is downloaded (src/api/recordings-route.ts), relative to the API's origin. */
export const recordingUrl = (recordingId: string) => `/recordings/${recordingId}`;

interface CallRecordView {
  instanceId: string;
  contactId: string;
  recordingId: string | null;
  skillGroupId: string | null;
  servedSkillGroupId: string | null;
  agentId: string | null;
  [field: string]: unknown;
}

export function toCallRecord(row: CallRecordRow): CallRecordView {
  return {
    instanceId: row.instance_id,
    contactId: row.contact_id,
    callId: row.call_id,
    direction: row.direction,
    caller: row.caller,
    callee: row.callee,
    trunkId: row.trunk_id,
    startedAt: row.started_at,
    flowStartedAt: row.flow_started_at,
    queuedAt: row.queued_at,
    ringAt: row.ring_at,
    acceptedAt: row.accepted_at,
    endedAt: row.ended_at,
    ivrSeconds: row.ivr_seconds,
    queueSeconds: row.queue_seconds,
    ringSeconds: row.ring_seconds,
    talkSeconds: row.talk_seconds,
    endStatus: row.end_status,
    endedBy: row.ended_by,
    skillGroupId: row.skill_group_id,
    servedSkillGroupId: row.served_skill_group_id,
    agentId: row.agent_id,
    keys: row.keys,
    recordingId: row.recording_id,
    legs: row.legs.map((leg) => ({ ...leg, instanceId: row.instance_id, media: leg.media ?? null, silentAt: leg.silentAt ?? null })),
    customerMedia: row.customer_media,
    silentSides: row.silent_sides,
    satisfaction: row.satisfaction,
  };
}

export function toRecording(row: CallRecordingRow) {
  return {
    id: row.id,
    status: row.status,
    startedAt: row.started_at,
    completedAt: row.completed_at,
    durationMs: row.duration_ms,
    bytes: row.bytes === null ? null : Number(row.bytes),
    url: row.status === 'READY' ? recordingUrl(row.id) : null,
  };
}

/**
 * What callRecords' filter may hold: the one definition for the query and the CSV export
 * (src/api/exports/exports-route.ts reads the same fields from a query string).
 */
export const callRecordFilter = z
  .object({
    from: dateTime.nullish(),
    to: dateTime.nullish(),
    agentId: id.nullish(),
    skillGroupId: id.nullish(),
    number: text({ max: 100 }).nullish(),
    endStatus: text({ max: 200 }).nullish(),
    direction: z.enum(['IN', 'OUT']).nullish(),
    mediaSilent: z.boolean().nullish(),
    silentSide: z.enum(['CUSTOMER', 'AGENT']).nullish(),
    satisfaction: z.number().int('must be a whole number').min(0, 'a rating value is 0-9').max(9, 'a rating value is 0-9').nullish(),
    rated: z.boolean().nullish(),
  })
  .refine((f) => !f.from || !f.to || f.from.getTime() < f.to.getTime(), { message: 'must be after from', path: ['to'] });

const callRecordsArgs = z.object({
  first: z.number().int('must be a whole number').min(1, 'at least 1').max(200, 'at most 200').nullish(),
  after: z.string().max(500, 'not a cursor from this API').nullish(),
  filter: callRecordFilter.nullish(),
});

/** A record's agent or skill group by id (null when none, or gone from the read model). */
export async function agentOf(ctx: KefuContext, instanceId: string, agentId: string | null) {
  if (!agentId) return null;
  const row = await ctx.deps.db.selectFrom('agents').selectAll().where('instance_id', '=', instanceId).where('id', '=', agentId).executeTakeFirst();
  return row ? toAgent(row) : null;
}

export async function skillGroupOf(ctx: KefuContext, instanceId: string, skillGroupId: string | null) {
  if (!skillGroupId) return null;
  const row = await ctx.deps.db.selectFrom('skill_groups').selectAll().where('instance_id', '=', instanceId).where('id', '=', skillGroupId).executeTakeFirst();
  return row ? toSkillGroup(row) : null;
}

export const callRecordResolvers = {
  Query: {
    async callRecords(_: unknown, rawArgs: unknown, ctx: KefuContext) {
      const p = requireInstance(ctx.principal);
      const args = parseInput(callRecordsArgs, rawArgs, '');
      const first = args.first ?? 50;
      const rows = await listCallRecords(ctx.deps.db, p.instanceId, {
        first: first + 1,
        after: args.after ? decodeCursor(args.after) : null,
        filter: args.filter ?? {},
        onlyAgentId: callRecordsLimitedTo(p),
      });
      return pageOf(rows, first, (row) => ({ created_at: row.started_at, id: row.contact_id }), toCallRecord);
    },
    async callRecord(_: unknown, args: unknown, ctx: KefuContext) {
      const p = requireInstance(ctx.principal);
      const { contactId } = parseInput(z.object({ contactId: id }), args, '');
      const row = await findCallRecord(ctx.deps.db, p.instanceId, contactId, callRecordsLimitedTo(p));
      if (!row) throw new NotFoundError('Call record', contactId);
      return toCallRecord(row);
    },
  },
  CallRecord: {
    agent: (r: CallRecordView, _: unknown, ctx: KefuContext) => agentOf(ctx, r.instanceId, r.agentId),
    skillGroup: (r: CallRecordView, _: unknown, ctx: KefuContext) => skillGroupOf(ctx, r.instanceId, r.skillGroupId),
    servedSkillGroup: (r: CallRecordView, _: unknown, ctx: KefuContext) => skillGroupOf(ctx, r.instanceId, r.servedSkillGroupId),
    async recording(r: CallRecordView, _: unknown, ctx: KefuContext) {
      if (!r.recordingId) return null;
      const row = await ctx.deps.db.selectFrom('call_recordings').selectAll().where('instance_id', '=', r.instanceId).where('id', '=', r.recordingId).executeTakeFirst();
      return row ? toRecording(row) : null;
    },
    async recordings(r: CallRecordView, _: unknown, ctx: KefuContext) {
      return (await recordingsOfCall(ctx.deps.db, r.instanceId, r.contactId)).map(toRecording);
    },
  },
  CallLeg: {
    agent: (leg: CallLeg & { instanceId: string }, _: unknown, ctx: KefuContext) => agentOf(ctx, leg.instanceId, leg.agentId),
  },
};
