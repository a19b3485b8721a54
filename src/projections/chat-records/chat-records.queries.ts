// Reading chat records. `onlyAgentId` narrows to the chats that agent served (accepted): what an agent may
// see; null reads every chat of the instance.
import { sql } from 'kysely';
import type { ReadModel } from '../projection.ts';
import type { ChatRecordRow } from './chat-records.projection.ts';

export interface ChatRecordFilter {
  from?: Date | null;
  to?: Date | null;
  agentId?: string | null;
  /** The first or the last skill group. */
  skillGroupId?: string | null;
  endStatus?: string | null;
  customerId?: string | null;
  webChannelId?: string | null;
  /** Issue 12: rated with this value; rated (true) or not (false). */
  satisfaction?: number | null;
  rated?: boolean | null;
}

const served = (agentId: string) => sql<boolean>`agent_ids @> ARRAY[${agentId}]::text[]`;

export async function findChatRecord(db: ReadModel, instanceId: string, contactId: string, onlyAgentId: string | null): Promise<ChatRecordRow | undefined> {
  let q = db.selectFrom('chat_records').selectAll().where('instance_id', '=', instanceId).where('contact_id', '=', contactId);
  if (onlyAgentId) q = q.where(served(onlyAgentId));
  return q.executeTakeFirst();
}

/** A page of records, newest first; `after` is the (created_at, contact_id) of the previous page's last row. */
export async function listChatRecords(
  db: ReadModel,
  instanceId: string,
  options: { first: number; after: [string, string] | null; filter: ChatRecordFilter; onlyAgentId: string | null },
): Promise<ChatRecordRow[]> {
  const { filter: f } = options;
  let q = db.selectFrom('chat_records').selectAll().where('instance_id', '=', instanceId);
  if (options.onlyAgentId) q = q.where(served(options.onlyAgentId));
  if (f.agentId) q = q.where(served(f.agentId));
  if (f.from) q = q.where('created_at', '>=', f.from);
  if (f.to) q = q.where('created_at', '<', f.to);
  if (f.skillGroupId) {
    const group = f.skillGroupId;
    q = q.where((eb) => eb.or([eb('skill_group_id', '=', group), eb('last_skill_group_id', '=', group)]));
  }
  if (f.endStatus) q = q.where('end_status', '=', f.endStatus);
  if (f.customerId) q = q.where('customer_id', '=', f.customerId);
  if (f.webChannelId) q = q.where('web_channel_id', '=', f.webChannelId);
  if (f.satisfaction !== undefined && f.satisfaction !== null) q = q.where(sql<boolean>`satisfaction IS NOT NULL AND (satisfaction->>'value')::int = ${f.satisfaction}`);
  if (f.rated === true) q = q.where('satisfaction', 'is not', null);
  if (f.rated === false) q = q.where('satisfaction', 'is', null);
  if (options.after) {
    const [createdAt, contactId] = options.after;
    q = q.where(sql<boolean>`(created_at, contact_id) < (${createdAt}::timestamptz, ${contactId})`);
  }
  return q.orderBy('created_at', 'desc').orderBy('contact_id', 'desc').limit(options.first).execute();
}
