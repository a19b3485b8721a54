// Chat messages into the contacts read model. A message is the busiest event of a chat: a batch's run of
// messages (one or many), with the chat flow steps' choices, variables and queue among them, goes as one
// statement, the rows' INSERT and the chats' UPDATE, whatever the number of events.
import { CompiledQuery, sql, type RawBuilder, type Transaction } from 'kysely';
import { messageOf, type ChatMessage, type ContactEvent } from '../../domain/contact/contact.ts';
import type { RecordedEvent } from '../../domain/ports/event-store.ts';
import type { ChangeSink } from '../projection.ts';
import type { ReadModelDb } from '../read-model-db.ts';
import { contactsTopic, conversationTopic, queuesTopic, type ConversationBusMessage, type ConversationMessage } from './contacts.projection.ts';

type Trx = Transaction<ReadModelDb>;

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
 * Events a run takes besides messages (issue 12: a chat flow's step records the customer's message, the flow's
 * answer, then a choice, variables, the route; issue 11: a side's read mark, which comes after about every
 * message of a live chat): each sets columns of the contact's row that nothing else in a run sets (the key
 * trail, the data, the status with the queue's columns, a side's last read seq), so a run's events fold into one
 * UPDATE per contact whatever their order among the messages. A run never holds the contact's ContactCreated
 * (it ends the run before it), whose row they update.
 */
const runEventTypes = new Set<string>(['ContactFlowStarted', 'ContactKeyPressed', 'ContactVariablesSet', 'ContactQueued', 'ContactMessagesRead']);

/** An event recordRun takes: a message with its seq, or one of runEventTypes. */
export function isRunEvent(e: RecordedEvent): boolean {
  return runEventTypes.has(e.type) || isBatchableMessage(e);
}

/**
 * The statement recordRun sends, the same text whatever the number of events (PostgreSQL parses and plans one
 * text; no query builder compiles a row's fifteen parameters per message): the messages' rows, then each
 * chat's change, as two JSON parameters. The INSERT is a data-modifying WITH of the UPDATE: one statement, one
 * round trip in the batch's transaction. Each contact's change is what the one-at-a-time path
 * (contactsProjection.apply) makes of its events in order: the last seq, the keys pressed appended (one the
 * trail holds already, the same key at the same time, is a replay: not again), the
 * variables merged, the status (IN_FLOW, or QUEUED with the queue's columns; the last of them), each side's
 * greatest read seq (greatest() passes over a NULL: a side that read nothing keeps its seq), the time of the
 * last event that is not a read mark (a read mark leaves updated_at, as apply does; NULL: none, kept). Applied
 * again (a replay), the messages (and their seqs) are there already, and a read seq never goes back.
 */
const insertMessagesHead = `INSERT INTO contact_messages (instance_id, contact_id, id, sender, agent_id, text, sent_at, seq, client_message_id, kind, attachment, system, options, image, link)
    SELECT m.instance_id, m.contact_id, m.id, m.sender, m.agent_id, m.text, m.sent_at, m.seq, m.client_message_id, m.kind, m.attachment, m.system, m.options, m.image, m.link
    FROM json_to_recordset(`;
const insertMessagesTail = `::json) AS m(instance_id text, contact_id text, id text, sender text, agent_id text, text text, sent_at timestamptz, seq int,
      client_message_id text, kind text, attachment jsonb, system jsonb, options jsonb, image jsonb, link jsonb)`;
const updateChatsHead = `UPDATE contacts AS c SET
    last_seq = greatest(c.last_seq, v.seq),
    key_trail = CASE WHEN v.keys IS NULL THEN c.key_trail ELSE coalesce(c.key_trail, '[]'::jsonb) || (
      SELECT coalesce(jsonb_agg(k.key ORDER BY k.n), '[]'::jsonb) FROM jsonb_array_elements(v.keys) WITH ORDINALITY AS k(key, n)
      WHERE NOT coalesce(c.key_trail @> jsonb_build_array(k.key), false)) END,
    data = CASE WHEN v.data IS NULL THEN c.data ELSE coalesce(c.data, '{}'::jsonb) || v.data END,
    status = coalesce(v.status, c.status),
    skill_group_id = CASE WHEN v.queued THEN v.skill_group_id ELSE c.skill_group_id END,
    priority = CASE WHEN v.queued THEN v.priority ELSE c.priority END,
    queued_at = CASE WHEN v.queued THEN v.queued_at ELSE c.queued_at END,
    offer = CASE WHEN v.queued THEN NULL ELSE c.offer END,
    left_message = CASE WHEN v.left_message THEN true ELSE c.left_message END,
    agent_last_read_seq = greatest(c.agent_last_read_seq, v.agent_read),
    customer_last_read_seq = greatest(c.customer_last_read_seq, v.customer_read),
    updated_at = coalesce(v.at, c.updated_at)
  FROM json_to_recordset(`;
