// The reports projection and a busy chat (issue 11): once a chat's first response is counted and committed, its
// agents' later messages are left out before anything is read (no report_contacts read for a batch of them);
// never on the word of a batch that rolled back, nor where the runner tells of no commits; reset forgets it.
// The counts are the same either way: one first response per chat.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SqlClient } from '../../src/adapters/sql/sql-client.ts';
import type { RecordedEvent } from '../../src/domain/ports/event-store.ts';
import { streams } from '../../src/domain/streams.ts';
import type { ChangeSink, ReadModel } from '../../src/projections/projection.ts';
import { reportsProjection } from '../../src/projections/reports/reports.projection.ts';
import { readModelStore, watchQueries } from '../support/read-model.ts';

describe('reports: a chat\'s messages after its first response', () => {
  let client: SqlClient;
  let db: ReadModel;
  let drop: () => Promise<void>;
  /** Statements that read report_contacts. */
  let contactReads = 0;

  beforeAll(async () => {
    const store = (await readModelStore('pglite'))!;
    ({ client, db, drop } = store);
    watchQueries(client, (text) => {
      if (/^\s*select/i.test(text) && text.includes('report_contacts')) contactReads++;
    });
  });
  afterAll(async () => drop?.());

  let position = 0;
  const revisions = new Map<string, number>();
  const instanceId = randomUUID();
  const agentId = randomUUID();
  const event = (contactId: string, type: string, data: Record<string, unknown>): RecordedEvent => {
    const streamId = streams.contact(instanceId, contactId);
    const revision = revisions.get(streamId) ?? 0;
    revisions.set(streamId, revision + 1);
    const at = new Date(Date.parse('2026-05-01T10:00:00Z') + position * 1000).toISOString();
    return {
      id: randomUUID(),
      streamId,
      revision,
      type,
      data: { at, ...data },
      metadata: { instanceId, actor: 'test', correlationId: randomUUID(), causationId: null, occurredAt: at } as RecordedEvent['metadata'],
      position: { commit: BigInt(++position), prepare: 0n },
    };
  };
  const chat = (contactId: string) => [
    event(contactId, 'ContactCreated', { channel: 'ONLINE', direction: 'IN', createdAt: '2026-05-01T10:00:00.000Z' }),
    event(contactId, 'ContactQueued', { skillGroupId: 'g', queuedAt: '2026-05-01T10:00:00.000Z' }),
    event(contactId, 'ContactAccepted', { agentId }),
  ];
  const agentMessages = (contactId: string, n: number) => Array.from({ length: n }, () => event(contactId, 'ContactMessageRecorded', { messageId: randomUUID(), from: 'AGENT', agentId, text: 'hi' }));

  /** A batch as the runner applies it: in a transaction, its committed callbacks after the commit (none if it fails). */
  const apply = async (events: RecordedEvent[], options: { tellsCommits?: boolean; failAfter?: boolean } = {}) => {
    const after: (() => void)[] = [];
    const sink: ChangeSink = { publish: () => {}, ...(options.tellsCommits === false ? {} : { committed: (fn: () => void) => after.push(fn) }) };
    const before = contactReads;
    try {
      await db.transaction().execute(async (trx) => {
        await reportsProjection.applyBatch!(trx, events, sink);
        if (options.failAfter) throw new Error('rolled back');
      });
      for (const fn of after) fn();
    } catch (err) {
      if (!options.failAfter) throw err;
    }
    return contactReads - before;
  };
  const firstResponses = async () => {
    const r = await sql<{ n: string }>`SELECT coalesce(sum(first_responses), 0)::text AS n FROM report_contact_buckets`.execute(db);
    return Number(r.rows[0]!.n);
  };

  it('reads no state for an answered chat\'s later agent messages, and counts one first response', async () => {
    reportsProjection.reset?.();
    const c = randomUUID();
    await apply(chat(c));
    // The first response: read, counted, committed.
    expect(await apply(agentMessages(c, 1))).toBe(1);
    expect(await firstResponses()).toBe(1);
    // Later ones: nothing read, nothing counted.
    expect(await apply(agentMessages(c, 3))).toBe(0);
    expect(await apply(agentMessages(c, 2))).toBe(0);
    expect(await firstResponses()).toBe(1);
    // Forgotten on reset (a runner starting, a rebuild): read again, still counted once.
    reportsProjection.reset?.();
    expect(await apply(agentMessages(c, 1))).toBe(1);
    expect(await apply(agentMessages(c, 1))).toBe(0);
    expect(await firstResponses()).toBe(1);
  });

  it('keeps nothing from a batch that rolled back, nor where the runner tells of no commits', async () => {
    reportsProjection.reset?.();
    const c = randomUUID();
    await apply(chat(c));
    const before = await firstResponses();
    const first = agentMessages(c, 1);
    // The first response's batch rolls back: the chat is not known as answered, and its next batch counts it.
    expect(await apply(first, { failAfter: true })).toBe(1);
    expect(await firstResponses()).toBe(before);
    expect(await apply(first)).toBe(1);
    expect(await firstResponses()).toBe(before + 1);
    // Without commit callbacks (a catch-up spec's sink), every batch reads.
    expect(await apply(agentMessages(c, 2), { tellsCommits: false })).toBe(1);
    expect(await apply(agentMessages(c, 1))).toBe(0);
  });
});
