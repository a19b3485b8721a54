// Row types of every read model table (kysely).
import type { ColumnType } from 'kysely';
import type { ChatAttachment, ChatFlowImage, ChatLink, SystemMessage, WebSource } from '../domain/contact/contact.ts';
import type { MiniProgramCard } from '../domain/contact/chat-link.ts';
import type { ChatFlowOption } from '../domain/flow/chat-flow-engine.ts';
import type { CallKey, CallLeg, MeasuredMedia } from './call-records/call-records.projection.ts';
import type { ChatSatisfaction, ChatTransfer } from './chat-records/chat-records.projection.ts';
import type { SatisfactionSurvey } from '../domain/instance/satisfaction.ts';
import type { ReceptionPromptSettings, WorkHours } from '../domain/web-channel/reception-prompts.ts';
import type { AvChannelSettings } from '../domain/web-channel/av-settings.ts';
import type { ReportTables } from './reports/reports.tables.ts';

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type Json<T> = ColumnType<T, string, string>;

export interface ReadModelDb extends ReportTables {
  kefu_projection_checkpoints: {
    name: string;
    position: string | null;
    updated_at: Timestamp;
    /** Instances whose part of this projection is parked: their events are held, not applied. */
    parked_instances: ColumnType<string[], string[] | undefined, string[]>;
  };
  kefu_projection_parked_parts: {
    projection: string;
    instance_id: string;
    resume_after: string | null;
    event_position: string;
    event_id: string;
    event_type: string;
    stream_id: string;
    error: string;
    parked_at: Timestamp;
    last_retry_at: Timestamp | null;
  };
  kefu_secrets: {
    name: string;
    value: string;
    created_at: Timestamp;
  };
  instances: {
    id: string;
    name: string;
    created_at: Timestamp;
    qualification_status: string;
    company_name: string | null;
    registration_number: string | null;
    documents: Json<string[]>;
    qualification_submitted_at: Timestamp | null;
    qualification_reviewed_at: Timestamp | null;
    qualification_review_reason: string | null;
    seats: number;
    seats_used: number;
    break_reasons: Json<string[]>;
    screen_pop_url_template: string | null;
    screen_pop_pinned: ColumnType<boolean, boolean | undefined, boolean>;
    screen_pop_configured_at: Timestamp | null;
    /** The HMAC key screen pop URLs are signed with; never returned by the API after rotation. */
    screen_pop_secret: string | null;
    screen_pop_secret_rotated_at: Timestamp | null;
    /** Issue 12: null until configured (defaultSatisfactionSurvey). */
    satisfaction_survey: ColumnType<SatisfactionSurvey | null, string | null | undefined, string | null>;
  };
  instance_seat_holders: {
    instance_id: string;
    agent_id: string;
    login: string;
  };
  api_keys: {
    id: string;
    instance_id: string;
    name: string;
    role: string;
    secret_hash: string;
    created_at: Timestamp;
    revoked_at: Timestamp | null;
  };
  agents: {
    instance_id: string;
    id: string;
    name: string;
    login: string;
    phone: string | null;
    role: string;
    password_hash: string;
    presence: string;
    break_reason: string | null;
    forced_offline_reason: string | null;
    status_since: Timestamp;
    online_since: Timestamp | null;
    online_day: string | null;
    online_seconds_accumulated: number;
    held_phone: ColumnType<number, number | undefined, number>;
    held_online: ColumnType<number, number | undefined, number>;
    held_av: ColumnType<number, number | undefined, number>;
    /** contactId → channel of every contact held (offered or connected). */
    held_contacts: ColumnType<Record<string, string>, string | undefined, string>;
    wrap_up_until: Timestamp | null;
    handled_day: string | null;
    handled_today: ColumnType<number, number | undefined, number>;
    /** PH-3: NEVER, WHEN_OFFLINE or ALWAYS. */
    answer_on_mobile: ColumnType<string, string | undefined, string>;
    mobile_number: string | null;
    created_at: Timestamp;
    updated_at: Timestamp;
    deleted_at: Timestamp | null;
  };
  skill_groups: {
    instance_id: string;
    id: string;
    name: string;
    channel: string;
    strategy: string;
    max_concurrency: number;
    ring_timeout_seconds: number;
    wrap_up_seconds: number;
    auto_accept: ColumnType<boolean, boolean | undefined, boolean>;
    last_agent_first_seconds: ColumnType<number, number | undefined, number>;
    max_queue_length: ColumnType<number, number | undefined, number>;
    max_wait_seconds: ColumnType<number, number | undefined, number>;
    overflow_skill_group_id: string | null;
    when_no_agent_online: ColumnType<string, string | undefined, string>;
    break_after_missed_offer: ColumnType<boolean, boolean | undefined, boolean>;
    chat_idle_end_seconds: ColumnType<number, number | undefined, number>;
    /** END or REQUEUE: a call whose agent's device vanished. */
    on_agent_device_lost: ColumnType<string, string | undefined, string>;
    /** PH-2: numbers the group's agents call out from. */
    outbound_numbers: ColumnType<string[], string[] | undefined, string[]>;
    created_at: Timestamp;
    updated_at: Timestamp;
    deleted_at: Timestamp | null;
  };
  contacts: {
    instance_id: string;
    id: string;
    channel: string;
    direction: string;
    customer: Json<{ kind: string; id: string; name: string | null }>;
    data: Json<Record<string, string>>;
    status: string;
    skill_group_id: string | null;
    priority: number;
    queued_at: Timestamp | null;
    offer: Json<unknown> | null;
    agent_id: string | null;
    key_trail: Json<unknown[]>;
    transfer: Json<unknown> | null;
    end_reason: string | null;
    ended_by: string | null;
    connected_at: Timestamp | null;
    created_at: Timestamp;
    updated_at: Timestamp;
    ended_at: Timestamp | null;
    /** Issue 11 (contacts/conversations.migrations.ts): a web chat's source and conversation state. */
    source: Json<WebSource> | null;
    web_channel_id: string | null;
    web_customer_id: string | null;
    web_verified: boolean | null;
    last_seq: ColumnType<number, number | undefined, number>;
    customer_last_read_seq: ColumnType<number, number | undefined, number>;
    agent_last_read_seq: ColumnType<number, number | undefined, number>;
    served_agent_ids: ColumnType<string[], string | undefined, string>;
    /** Issue 12: the customer left a message for the group (a chat flow's leaveMessage). */
    left_message: ColumnType<boolean, boolean | undefined, boolean>;
  };
  web_channels: {
    instance_id: string;
    id: string;
    name: string;
    /** The widget's key; unique across instances (startCustomerSession finds the channel by it). */
    public_key: string;
    allowed_origins: Json<string[]>;
    skill_group_id: string;
    welcome_text: string | null;
    /** The CHAT flow its chats run first (OL-13), or null. */
    flow_id: string | null;
    /** Issue 12: ReceptionPromptSettings (null: all defaults) and WorkHours (null: always open). */
    reception_prompts: ColumnType<ReceptionPromptSettings | null, string | null | undefined, string | null>;
    work_hours: ColumnType<WorkHours | null, string | null | undefined, string | null>;
    /** Issue 14: AvChannelSettings (null: not configured). */
    av_settings: ColumnType<AvChannelSettings | null, string | null | undefined, string | null>;
    enabled: boolean;
    /** HMAC key of verified customers; never returned by the API after create or rotate. */
    identity_secret: string;
    created_at: Timestamp;
    updated_at: Timestamp;
    deleted_at: Timestamp | null;
  };
  /** WeChat accounts (issue 13): secrets only sealed (src/adapters/wechat/wechat-secrets.ts). */
  wechat_accounts: {
    instance_id: string;
    id: string;
    name: string;
    kind: string;
    app_id: string;
    original_id: string | null;
    message_mode: string;
    data_format: string;
    skill_group_id: string;
    flow_id: string | null;
    send_quota: number;
    enabled: boolean;
    app_secret: string;
    token: string;
    encoding_aes_key: string | null;
    /** Issue 13: reception prompts (as web channels'), the welcome prompt's text, work hours. */
    welcome_text: ColumnType<string | null, string | null | undefined, string | null>;
    reception_prompts: ColumnType<ReceptionPromptSettings | null, string | null | undefined, string | null>;
    work_hours: ColumnType<WorkHours | null, string | null | undefined, string | null>;
    mini_program_cards: ColumnType<MiniProgramCard[] | null, string | null | undefined, string | null>;
    created_at: Timestamp;
    updated_at: Timestamp;
    deleted_at: Timestamp | null;
  };
  /** WeChat pushes taken in (the dedupe of WeChat's retries): kept before WeChat is answered, pending until their effect is made (wechat-intake.ts). */
  wechat_inbound: {
    instance_id: string;
    account_id: string;
    push_key: string;
    contact_id: string | null;
    received_at: Timestamp;
    push: ColumnType<unknown, string | null | undefined, string | null>;
    pending: ColumnType<boolean, boolean | undefined, boolean>;
    attempts: ColumnType<number, number | undefined, number>;
    next_attempt_at: Timestamp | null;
  };
  /** Agents' messages to WeChat customers, each sent once (src/processes/wechat-outbox). */
  wechat_outbox: {
    instance_id: string;
    contact_id: string;
    seq: number;
    account_id: string;
    open_id: string;
    /** PENDING, SENT or FAILED. */
    state: string;
    attempts: number;
    next_attempt_at: Timestamp;
    claimed_until: Timestamp | null;
    error_code: number | null;
    error: string | null;
    /** { kind, text, attachment, agentId } of the message. */
    payload: Json<unknown> | null;
    created_at: Timestamp;
    updated_at: Timestamp;
  };
  /** Access tokens per account, shared by every Kefu process; one refresher at a time (lease). */
  wechat_access_tokens: {
    instance_id: string;
    account_id: string;
    token: string | null;
    expires_at: Timestamp | null;
    lease_until: Timestamp | null;
    updated_at: Timestamp;
  };
  /** Where a process that reads all events (the WeChat outbox) stands. */
  wechat_checkpoints: {
    name: string;
    position: string | null;
    updated_at: Timestamp;
  };
  blacklist_entries: {
    instance_id: string;
    id: string;
    channel: string;
    /** Normalized: see normalizeIdentity in src/domain/blacklist. */
    identity: string;
    reason: string;
    expires_at: Timestamp | null;
    by_agent_id: string | null;
    contact_id: string | null;
    created_by: string;
    created_at: Timestamp;
    removed_by: string | null;
    removed_at: Timestamp | null;
  };
  contact_messages: {
    instance_id: string;
    contact_id: string;
    id: string;
    /** AGENT, CUSTOMER or SYSTEM. */
    sender: string;
    agent_id: string | null;
    text: string;
    sent_at: Timestamp;
    /** Issue 11: gap-free from 1 per contact. */
    seq: ColumnType<number, number | undefined, number>;
    client_message_id: string | null;
    /** TEXT, IMAGE, FILE or SYSTEM. */
    kind: ColumnType<string, string | undefined, string>;
    attachment: Json<ChatAttachment> | null;
    system: Json<SystemMessage> | null;
    /** Issue 12: a chat flow's buttons and image. */
    options: ColumnType<ChatFlowOption[] | null, string | null | undefined, string | null>;
    image: ColumnType<ChatFlowImage | null, string | null | undefined, string | null>;
    /** Issue 13: a LINK message's card. */
    link: ColumnType<ChatLink | null, string | null | undefined, string | null>;
  };
  skill_group_members: {
    instance_id: string;
    skill_group_id: string;
    agent_id: string;
    level: number;
    added_at: Timestamp;
  };
  // Flows and prompt audio (src/projections/flows).
  flows: {
    instance_id: string;
    id: string;
    name: string;
    kind: string;
    /** The current version. */
    version: number;
    definition: Json<unknown>;
    created_at: Timestamp;
    updated_at: Timestamp;
    deleted_at: Timestamp | null;
  };
  flow_versions: {
    instance_id: string;
    flow_id: string;
    version: number;
    definition: Json<unknown>;
    created_by: string;
    created_at: Timestamp;
  };
  audio_files: {
    instance_id: string;
    id: string;
    name: string;
    duration_ms: number;
    sample_rate: number;
    size_bytes: number;
    created_at: Timestamp;
    deleted_at: Timestamp | null;
  };
  // Trunks, numbers and SIP extensions (src/projections/telephony).
  trunks: {
    instance_id: string;
    id: string;
    name: string;
    allowed_addresses: Json<string[]>;
    digest_username: string | null;
    /** md5(username:realm:password); never returned by the API. */
    digest_ha1: string | null;
    outbound_uri: string | null;
    created_at: Timestamp;
    updated_at: Timestamp;
    deleted_at: Timestamp | null;
  };
  /** Platform-wide: one row per bound number, keyed by its digits. */
  phone_numbers: {
    number_key: string;
    number: string;
    instance_id: string;
    flow_id: string;
    bound_at: Timestamp;
    updated_at: Timestamp;
  };
  sip_extensions: {
    instance_id: string;
    agent_id: string;
    username: string;
    /** md5(username:realm:password); never returned by the API. */
    ha1: string;
    updated_at: Timestamp;
  };
  // Call records (src/projections/call-records).
  call_records: {
    instance_id: string;
    contact_id: string;
    call_id: string;
    direction: string;
    caller: string;
    callee: string;
    trunk_id: string | null;
    node: string;
    flow_id: string | null;
    started_at: Timestamp;
    flow_started_at: Timestamp | null;
    queued_at: Timestamp | null;
    ring_at: Timestamp | null;
    accepted_at: Timestamp | null;
    ended_at: Timestamp | null;
    ivr_seconds: number | null;
    queue_seconds: number | null;
    ring_seconds: number | null;
    talk_seconds: number | null;
    end_status: string | null;
    ended_by: string | null;
    /** The first skill group queued in. */
    skill_group_id: string | null;
    /** Where the call waits now (after overflows and transfers): the next leg's group. */
    current_skill_group_id: string | null;
    served_skill_group_id: string | null;
    /** The serving agent: the last who accepted. */
    agent_id: string | null;
    /** Every agent with a leg. */
    agent_ids: ColumnType<string[], string[] | undefined, string[]>;
    keys: Json<CallKey[]>;
    legs: Json<CallLeg[]>;
    recording_id: string | null;
    recording_status: string | null;
    recording_duration_ms: number | null;
    recording_bytes: number | null;
    /** The customer leg's media figures, once measured (issue 9). */
    customer_media: Json<MeasuredMedia> | null;
    /** 'CUSTOMER' / 'AGENT': the sides that went silent while connected. */
    silent_sides: ColumnType<string[], string[] | undefined, string[]>;
    /** Issue 12: the keypad survey's rating, null until the caller rated. */
    satisfaction: ColumnType<ChatSatisfaction | null, string | null | undefined, string | null>;
    updated_at: Timestamp;
  };
  call_recordings: {
    instance_id: string;
    id: string;
    contact_id: string;
    agent_id: string | null;
    status: string;
    started_at: Timestamp;
    completed_at: Timestamp | null;
    duration_ms: number | null;
    bytes: number | null;
  };
  // Chat records (src/projections/chat-records): one row per ONLINE contact.
  chat_records: {
    instance_id: string;
    contact_id: string;
    /** The stream revision of the last event applied (repeats change nothing). */
    last_revision: number;
    /** WEB (a web channel's widget) or API (an integration's createContact). */
    source_kind: string;
    web_channel_id: string | null;
    page_url: string | null;
    customer_kind: string;
    customer_id: string;
    customer_name: string | null;
    /** Web chats: the customer's id was verified by the business's HMAC; null for API chats. */
    customer_verified: boolean | null;
    created_at: Timestamp;
    queued_at: Timestamp | null;
    /** The first offer to an agent. */
    offered_at: Timestamp | null;
    /** The first accept. */
    accepted_at: Timestamp | null;
    first_agent_reply_at: Timestamp | null;
    ended_at: Timestamp | null;
    /** The first skill group queued in, and the last (after overflows and transfers). */
    skill_group_id: string | null;
    last_skill_group_id: string | null;
    queue_seconds: number | null;
    first_response_seconds: number | null;
    total_seconds: number | null;
    /** chatEndStatusOf: CUSTOMER_ENDED, AGENT_ENDED, CUSTOMER_IDLE, ... */
    end_status: string | null;
    ended_by: string | null;
    /** The ContactEnded reason or the ContactRejected reason, as emitted. */
    end_reason: string | null;
    /** The serving agent: the last who accepted. */
    agent_id: string | null;
    /** Every agent who accepted the chat, in order. */
    agent_ids: ColumnType<string[], string[] | undefined, string[]>;
    transfers: Json<ChatTransfer[]>;
    customer_messages: ColumnType<number, number | undefined, number>;
    agent_messages: ColumnType<number, number | undefined, number>;
    system_messages: ColumnType<number, number | undefined, number>;
    last_seq: ColumnType<number, number | undefined, number>;
    satisfaction: Json<ChatSatisfaction> | null;
    updated_at: Timestamp;
  };
  quick_reply_categories: {
    instance_id: string;
    id: string;
    name: string;
    /** INSTANCE, SKILL_GROUPS or AGENTS */
    scope_kind: string;
    skill_group_ids: ColumnType<string[], string[] | undefined, string[]>;
    agent_ids: ColumnType<string[], string[] | undefined, string[]>;
    position: number;
    created_at: Timestamp;
    updated_at: Timestamp;
  };
  /** Webhook subscriptions (issue 16); the signing secret is derived from secret_salt, never stored. */
  webhooks: {
    instance_id: string;
    id: string;
    url: string;
    event_kinds: Json<string[]>;
    secret_salt: string;
    paused_reason: string | null;
    paused_at: Timestamp | null;
    created_at: Timestamp;
    updated_at: Timestamp;
    deleted_at: Timestamp | null;
  };
  /** The webhook outbox and delivery log: PENDING, DELIVERED or CANCELLED (its webhook deleted). */
  webhook_deliveries: {
    id: string;
    /** bigserial (a string from pg): the order deliveries go out in, per webhook. */
    seq: ColumnType<string, never, never>;
    instance_id: string;
    webhook_id: string;
    event_id: string;
    event_type: string;
    kind: string;
    contact_id: string | null;
    event_position: string;
    body: string;
    status: string;
    attempts: number;
    last_error: string | null;
    last_status_code: number | null;
    replay_of: string | null;
    created_at: Timestamp;
    last_attempt_at: Timestamp | null;
    next_attempt_at: Timestamp | null;
    first_failed_at: Timestamp | null;
    delivered_at: Timestamp | null;
  };
  quick_replies: {
    instance_id: string;
    id: string;
    category_id: string | null;
    agent_id: string | null;
    title: string;
    shortcut: string;
    shortcut_key: string;
    content: string;
    image_url: string | null;
    position: number;
    /** bigint: pg returns it as a string. */
    sort_key: ColumnType<string, number | string, number | string>;
    /** tsvector, written with array_to_tsvector. */
    search_tokens: ColumnType<string, unknown, unknown>;
    created_at: Timestamp;
    updated_at: Timestamp;
  };
}
