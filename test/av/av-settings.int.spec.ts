// A web channel's audio/video settings (issue 14, AV-1, AV-2, AV-5) through the API: the buttons' kinds, "only
// while agents are online", the configured visual menu (chooseSkillGroup options with a description, an icon
// and kinds) checked at save like a chat flow's groups (a deleted or non-AV group is refused), icons uploaded
// to Kefu (images only, small, decoded) and served to anyone, and what a customer's avCallOptions lists.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { fromPage } from '../support/chat.ts';
import { taggedPng } from '../support/chat-images.ts';

const origin = 'https://shop.example';
const UPDATE = 'mutation($input: UpdateWebChannelInput!) { updateWebChannel(input: $input) { av { kinds onlyWhenAgentsOnline menu { number label description skillGroupId skillGroup { name } iconFileId iconUrl kinds } } } }';
const OPTIONS = 'query { avCallOptions { configured kinds onlyWhenAgentsOnline menu { number title description iconUrl kinds skillGroupId agentsOnline } } }';

interface Av {
  kinds: string[];
  onlyWhenAgentsOnline: boolean;
  menu: { number: number; label: string; description: string | null; skillGroupId: string; skillGroup: { name: string } | null; iconFileId: string | null; iconUrl: string | null; kinds: string[] }[];
}

