// Chat messages into the contacts read model. A message is the busiest event of a chat: a batch's run of
// messages (one or many) goes as one statement, the rows' INSERT and the chats' last seq UPDATE, whatever the
// number of messages.
import { CompiledQuery, type Transaction } from 'kysely';
import { messageOf, type ChatMessage, type ContactEvent } from '../../domain/contact/contact.ts';
import type { RecordedEvent } from '../../domain/ports/event-store.ts';
import type { ChangeSink } from '../projection.ts';
import type { ReadModelDb } from '../read-model-db.ts';
import { conversationTopic, type ConversationBusMessage, type ConversationMessage } from './contacts.projection.ts';

type Trx = Transaction<ReadModelDb>;
type MessageEvent = Extract<ContactEvent, { type: 'ContactMessageRecorded' }>;

/** The contact_messages row of a message. */
export function messageRow(instanceId: string, contactId: string, m: ChatMessage) {
  return {
    instance_id: instanceId,
    contact_id: contactId,
    id: m.messageId,
    sender: m.from,
    agent_id: m.agentId,
    text: m.text,
    sent_at: m.at,
    seq: m.seq,
    client_message_id: m.clientMessageId,
    kind: m.kind,
    attachment: m.attachment ? JSON.stringify(m.attachment) : null,
    system: m.system ? JSON.stringify(m.system) : null,
    ...(m.options ? { options: JSON.stringify(m.options) } : {}),
    ...(m.image ? { image: JSON.stringify(m.image) } : {}),
    ...(m.link ? { link: JSON.stringify(m.link) } : {}),
  };
}

/** A message as it goes on the bus to the conversation's subscribers. */
export function busMessage(contactId: string, m: ChatMessage): ConversationMessage {
  return {
    id: m.messageId,
    contactId,
    seq: m.seq,
    clientMessageId: m.clientMessageId,
    sender: m.from,
    kind: m.kind,
    agentId: m.agentId,
    text: m.text,
    attachment: m.attachment,
    system: m.system,
    ...(m.options ? { options: m.options } : {}),
    ...(m.image ? { image: m.image } : {}),
    ...(m.link ? { link: m.link } : {}),
    sentAt: new Date(m.at).toISOString(),
  };
}

/** A message event the batch path takes: one with its seq (events from before issue 11 are numbered one by one). */
export function isBatchableMessage(e: RecordedEvent): boolean {
  return e.type === 'ContactMessageRecorded' && typeof (e.data as { seq?: unknown }).seq === 'number';
}

/**
 * The statement recordMessages sends, the same text whatever the number of messages (PostgreSQL parses and plans
 * one text; no query builder compiles a row's fifteen parameters per message): the rows, then each chat's last
 * seq, as two JSON parameters. The INSERT is a data-modifying WITH of the UPDATE: one statement, one round trip
 * in the batch's transaction. Applied again (a replay), the messages (and their seqs) are there already.
 */
const recordMessagesSql = `WITH recorded AS (
    INSERT INTO contact_messages (instance_id, contact_id, id, sender, agent_id, text, sent_at, seq, client_message_id, kind, attachment, system, options, image, link)
    SELECT m.instance_id, m.contact_id, m.id, m.sender, m.agent_id, m.text, m.sent_at, m.seq, m.client_message_id, m.kind, m.attachment, m.system, m.options, m.image, m.link
    FROM json_to_recordset($1::json) AS m(instance_id text, contact_id text, id text, sender text, agent_id text, text text, sent_at timestamptz, seq int,
      client_message_id text, kind text, attachment jsonb, system jsonb, options jsonb, image jsonb, link jsonb)
    ON CONFLICT DO NOTHING)
  UPDATE contacts AS c SET last_seq = greatest(c.last_seq, v.seq), updated_at = v.at
  FROM json_to_recordset($2::json) AS v(instance_id text, id text, seq int, at timestamptz)
  WHERE c.instance_id = v.instance_id AND c.id = v.id`;

/**
 * Stores messages (events `isBatchableMessage` took, in order) in one statement: the rows (a replay finds them
 * there and leaves them), and each chat's last seq (the greatest of its messages here). Each message goes on
 * the bus in order, as the one-at-a-time path (contactsProjection.apply) sends it.
 */
export async function recordMessages(trx: Trx, events: RecordedEvent[], changes: ChangeSink): Promise<void> {
  const rows: object[] = [];
  const published: { topic: string; message: ConversationBusMessage }[] = [];
  /** Per chat: its greatest seq here and the time of its last message's event. */
  const chats = new Map<string, { instance_id: string; id: string; seq: number; at: string }>();
  for (const e of events) {
    const data = (e as unknown as { data: MessageEvent['data'] }).data;
    const instanceId = e.metadata.instanceId;
    const contactId = e.streamId.slice(e.streamId.indexOf('.') + 1);
    const m = messageOf(data, 0);
    // messageRow's columns, with the JSON ones as values (json_to_recordset reads them as jsonb), not as text.
    rows.push({ ...messageRow(instanceId, contactId, m), attachment: m.attachment, system: m.system, options: m.options ?? null, image: m.image ?? null, link: m.link ?? null });
    published.push({ topic: conversationTopic(instanceId, contactId), message: { kind: 'MESSAGE', contactId, message: busMessage(contactId, m) } });
    const key = `${instanceId}\u0000${contactId}`;
    const chat = chats.get(key);
    if (chat) {
      chat.seq = Math.max(chat.seq, m.seq);
      chat.at = e.metadata.occurredAt;
    } else chats.set(key, { instance_id: instanceId, id: contactId, seq: m.seq, at: e.metadata.occurredAt });
  }
  await trx.executeQuery(CompiledQuery.raw(recordMessagesSql, [JSON.stringify(rows), JSON.stringify([...chats.values()])]));
  for (const p of published) changes.publish(p.topic, p.message);
}