const updateChatsTail = `::json) AS v(instance_id text, id text, seq int, at timestamptz, keys jsonb, data jsonb, status text, queued boolean,
    skill_group_id text, priority int, queued_at timestamptz, left_message boolean, agent_read int, customer_read int)
  WHERE c.instance_id = v.instance_id AND c.id = v.id`;
const recordRunSql = `WITH recorded AS (
    ${insertMessagesHead}$1${insertMessagesTail}
    ON CONFLICT DO NOTHING)
  ${updateChatsHead}$2${updateChatsTail}
  RETURNING c.instance_id, c.id, c.channel, c.status`;

/** One contact's change in a run (a row of recordRunSql's second parameter). */
interface RunChange {
  instance_id: string;
  id: string;
  seq: number | null;
  /** The last event's time, of those that are not a read mark (null: only read marks, updated_at kept). */
  at: string | null;
  keys: unknown[] | null;
  data: Record<string, string> | null;
  status: string | null;
  queued: boolean;
  skill_group_id: string | null;
  priority: number | null;
  queued_at: string | null;
  left_message: boolean;
  /** The greatest seq each side marked read in the run (null: none). */
  agent_read: number | null;
  customer_read: number | null;
}

type Published = { topic: string; message: unknown } | { status: string; instanceId: string; contactId: string };

/** A run's rows and changes (recordRunSql's two parameters), and its bus messages in order. */
interface PreparedRun {
  rows: object[];
  chats: RunChange[];
  published: Published[];
  /** It holds a ContactQueued: its STATUS message needs the row as the statement leaves it (RETURNING). */
  queued: boolean;
}

function prepareRun(events: RecordedEvent[]): PreparedRun {
  const rows: object[] = [];
  const published: Published[] = [];
  const told = new Set<string>();
  const chats = new Map<string, RunChange>();
  let queued = false;
  for (const e of events) {
    const instanceId = e.metadata.instanceId;
    const contactId = e.streamId.slice(e.streamId.indexOf('.') + 1);
    const key = `${instanceId}\u0000${contactId}`;
    let chat = chats.get(key);
    if (!chat) {
      chat = { instance_id: instanceId, id: contactId, seq: null, at: null, keys: null, data: null, status: null, queued: false, skill_group_id: null, priority: null, queued_at: null, left_message: false, agent_read: null, customer_read: null };
      chats.set(key, chat);
    }
    const event = { type: e.type, data: e.data } as ContactEvent;
    if (event.type === 'ContactMessagesRead') {
      // As apply: the side's read seq (never back), the READ message, no contacts or queues message, updated_at left.
      const { by, agentId, seq } = event.data;
      if (by === 'AGENT') chat.agent_read = Math.max(chat.agent_read ?? 0, seq);
      else chat.customer_read = Math.max(chat.customer_read ?? 0, seq);
      published.push({ topic: conversationTopic(instanceId, contactId), message: { kind: 'READ', contactId, sender: by, agentId, readSeq: seq } satisfies ConversationBusMessage });
      continue;
    }
    chat.at = e.metadata.occurredAt;
    switch (event.type) {
      case 'ContactMessageRecorded': {
        const m = messageOf(event.data, 0);
        // messageRow's columns, with the JSON ones as values (json_to_recordset reads them as jsonb), not as text.
        rows.push({ ...messageRow(instanceId, contactId, m), attachment: m.attachment, system: m.system, options: m.options ?? null, image: m.image ?? null, link: m.link ?? null });
        published.push({ topic: conversationTopic(instanceId, contactId), message: { kind: 'MESSAGE', contactId, message: busMessage(contactId, m) } satisfies ConversationBusMessage });
        chat.seq = Math.max(chat.seq ?? 0, m.seq);
        continue;
      }
      case 'ContactFlowStarted':
        chat.status = 'IN_FLOW';
        break;
      case 'ContactKeyPressed':
        (chat.keys ??= []).push(event.data);
        break;
      case 'ContactVariablesSet':
        chat.data = { ...chat.data, ...event.data.variables };
        break;
      case 'ContactQueued':
        Object.assign(chat, { status: 'QUEUED', queued: true, skill_group_id: event.data.skillGroupId, priority: event.data.priority, queued_at: event.data.queuedAt });
        if (event.data.leftMessage) chat.left_message = true;
        break;
      default:
        throw new Error(`recordRun takes no ${e.type}`);
    }
    if (!told.has(key)) {
      told.add(key);
      published.push({ topic: contactsTopic(instanceId), message: { contactId } }, { topic: queuesTopic(instanceId), message: { contactId } });
    }
    // A queued chat's conversation subscribers look again (its status, as the row reads after the run).
    if (event.type === 'ContactQueued') {
      queued = true;
      published.push({ status: 'QUEUED', instanceId, contactId });
    }
  }
  return { rows, chats: [...chats.values()], published, queued };
}

