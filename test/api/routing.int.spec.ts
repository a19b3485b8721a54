// The routing loop through the public API: a contact is queued, offered to an available member, accepted,
// ended; after-call work ends by its timer; an offer not accepted in time goes to another agent. agentOffers
// starts with the offers already ringing, so no test needs to wait for its subscription to be registered.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { collect, wsClient } from '../support/ws-client.ts';
import { until } from '../support/until.ts';

interface ContactView {
  id: string;
  status: string;
  agent: { id: string } | null;
}


describe('routing contacts to agents', () => {
  let t: TestKefu;
  let url: string;
  beforeAll(async () => {
    t = await startTestKefu({ database: 'pglite', listen: true });
    url = `http://127.0.0.1:${(t.kefu.app.server.address() as { port: number }).port}`;
  });
  afterAll(async () => t?.close());

  async function setup(group: Record<string, unknown>) {
    const seed = await seedInstance(t, { agents: [{ name: 'Ann', login: 'ann' }, { name: 'Bob', login: 'bob' }] });
    const key = await t.ok<{ createApiKey: { secret: string } }>(seed.adminKey, 'mutation { createApiKey(input: { name: "crm", role: INTEGRATION }) { secret } }');
    const g = await t.ok<{ createSkillGroup: { id: string } }>(seed.adminKey, 'mutation($input: CreateSkillGroupInput!) { createSkillGroup(input: $input) { id } }', {
      input: { name: 'Sales', ...group },
    });
    for (const a of seed.agents) {
      await t.ok(seed.adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: g.createSkillGroup.id, a: a.id });
    }
    return { ...seed, integrationKey: key.createApiKey.secret, groupId: g.createSkillGroup.id };
  }

  const createContact = (t: TestKefu, key: string, groupId: string, channel: string, customerId: string) =>
    t.ok<{ createContact: ContactView }>(
      key,
      'mutation($input: CreateContactInput!) { createContact(input: $input) { id status agent { id } } }',
      { input: { channel, customer: { kind: 'PHONE', id: customerId }, skillGroupId: groupId, data: [{ key: 'order', value: '42' }] } },
    );
  const contact = (token: string, id: string) =>
    t.ok<{ contact: ContactView & { offer?: unknown } }>(token, 'query($id: ID!) { contact(id: $id) { id status agent { id } } }', { id }).then((r) => r.contact);

  it('offers a queued call to an available agent, who accepts and ends it; after-call work ends by itself', async () => {
    const s = await setup({ channel: 'PHONE', strategy: 'LONGEST_IDLE', wrapUpSeconds: 1, ringTimeoutSeconds: 30 });
    const [ann] = s.agents as [(typeof s.agents)[0]];
    const client = wsClient(url, ann.token);
    const offers = collect<{ agentOffers: { offerId: string; state: string; contact: { id: string; status: string } } }>(
      client,
      'subscription { agentOffers { offerId state expiresAt contact { id status customer { id } } } }',
    );
    await t.ok(ann.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    const created = await createContact(t, s.integrationKey, s.groupId, 'PHONE', '+8613800000000');
    expect(created.createContact.status).toMatch(/QUEUED|OFFERED/);
    const [offer] = await offers.next(1);
    expect(offer!.agentOffers).toMatchObject({ state: 'OFFERED', contact: { id: created.createContact.id } });

    const accepted = await t.ok<{ acceptOffer: ContactView }>(ann.token, 'mutation($c: ID!, $o: ID!) { acceptOffer(input: { contactId: $c, offerId: $o }) { status agent { id } } }', {
      c: created.createContact.id,
      o: offer!.agentOffers.offerId,
    });
    expect(accepted.acceptOffer).toEqual({ status: 'CONNECTED', agent: { id: ann.id } });
    // Accepting twice is fine (idempotent); ending twice is a CONFLICT.
    const ended = await t.ok<{ endContact: ContactView }>(ann.token, 'mutation($c: ID!) { endContact(input: { contactId: $c }) { status } }', { c: created.createContact.id });
    expect(ended.endContact.status).toBe('ENDED');
    const again = await t.gql(ann.token, 'mutation($c: ID!) { endContact(input: { contactId: $c }) { status } }', { c: created.createContact.id });
    expect(again.errors?.[0]?.extensions?.code).toBe('CONFLICT');

    // In after-call work no new call is offered; after 1 s the timer ends it and the next call comes.
    const second = await createContact(t, s.integrationKey, s.groupId, 'PHONE', '+8613800000001');
    const offered = await until(() => contact(s.adminKey, second.createContact.id), (c) => c.status === 'OFFERED');
    expect(offered.status).toBe('OFFERED');
    offers.dispose();
    await client.dispose();
  });

  it('never offers one agent two calls at once, and gives a declined call to the other agent', async () => {
    const s = await setup({ channel: 'PHONE', strategy: 'LONGEST_IDLE', ringTimeoutSeconds: 30 });
    const [ann, bob] = s.agents as [(typeof s.agents)[0], (typeof s.agents)[0]];
    await t.ok(ann.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    await t.ok(bob.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    const c1 = (await createContact(t, s.integrationKey, s.groupId, 'PHONE', '+1')).createContact.id;
    const c2 = (await createContact(t, s.integrationKey, s.groupId, 'PHONE', '+2')).createContact.id;
    const c3 = (await createContact(t, s.integrationKey, s.groupId, 'PHONE', '+3')).createContact.id;
    const first = await until(() => contact(s.adminKey, c1), (c) => c.status === 'OFFERED');
    const secondC = await until(() => contact(s.adminKey, c2), (c) => c.status === 'OFFERED');
    expect(first.status).toBe('OFFERED');
    expect(secondC.status).toBe('OFFERED');
    // Two agents, one call each: the third waits.
    expect((await contact(s.adminKey, c3)).status).toBe('QUEUED');
    // Whoever was offered the first call declines it: it keeps its place, ahead of the third call, and is
    // offered again before it (to the same agent, the only free one, since a declined agent is tried last).
    const offered = await t.ok<{ contact: { offer: { offerId: string; agents: { id: string }[] } } }>(
      s.adminKey,
      'query($id: ID!) { contact(id: $id) { offer { offerId agents { id } } } }',
      { id: c1 },
    );
    const declinerId = offered.contact.offer.agents[0]!.id;
    const decliner = [ann, bob].find((a) => a.id === declinerId)!;
    const declined = await t.ok<{ declineOffer: { status: string } }>(decliner.token, 'mutation($c: ID!, $o: ID!) { declineOffer(input: { contactId: $c, offerId: $o }) { status } }', {
      c: c1,
      o: offered.contact.offer.offerId,
    });
    expect(['QUEUED', 'OFFERED']).toContain(declined.declineOffer.status);
    const again = await until(
      () => t.ok<{ contact: { status: string; offer: { offerId: string; agents: { id: string }[] } | null } }>(s.adminKey, 'query($id: ID!) { contact(id: $id) { status offer { offerId agents { id } } } }', { id: c1 }),
      (r) => r.contact.status === 'OFFERED' && r.contact.offer?.offerId !== offered.contact.offer.offerId,
    );
    expect(again.contact.offer?.agents.map((a) => a.id)).toEqual([declinerId]);
    expect((await contact(s.adminKey, c3)).status).toBe('QUEUED');
    // Accepting the old, declined offer is a CONFLICT.
    const stale = await t.gql(decliner.token, 'mutation($c: ID!, $o: ID!) { acceptOffer(input: { contactId: $c, offerId: $o }) { status } }', {
      c: c1,
      o: offered.contact.offer.offerId,
    });
    expect(stale.errors?.[0]?.extensions?.code).toBe('CONFLICT');
  });

  it('moves an offer that is not answered in time to another agent', async () => {
    const ringTimeoutSeconds = 5;
    const s = await setup({ channel: 'ONLINE', strategy: 'SATURATION', maxConcurrency: 2, ringTimeoutSeconds });
    const [ann, bob] = s.agents as [(typeof s.agents)[0], (typeof s.agents)[0]];
    await t.ok(ann.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    const c = (await createContact(t, s.integrationKey, s.groupId, 'ONLINE', 'visitor-1')).createContact.id;
    await until(() => contact(s.adminKey, c), (x) => x.status === 'OFFERED');
    await t.ok(bob.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    // Ann does not answer: after 5 s the chat goes to Bob, who accepts it. (Bob's subscription starts with
    // the offers ringing for him, so it may open before or after the offer is made.)
    const bobClient = wsClient(url, bob.token);
    const bobOffers = collect<{ agentOffers: { offerId: string; state: string; contact: { id: string } } }>(bobClient, 'subscription { agentOffers { offerId state contact { id } } }');
    const [offer] = await bobOffers.next(1, ringTimeoutSeconds * 1000 + 30_000);
    expect(offer!.agentOffers.contact.id).toBe(c);
    const accepted = await t.ok<{ acceptOffer: ContactView }>(bob.token, 'mutation($c: ID!, $o: ID!) { acceptOffer(input: { contactId: $c, offerId: $o }) { status agent { id } } }', {
      c,
      o: offer!.agentOffers.offerId,
    });
    expect(accepted.acceptOffer.agent?.id).toBe(bob.id);
    bobOffers.dispose();
    await bobClient.dispose();
  });

  it('transfers a call to another agent with a note; the new offer says from whom, and the first agent is free again', async () => {
    const s = await setup({ channel: 'PHONE', strategy: 'LONGEST_IDLE', ringTimeoutSeconds: 30 });
    const [ann, bob] = s.agents as [(typeof s.agents)[0], (typeof s.agents)[0]];
    await t.ok(ann.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    const c = (await createContact(t, s.integrationKey, s.groupId, 'PHONE', '+86100')).createContact.id;
    const offered = await until(
      () => t.ok<{ contact: { status: string; offer: { offerId: string } | null } }>(s.adminKey, 'query($id: ID!) { contact(id: $id) { status offer { offerId } } }', { id: c }),
      (r) => r.contact.status === 'OFFERED',
    );
    await t.ok(ann.token, 'mutation($c: ID!, $o: ID!) { acceptOffer(input: { contactId: $c, offerId: $o }) { status } }', { c, o: offered.contact.offer!.offerId });
    // Bob may not pass on a call he does not hold.
    const notHis = await t.gql(bob.token, 'mutation($c: ID!, $b: ID!) { transferContact(input: { contactId: $c, toAgentId: $b }) { status } }', { c, b: ann.id });
    expect(notHis.errors?.[0]?.extensions?.code).toMatch(/CONFLICT|NOT_FOUND/);

    const bobClient = wsClient(url, bob.token);
    const bobOffers = collect<{ agentOffers: { offerId: string; state: string; transfer: { fromAgent: { id: string }; note: string } | null } }>(
      bobClient,
      'subscription { agentOffers { offerId state transfer { fromAgent { id } note } } }',
    );
    await t.ok(bob.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    const moved = await t.ok<{ transferContact: { status: string } }>(
      ann.token,
      'mutation($c: ID!, $b: ID!) { transferContact(input: { contactId: $c, toAgentId: $b, note: "wants a refund" }) { status } }',
      { c, b: bob.id },
    );
    expect(moved.transferContact.status).toMatch(/QUEUED|OFFERED/);
    const [offer] = await bobOffers.next(1);
    expect(offer!.agentOffers).toMatchObject({ state: 'OFFERED', transfer: { fromAgent: { id: ann.id }, note: 'wants a refund' } });
    const taken = await t.ok<{ acceptOffer: ContactView }>(bob.token, 'mutation($c: ID!, $o: ID!) { acceptOffer(input: { contactId: $c, offerId: $o }) { status agent { id } } }', {
      c,
      o: offer!.agentOffers.offerId,
    });
    expect(taken.acceptOffer).toEqual({ status: 'CONNECTED', agent: { id: bob.id } });
    // Ann holds nothing now: the next call goes to her.
    const next = (await createContact(t, s.integrationKey, s.groupId, 'PHONE', '+86101')).createContact.id;
    const nextOffer = await until(
      () => t.ok<{ contact: { status: string; offer: { agents: { id: string }[] } | null } }>(s.adminKey, 'query($id: ID!) { contact(id: $id) { status offer { agents { id } } } }', { id: next }),
      (r) => r.contact.status === 'OFFERED',
    );
    expect(nextOffer.contact.offer!.agents.map((a) => a.id)).toEqual([ann.id]);
    bobOffers.dispose();
    await bobClient.dispose();
  });
});
