// The report projection's tables (kysely row types) and the names of its bucket counters: one list used by
// the migration, the upserts and the sums of the queries, so a counter cannot be added to one and not the others.
import type { ColumnType } from 'kysely';
import { serviceLevelThresholds } from '../../domain/instance/report-settings.ts';

type Timestamp = ColumnType<Date, Date | string, Date | string>;
/** bigint in PostgreSQL: read as a string by pg, as a number by PGlite. */
type Counter = ColumnType<string | number, number | undefined, number>;

/** "Left the queue within X seconds" counters, one per threshold: sl_5, sl_10, … */
export const serviceLevelColumns = serviceLevelThresholds.map((x) => `sl_${x}` as const);
export type ServiceLevelColumn = (typeof serviceLevelColumns)[number];

/** Counters of report_contact_buckets (counts, and sums of milliseconds: *_ms). See README.md, "Report definitions". */
export const contactCounters = [
  'created',
  'ivr_entered',
  'ivr_abandoned',
  'queued',
  'offered',
  'handled',
  'queue_abandoned',
  'ringing_abandoned',
  'rejected',
  'transferred',
  'queue_exits',
  'answer_wait_count',
  'answer_wait_ms',
  'abandon_wait_ms',
  'ring_count',
  'ring_ms',
  'talk_ms',
  'hold_ms',
  'acw_ms',
  'first_responses',
  'first_response_ms',
  'agent_offered',
  'agent_answered',
  'agent_missed',
  'agent_declined',
  'agent_outbound',
  ...serviceLevelColumns,
] as const;
export type ContactCounter = (typeof contactCounters)[number];

/** The contact counters of an agent's channel figures (report-queries.ts, agentChannelMetrics): report_agent_channel_days' columns. */
export const agentContactCounters = ['agent_offered', 'agent_answered', 'agent_missed', 'agent_declined', 'talk_ms', 'hold_ms', 'acw_ms', 'agent_outbound'] as const satisfies readonly ContactCounter[];
export type AgentContactCounter = (typeof agentContactCounters)[number];

/** Milliseconds of report_agent_buckets, one per agent state (each moment in one of them). */
export const agentCounters = ['online_ms', 'idle_ms', 'ringing_ms', 'on_contact_ms', 'acw_ms', 'break_ms'] as const;
export type AgentCounter = (typeof agentCounters)[number];

