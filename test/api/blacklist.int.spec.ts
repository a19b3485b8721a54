// The blacklist through the public API: agents add the customer of a contact they hold or held, admins
// add any; supervisors and admins list and remove; every instance has its own list.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findBlacklistEntry } from '../../src/api/resolvers/blacklist.ts';
import { operatorToken, seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { until } from '../support/until.ts';

interface Entry {
  id: string;
  channel: string;
  identity: string;
  reason: string;
  expiresAt: string | null;
  active: boolean;
  agent: { id: string } | null;
  contactId: string | null;
  createdAt: string;
  removedAt: string | null;
}

const entryFields = 'id channel identity reason expiresAt active agent { id } contactId createdAt removedAt';
const addMutation = `mutation($input: AddToBlacklistInput!) { addToBlacklist(input: $input) { ${entryFields} } }`;
const removeMutation = `mutation($id: ID!) { removeFromBlacklist(input: { id: $id }) { ${entryFields} } }`;
const listQuery = `query($channel: Channel, $first: Int, $after: String, $all: Boolean) {
  blacklist(channel: $channel, first: $first, after: $after, includeInactive: $all) {
    totalCount pageInfo { hasNextPage endCursor } edges { cursor node { ${entryFields} } }
  }
}`;


describe('blacklist', () => {
  let t: TestKefu;
  let s: Awaited<ReturnType<typeof seedInstance>> & { integrationKey: string; groupId: string };
  let other: Awaited<ReturnType<typeof seedInstance>>;
  let ann: { id: string; token: string };
  let bob: { id: string; token: string };
  let sue: { id: string; token: string };
  /** A call Ann accepted: she holds it. */
  let annsContact: { id: string; customer: string };

  const add = (token: string | null, input: Record<string, unknown>) => t.gql<{ addToBlacklist: Entry }>(token, addMutation, { input });
  const list = (token: string, vars: Record<string, unknown> = {}) =>
    t.ok<{ blacklist: { totalCount: number; pageInfo: { hasNextPage: boolean; endCursor: string | null }; edges: { cursor: string; node: Entry }[] } }>(
      token,
      listQuery,
      vars,
    ).then((r) => r.blacklist);
  const errorOf = (r: { errors?: { extensions?: { code?: string; field?: string } }[] }) => r.errors?.[0]?.extensions;

  beforeAll(async () => {
    t = await startTestKefu({ database: 'pglite' });
    const seed = await seedInstance(t, {
      agents: [
        { name: 'Ann', login: 'ann' },
        { name: 'Bob', login: 'bob' },
        { name: 'Sue', login: 'sue', role: 'SUPERVISOR' },
      ],
    });
    ann = seed.agents[0]!;
    bob = seed.agents[1]!;
    sue = seed.agents[2]!;
    const key = await t.ok<{ createApiKey: { secret: string } }>(seed.adminKey, 'mutation { createApiKey(input: { name: "crm", role: INTEGRATION }) { secret } }');
    const g = await t.ok<{ createSkillGroup: { id: string } }>(seed.adminKey, 'mutation { createSkillGroup(input: { name: "Sales", channel: PHONE, ringTimeoutSeconds: 60 }) { id } }');
    await t.ok(seed.adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: g.createSkillGroup.id, a: ann.id });
    s = { ...seed, integrationKey: key.createApiKey.secret, groupId: g.createSkillGroup.id };
    other = await seedInstance(t, { name: 'Other', agents: [{ name: 'Oli', login: 'oli' }] });

    await t.ok(ann.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    const created = await t.ok<{ createContact: { id: string } }>(
      s.integrationKey,
      'mutation($input: CreateContactInput!) { createContact(input: $input) { id } }',
      { input: { channel: 'PHONE', customer: { kind: 'PHONE', id: '+8613800000000' }, skillGroupId: s.groupId } },
    );
    const contactId = created.createContact.id;
    // Ann sees the contact once it is offered to her (NOT_FOUND until then: routing may not have run yet).
    const offered = await until(
      () => t.ok<{ contact: { offer: { offerId: string } | null } }>(ann.token, 'query($id: ID!) { contact(id: $id) { offer { offerId } } }', { id: contactId }).catch(() => null),
      (r) => r !== null && r.contact.offer !== null,
    );
    await t.ok(ann.token, 'mutation($c: ID!, $o: ID!) { acceptOffer(input: { contactId: $c, offerId: $o }) { status } }', { c: contactId, o: offered!.contact.offer!.offerId });
    annsContact = { id: contactId, customer: '+8613800000000' };
  });
  afterAll(async () => t?.close());

  describe('adding', () => {
    it('lets an agent blacklist the customer of a contact they hold; the number is stored normalized', async () => {
      const r = await add(ann.token, { channel: 'PHONE', identity: '+86 138-0000-0000', reason: 'abusive', contactId: annsContact.id });
      expect(r.errors).toBeUndefined();
      expect(r.data!.addToBlacklist).toMatchObject({
        channel: 'PHONE',
        identity: '+8613800000000',
        reason: 'abusive',
        expiresAt: null,
        active: true,
        agent: { id: ann.id },
        contactId: annsContact.id,
        removedAt: null,
      });
    });

    it('returns the entry in force when the customer is added again (idempotent), however the number is written', async () => {
      const first = (await list(s.adminKey, { channel: 'PHONE' })).edges.find((e) => e.node.identity === '+8613800000000')!.node;
      const again = await add(ann.token, { channel: 'PHONE', identity: ' +86 138 0000 0000 ', reason: 'again', contactId: annsContact.id });
      expect(again.data!.addToBlacklist).toMatchObject({ id: first.id, reason: 'abusive' });
      const byAdmin = await add(s.adminKey, { channel: 'PHONE', identity: '+8613800000000', reason: 'admin too' });
      expect(byAdmin.data!.addToBlacklist.id).toBe(first.id);
      expect((await list(s.adminKey)).edges.filter((e) => e.node.identity === '+8613800000000')).toHaveLength(1);
    });

    it('lets an agent blacklist after the contact ended', async () => {
      await t.ok(ann.token, 'mutation($c: ID!) { endContact(input: { contactId: $c }) { status } }', { c: annsContact.id });
      const r = await add(ann.token, { channel: 'PHONE', identity: annsContact.customer, reason: 'after the call', contactId: annsContact.id });
      expect(r.errors).toBeUndefined();
    });

    it('lets an admin API key blacklist any customer, with an expiry', async () => {
      const expiresAt = new Date(Date.now() + 24 * 3600_000).toISOString();
      const r = await add(s.adminKey, { channel: 'ONLINE', identity: 'oUpF8uMuAJO-MY', reason: 'spam bot', expiresAt });
      expect(r.data!.addToBlacklist).toMatchObject({ channel: 'ONLINE', identity: 'oUpF8uMuAJO-MY', agent: null, contactId: null, active: true, expiresAt });
    });

    it('hides a contact another agent holds (NOT_FOUND); supervisors may name any contact', async () => {
      const r = await add(bob.token, { channel: 'PHONE', identity: annsContact.customer, reason: 'x', contactId: annsContact.id });
      expect(errorOf(r)?.code).toBe('NOT_FOUND');
      const bySupervisor = await add(sue.token, { channel: 'PHONE', identity: annsContact.customer, reason: 'x', contactId: annsContact.id });
      expect(bySupervisor.errors).toBeUndefined();
    });

    it('refuses an identity or channel that is not the contact\'s customer', async () => {
      const r = await add(ann.token, { channel: 'PHONE', identity: '+8613900000000', reason: 'x', contactId: annsContact.id });
      expect(errorOf(r)).toEqual({ code: 'BAD_USER_INPUT', field: 'input.identity' });
      const c = await add(ann.token, { channel: 'AV', identity: annsContact.customer, reason: 'x', contactId: annsContact.id });
      expect(errorOf(c)).toEqual({ code: 'BAD_USER_INPUT', field: 'input.channel' });
    });

    it.each<[string, Record<string, unknown>, string]>([
      ['an empty identity', { channel: 'PHONE', identity: '  ', reason: 'x' }, 'input.identity'],
      ['an empty reason', { channel: 'PHONE', identity: '+861', reason: '' }, 'input.reason'],
      ['a long reason', { channel: 'PHONE', identity: '+861', reason: 'x'.repeat(201) }, 'input.reason'],
      ['an expiry in the past', { channel: 'PHONE', identity: '+861', reason: 'x', expiresAt: '2020-01-01T00:00:00Z' }, 'input.expiresAt'],
      ['a contact id that is not an id', { channel: 'PHONE', identity: '+861', reason: 'x', contactId: 'nope' }, 'input.contactId'],
    ])('refuses %s (BAD_USER_INPUT naming the field)', async (_, input, field) => {
      const r = await add(s.adminKey, input);
      expect(errorOf(r)).toEqual({ code: 'BAD_USER_INPUT', field });
    });

    it('refuses an unknown channel or a malformed date', async () => {
      expect(errorOf(await add(s.adminKey, { channel: 'FAX', identity: '1', reason: 'x' }))?.code).toBe('BAD_USER_INPUT');
      expect(errorOf(await add(s.adminKey, { channel: 'PHONE', identity: '1', reason: 'x', expiresAt: 'tomorrow' }))?.code).toBe('BAD_USER_INPUT');
    });

    it('is for agents and admins only', async () => {
      const input = { channel: 'PHONE', identity: '+8613700000000', reason: 'x' };
      expect(errorOf(await add(s.integrationKey, input))?.code).toBe('FORBIDDEN');
      expect(errorOf(await add(operatorToken, input))?.code).toBe('FORBIDDEN');
      expect(errorOf(await add(null, input))?.code).toBe('UNAUTHENTICATED');
    });
  });

  describe('listing and removing', () => {
    it('shows supervisors and admins every channel, newest first, page by page', async () => {
      const all = await list(sue.token);
      expect(all.edges.map((e) => e.node.channel).sort()).toEqual(['ONLINE', 'PHONE']);
      expect(all.totalCount).toBe(2);
      const createdAts = all.edges.map((e) => Date.parse(e.node.createdAt));
      expect([...createdAts].sort((a, b) => b - a)).toEqual(createdAts);
      const page1 = await list(s.adminKey, { first: 1 });
      expect(page1.pageInfo.hasNextPage).toBe(true);
      const page2 = await list(s.adminKey, { first: 1, after: page1.pageInfo.endCursor });
      expect(page2.pageInfo.hasNextPage).toBe(false);
      expect([page1.edges[0]!.node.id, page2.edges[0]!.node.id]).toEqual(all.edges.map((e) => e.node.id));
      expect((await list(s.adminKey, { channel: 'ONLINE' })).edges.map((e) => e.node.identity)).toEqual(['oUpF8uMuAJO-MY']);
      const bad = await t.gql(s.adminKey, listQuery, { after: 'not-a-cursor' });
      expect(errorOf(bad)).toEqual({ code: 'BAD_USER_INPUT', field: 'after' });
    });

    it('is not for agents or integrations', async () => {
      expect(errorOf(await t.gql(ann.token, listQuery, {}))?.code).toBe('FORBIDDEN');
      expect(errorOf(await t.gql(s.integrationKey, listQuery, {}))?.code).toBe('FORBIDDEN');
      const id = (await list(s.adminKey)).edges[0]!.node.id;
      expect(errorOf(await t.gql(ann.token, removeMutation, { id }))?.code).toBe('FORBIDDEN');
    });

    it('lets a supervisor remove a wrong entry; removing it again changes nothing', async () => {
      const entry = (await list(s.adminKey, { channel: 'ONLINE' })).edges[0]!.node;
      const removed = await t.ok<{ removeFromBlacklist: Entry }>(sue.token, removeMutation, { id: entry.id });
      expect(removed.removeFromBlacklist).toMatchObject({ id: entry.id, active: false });
      expect(removed.removeFromBlacklist.removedAt).not.toBeNull();
      const again = await t.ok<{ removeFromBlacklist: Entry }>(s.adminKey, removeMutation, { id: entry.id });
      expect(again.removeFromBlacklist).toEqual(removed.removeFromBlacklist);
      expect((await list(s.adminKey, { channel: 'ONLINE' })).edges).toEqual([]);
      expect((await list(s.adminKey, { channel: 'ONLINE', all: true })).edges.map((e) => e.node.id)).toEqual([entry.id]);
    });

    it('answers NOT_FOUND for an unknown entry and BAD_USER_INPUT for a malformed id', async () => {
      expect(errorOf(await t.gql(s.adminKey, removeMutation, { id: '00000000-0000-4000-8000-000000000000' }))?.code).toBe('NOT_FOUND');
      expect(errorOf(await t.gql(s.adminKey, removeMutation, { id: 'x' }))).toEqual({ code: 'BAD_USER_INPUT', field: 'input.id' });
    });
  });

  describe('across instances', () => {
    it('keeps each instance\'s list to itself', async () => {
      const mine = (await list(s.adminKey)).edges[0]!.node;
      expect((await list(other.adminKey, { all: true })).edges).toEqual([]);
      expect(errorOf(await t.gql(other.adminKey, removeMutation, { id: mine.id }))?.code).toBe('NOT_FOUND');
      const oli = other.agents[0]!;
      const r = await add(oli.token, { channel: 'PHONE', identity: annsContact.customer, reason: 'x', contactId: annsContact.id });
      expect(errorOf(r)?.code).toBe('NOT_FOUND');
      expect(await findBlacklistEntry(t.kefu.db, other.instanceId, 'PHONE', annsContact.customer, new Date())).toBeNull();
    });
  });

  describe('findBlacklistEntry (for contact creation)', () => {
    it('finds the entry in force by channel and normalized identity', async () => {
      const found = await findBlacklistEntry(t.kefu.db, s.instanceId, 'PHONE', '+86 (138) 0000-0000', new Date());
      expect(found).toMatchObject({ channel: 'PHONE', identity: '+8613800000000', active: true });
      expect(await findBlacklistEntry(t.kefu.db, s.instanceId, 'AV', '+8613800000000', new Date())).toBeNull();
      expect(await findBlacklistEntry(t.kefu.db, s.instanceId, 'PHONE', '+8613800000001', new Date())).toBeNull();
    });

    it('ignores removed entries and entries that have expired by `now`', async () => {
      expect(await findBlacklistEntry(t.kefu.db, s.instanceId, 'ONLINE', 'oUpF8uMuAJO-MY', new Date())).toBeNull();
      const expiresAt = new Date(Date.now() + 3600_000);
      await t.ok(s.adminKey, addMutation, { input: { channel: 'AV', identity: 'visitor-9', reason: 'x', expiresAt: expiresAt.toISOString() } });
      expect(await findBlacklistEntry(t.kefu.db, s.instanceId, 'AV', 'visitor-9', new Date())).not.toBeNull();
      expect(await findBlacklistEntry(t.kefu.db, s.instanceId, 'AV', 'visitor-9', new Date(expiresAt.getTime() + 1000))).toBeNull();
    });
  });
});
