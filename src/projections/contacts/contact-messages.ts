// Chat messages into the contacts read model. A message is the busiest event of a chat: one at a time, each
// is an INSERT (with the chat's last seq in the same statement); a run of several (a busy instance's batch)
// goes as one multi-row INSERT and one UPDATE of the chats' last seq, whatever the number of messages.
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
 * Stores several messages (events `isBatchableMessage` took, in order) in two statements: the rows (a replay
 * finds them there and leaves them), then each chat's last seq (the greatest of its messages here). Each
 * message goes on the bus in order, as the one-at-a-time path sends it.
 */
export async function recordMessages(trx: Trx, events: RecordedEvent[], changes: ChangeSink): Promise<void> {
  const rows: ReturnType<typeof messageRow>[] = [];
  const published: { topic: string; message: ConversationBusMessage }[] = [];
  /** Per chat: its greatest seq here and the time of its last message's event. */
  const chats = new Map<string, { instanceId: string; contactId: string; seq: number; at: string }>();
  for (const e of events) {
    const data = (e as unknown as { data: MessageEvent['data'] }).data;
    const instanceId = e.metadata.instanceId;
    const contactId = e.streamId.slice(e.streamId.indexOf('.') + 1);
    const m = messageOf(data, 0);
    rows.push(messageRow(instanceId, contactId, m));
    published.push({ topic: conversationTopic(instanceId, contactId), message: { kind: 'MESSAGE', contactId, message: busMessage(contactId, m) } });
    const key = `${instanceId}\u0000${contactId}`;
    const chat = chats.get(key);
    if (chat) {
      chat.seq = Math.max(chat.seq, m.seq);
      chat.at = e.metadata.occurredAt;
    } else chats.set(key, { instanceId, contactId, seq: m.seq, at: e.metadata.occurredAt });
  }
  // Applied again (a replay): the messages (and their seqs) are there already. The rows' INSERT goes as a
  // data-modifying WITH of the UPDATE: one statement (one round trip in the batch's transaction), not two.
  const insert = trx.insertInto('contact_messages').values(rows).onConflict((c) => c.doNothing()).compile();
  const params: unknown[] = [...insert.parameters];
  const values = [...chats.values()].map((c) => {
    params.push(c.instanceId, c.contactId, c.seq, c.at);
    const n = params.length;
    return `($${n - 3}::text, $${n - 2}::text, $${n - 1}::int, $${n}::timestamptz)`;
  });
  await trx.executeQuery(
    CompiledQuery.raw(
      `WITH recorded AS (${insert.sql}) UPDATE contacts AS c SET last_seq = greatest(c.last_seq, v.seq), updated_at = v.at
    FROM (VALUES ${values.join(', ')}) AS v(instance_id, id, seq, at)
    WHERE c.instance_id = v.instance_id AND c.id = v.id`,
      params,
    ),
  );
  for (const p of published) changes.publish(p.topic, p.message);
}
