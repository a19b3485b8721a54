// Durable timers across kill -9: an offer's ring timeout and the end of after-call work each fire once
// after a restart, and the restarted router leaves no agent reserved for a contact that moved on.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresEventStore } from '../../src/adapters/eventstore/postgres/postgres-event-store.ts';
import { streams } from '../../src/domain/streams.ts';
import { okHttp, spawnKefu, type KefuProcess } from '../support/process.ts';
import { freshPostgresSchema } from '../support/services.ts';
import type { SqlClient } from '../../src/adapters/sql/sql-client.ts';
import { until } from '../support/until.ts';

const operatorToken = 'timers-kill9-operator-token-123';


describe('durable timers after kill -9', () => {
  let env: Record<string, string>;
  let client: SqlClient;
  let store: PostgresEventStore;
  let drop: () => Promise<void>;
  let kefu: KefuProcess | null = null;
  beforeAll(async () => {
    const schema = await freshPostgresSchema();
    client = schema.client;
    drop = schema.drop;
    store = new PostgresEventStore(client);
    env = { DATABASE_URL: schema.url, KEFU_OPERATOR_TOKEN: operatorToken };
  });
  afterAll(async () => {
    await kefu?.stop();
    await store?.close();
    await drop?.();
  });

  it('fires a ring timeout and an after-call-work end once each across a kill -9', async () => {
    kefu = await spawnKefu(env);
    const url = kefu.url;
    const inst = await okHttp<{ createInstance: { instance: { id: string }; adminApiKey: string } }>(url, operatorToken, 'mutation { createInstance(input: { name: "T" }) { instance { id } adminApiKey } }');
    const instanceId = inst.createInstance.instance.id;
    const admin = inst.createInstance.adminApiKey;
    await okHttp(url, operatorToken, 'mutation($id: ID!) { purchaseSeats(input: { instanceId: $id, seats: 2 }) { seats } }', { id: instanceId });
    const agentId = (await okHttp<{ createAgent: { id: string } }>(url, admin, 'mutation { createAgent(input: { name: "Ann", login: "ann", password: "password-123" }) { id } }')).createAgent.id;
    const token = (
      await okHttp<{ loginAgent: { token: string } }>(url, null, 'mutation($i: ID!) { loginAgent(input: { instanceId: $i, login: "ann", password: "password-123" }) { token } }', { i: instanceId })
    ).loginAgent.token;
    const group = (
      await okHttp<{ createSkillGroup: { id: string } }>(url, admin, 'mutation { createSkillGroup(input: { name: "S", channel: PHONE, ringTimeoutSeconds: 5, wrapUpSeconds: 5 }) { id } }')
    ).createSkillGroup.id;
    await okHttp(url, admin, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: group, a: agentId });
    const key = (await okHttp<{ createApiKey: { secret: string } }>(url, admin, 'mutation { createApiKey(input: { name: "crm", role: INTEGRATION }) { secret } }')).createApiKey.secret;
    await okHttp(url, token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    const contactId = (
      await okHttp<{ createContact: { id: string } }>(url, key, 'mutation($g: ID!) { createContact(input: { channel: PHONE, customer: { kind: PHONE, id: "+1" }, skillGroupId: $g }) { id } }', { g: group })
    ).createContact.id;
    const contactStream = streams.contact(instanceId, contactId);
    const events = () => store.readStream(contactStream);
    const firstOffer = await until(events, (e) => e.some((x) => x.type === 'ContactOffered'));
    const offerId = firstOffer.find((x) => x.type === 'ContactOffered')!.data.offerId as string;

    // The router dies with the offer ringing.
    await kefu.kill9();
    kefu = await spawnKefu(env);
    // 5 s after the offer it times out, once, and the call is offered again (to the only agent).
    const after = await until(events, (e) => e.filter((x) => x.type === 'ContactOffered').length >= 2);
    expect(after.filter((x) => x.type === 'ContactOfferTimedOut' && x.data.offerId === offerId)).toHaveLength(1);

    // Accept the new offer, end the call: 5 s of after-call work, and kill -9 in the middle of it.
    const secondOfferId = after.filter((x) => x.type === 'ContactOffered').at(-1)!.data.offerId as string;
    // The agent learns of an offer from the read model (agentOffers): wait until it shows it.
    const current = kefu.url;
    await until(
      () => okHttp<{ contact: { offer: { offerId: string } | null } }>(current, admin, 'query($c: ID!) { contact(id: $c) { offer { offerId } } }', { c: contactId }),
      (r) => r.contact.offer?.offerId === secondOfferId,
    );
    await okHttp(kefu.url, token, 'mutation($c: ID!, $o: ID!) { acceptOffer(input: { contactId: $c, offerId: $o }) { id } }', { c: contactId, o: secondOfferId });
    await okHttp(kefu.url, token, 'mutation($c: ID!) { endContact(input: { contactId: $c }) { id } }', { c: contactId });
    const agentStream = streams.agent(instanceId, agentId);
    await until(() => store.readStream(agentStream), (e) => e.some((x) => x.type === 'AgentWrapUpStarted'));
    await kefu.kill9();
    kefu = await spawnKefu(env);
    const agentEvents = await until(() => store.readStream(agentStream), (e) => e.some((x) => x.type === 'AgentWrapUpEnded'));
    await new Promise((r) => setTimeout(r, 1500));
    const final = await store.readStream(agentStream);
    expect(final.filter((x) => x.type === 'AgentWrapUpEnded')).toHaveLength(1);
    expect(agentEvents.filter((x) => x.type === 'AgentWrapUpStarted')).toHaveLength(1);
    // Nothing left held: the reservation of the timed-out offer was released, the call finished.
    const released = final.filter((x) => x.type === 'AgentReservationReleased' && x.data.offerId === offerId);
    expect(released).toHaveLength(1);
    expect(final.filter((x) => x.type === 'AgentContactFinished')).toHaveLength(1);
  });
});