/** Publishes a run's bus messages in order; a STATUS one with the row as the statement returned it (`after`). */
function publishRun(published: Published[], after: Map<string, { channel: string; status: string }>, changes: ChangeSink): void {
  for (const p of published) {
    if ('topic' in p) {
      changes.publish(p.topic, p.message);
      continue;
    }
    const row = after.get(`${p.instanceId}\u0000${p.contactId}`);
    if (row?.channel === 'ONLINE') changes.publish(conversationTopic(p.instanceId, p.contactId), { kind: 'STATUS', contactId: p.contactId, status: row.status } satisfies ConversationBusMessage);
  }
}

/**
 * Stores a run of events (isRunEvent took them, in order) in one statement: the messages' rows (a replay finds
 * them there and leaves them) and each contact's change. Bus messages go in the order the one-at-a-time path
 * (contactsProjection.apply) sends them: each message; contacts and queues once per contact a non-message
 * event changed (the same { contactId } twice in one batch tells nothing more); a queued chat's status.
 */
export async function recordRun(trx: Trx, events: RecordedEvent[], changes: ChangeSink): Promise<void> {
  const run = prepareRun(events);
  const result = await trx.executeQuery<{ instance_id: string; id: string; channel: string; status: string }>(
    CompiledQuery.raw(recordRunSql, [JSON.stringify(run.rows), JSON.stringify(run.chats)]),
  );
  publishRun(run.published, new Map(result.rows.map((r) => [`${r.instance_id}\u0000${r.id}`, r])), changes);
}

/**
 * A batch that is one run (every event isRunEvent) as the bodies of two CTEs of the runner's guarded statement
 * (Projection.batchStatement): recordRunSql's INSERT and UPDATE, each writing only if the CTE `moved` has a row.
 * Two CTEs, not recordRunSql's own WITH: PostgreSQL takes a data-modifying WITH only at the top level. Both run
 * on the statement's one snapshot, as recordRunSql's two parts do. null where the run holds a ContactQueued (its
 * STATUS message reads the row the UPDATE returns, which the runner's statement does not hand back) or where
 * an event is not a run's: the transaction path takes those.
 */
export function runStatements(events: RecordedEvent[], changes: ChangeSink): RawBuilder<unknown>[] | null {
  if (!events.every(isRunEvent)) return null;
  const run = prepareRun(events);
  if (run.queued) return null;
  publishRun(run.published, new Map(), changes);
  const statements: RawBuilder<unknown>[] = [];
  if (run.rows.length > 0) {
    statements.push(sql`${sql.raw(insertMessagesHead)}${JSON.stringify(run.rows)}${sql.raw(insertMessagesTail)} WHERE EXISTS (SELECT 1 FROM moved) ON CONFLICT DO NOTHING`);
  }
  statements.push(sql`${sql.raw(updateChatsHead)}${JSON.stringify(run.chats)}${sql.raw(updateChatsTail)} AND EXISTS (SELECT 1 FROM moved)`);
  return statements;
}
