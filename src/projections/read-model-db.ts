// Row types of every read model table (kysely).
import type { ColumnType } from 'kysely';

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type Json<T> = ColumnType<T, string, string>;

export interface ReadModelDb {
  kefu_projection_checkpoints: {
    name: string;
    position: string | null;
    updated_at: Timestamp;
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
    created_at: Timestamp;
    updated_at: Timestamp;
    ended_at: Timestamp | null;
  };
  skill_group_members: {
    instance_id: string;
    skill_group_id: string;
    agent_id: string;
    level: number;
    added_at: Timestamp;
  };
}
