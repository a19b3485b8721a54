// Several chat messages counted into their chat records in one statement (a busy instance's batch): the same
// change as countMessage makes one event at a time, message by message in order, and only for the events
// past each row's revision (so a replayed event still counts once).
import { sql, type Transaction } from 'kysely';
import type { RecordedEvent } from '../../domain/ports/event-store.ts';
import { preparedMark } from '../../adapters/sql/kysely-dialect.ts';
import type { ReadModelDb } from '../read-model-db.ts';

/** A MessageRecorded event's data as the chat records read it (fields added later are optional). */
export interface MessageRecorded {
  from: string;
  at: string;
  seq?: number;
  kind?: string;
  system?: unknown;
}

/** Who a message counts for: C(ustomer), A(gent), S(ystem), as countMessage decides it. */
export function messageSide(d: MessageRecorded): 'C' | 'A' | 'S' {
  if (d.from === 'SYSTEM' || d.kind === 'SYSTEM' || (d.system !== null && d.system !== undefined)) return 'S';
  return d.from === 'CUSTOMER' ? 'C' : 'A';
}

/** A message event the batch path takes: one with its seq (older ones count as last_seq + 1, one by one). */
export function isCountableInBatch(e: RecordedEvent): boolean {
  return e.type === 'ContactMessageRecorded' && typeof (e.data as { seq?: unknown }).seq === 'number';
}

/**
 * Counts `events` (all isCountableInBatch) into their chats' records. Each row takes, of this run's events for
 * it, those past its last_revision: counts by side, the greatest seq, the first agent message's time (its first
 * reply, if it had none) and the last event's revision and time. Returns the chats whose row changed.
 */
export async function countMessages(trx: Transaction<ReadModelDb>, events: RecordedEvent[]): Promise<{ instanceId: string; contactId: string }[]> {
  const rows = events.map((e) => {
    const d = e.data as unknown as MessageRecorded;
    return { instance_id: e.metadata.instanceId, contact_id: e.streamId.slice(e.streamId.indexOf('.') + 1), rev: e.revision, side: messageSide(d), seq: d.seq!, msg_at: d.at, at: e.metadata.occurredAt };
  });
  // `mine`: this run's events for the row, past its revision (the SET expressions all see the row as it was).
  const mine = sql`v.instance_id = c.instance_id AND v.contact_id = c.contact_id AND v.rev > c.last_revision`;
  // The rows as one JSON parameter, so the text is the same for any number of events: prepared (parsed and
  // planned once per connection), where a VALUES list of the run's length was parsed and planned at each batch.
  const r = await sql<{ instance_id: string; contact_id: string }>`${sql.raw(preparedMark)}
    WITH v AS (SELECT * FROM json_to_recordset(${JSON.stringify(rows)}::json) AS v(instance_id text, contact_id text, rev int, side text, seq int, msg_at timestamptz, at timestamptz))
    UPDATE chat_records AS c SET
      customer_messages = c.customer_messages + (SELECT count(*) FROM v WHERE ${mine} AND v.side = 'C')::int,
      agent_messages = c.agent_messages + (SELECT count(*) FROM v WHERE ${mine} AND v.side = 'A')::int,
      system_messages = c.system_messages + (SELECT count(*) FROM v WHERE ${mine} AND v.side = 'S')::int,
      first_response_seconds = CASE
        WHEN c.first_agent_reply_at IS NULL AND EXISTS (SELECT 1 FROM v WHERE ${mine} AND v.side = 'A')
        THEN greatest(0, floor(extract(epoch FROM ((SELECT v.msg_at FROM v WHERE ${mine} AND v.side = 'A' ORDER BY v.rev LIMIT 1) - c.accepted_at)) + 0.5))::int
        ELSE c.first_response_seconds END,
      first_agent_reply_at = coalesce(c.first_agent_reply_at, (SELECT v.msg_at FROM v WHERE ${mine} AND v.side = 'A' ORDER BY v.rev LIMIT 1)),
      last_seq = greatest(c.last_seq, (SELECT max(v.seq) FROM v WHERE ${mine})),
      last_revision = (SELECT max(v.rev) FROM v WHERE ${mine}),
      updated_at = (SELECT v.at FROM v WHERE ${mine} ORDER BY v.rev DESC LIMIT 1)
    WHERE (c.instance_id, c.contact_id) IN (SELECT v.instance_id, v.contact_id FROM v)
      AND c.last_revision < (SELECT max(v.rev) FROM v WHERE v.instance_id = c.instance_id AND v.contact_id = c.contact_id)
    RETURNING c.instance_id, c.contact_id`.execute(trx);
  return r.rows.map((row) => ({ instanceId: row.instance_id, contactId: row.contact_id }));
}
