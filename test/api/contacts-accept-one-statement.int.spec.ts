// A chat or call taken (ContactAccepted) is one statement in the contacts projection, one new version of the
// row: connected, the agent among those who served it (once), and the ACCEPTED offer message with the offer's
// expiry as the row held it. It was a read of the row, its update and a second update of the same row (served).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contactDecider, type ContactCommand } from '../../src/domain/contact/contact.decide.ts';
import type { RecordedEvent } from '../../src/domain/ports/event-store.ts';
import { streams } from '../../src/domain/streams.ts';
import { contactsProjection } from '../../src/projections/contacts/contacts.projection.ts';
import { startTestKefu, type TestKefu } from '../support/kefu.ts';
import { watchQueries } from '../support/read-model.ts';
import { wantPostgres } from '../support/services.ts';

const databases: ('pglite' | 'postgres')[] = (await wantPostgres()) ? ['pglite', 'postgres'] : ['pglite'];

/** A chat's events by the real decider: started, offered to Ann (expiring at `expiresAt`), accepted by her. */
function chat(instanceId: string, contactId: string, expiresAt: string): RecordedEvent[] {
  let state = contactDecider.initialState();
  let revision = -1;
  const out: RecordedEvent[] = [];
  const run = (type: ContactCommand['type'], data: Record<string, unknown>) => {
    const now = new Date(Date.parse('2026-03-01T09:00:00.000Z') + out.length * 1000).toISOString();
    const command = { type, data: { contactId, ...data }, metadata: { now, instanceId, actor: 'test', correlationId: randomUUID() } } as ContactCommand;
    for (const e of contactDecider.decide(command, state)) {
      state = contactDecider.evolve(state, e);
      out.push({
        id: randomUUID(),
        streamId: streams.contact(instanceId, contactId),
        revision: ++revision,
        type: e.type,
        data: e.data as unknown as Record<string, unknown>,
        metadata: { instanceId, actor: 'test', correlationId: randomUUID(), causationId: null, occurredAt: now },
        position: { commit: BigInt(out.length + 1), prepare: BigInt(out.length + 1) },
      });
    }
  };
  run('StartChat', {
    customer: { kind: 'WEB', id: `visitor-${contactId}`, name: null },
    data: {},
    source: { kind: 'WEB', webChannelId: 'web-1', clientChatId: randomUUID(), verified: false, pageUrl: null, referrer: null, userAgent: 'test', address: null },
    skillGroupId: 'group-1',
    priority: 0,
    reject: null,
    firstMessage: null,
  });
  const offerId = randomUUID();
  run('OfferContact', { offerId, agentIds: ['ann'], expiresAt });
  run('AcceptOffer', { offerId, agentId: 'ann' });
  return out;
}

describe.each(databases)('the contacts projection takes an accept in one statement (%s)', (database) => {
  let t: TestKefu;
  const statements: string[] = [];
  beforeAll(async () => {
    t = await startTestKefu({ database });
    watchQueries(t.kefu.sql, (text) => statements.push(text));
  }, 180_000);
  afterAll(async () => t?.close());

  it('connects the row, adds the agent once and tells ACCEPTED with the offer expiry, in one statement', async () => {
    const instanceId = `accept-${randomUUID()}`;
    const contactId = randomUUID();
    const expiresAt = '2026-03-01T10:00:00.000Z';
    const events = chat(instanceId, contactId, expiresAt);
    // The decider adds the CONNECTED notice after the accept: the accept is applied alone, the events before it first.
    const acceptIndex = events.findIndex((e) => e.type === 'ContactAccepted');
    const accepted = events[acceptIndex]!;
    const published: { topic: string; message: unknown }[] = [];
    const sink = { publish: (topic: string, message: unknown) => published.push({ topic, message }) };
    await t.kefu.db.transaction().execute(async (trx) => {
      for (const e of events.slice(0, acceptIndex)) await contactsProjection.apply!(trx, e, sink);
    });
    const apply = async () => {
      published.length = 0;
      statements.length = 0;
      await t.kefu.db.transaction().execute((trx) => contactsProjection.apply!(trx, accepted, sink));
      // The projection's statements on contacts (the process runs others meanwhile: pollers, its own projections).
      return statements.filter((s) => /\bcontacts\b/i.test(s));
    };
    expect(await apply()).toHaveLength(1);
    const row = await t.kefu.db.selectFrom('contacts').select(['status', 'agent_id', 'offer', 'served_agent_ids', 'connected_at', 'updated_at']).where('instance_id', '=', instanceId).where('id', '=', contactId).executeTakeFirstOrThrow();
    const at = new Date(accepted.metadata.occurredAt);
    expect(row).toEqual({ status: 'CONNECTED', agent_id: 'ann', offer: null, served_agent_ids: ['ann'], connected_at: at, updated_at: at });
    const offerId = (accepted.data as { offerId: string }).offerId;
    expect(published.map((p) => p.topic)).toEqual([`kefu.${instanceId}.agentOffers`, `kefu.${instanceId}.contacts`, `kefu.${instanceId}.queues`, `kefu.${instanceId}.conversation.${contactId}`]);
    expect(published[0]!.message).toEqual({ state: 'ACCEPTED', offerId, agentIds: ['ann'], expiresAt, contactId });
    expect(published[3]!.message).toEqual({ kind: 'STATUS', contactId, status: 'CONNECTED' });
    // Applied again (a replay): the agent is not added twice; the offer is gone, so the message's expiry is the event's time.
    await apply();
    const again = await t.kefu.db.selectFrom('contacts').select(['served_agent_ids']).where('instance_id', '=', instanceId).where('id', '=', contactId).executeTakeFirstOrThrow();
    expect(again.served_agent_ids).toEqual(['ann']);
    expect(published[0]!.message).toEqual({ state: 'ACCEPTED', offerId, agentIds: ['ann'], expiresAt: accepted.metadata.occurredAt, contactId });
  });
});
