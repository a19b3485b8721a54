// The chat records' batch count (countMessages) sends one text for any number of messages, marked to be
// prepared (kysely-dialect's preparedMark): its rows are one JSON parameter, where a VALUES list of the run's
// length made a new text, parsed and planned by PostgreSQL at each batch (issue 11).
import type { Transaction } from 'kysely';
import { describe, expect, it } from 'vitest';
import { recordingKysely } from '../support/recording-kysely.ts';
import { preparedMark } from '../../src/adapters/sql/kysely-dialect.ts';
import type { RecordedEvent } from '../../src/domain/ports/event-store.ts';
import { countMessages } from '../../src/projections/chat-records/count-messages.ts';
import type { ReadModelDb } from '../../src/projections/read-model-db.ts';

const message = (contactId: string, revision: number, from: string): RecordedEvent => ({
  id: `e-${contactId}-${revision}`,
  streamId: `contact.${contactId}`,
  revision,
  type: 'ContactMessageRecorded',
  data: { from, at: '2026-01-02T03:04:05.000Z', seq: revision + 1, kind: 'TEXT', system: null },
  metadata: { instanceId: 'i1', actor: 'test', correlationId: 'c', causationId: null, occurredAt: '2026-01-02T03:04:06.000Z' },
  position: { commit: 1n, prepare: BigInt(revision) },
});

describe('countMessages sends one prepared text for any run', () => {
  it('has the same text for 1, 2 and 5 messages, marked, with the rows as one JSON parameter', async () => {
    const { db, sent } = recordingKysely();
    const runs = [[message('a', 3, 'CUSTOMER')], [message('a', 4, 'AGENT'), message('b', 7, 'CUSTOMER')], [1, 2, 3, 4, 5].map((r) => message('c', r, r % 2 ? 'AGENT' : 'SYSTEM'))];
    for (const run of runs) await countMessages(db as unknown as Transaction<ReadModelDb>, run);
    expect(sent).toHaveLength(3);
    expect(new Set(sent.map((s) => s.sql)).size).toBe(1);
    expect(sent[0]!.sql.startsWith(preparedMark)).toBe(true);
    expect(sent.map((s) => s.parameters.length)).toEqual([1, 1, 1]);
    expect(JSON.parse(sent[1]!.parameters[0] as string)).toEqual([
      { instance_id: 'i1', contact_id: 'a', rev: 4, side: 'A', seq: 5, msg_at: '2026-01-02T03:04:05.000Z', at: '2026-01-02T03:04:06.000Z' },
      { instance_id: 'i1', contact_id: 'b', rev: 7, side: 'C', seq: 8, msg_at: '2026-01-02T03:04:05.000Z', at: '2026-01-02T03:04:06.000Z' },
    ]);
  });
});
