// The columns of the call-record and chat-record CSV exports: the fields of callRecords / chatRecords (same
// names), flattened for a spreadsheet. Times are RFC 3339 to the second in the export's time zone,
// durations in whole seconds, several ids in one cell separated by spaces; agent and skill group names are
// read once per page for the page's ids.
import type { ReadModel } from '../../projections/projection.ts';
import type { CallRecordExportRow } from '../../projections/call-records/call-records.queries.ts';
import type { ChatRecordRow, ChatSatisfaction } from '../../projections/chat-records/chat-records.projection.ts';
import type { CsvColumn } from './csv-export.ts';

type Time = (at: Date | string | null) => string | null;

/** Agent and skill group names of one instance, read per page for the ids not seen before (bounded). */
export class RecordNames {
  private readonly agents = new Map<string, string>();
  private readonly groups = new Map<string, string>();
  private readonly db: ReadModel;
  private readonly instanceId: string;

  constructor(db: ReadModel, instanceId: string) {
    this.db = db;
    this.instanceId = instanceId;
  }

  agent = (id: string | null): string | null => (id === null ? null : (this.agents.get(id) ?? null));
  group = (id: string | null): string | null => (id === null ? null : (this.groups.get(id) ?? null));

  /** Reads the names of the agents and groups among these ids that are not known yet. */
  async load(agentIds: Iterable<string | null>, groupIds: Iterable<string | null>): Promise<void> {
    // A year of records names a few thousand agents at most; past that, start again rather than grow.
    if (this.agents.size > 20_000) this.agents.clear();
    if (this.groups.size > 20_000) this.groups.clear();
    const agents = [...new Set([...agentIds].filter((id): id is string => id !== null && !this.agents.has(id)))];
    const groups = [...new Set([...groupIds].filter((id): id is string => id !== null && !this.groups.has(id)))];
    if (agents.length > 0) {
      const rows = await this.db.selectFrom('agents').select(['id', 'name']).where('instance_id', '=', this.instanceId).where('id', 'in', agents).execute();
      for (const id of agents) this.agents.set(id, '');
      for (const r of rows) this.agents.set(r.id, r.name);
    }
    if (groups.length > 0) {
      const rows = await this.db.selectFrom('skill_groups').select(['id', 'name']).where('instance_id', '=', this.instanceId).where('id', 'in', groups).execute();
      for (const id of groups) this.groups.set(id, '');
      for (const r of rows) this.groups.set(r.id, r.name);
    }
  }
}

const satisfactionColumns = <R extends { satisfaction: unknown }>(): CsvColumn<R>[] => [
  { header: 'satisfactionValue', value: (r) => (r.satisfaction as ChatSatisfaction | null)?.value ?? null },
  { header: 'satisfactionLabel', value: (r) => (r.satisfaction as ChatSatisfaction | null)?.label ?? null },
  { header: 'satisfactionComment', value: (r) => (r.satisfaction as ChatSatisfaction | null)?.comment ?? null },
];

