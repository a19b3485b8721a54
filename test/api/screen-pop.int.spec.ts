// Screen pop through the public API: admins set the template and rotate the secret (shown once); every
// principal of the instance reads the setting, never the secret; screenPopFor signs a contact's URL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { screenPopFor } from '../../src/api/resolvers/screen-pop.ts';
import { verifyScreenPopUrl } from '../../src/domain/screen-pop/screen-pop-url.ts';
import { operatorToken, seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';

interface ScreenPop {
  urlTemplate: string | null;
  pinned: boolean;
  hasSecret: boolean;
  secretRotatedAt: string | null;
  enabled: boolean;
  placeholders: string[];
}

const fields = 'urlTemplate pinned hasSecret secretRotatedAt enabled placeholders';
const configureMutation = `mutation($input: ConfigureScreenPopInput!) { configureScreenPop(input: $input) { ${fields} } }`;
const rotateMutation = `mutation { rotateScreenPopSecret { secret screenPop { ${fields} } } }`;
const screenPopQuery = `query { screenPop { ${fields} } }`;
const template = 'https://crm.example.com/pop?contact={contactId}&ch={channel}&phone={customer}&group={skillGroupId}&ivr={keys}&order={data.order}';

describe('screen pop', () => {
  let t: TestKefu;
  let s: Awaited<ReturnType<typeof seedInstance>> & { integrationKey: string; groupId: string };
  let other: Awaited<ReturnType<typeof seedInstance>>;
  let agentToken: string;
  let supervisorToken: string;

  const errorOf = (r: { errors?: { extensions?: { code?: string; field?: string } }[] }) => r.errors?.[0]?.extensions;
  const read = (token: string) => t.ok<{ screenPop: ScreenPop }>(token, screenPopQuery).then((r) => r.screenPop);
  const contactRow = async (contactId: string) =>
    t.kefu.db.selectFrom('contacts').selectAll().where('instance_id', '=', s.instanceId).where('id', '=', contactId).executeTakeFirstOrThrow();
  const createContact = async () => {
    const r = await t.ok<{ createContact: { id: string } }>(s.integrationKey, 'mutation($input: CreateContactInput!) { createContact(input: $input) { id } }', {
      input: { channel: 'PHONE', customer: { kind: 'PHONE', id: '+8613800000000' }, skillGroupId: s.groupId, data: [{ key: 'order', value: 'A&B 42' }] },
    });
    return r.createContact.id;
  };

  beforeAll(async () => {
    t = await startTestKefu({ database: 'pglite' });
    const seed = await seedInstance(t, { agents: [{ name: 'Ann', login: 'ann' }, { name: 'Sue', login: 'sue', role: 'SUPERVISOR' }] });
    agentToken = seed.agents[0]!.token;
    supervisorToken = seed.agents[1]!.token;
    const key = await t.ok<{ createApiKey: { secret: string } }>(seed.adminKey, 'mutation { createApiKey(input: { name: "crm", role: INTEGRATION }) { secret } }');
    const g = await t.ok<{ createSkillGroup: { id: string } }>(seed.adminKey, 'mutation { createSkillGroup(input: { name: "Sales", channel: PHONE }) { id } }');
    s = { ...seed, integrationKey: key.createApiKey.secret, groupId: g.createSkillGroup.id };
    other = await seedInstance(t, { name: 'Other' });
  });
  afterAll(async () => t?.close());

  it('is off at first, for every principal of the instance', async () => {
    for (const token of [s.adminKey, agentToken, supervisorToken, s.integrationKey]) {
      expect(await read(token)).toEqual({
        urlTemplate: null,
        pinned: false,
        hasSecret: false,
        secretRotatedAt: null,
        enabled: false,
        placeholders: ['{contactId}', '{channel}', '{customer}', '{skillGroupId}', '{keys}', '{data.<name>}'],
      });
    }
    expect(errorOf(await t.gql(operatorToken, screenPopQuery))?.code).toBe('FORBIDDEN');
    expect(errorOf(await t.gql(null, screenPopQuery))?.code).toBe('UNAUTHENTICATED');
    expect(await screenPopFor(t.kefu.db, s.instanceId, await contactRow(await createContact()), new Date())).toBeNull();
  });

  it('is configured by admins only', async () => {
    const input = { urlTemplate: template, pinned: true };
    for (const token of [agentToken, supervisorToken, s.integrationKey, operatorToken]) {
      expect(errorOf(await t.gql(token, configureMutation, { input }))?.code).toBe('FORBIDDEN');
      expect(errorOf(await t.gql(token, rotateMutation))?.code).toBe('FORBIDDEN');
    }
    const r = await t.ok<{ configureScreenPop: ScreenPop }>(s.adminKey, configureMutation, { input });
    expect(r.configureScreenPop).toMatchObject({ urlTemplate: template, pinned: true, hasSecret: false, enabled: false });
    // The same again changes nothing, and a field left out keeps its value.
    const again = await t.ok<{ configureScreenPop: ScreenPop }>(s.adminKey, configureMutation, { input });
    expect(again.configureScreenPop).toEqual(r.configureScreenPop);
    const kept = await t.ok<{ configureScreenPop: ScreenPop }>(s.adminKey, configureMutation, { input: { pinned: true } });
    expect(kept.configureScreenPop.urlTemplate).toBe(template);
    expect(await read(agentToken)).toEqual(r.configureScreenPop);
  });

  it.each<[string, unknown]>([
    ['not a URL', 'crm.example.com/pop?c={contactId}'],
    ['not http(s)', 'javascript:alert(1)'],
    ['an unknown placeholder', 'https://crm.example.com/pop?c={password}'],
    ['a placeholder in the path', 'https://crm.example.com/{contactId}'],
    ['its own ts', 'https://crm.example.com/pop?ts=1'],
    ['empty', '  '],
    ['too long', `https://crm.example.com/?c=${'x'.repeat(2000)}`],
  ])('refuses a template that is %s (BAD_USER_INPUT on input.urlTemplate)', async (_, urlTemplate) => {
    const r = await t.gql(s.adminKey, configureMutation, { input: { urlTemplate } });
    expect(errorOf(r)).toEqual({ code: 'BAD_USER_INPUT', field: 'input.urlTemplate' });
    expect((await read(s.adminKey)).urlTemplate).toBe(template);
  });

  it('refuses a pinned flag that is not a boolean', async () => {
    expect(errorOf(await t.gql(s.adminKey, configureMutation, { input: { pinned: 'yes' } }))?.code).toBe('BAD_USER_INPUT');
  });

  it('shows a rotated secret once; offers then carry a URL signed with it', async () => {
    const r = await t.ok<{ rotateScreenPopSecret: { secret: string; screenPop: ScreenPop } }>(s.adminKey, rotateMutation);
    const { secret } = r.rotateScreenPopSecret;
    expect(secret.length).toBeGreaterThanOrEqual(32);
    expect(r.rotateScreenPopSecret.screenPop).toMatchObject({ hasSecret: true, enabled: true, pinned: true });
    expect(r.rotateScreenPopSecret.screenPop.secretRotatedAt).not.toBeNull();
    const shown = await t.gql(s.adminKey, screenPopQuery);
    expect(JSON.stringify(shown)).not.toContain(secret);

    const contactId = await createContact();
    const row = await contactRow(contactId);
    const now = new Date();
    const pop = await screenPopFor(t.kefu.db, s.instanceId, row, now);
    expect(pop?.pinned).toBe(true);
    expect(verifyScreenPopUrl(pop!.url, secret, 60, now)).toMatchObject({ valid: true });
    const params = new URL(pop!.url).searchParams;
    expect(Object.fromEntries(params)).toMatchObject({
      contact: contactId,
      ch: 'PHONE',
      phone: '+8613800000000',
      group: s.groupId,
      ivr: '[]',
      order: 'A&B 42',
      ts: String(Math.floor(now.getTime() / 1000)),
    });

    // A new secret: URLs signed with the old one no longer verify with it.
    const next = (await t.ok<{ rotateScreenPopSecret: { secret: string } }>(s.adminKey, rotateMutation)).rotateScreenPopSecret.secret;
    expect(next).not.toBe(secret);
    const popAfter = await screenPopFor(t.kefu.db, s.instanceId, row, now);
    expect(verifyScreenPopUrl(popAfter!.url, secret, 60, now)).toEqual({ valid: false, reason: 'bad-signature' });
    expect(verifyScreenPopUrl(popAfter!.url, next, 60, now)).toMatchObject({ valid: true });
  });

  it('keeps every instance\'s setting to itself', async () => {
    expect(await read(other.adminKey)).toMatchObject({ urlTemplate: null, hasSecret: false, enabled: false });
    const contactId = await createContact();
    expect(await screenPopFor(t.kefu.db, other.instanceId, await contactRow(contactId), new Date())).toBeNull();
    await t.ok(other.adminKey, configureMutation, { input: { urlTemplate: 'https://other.example.com/?c={contactId}' } });
    expect((await read(s.adminKey)).urlTemplate).toBe(template);
  });

  it('turns off with a null template, keeping the secret', async () => {
    const r = await t.ok<{ configureScreenPop: ScreenPop }>(s.adminKey, configureMutation, { input: { urlTemplate: null } });
    expect(r.configureScreenPop).toMatchObject({ urlTemplate: null, hasSecret: true, enabled: false });
    expect(await screenPopFor(t.kefu.db, s.instanceId, await contactRow(await createContact()), new Date())).toBeNull();
  });
});
