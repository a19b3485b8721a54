// Blacklist and screen pop where they meet routing: a blacklisted customer never reaches a queue, and every
// offer carries the CRM's URL, signed so that the CRM can check it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyScreenPopUrl } from '../../src/domain/screen-pop/screen-pop-url.ts';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { collect, settleSubscription, wsClient } from '../support/ws-client.ts';

describe('blacklist and screen pop in routing', () => {
  let t: TestKefu;
  let url: string;
  beforeAll(async () => {
    t = await startTestKefu({ database: 'pglite', listen: true });
    url = `http://127.0.0.1:${(t.kefu.app.server.address() as { port: number }).port}`;
  });
  afterAll(async () => t?.close());

  it('rejects a blacklisted caller BLACKLISTED before any queue, and offers others with a signed screen pop URL', async () => {
    const seed = await seedInstance(t, { agents: [{ name: 'Ann', login: 'ann' }] });
    const ann = seed.agents[0]!;
    const group = (await t.ok<{ createSkillGroup: { id: string } }>(seed.adminKey, 'mutation { createSkillGroup(input: { name: "S", channel: PHONE, ringTimeoutSeconds: 60 }) { id } }'))
      .createSkillGroup.id;
    await t.ok(seed.adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: group, a: ann.id });
    await t.ok(seed.adminKey, 'mutation { configureScreenPop(input: { urlTemplate: "https://crm.example.com/pop?contact={contactId}&phone={customer}&order={data.order}", pinned: true }) { pinned } }');
    const secret = (await t.ok<{ rotateScreenPopSecret: { secret: string } }>(seed.adminKey, 'mutation { rotateScreenPopSecret { secret } }')).rotateScreenPopSecret.secret;
    await t.ok(ann.token, 'mutation { addToBlacklist(input: { channel: PHONE, identity: "+86 138-0000-0009", reason: "abuse" }) { id } }');

    const create = (caller: string) =>
      t.ok<{ createContact: { id: string; status: string; endReason: string | null } }>(
        seed.adminKey,
        'mutation($g: ID!, $c: String!) { createContact(input: { channel: PHONE, customer: { kind: PHONE, id: $c }, skillGroupId: $g, data: [{ key: "order", value: "A&B 42" }] }) { id status endReason } }',
        { g: group, c: caller },
      );
    // Same number, written another way: still blacklisted.
    expect((await create('+8613800000009')).createContact).toMatchObject({ status: 'REJECTED', endReason: 'BLACKLISTED' });

    const client = wsClient(url, ann.token);
    const offers = collect<{ agentOffers: { state: string; screenPop: { url: string; pinned: boolean } | null; contact: { id: string } } }>(
      client,
      'subscription { agentOffers { state screenPop { url pinned } contact { id } } }',
    );
    await settleSubscription();
    await t.ok(ann.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    const welcome = (await create('+8613800000001')).createContact;
    const [offer] = await offers.next(1);
    expect(offer!.agentOffers.contact.id).toBe(welcome.id);
    const pop = offer!.agentOffers.screenPop!;
    expect(pop.pinned).toBe(true);
    const link = new URL(pop.url);
    expect(link.searchParams.get('contact')).toBe(welcome.id);
    expect(link.searchParams.get('phone')).toBe('+8613800000001');
    expect(link.searchParams.get('order')).toBe('A&B 42');
    expect(verifyScreenPopUrl(pop.url, secret, 300)).toMatchObject({ valid: true });
    link.searchParams.set('phone', '+10000000000');
    expect(verifyScreenPopUrl(link.toString(), secret, 300)).toMatchObject({ valid: false });
    offers.dispose();
    await client.dispose();
  });
});
