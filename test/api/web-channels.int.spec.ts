// Web channels (OL-2) through the public API: admins create, list, change, delete them and rotate their
// identity secret; nobody else may; every instance has its own; bad settings are refused naming the field.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';

interface WebChannel {
  id: string;
  name: string;
  publicKey: string;
  allowedOrigins: string[];
  skillGroup: { id: string } | null;
  welcomeText: string | null;
  enabled: boolean;
  createdAt: string;
}

const fields = 'id name publicKey allowedOrigins skillGroup { id } welcomeText enabled createdAt';
const createMutation = `mutation($input: CreateWebChannelInput!) { createWebChannel(input: $input) { identitySecret webChannel { ${fields} } } }`;
const updateMutation = `mutation($input: UpdateWebChannelInput!) { updateWebChannel(input: $input) { ${fields} } }`;
const deleteMutation = `mutation($id: ID!) { deleteWebChannel(input: { webChannelId: $id }) { ${fields} } }`;
const rotateMutation = `mutation($id: ID!) { rotateWebChannelSecret(input: { webChannelId: $id }) { identitySecret webChannel { ${fields} } } }`;
const listQuery = `{ webChannels { ${fields} } }`;

describe('web channels', () => {
  let t: TestKefu;
  let a: Awaited<ReturnType<typeof seedInstance>> & { onlineGroup: string; phoneGroup: string; integrationKey: string };
  let b: Awaited<ReturnType<typeof seedInstance>> & { onlineGroup: string };

  const errorOf = (r: { errors?: { extensions?: { code?: string; field?: string } }[] }) => r.errors?.[0]?.extensions;
  const group = async (adminKey: string, channel: string) =>
    (await t.ok<{ createSkillGroup: { id: string } }>(adminKey, 'mutation($input: CreateSkillGroupInput!) { createSkillGroup(input: $input) { id } }', { input: { name: `${channel} desk`, channel } })).createSkillGroup.id;
  const create = (token: string | null, input: Record<string, unknown>) => t.gql<{ createWebChannel: { identitySecret: string; webChannel: WebChannel } }>(token, createMutation, { input });

  beforeAll(async () => {
    t = await startTestKefu({ database: 'pglite' });
    const seedA = await seedInstance(t, {
      name: 'Acme',
      agents: [
        { name: 'Ann', login: 'ann' },
        { name: 'Sue', login: 'sue', role: 'SUPERVISOR' },
        { name: 'Ada', login: 'ada', role: 'ADMIN' },
      ],
    });
    const key = await t.ok<{ createApiKey: { secret: string } }>(seedA.adminKey, 'mutation { createApiKey(input: { name: "crm", role: INTEGRATION }) { secret } }');
    a = { ...seedA, onlineGroup: await group(seedA.adminKey, 'ONLINE'), phoneGroup: await group(seedA.adminKey, 'PHONE'), integrationKey: key.createApiKey.secret };
    const seedB = await seedInstance(t, { name: 'Globex' });
    b = { ...seedB, onlineGroup: await group(seedB.adminKey, 'ONLINE') };
  });
  afterAll(async () => t?.close());

  it('an admin creates a channel: a public key for the widget, the identity secret once, the origins as browsers send them', async () => {
    const r = await create(a.adminKey, {
      name: '  Shop  ',
      allowedOrigins: ['HTTPS://Shop.Example.com:443', 'http://localhost:8080/', 'https://shop.example.com'],
      skillGroupId: a.onlineGroup,
      welcomeText: 'Hi! How can we help?',
    });
    expect(r.errors).toBeUndefined();
    const { identitySecret, webChannel } = r.data!.createWebChannel;
    expect(webChannel).toMatchObject({
      name: 'Shop',
      allowedOrigins: ['https://shop.example.com', 'http://localhost:8080'],
      skillGroup: { id: a.onlineGroup },
      welcomeText: 'Hi! How can we help?',
      enabled: true,
    });
    expect(webChannel.publicKey).toMatch(/^wc_[A-Za-z0-9_-]{24}$/);
    expect(identitySecret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // Listed for admins (an admin agent too), without the secret (the type has no such field).
    const listed = (await t.ok<{ webChannels: WebChannel[] }>(a.agents[2]!.token, listQuery)).webChannels;
    expect(listed.map((c) => c.id)).toContain(webChannel.id);
    expect(JSON.stringify(listed)).not.toContain(identitySecret);
  });

  it('only admins see or change channels', async () => {
    const made = await create(a.adminKey, { name: 'Help', allowedOrigins: ['*'], skillGroupId: a.onlineGroup });
    const id = made.data!.createWebChannel.webChannel.id;
    for (const token of [a.agents[0]!.token, a.agents[1]!.token, a.integrationKey]) {
      expect(errorOf(await t.gql(token, listQuery))?.code).toBe('FORBIDDEN');
      expect(errorOf(await create(token, { name: 'X', allowedOrigins: [], skillGroupId: a.onlineGroup }))?.code).toBe('FORBIDDEN');
      expect(errorOf(await t.gql(token, updateMutation, { input: { webChannelId: id, name: 'Y' } }))?.code).toBe('FORBIDDEN');
      expect(errorOf(await t.gql(token, rotateMutation, { id }))?.code).toBe('FORBIDDEN');
      expect(errorOf(await t.gql(token, deleteMutation, { id }))?.code).toBe('FORBIDDEN');
    }
    expect(errorOf(await t.gql(null, listQuery))?.code).toBe('UNAUTHENTICATED');
    // Nothing changed.
    const still = (await t.ok<{ webChannels: WebChannel[] }>(a.adminKey, listQuery)).webChannels.find((c) => c.id === id);
    expect(still).toMatchObject({ name: 'Help', enabled: true });
  });

  it.each([
    [{ name: '' }, 'input.name'],
    [{ allowedOrigins: ['https://shop.example.com', 'https://shop.example.com/chat'] }, 'input.allowedOrigins.1'],
    [{ allowedOrigins: ['shop.example.com'] }, 'input.allowedOrigins.0'],
    [{ allowedOrigins: ['ftp://files.example.com'] }, 'input.allowedOrigins.0'],
    [{ allowedOrigins: ['https://user:pw@shop.example.com'] }, 'input.allowedOrigins.0'],
    [{ allowedOrigins: ['https://shop.example.com?x=1'] }, 'input.allowedOrigins.0'],
    [{ allowedOrigins: Array.from({ length: 51 }, (_, i) => `https://s${i}.example.com`) }, 'input.allowedOrigins'],
    [{ skillGroupId: 'not-an-id' }, 'input.skillGroupId'],
    [{ skillGroupId: '6a1f3c52-0e7f-4c1a-9d0a-0e1f2a3b4c5d' }, 'input.skillGroupId'],
    [{ welcomeText: 'x'.repeat(1001) }, 'input.welcomeText'],
  ])('refuses bad settings %j (BAD_USER_INPUT naming %s)', async (bad, field) => {
    const r = await create(a.adminKey, { name: 'Shop', allowedOrigins: ['https://shop.example.com'], skillGroupId: a.onlineGroup, ...bad });
    expect(errorOf(r)).toMatchObject({ code: 'BAD_USER_INPUT', field });
  });

  it('needs an ONLINE skill group of the same instance', async () => {
    const phone = await create(a.adminKey, { name: 'Shop', allowedOrigins: [], skillGroupId: a.phoneGroup });
    expect(errorOf(phone)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.skillGroupId' });
    expect(phone.errors![0]!.message).toMatch(/ONLINE/);
    const others = await create(a.adminKey, { name: 'Shop', allowedOrigins: [], skillGroupId: b.onlineGroup });
    expect(errorOf(others)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.skillGroupId' });
  });

  it('updates what is given, keeps the rest; "" clears the welcome text', async () => {
    const made = (await create(a.adminKey, { name: 'Old', allowedOrigins: ['https://a.example.com'], skillGroupId: a.onlineGroup, welcomeText: 'Hello' })).data!.createWebChannel.webChannel;
    const second = await group(a.adminKey, 'ONLINE');
    const updated = (await t.ok<{ updateWebChannel: WebChannel }>(a.adminKey, updateMutation, {
      input: { webChannelId: made.id, name: 'New', allowedOrigins: ['https://b.example.com:8443'], skillGroupId: second, enabled: false },
    })).updateWebChannel;
    expect(updated).toMatchObject({ id: made.id, name: 'New', publicKey: made.publicKey, allowedOrigins: ['https://b.example.com:8443'], skillGroup: { id: second }, welcomeText: 'Hello', enabled: false });
    const cleared = (await t.ok<{ updateWebChannel: WebChannel }>(a.adminKey, updateMutation, { input: { webChannelId: made.id, welcomeText: '', enabled: true } })).updateWebChannel;
    expect(cleared).toMatchObject({ name: 'New', welcomeText: null, enabled: true });
    // A bad change is refused and changes nothing.
    const bad = await t.gql(a.adminKey, updateMutation, { input: { webChannelId: made.id, name: 'Newer', skillGroupId: a.phoneGroup } });
    expect(errorOf(bad)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.skillGroupId' });
    const listed = (await t.ok<{ webChannels: WebChannel[] }>(a.adminKey, listQuery)).webChannels.find((c) => c.id === made.id);
    expect(listed).toMatchObject({ name: 'New', skillGroup: { id: second } });
  });

  it('rotates the secret: a new one each time, the key stays', async () => {
    const made = (await create(a.adminKey, { name: 'Rotating', allowedOrigins: [], skillGroupId: a.onlineGroup })).data!.createWebChannel;
    const first = (await t.ok<{ rotateWebChannelSecret: { identitySecret: string; webChannel: WebChannel } }>(a.adminKey, rotateMutation, { id: made.webChannel.id })).rotateWebChannelSecret;
    const second = (await t.ok<{ rotateWebChannelSecret: { identitySecret: string; webChannel: WebChannel } }>(a.adminKey, rotateMutation, { id: made.webChannel.id })).rotateWebChannelSecret;
    expect(new Set([made.identitySecret, first.identitySecret, second.identitySecret]).size).toBe(3);
    expect(second.webChannel.publicKey).toBe(made.webChannel.publicKey);
  });

  it('deletes: gone from the list, then NOT_FOUND', async () => {
    const made = (await create(a.adminKey, { name: 'Doomed', allowedOrigins: [], skillGroupId: a.onlineGroup })).data!.createWebChannel.webChannel;
    const deleted = (await t.ok<{ deleteWebChannel: WebChannel }>(a.adminKey, deleteMutation, { id: made.id })).deleteWebChannel;
    expect(deleted).toMatchObject({ id: made.id, enabled: false });
    const listed = (await t.ok<{ webChannels: WebChannel[] }>(a.adminKey, listQuery)).webChannels;
    expect(listed.map((c) => c.id)).not.toContain(made.id);
    expect(errorOf(await t.gql(a.adminKey, deleteMutation, { id: made.id }))?.code).toBe('NOT_FOUND');
    expect(errorOf(await t.gql(a.adminKey, updateMutation, { input: { webChannelId: made.id, name: 'Back' } }))?.code).toBe('NOT_FOUND');
    expect(errorOf(await t.gql(a.adminKey, rotateMutation, { id: made.id }))?.code).toBe('NOT_FOUND');
  });

  it('keeps instances apart: another instance neither sees nor touches a channel', async () => {
    const mine = (await create(a.adminKey, { name: 'Acme only', allowedOrigins: [], skillGroupId: a.onlineGroup })).data!.createWebChannel.webChannel;
    const theirs = (await create(b.adminKey, { name: 'Globex only', allowedOrigins: [], skillGroupId: b.onlineGroup })).data!.createWebChannel.webChannel;
    const seenByB = (await t.ok<{ webChannels: WebChannel[] }>(b.adminKey, listQuery)).webChannels.map((c) => c.id);
    expect(seenByB).toEqual([theirs.id]);
    expect(errorOf(await t.gql(b.adminKey, updateMutation, { input: { webChannelId: mine.id, name: 'Taken' } }))?.code).toBe('NOT_FOUND');
    expect(errorOf(await t.gql(b.adminKey, rotateMutation, { id: mine.id }))?.code).toBe('NOT_FOUND');
    expect(errorOf(await t.gql(b.adminKey, deleteMutation, { id: mine.id }))?.code).toBe('NOT_FOUND');
    const seenByA = (await t.ok<{ webChannels: WebChannel[] }>(a.adminKey, listQuery)).webChannels.find((c) => c.id === mine.id);
    expect(seenByA).toMatchObject({ name: 'Acme only', enabled: true });
  });
});
