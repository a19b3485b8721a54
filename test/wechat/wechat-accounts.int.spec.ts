// WeChat accounts (issue 13) through the public API: admins create, list, change and delete them; secrets go
// in and never come out (not in answers, not in the events or read model in clear); other roles and
// instances are refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';

const fields = 'id name kind appId originalId messageMode dataFormat skillGroup { id } flow { id } sendQuota enabled callbackUrl hasEncodingAesKey createdAt';
const createMutation = `mutation($input: CreateWechatAccountInput!) { createWechatAccount(input: $input) { ${fields} } }`;
const updateMutation = `mutation($input: UpdateWechatAccountInput!) { updateWechatAccount(input: $input) { ${fields} } }`;
const deleteMutation = `mutation($id: ID!) { deleteWechatAccount(input: { wechatAccountId: $id }) { ${fields} } }`;
const listQuery = `{ wechatAccounts { ${fields} } }`;

const appSecret = '0123456789abcdef0123456789abcdef';
const encodingAesKey = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';

interface Account {
  id: string;
  callbackUrl: string;
  enabled: boolean;
  [k: string]: unknown;
}

describe('WeChat accounts', () => {
  let t: TestKefu;
  let a: Awaited<ReturnType<typeof seedInstance>> & { group: string; phoneGroup: string };
  let b: Awaited<ReturnType<typeof seedInstance>>;
  const group = async (adminKey: string, channel: string) =>
    (await t.ok<{ createSkillGroup: { id: string } }>(adminKey, 'mutation($input: CreateSkillGroupInput!) { createSkillGroup(input: $input) { id } }', { input: { name: `${channel} desk`, channel } })).createSkillGroup.id;
  const codeOf = (r: { errors?: { extensions?: { code?: string; field?: string } }[] }) => r.errors?.[0]?.extensions;

  beforeAll(async () => {
    t = await startTestKefu({ database: 'pglite', env: { KEFU_PUBLIC_URL: 'https://kefu.example.com/' } });
    const seed = await seedInstance(t, { name: 'Acme', agents: [{ name: 'Ann', login: 'ann' }] });
    a = { ...seed, group: await group(seed.adminKey, 'ONLINE'), phoneGroup: await group(seed.adminKey, 'PHONE') };
    b = await seedInstance(t, { name: 'Globex' });
  });
  afterAll(async () => t?.close());

  const input = (over: Record<string, unknown> = {}) => ({ name: 'Shop', kind: 'OFFICIAL_ACCOUNT', appId: 'wx0123456789abcdef', appSecret, token: 'kefuToken1', encodingAesKey, messageMode: 'SAFE', skillGroupId: a.group, ...over });

  it('an admin creates an account and sees its callback URL, never its secrets', async () => {
    const r = await t.gql<{ createWechatAccount: Account }>(a.adminKey, createMutation, { input: input({ originalId: 'gh_0123456789ab' }) });
    expect(r.errors).toBeUndefined();
    const acc = r.data!.createWechatAccount;
    expect(acc).toMatchObject({ name: 'Shop', kind: 'OFFICIAL_ACCOUNT', appId: 'wx0123456789abcdef', originalId: 'gh_0123456789ab', messageMode: 'SAFE', dataFormat: 'XML', skillGroup: { id: a.group }, sendQuota: 5, enabled: true, hasEncodingAesKey: true });
    expect(acc.callbackUrl).toBe(`https://kefu.example.com/wechat/callback/${a.instanceId}/${acc.id}`);
    const listed = await t.ok<{ wechatAccounts: Account[] }>(a.adminKey, listQuery);
    expect(listed.wechatAccounts.map((x) => x.id)).toEqual([acc.id]);
    // Not in clear anywhere: answers, events, read model.
    const events = await t.kefu.sql.query<{ data: unknown }>(`SELECT data FROM kefu_events WHERE stream_id LIKE 'wechataccount-%'`);
    expect(events.rows.length).toBeGreaterThan(0);
    const rows = await t.kefu.db.selectFrom('wechat_accounts').selectAll().execute();
    for (const text of [JSON.stringify(listed), JSON.stringify(events.rows), JSON.stringify(rows)]) {
      expect(text).not.toContain(appSecret);
      expect(text).not.toContain(encodingAesKey);
      expect(text).not.toContain('kefuToken1');
    }
    expect(rows[0]!.app_secret).toMatch(/^v1\./);
  });

  it('refuses bad settings naming the field', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ appId: 'nope' }, 'input.appId'],
      [{ appSecret: 'short' }, 'input.appSecret'],
      [{ token: 'a b' }, 'input.token'],
      [{ encodingAesKey: 'x' }, 'input.encodingAesKey'],
      [{ encodingAesKey: null }, 'input.encodingAesKey'],
      [{ skillGroupId: a.phoneGroup }, 'input.skillGroupId'],
      [{ dataFormat: 'JSON' }, 'input.dataFormat'],
      [{ originalId: 'gh_x' }, 'input.originalId'],
      [{ sendQuota: 0 }, 'input.sendQuota'],
    ];
    for (const [over, field] of cases) {
      const r = await t.gql(a.adminKey, createMutation, { input: input(over) });
      expect(codeOf(r), JSON.stringify(over)).toMatchObject({ code: 'BAD_USER_INPUT', field });
    }
  });

  it('changes, disables and deletes; agents and other instances may not', async () => {
    const acc = (await t.ok<{ createWechatAccount: Account }>(a.adminKey, createMutation, { input: input({ name: 'Mini', kind: 'MINI_PROGRAM', dataFormat: 'JSON', messageMode: 'PLAIN', encodingAesKey: null }) })).createWechatAccount;
    expect(codeOf(await t.gql(a.agents[0]!.token, listQuery))?.code).toBe('FORBIDDEN');
    expect(codeOf(await t.gql(a.agents[0]!.token, createMutation, { input: input() }))?.code).toBe('FORBIDDEN');
    expect(codeOf(await t.gql(b.adminKey, updateMutation, { input: { wechatAccountId: acc.id, name: 'Stolen' } }))?.code).toBe('NOT_FOUND');
    expect((await t.ok<{ wechatAccounts: Account[] }>(b.adminKey, listQuery)).wechatAccounts).toEqual([]);
    const changed = (await t.ok<{ updateWechatAccount: Account }>(a.adminKey, updateMutation, { input: { wechatAccountId: acc.id, name: 'Mini 2', sendQuota: 20, enabled: false, appSecret: 'ffffffffffffffffffffffffffffffff' } })).updateWechatAccount;
    expect(changed).toMatchObject({ name: 'Mini 2', sendQuota: 20, enabled: false });
    expect(codeOf(await t.gql(a.adminKey, updateMutation, { input: { wechatAccountId: acc.id, messageMode: 'SAFE' } }))).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.encodingAesKey' });
    const deleted = (await t.ok<{ deleteWechatAccount: Account }>(a.adminKey, deleteMutation, { id: acc.id })).deleteWechatAccount;
    expect(deleted.enabled).toBe(false);
    expect((await t.ok<{ wechatAccounts: Account[] }>(a.adminKey, listQuery)).wechatAccounts.map((x) => x.id)).not.toContain(acc.id);
    expect(codeOf(await t.gql(a.adminKey, deleteMutation, { id: acc.id }))?.code).toBe('NOT_FOUND');
  });
});
