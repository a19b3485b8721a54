// A chat message counted alone by the chat records projection (a batch with one message, about every other batch
// under a chat load) is one marked text per side (customer, agent, system) and seq form, every value a
// parameter: prepared on PostgreSQL (kysely-dialect's preparedMark), where the query builder's statement went
// unnamed, parsed and planned again at each message (issue 11).
import type { Transaction } from 'kysely';
import { describe, expect, it } from 'vitest';
import { recordingKysely } from '../support/recording-kysely.ts';
import { preparedMark } from '../../src/adapters/sql/kysely-dialect.ts';
import type { RecordedEvent } from '../../src/domain/ports/event-store.ts';
import { chatRecordsProjection } from '../../src/projections/chat-records/chat-records.projection.ts';
import type { ReadModelDb } from '../../src/projections/read-model-db.ts';

const message = (contactId: string, revision: number, from: string, seq: number | undefined, at: string): RecordedEvent => ({
  id: `e-${contactId}-${revision}`,
  streamId: `contact.${contactId}`,
  revision,
  type: 'ContactMessageRecorded',
  data: { from, at, ...(seq === undefined ? {} : { seq }), kind: from === 'SYSTEM' ? 'SYSTEM' : 'TEXT', system: null },
  metadata: { instanceId: `i-${contactId}`, actor: 'test', correlationId: 'c', causationId: null, occurredAt: at },
  position: { commit: 1n, prepare: BigInt(revision) },
});

describe('a message counted alone is a prepared text', () => {
  it('sends one marked text per side whatever the chat, revision, seq and time', async () => {
    const { db, sent } = recordingKysely();
    const changes = { publish: () => undefined, committed: () => undefined };
    const trx = db as unknown as Transaction<ReadModelDb>;
    for (const from of ['CUSTOMER', 'AGENT', 'SYSTEM']) {
      sent.length = 0;
      await chatRecordsProjection.apply!(trx, message('a', 3, from, 4, '2026-01-02T03:04:05.000Z'), changes);
      await chatRecordsProjection.apply!(trx, message('b', 9, from, 12, '2026-02-03T04:05:06.000Z'), changes);
      expect(sent).toHaveLength(2);
      expect(sent[0]!.sql.startsWith(preparedMark)).toBe(true);
      expect(sent[1]!.sql).toBe(sent[0]!.sql);
      expect(sent[0]!.sql).toMatch(/^\/\* prepared \*\/ UPDATE chat_records SET /);
      expect(sent[0]!.parameters).toContain('a');
      expect(sent[1]!.parameters).toContain('b');
    }
  });
});