export function callRecordColumns(time: Time, names: RecordNames): CsvColumn<CallRecordExportRow>[] {
  return [
    { header: 'contactId', value: (r) => r.contact_id },
    { header: 'callId', value: (r) => r.call_id },
    { header: 'direction', value: (r) => r.direction },
    { header: 'caller', value: (r) => r.caller },
    { header: 'callee', value: (r) => r.callee },
    { header: 'trunkId', value: (r) => r.trunk_id },
    { header: 'startedAt', value: (r) => time(r.started_at) },
    { header: 'flowStartedAt', value: (r) => time(r.flow_started_at) },
    { header: 'queuedAt', value: (r) => time(r.queued_at) },
    { header: 'ringAt', value: (r) => time(r.ring_at) },
    { header: 'acceptedAt', value: (r) => time(r.accepted_at) },
    { header: 'endedAt', value: (r) => time(r.ended_at) },
    { header: 'ivrSeconds', value: (r) => r.ivr_seconds },
    { header: 'queueSeconds', value: (r) => r.queue_seconds },
    { header: 'ringSeconds', value: (r) => r.ring_seconds },
    { header: 'talkSeconds', value: (r) => r.talk_seconds },
    // Closed holds of every leg (CallLeg.holdMs), for handle time = talk + hold + after-call work.
    { header: 'holdSeconds', value: (r) => Math.round(Number(r.hold_ms) / 1000) },
    { header: 'endStatus', value: (r) => r.end_status },
    { header: 'endedBy', value: (r) => r.ended_by },
    { header: 'skillGroupId', value: (r) => r.skill_group_id },
    { header: 'skillGroup', value: (r) => names.group(r.skill_group_id) },
    { header: 'servedSkillGroupId', value: (r) => r.served_skill_group_id },
    { header: 'servedSkillGroup', value: (r) => names.group(r.served_skill_group_id) },
    { header: 'agentId', value: (r) => r.agent_id },
    { header: 'agent', value: (r) => names.agent(r.agent_id) },
    // Every agent that had a leg, in leg order.
    { header: 'legAgentIds', value: (r) => [...new Set(r.leg_agent_ids)].join(' ') },
    { header: 'keys', value: (r) => r.key_names.join(' ') },
    { header: 'recordingId', value: (r) => r.recording_id },
    { header: 'silentSides', value: (r) => r.silent_sides.join(' ') },
    ...satisfactionColumns<CallRecordExportRow>(),
  ];
}

export async function loadCallRecordNames(names: RecordNames, rows: CallRecordExportRow[]): Promise<void> {
  await names.load(
    rows.map((r) => r.agent_id),
    rows.flatMap((r) => [r.skill_group_id, r.served_skill_group_id]),
  );
}

export function chatRecordColumns(time: Time, names: RecordNames): CsvColumn<ChatRecordRow>[] {
  return [
    { header: 'contactId', value: (r) => r.contact_id },
    { header: 'source', value: (r) => r.source_kind },
    { header: 'webChannelId', value: (r) => r.web_channel_id },
    { header: 'pageUrl', value: (r) => r.page_url },
    { header: 'customerKind', value: (r) => r.customer_kind },
    { header: 'customerId', value: (r) => r.customer_id },
    { header: 'customerName', value: (r) => r.customer_name },
    { header: 'customerVerified', value: (r) => r.customer_verified },
    { header: 'createdAt', value: (r) => time(r.created_at) },
    { header: 'queuedAt', value: (r) => time(r.queued_at) },
    { header: 'offeredAt', value: (r) => time(r.offered_at) },
    { header: 'acceptedAt', value: (r) => time(r.accepted_at) },
    { header: 'firstAgentReplyAt', value: (r) => time(r.first_agent_reply_at) },
    { header: 'endedAt', value: (r) => time(r.ended_at) },
    { header: 'queueSeconds', value: (r) => r.queue_seconds },
    { header: 'firstResponseSeconds', value: (r) => r.first_response_seconds },
    { header: 'totalSeconds', value: (r) => r.total_seconds },
    { header: 'endStatus', value: (r) => r.end_status },
    { header: 'endedBy', value: (r) => r.ended_by },
    { header: 'endReason', value: (r) => r.end_reason },
    { header: 'skillGroupId', value: (r) => r.skill_group_id },
    { header: 'skillGroup', value: (r) => names.group(r.skill_group_id) },
    { header: 'lastSkillGroupId', value: (r) => r.last_skill_group_id },
    { header: 'lastSkillGroup', value: (r) => names.group(r.last_skill_group_id) },
    { header: 'agentId', value: (r) => r.agent_id },
    { header: 'agent', value: (r) => names.agent(r.agent_id) },
    { header: 'agentIds', value: (r) => r.agent_ids.join(' ') },
    { header: 'transfers', value: (r) => r.transfers.length },
    { header: 'customerMessages', value: (r) => r.customer_messages },
    { header: 'agentMessages', value: (r) => r.agent_messages },
    { header: 'systemMessages', value: (r) => r.system_messages },
    ...satisfactionColumns<ChatRecordRow>(),
  ];
}

export async function loadChatRecordNames(names: RecordNames, rows: ChatRecordRow[]): Promise<void> {
  await names.load(
    rows.map((r) => r.agent_id),
    rows.flatMap((r) => [r.skill_group_id, r.last_skill_group_id]),
  );
}
