// agentStatusChanged and agentOffers through a real graphql-ws client against a listening server: each starts
// with the current state (what a reconnecting workspace needs), then changes, with no gap and no repeat.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { collect, wsClient } from '../support/ws-client.ts';
import { until } from '../support/until.ts';

interface StatusMessage {
  agentStatusChanged: { agent: { id: string; name: string }; presence: string; reason: string | null; onlineSecondsToday: number };
}

const subscription = 'subscription($agentId: ID) { agentStatusChanged(agentId: $agentId) { agent { id name } presence reason since onlineSecondsToday } }';

describe('agentStatusChanged over graphql-ws', () => {
  let t: TestKefu;
  let url: string;
  beforeAll(async () => {
    t = await startTestKefu({ database: 'pglite', listen: true });
    const address = t.kefu.app.server.address() as { port: number };
    url = `http://127.0.0.1:${address.port}`;
  });
  afterAll(async () => t?.close());

  it('tells a supervisor every change of every agent of the instance, and nothing of other instances', async () => {
    const acme = await seedInstance(t, { agents: [{ name: 'Ann', login: 'ann' }, { name: 'Sue', login: 'sue', role: 'SUPERVISOR' }] });
    const other = await seedInstance(t, { name: 'Other', agents: [{ name: 'Olga', login: 'olga' }] });
    const [ann, sue] = acme.agents as [(typeof acme.agents)[0], (typeof acme.agents)[0]];
    const client = wsClient(url, sue.token);
    const sub = collect<StatusMessage>(client, subscription);
    // First every agent of the instance as they are now; the subscription is live once these came.
    const now = await sub.next(2);
    expect(now.map((m) => [m.agentStatusChanged.agent.id, m.agentStatusChanged.presence]).sort()).toEqual(
      [
        [ann.id, 'OFFLINE'],
        [sue.id, 'OFFLINE'],
      ].sort(),
    );
    await t.ok(other.agents[0]!.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    await t.ok(ann.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    await t.ok(ann.token, 'mutation { setPresence(input: { presence: BREAK, reason: "Rest" }) { id } }');
    const got = (await sub.next(4)).slice(2);
    expect(got.map((m) => [m.agentStatusChanged.agent.id, m.agentStatusChanged.presence, m.agentStatusChanged.reason])).toEqual([
      [ann.id, 'AVAILABLE', null],
      [ann.id, 'BREAK', 'Rest'],
    ]);
    sub.dispose();
    await client.dispose();
  });

  it('lets an agent follow only themselves', async () => {
    const acme = await seedInstance(t, { agents: [{ name: 'Al', login: 'al' }, { name: 'Bo', login: 'bo' }] });
    const [al, bo] = acme.agents as [(typeof acme.agents)[0], (typeof acme.agents)[0]];
    const client = wsClient(url, al.token);
    const own = collect<StatusMessage>(client, subscription);
    await own.next(1);
    await t.ok(bo.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    await t.ok(al.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    const got = await own.next(2);
    expect(got.map((m) => [m.agentStatusChanged.agent.id, m.agentStatusChanged.presence])).toEqual([
      [al.id, 'OFFLINE'],
      [al.id, 'AVAILABLE'],
    ]);
    const others = collect<StatusMessage>(client, subscription, { agentId: bo.id });
    await expect(others.next(1, 3000)).rejects.toThrow(/"code":"FORBIDDEN"/);
    own.dispose();
    await client.dispose();
  });

  it('refuses a connection without a valid token', async () => {
    const client = wsClient(url, 'not-a-token');
    const sub = collect<StatusMessage>(client, subscription);
    await expect(sub.next(1, 3000)).rejects.toThrow();
    await client.dispose();
  });
});

interface OfferMessage {
  agentOffers: { offerId: string; state: string; contact: { id: string } };
}
const offersSubscription = 'subscription { agentOffers { offerId state contact { id } } }';

describe('agentOffers over graphql-ws', () => {
  let t: TestKefu;
  let url: string;
  beforeAll(async () => {
    t = await startTestKefu({ database: 'pglite', listen: true });
    url = `http://127.0.0.1:${(t.kefu.app.server.address() as { port: number }).port}`;
  });
  afterAll(async () => t?.close());

  /** One agent, Ann, available in a chat group whose offers ring for two minutes: only a snapshot brings an offer sooner. */
  async function chatDesk(maxConcurrency: number) {
    const seed = await seedInstance(t, { agents: [{ name: 'Ann', login: 'ann' }] });
    const ann = seed.agents[0]!;
    const key = await t.ok<{ createApiKey: { secret: string } }>(seed.adminKey, 'mutation { createApiKey(input: { name: "crm", role: INTEGRATION }) { secret } }');
    const g = await t.ok<{ createSkillGroup: { id: string } }>(seed.adminKey, 'mutation($input: CreateSkillGroupInput!) { createSkillGroup(input: $input) { id } }', {
      input: { name: 'Chat', channel: 'ONLINE', strategy: 'SATURATION', maxConcurrency, ringTimeoutSeconds: 120 },
    });
    await t.ok(seed.adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: g.createSkillGroup.id, a: ann.id });
    await t.ok(ann.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    const createChat = async (visitor: string) =>
      (
        await t.ok<{ createContact: { id: string } }>(key.createApiKey.secret, 'mutation($input: CreateContactInput!) { createContact(input: $input) { id } }', {
          input: { channel: 'ONLINE', customer: { kind: 'WEB', id: visitor }, skillGroupId: g.createSkillGroup.id },
        })
      ).createContact.id;
    const offerOf = (contactId: string) =>
      until(
        () => t.ok<{ contact: { status: string; offer: { offerId: string } | null } }>(seed.adminKey, 'query($id: ID!) { contact(id: $id) { status offer { offerId } } }', { id: contactId }),
        (r) => r.contact.status === 'OFFERED',
      ).then((r) => r.contact.offer!.offerId);
    const decline = (contactId: string, offerId: string) =>
      t.ok(ann.token, 'mutation($c: ID!, $o: ID!) { declineOffer(input: { contactId: $c, offerId: $o }) { status } }', { c: contactId, o: offerId });
    return { ann, createChat, offerOf, decline };
  }

  /** Waits for the DECLINED of `offerId` and returns what came before it. */
  async function upToDecline(sub: { received: OfferMessage[] }, offerId: string): Promise<OfferMessage['agentOffers'][]> {
    const got = await until(
      async () => sub.received.map((m) => m.agentOffers),
      (ms) => ms.some((m) => m.offerId === offerId && m.state === 'DECLINED'),
    );
    return got.slice(0, got.findIndex((m) => m.offerId === offerId && m.state === 'DECLINED'));
  }

  it('gives an agent who opens a new subscription the offer already ringing for them, at once, then how it ends', async () => {
    const desk = await chatDesk(1);
    const contactId = await desk.createChat('visitor-1');
    const offerId = await desk.offerOf(contactId);
    // The workspace reconnects while the offer rings (for two minutes): the offer comes first, not at the timeout.
    const client = wsClient(url, desk.ann.token);
    const offers = collect<OfferMessage>(client, offersSubscription);
    const [first] = await offers.next(1, 30_000);
    expect(first!.agentOffers).toEqual({ offerId, state: 'OFFERED', contact: { id: contactId } });
    await desk.decline(contactId, offerId);
    // Nothing repeated before the change: the offer once, then its end.
    expect(await upToDecline(offers, offerId)).toEqual([{ offerId, state: 'OFFERED', contact: { id: contactId } }]);
    offers.dispose();
    await client.dispose();
  });

  it('sends each offer once to subscriptions opened while offers are being made', async () => {
    const desk = await chatDesk(4);
    const client = wsClient(url, desk.ann.token);
    const subs: ReturnType<typeof collect<OfferMessage>>[] = [];
    // Subscriptions open between the offers, so changes race their snapshots.
    const contacts: string[] = [];
    for (let i = 0; i < 4; i++) {
      subs.push(collect<OfferMessage>(client, offersSubscription));
      contacts.push(await desk.createChat(`visitor-${i}`));
    }
    subs.push(collect<OfferMessage>(client, offersSubscription));
    const offerIds = await Promise.all(contacts.map((c) => desk.offerOf(c)));
    // A change after every offer: what each subscription got before it is all it will ever get of them.
    await desk.decline(contacts[0]!, offerIds[0]!);
    for (const sub of subs) {
      const got = await upToDecline(sub, offerIds[0]!);
      expect(got.every((m) => m.state === 'OFFERED')).toBe(true);
      expect(got.map((m) => m.offerId).sort()).toEqual([...offerIds].sort());
    }
    for (const sub of subs) sub.dispose();
    await client.dispose();
  });
});