export interface ReportTables {
  /** One row per instance × 15-minute UTC bucket × channel × direction × skill group ('' none) × agent ('' none). */
  report_contact_buckets: {
    instance_id: string;
    bucket: Timestamp;
    channel: string;
    direction: string;
    skill_group_id: string;
    agent_id: string;
    /** Longest queue wait of a contact answered in the bucket (a maximum, not a sum). */
    answer_wait_max_ms: Counter;
  } & Record<ContactCounter, Counter>;
  /** report_contact_buckets summed over agents: per instance × bucket × channel × direction × skill group. */
  report_group_buckets: {
    instance_id: string;
    bucket: Timestamp;
    channel: string;
    direction: string;
    skill_group_id: string;
    answer_wait_max_ms: Counter;
  } & Record<ContactCounter, Counter>;
  /**
   * report_group_buckets summed per local day in the instance's time zone (report_settings, UTC until set):
   * day = (bucket AT TIME ZONE zone)::date, the day the report queries put the bucket in. A year per day reads
   * 365 days' rows instead of 35,040 buckets'. Rebuilt from the buckets when the instance's zone changes.
   */
  report_group_days: {
    instance_id: string;
    day: ColumnType<string, string, string>;
    channel: string;
    direction: string;
    skill_group_id: string;
    answer_wait_max_ms: Counter;
  } & Record<ContactCounter, Counter>;
  /** report_contact_buckets of agents (agent_id not '') per local day, like report_group_days. */
  report_agent_contact_days: {
    instance_id: string;
    day: ColumnType<string, string, string>;
    agent_id: string;
    channel: string;
    direction: string;
    skill_group_id: string;
  } & Record<ContactCounter, Counter>;
  /**
   * report_agent_contact_days summed over direction and skill group: per agent, local day and channel, the
   * counters of an agent's channel figures only (agentContactCounters). A row is here exactly when the agent
   * has a contact day row in the channel. The agent report without a direction or skill-group filter reads
   * these (a month of 500 agents: a few rows an agent and day instead of one per group and direction).
   */
  report_agent_channel_days: {
    instance_id: string;
    day: ColumnType<string, string, string>;
    agent_id: string;
    channel: string;
  } & Record<AgentContactCounter, Counter>;
  /** An agent's time per state per local day: report_agent_buckets and the spans' buckets (15 minutes each). */
  report_agent_days: {
    instance_id: string;
    day: ColumnType<string, string, string>;
    agent_id: string;
  } & Record<AgentCounter, Counter>;
  /** Break time per reason per local day: report_agent_break_buckets and the break spans. */
  report_agent_break_days: {
    instance_id: string;
    day: ColumnType<string, string, string>;
    agent_id: string;
    reason: string;
    break_ms: Counter;
  };
  /** An agent's time per state, per 15-minute UTC bucket. */
  report_agent_buckets: {
    instance_id: string;
    bucket: Timestamp;
    agent_id: string;
  } & Record<AgentCounter, Counter>;
  /**
   * An agent's time in one state (counter, and the break reason or '') over whole 15-minute buckets
   * [span_from, span_to), each bucket counting 15 minutes there and in online_ms; report_agent_buckets
   * holds the rest (parts of buckets). Spans of an agent never overlap.
   */
  report_agent_spans: {
    instance_id: string;
    agent_id: string;
    span_from: Timestamp;
    span_to: Timestamp;
    counter: AgentCounter;
    reason: string;
  };
  /** Break time per reason ('' when none given). */
  report_agent_break_buckets: {
    instance_id: string;
    bucket: Timestamp;
    agent_id: string;
    reason: string;
    break_ms: Counter;
  };
  /** What the projection needs to know of a contact to count its next event (its stage and when it began). */
  report_contacts: {
    instance_id: string;
    contact_id: string;
    /** The last stream revision applied: an event at or below it was counted already. */
    revision: number;
    channel: string;
    direction: string;
    /** CREATED, FLOW, QUEUED, OFFERED, CONNECTED, ENDED */
    stage: string;
    skill_group_id: string | null;
    served_skill_group_id: string | null;
    created_at: Timestamp;
    queued_at: Timestamp | null;
    /** When the current offer started ringing. */
    offered_at: Timestamp | null;
    ringing_agent_ids: ColumnType<string[], string[] | undefined, string[]>;
    /** Queued again by a transfer: its answer or hang-up is not a new queue exit. */
    in_transfer: boolean;
    /** The agent whose part is in progress, since connected_at. */
    agent_id: string | null;
    connected_at: Timestamp | null;
    held_at: Timestamp | null;
    first_response: boolean;
  };
  /** An agent's state as the reports count it, and since when (the time until the next event is added then). */
  report_agents: {
    instance_id: string;
    agent_id: string;
    revision: number;
    /** AVAILABLE, BREAK, OFFLINE */
    presence: string;
    break_reason: string | null;
    since: Timestamp | null;
    /** contactId → offered | connected */
    contacts: ColumnType<Record<string, 'offered' | 'connected'>, string, string>;
    wrap_up_contact_id: string | null;
    wrap_up_since: Timestamp | null;
  };
  /** An instance's report settings (issue 15): its time zone and default service-level threshold. */
  report_settings: {
    instance_id: string;
    time_zone: string;
    service_level_seconds: number;
    updated_at: Timestamp;
  };
  /**
   * An instance whose day rows are being counted again in its new time zone (report-days.ts, recountDaysStep):
   * its old rows deleted (phase 'delete'), then the base tables' rows before counted_to counted into the
   * day tables (phase 'count'), a chunk a transaction. Meanwhile its reports read the buckets.
   */
  report_day_recounts: {
    instance_id: string;
    time_zone: string;
    /** delete, count */
    phase: string;
    /** Phase count: the base tables' rows before this bucket are counted in the day rows. */
    counted_to: Timestamp | null;
    /** Phase count: the first bucket counted (the recount's days run from its UTC day to the last bucket's). */
    count_from: Timestamp | null;
    started_at: Timestamp;
    updated_at: Timestamp;
  };
  /** The last finished recount of an instance's day rows (reportRecount), kept after its job's row is deleted (and by a rebuild). */
  report_day_recounts_done: {
    instance_id: string;
    time_zone: string;
    days_total: number;
    started_at: Timestamp;
    finished_at: Timestamp;
  };
}