describe('web channel AV settings and the visual menu', () => {
  let t: TestKefu;
  let seed: Awaited<ReturnType<typeof seedInstance>>;
  let channelId: string;
  let channelKey: string;
  let video: string;
  let billing: string;
  let chat: string;

  const { gql, ok } = fromPage(() => t, origin);
  const update = (av: unknown) => gql<{ updateWebChannel: { av: Av | null } }>(seed.adminKey, UPDATE, { input: { webChannelId: channelId, av } });
  const refusal = async (av: unknown) => {
    const r = await update(av);
    return { code: r.errors?.[0]?.extensions?.code, field: r.errors?.[0]?.extensions?.field, message: r.errors?.[0]?.message ?? '' };
  };
  async function upload(token: string, bytes: Buffer, name: string, type: string) {
    const form = new FormData();
    form.append('file', new Blob([bytes], { type }), name);
    const request = new Request('http://kefu.test/av-icons', { method: 'POST', body: form });
    const res = await t.kefu.app.inject({
      method: 'POST',
      url: '/av-icons',
      headers: { authorization: `Bearer ${token}`, 'content-type': request.headers.get('content-type')! },
      payload: Buffer.from(await request.arrayBuffer()),
    });
    return { status: res.statusCode, body: res.json() as { id?: string; url?: string; width?: number; error?: { code: string; message: string } } };
  }
  async function customerToken(): Promise<string> {
    const r = await ok<{ startCustomerSession: { token: string } }>(null, 'mutation($input: StartCustomerSessionInput!) { startCustomerSession(input: $input) { token } }', { input: { channelKey } });
    return r.startCustomerSession.token;
  }

  beforeAll(async () => {
    t = await startTestKefu({ database: 'pglite', env: { KEFU_AV_PUBLIC_ADDRESS: '127.0.0.1', KEFU_AV_BIND: '127.0.0.1' } });
    seed = await seedInstance(t, { agents: [{ name: 'Ann', login: 'ann' }] });
    const group = async (name: string, channel: string) =>
      (await t.ok<{ createSkillGroup: { id: string } }>(seed.adminKey, 'mutation($input: CreateSkillGroupInput!) { createSkillGroup(input: $input) { id } }', { input: { name, channel } })).createSkillGroup.id;
    video = await group('Video desk', 'AV');
    billing = await group('Billing desk', 'AV');
    chat = await group('Chat', 'ONLINE');
    await t.ok(seed.adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: video, a: seed.agents[0]!.id });
    const created = await t.ok<{ createWebChannel: { webChannel: { id: string; publicKey: string; av: Av | null } } }>(
      seed.adminKey,
      'mutation($input: CreateWebChannelInput!) { createWebChannel(input: $input) { webChannel { id publicKey av { kinds } } } }',
      { input: { name: 'Shop', allowedOrigins: [origin], skillGroupId: chat } },
    );
    channelId = created.createWebChannel.webChannel.id;
    channelKey = created.createWebChannel.webChannel.publicKey;
    expect(created.createWebChannel.webChannel.av).toBeNull();
  }, 120_000);

  afterAll(async () => {
    await t?.close();
  });

  it('without settings: every AV group by name, both kinds, the tag decides', async () => {
    const r = await ok<{ avCallOptions: { configured: boolean; kinds: string[]; menu: { title: string; number: number | null; kinds: string[]; agentsOnline: boolean }[] } }>(await customerToken(), OPTIONS);
    expect(r.avCallOptions).toMatchObject({ configured: false, kinds: ['AUDIO', 'VIDEO'] });
    expect(r.avCallOptions.menu.map((e) => [e.title, e.number, e.kinds, e.agentsOnline])).toEqual([
      ['Billing desk', null, ['AUDIO', 'VIDEO'], false],
      ['Video desk', null, ['AUDIO', 'VIDEO'], false],
    ]);
  });

  it('uploads icons: small images only, decoded, served to anyone with their type', async () => {
    const png = await upload(seed.adminKey, taggedPng(48, 48), 'repairs.png', 'image/png');
    expect(png.status).toBe(201);
    expect(png.body).toMatchObject({ width: 48, url: `/av-icons/${seed.instanceId}/${png.body.id}` });
    const served = await t.kefu.app.inject({ method: 'GET', url: png.body.url! });
    expect(served.statusCode).toBe(200);
    expect(served.headers['content-type']).toBe('image/png');
    expect(served.headers['x-content-type-options']).toBe('nosniff');
    expect(served.rawPayload.subarray(1, 4).toString()).toBe('PNG');
    expect((await t.kefu.app.inject({ method: 'GET', url: `/av-icons/${seed.instanceId}/${randomUUID()}` })).statusCode).toBe(404);
    expect((await t.kefu.app.inject({ method: 'GET', url: `/av-icons/${seed.instanceId}/..%2F..%2Fetc` })).statusCode).toBe(404);

    const svg = await upload(seed.adminKey, Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'), 'x.svg', 'image/svg+xml');
    expect(svg).toMatchObject({ status: 415, body: { error: { code: 'UNSUPPORTED_MEDIA_TYPE' } } });
    const fake = await upload(seed.adminKey, Buffer.concat([taggedPng(8, 8).subarray(0, 40), Buffer.alloc(200, 7)]), 'broken.png', 'image/png');
    expect(fake).toMatchObject({ status: 415 });
    const big = await upload(seed.adminKey, taggedPng(600, 20), 'wide.png', 'image/png');
    expect(big).toMatchObject({ status: 400, body: { error: { code: 'BAD_USER_INPUT' } } });
    expect(big.body.error!.message).toMatch(/512/);
    const heavy = await upload(seed.adminKey, Buffer.concat([taggedPng(8, 8), Buffer.alloc(70 * 1024)]), 'heavy.png', 'image/png');
    expect(heavy.status).toBe(413);
    expect((await upload(seed.agents[0]!.token, taggedPng(16, 16), 'a.png', 'image/png')).status).toBe(403);
  });

  it('refuses bad settings at save with the field at fault', async () => {
    const entry = { number: 1, label: 'Repairs', skillGroupId: video };
    expect(await refusal({ kinds: ['AUDIO'], menu: [{ ...entry, skillGroupId: chat }] })).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.av.menu.0.skillGroupId', message: expect.stringMatching(/not an AV skill group/) });
    expect(await refusal({ kinds: ['AUDIO'], menu: [{ ...entry, skillGroupId: randomUUID() }] })).toMatchObject({ field: 'input.av.menu.0.skillGroupId', message: expect.stringMatching(/no skill group/) });
    expect(await refusal({ kinds: ['AUDIO'], menu: [entry, { ...entry, label: 'Other' }] })).toMatchObject({ field: 'input.av.menu.1.number' });
    expect(await refusal({ kinds: ['AUDIO'], menu: [entry, { ...entry, number: 2 }] })).toMatchObject({ field: 'input.av.menu.1.label' });
    expect(await refusal({ kinds: ['AUDIO'], menu: [{ ...entry, kinds: ['VIDEO'] }] })).toMatchObject({ field: 'input.av.menu.0.kinds', message: expect.stringMatching(/not among the channel's kinds/) });
    expect(await refusal({ kinds: ['AUDIO'], menu: [{ ...entry, iconUrl: 'http://cdn.example/a.png' }] })).toMatchObject({ field: 'input.av.menu.0.iconUrl' });
    expect(await refusal({ kinds: ['AUDIO'], menu: [{ ...entry, iconUrl: 'javascript:alert(1)' }] })).toMatchObject({ field: 'input.av.menu.0.iconUrl' });
    expect(await refusal({ kinds: ['AUDIO'], menu: [{ ...entry, iconFileId: randomUUID() }] })).toMatchObject({ field: 'input.av.menu.0.iconFileId', message: expect.stringMatching(/no icon/) });
    expect(await refusal({ kinds: ['AUDIO'], menu: [{ ...entry, label: ' ' }] })).toMatchObject({ field: 'input.av.menu.0.label' });
    expect(await refusal({ kinds: ['AUDIO'], menu: [{ ...entry, description: 'x'.repeat(501) }] })).toMatchObject({ field: 'input.av.menu.0.description' });
    expect(await refusal({ kinds: ['AUDIO'], menu: Array.from({ length: 21 }, (_, i) => ({ ...entry, number: i, label: `E${i}` })) })).toMatchObject({ field: 'input.av.menu' });
    // A deleted group is refused like any unknown one.
    const gone = (await t.ok<{ createSkillGroup: { id: string } }>(seed.adminKey, 'mutation { createSkillGroup(input: { name: "Gone", channel: AV }) { id } }')).createSkillGroup.id;
    await t.ok(seed.adminKey, 'mutation($id: ID!) { deleteSkillGroup(input: { id: $id }) { id } }', { id: gone });
    expect(await refusal({ kinds: ['AUDIO'], menu: [{ ...entry, skillGroupId: gone }] })).toMatchObject({ field: 'input.av.menu.0.skillGroupId' });
    // Nothing was saved.
    const r = await ok<{ webChannels: { av: Av | null }[] }>(seed.adminKey, 'query { webChannels { av { kinds } } }');
    expect(r.webChannels[0]!.av).toBeNull();
  });

  it("saves the menu in order and the customer's menu shows it; a deleted group's entry is left out; kinds [] takes no calls", async () => {
    const icon = await upload(seed.adminKey, taggedPng(32, 32), 'icon.png', 'image/png');
    const saved = await update({
      kinds: ['AUDIO', 'VIDEO'],
      onlyWhenAgentsOnline: false,
      menu: [
        { number: 5, label: 'Billing', skillGroupId: billing, kinds: ['AUDIO'], iconUrl: 'https://cdn.shop.example/bill.png' },
        { number: 1, label: 'Repairs', description: 'Show us the broken part', skillGroupId: video, iconFileId: icon.body.id },
      ],
    });
    expect(saved.errors).toBeUndefined();
    expect(saved.data!.updateWebChannel.av).toEqual({
      kinds: ['AUDIO', 'VIDEO'],
      onlyWhenAgentsOnline: false,
      menu: [
        { number: 1, label: 'Repairs', description: 'Show us the broken part', skillGroupId: video, skillGroup: { name: 'Video desk' }, iconFileId: icon.body.id, iconUrl: icon.body.url, kinds: ['AUDIO', 'VIDEO'] },
        { number: 5, label: 'Billing', description: null, skillGroupId: billing, skillGroup: { name: 'Billing desk' }, iconFileId: null, iconUrl: 'https://cdn.shop.example/bill.png', kinds: ['AUDIO'] },
      ],
    });
    const token = await customerToken();
    const menu = async () => (await ok<{ avCallOptions: { configured: boolean; kinds: string[]; onlyWhenAgentsOnline: boolean; menu: { number: number; title: string; iconUrl: string | null; kinds: string[] }[] } }>(token, OPTIONS)).avCallOptions;
    expect(await menu()).toMatchObject({
      configured: true,
      kinds: ['AUDIO', 'VIDEO'],
      onlyWhenAgentsOnline: false,
      menu: [
        { number: 1, title: 'Repairs', iconUrl: icon.body.url, kinds: ['AUDIO', 'VIDEO'] },
        { number: 5, title: 'Billing', iconUrl: 'https://cdn.shop.example/bill.png', kinds: ['AUDIO'] },
      ],
    });
    // The channel's video narrows every entry: video off for the channel, video off for Repairs too.
    await ok(seed.adminKey, UPDATE, { input: { webChannelId: channelId, av: { kinds: ['AUDIO'], menu: [{ number: 1, label: 'Repairs', skillGroupId: video }] } } });
    expect((await menu()).menu.map((e) => e.kinds)).toEqual([['AUDIO']]);

    // The group is deleted after the save: its entry disappears from the customer's menu; the admin sees it without its group.
    await ok(seed.adminKey, UPDATE, { input: { webChannelId: channelId, av: { kinds: ['AUDIO'], menu: [{ number: 1, label: 'Repairs', skillGroupId: video }, { number: 2, label: 'Billing', skillGroupId: billing }] } } });
    await t.ok(seed.adminKey, 'mutation($id: ID!) { deleteSkillGroup(input: { id: $id }) { id } }', { id: billing });
    expect((await menu()).menu.map((e) => e.title)).toEqual(['Repairs']);
    const admin = await ok<{ webChannels: { av: Av }[] }>(seed.adminKey, 'query { webChannels { av { menu { label skillGroup { name } } } } }');
    expect(admin.webChannels[0]!.av.menu).toEqual([{ label: 'Repairs', skillGroup: { name: 'Video desk' } }, { label: 'Billing', skillGroup: null }]);

    // No kinds: no buttons, and startAvCall is refused before any media.
    await ok(seed.adminKey, UPDATE, { input: { webChannelId: channelId, av: { kinds: [] } } });
    expect(await menu()).toMatchObject({ kinds: [], menu: [] });
    const start = await gql(token, 'mutation($input: StartAvCallInput!) { startAvCall(input: $input) { contactId } }', { input: { clientCallId: randomUUID(), skillGroupId: video, sdp: 'v=0 not used' } });
    expect(start.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    // Back to not configured.
    const cleared = await update(null);
    expect(cleared.data!.updateWebChannel.av).toBeNull();
    expect((await menu()).configured).toBe(false);
  });
});
