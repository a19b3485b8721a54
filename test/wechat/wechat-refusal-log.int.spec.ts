// A refused WeChat push is logged once, not once per WeChat retry, and the line holds no secret (issue 13).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { startKefu, type Kefu } from '../../src/main.ts';
import { FakeWechat, type FakeAccount } from './fake-wechat.ts';

const operatorToken = 'wechat-log-operator-token-0123';

describe('WeChat refusals in the log', () => {
  let kefu: Kefu;
  let dir: string;
  let wx: FakeWechat;
  let account: FakeAccount;
  const lines: string[] = [];

  beforeAll(async () => {
    wx = await new FakeWechat().start();
    dir = mkdtempSync(path.join(tmpdir(), 'kefu-wechat-log-'));
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(...chunk.toString('utf8').split('\n').filter((l) => l.trim() !== ''));
        done();
      },
    });
    kefu = await startKefu(loadConfig({ KEFU_OPERATOR_TOKEN: operatorToken, PORT: '0', KEFU_SIP: 'off', KEFU_DATA_DIR: dir, KEFU_WECHAT_API_BASE: wx.base, KEFU_WECHAT_ANSWER_WAIT_MS: '60000' }), { logger: pino({ level: 'warn' }, sink), listen: true });
    const origin = `http://127.0.0.1:${(kefu.app.server.address() as AddressInfo).port}`;
    const gql = async <T,>(auth: string, query: string, variables?: Record<string, unknown>) => {
      const res = await fetch(`${origin}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${auth}` }, body: JSON.stringify({ query, variables }) });
      const body = (await res.json()) as { data: T; errors?: unknown };
      if (body.errors) throw new Error(JSON.stringify(body.errors));
      return body.data;
    };
    const admin = (await gql<{ createInstance: { adminApiKey: string } }>(operatorToken, 'mutation { createInstance(input: { name: "Acme" }) { adminApiKey } }')).createInstance.adminApiKey;
    const group = (await gql<{ createSkillGroup: { id: string } }>(admin, 'mutation { createSkillGroup(input: { name: "WeChat", channel: ONLINE }) { id } }')).createSkillGroup.id;
    const created = await gql<{ createWechatAccount: { callbackUrl: string } }>(admin, 'mutation($g: ID!) { createWechatAccount(input: { name: "Shop", kind: OFFICIAL_ACCOUNT, appId: "wx00000000000000f6", appSecret: "dddddddddddddddddddddddddddddddd", token: "logToken123", skillGroupId: $g }) { callbackUrl } }', { g: group });
    account = { appId: 'wx00000000000000f6', appSecret: 'dddddddddddddddddddddddddddddddd', token: 'logToken123', encodingAesKey: null, mode: 'PLAIN', format: 'XML', originalId: 'gh_00000000000f', callbackUrl: `${origin}${new URL(created.createWechatAccount.callbackUrl).pathname}` };
  });
  afterAll(async () => {
    await kefu?.close();
    await wx?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('one line for a forged push and its two retries; another forged push is another line', async () => {
    const fields = { ToUserName: 'gh_00000000000f', FromUserName: 'oLog_1', CreateTime: Math.floor(Date.now() / 1000), MsgType: 'text', Content: 'forged', MsgId: '5000000000000000001' };
    const forged = wx.pushRequest(account, fields, { wrongSignature: true });
    for (let i = 0; i < 3; i++) expect((await wx.send(forged)).status).toBe(403);
    const refused = () => lines.filter((l) => l.includes('WeChat callback refused'));
    expect(refused()).toHaveLength(1);
    expect(JSON.parse(refused()[0]!)).toMatchObject({ reason: 'wrong signature' });
    expect((await wx.push(account, { ...fields, MsgId: '5000000000000000002' }, { wrongSignature: true })).status).toBe(403);
    expect(refused()).toHaveLength(2);
    expect(lines.join('\n')).not.toContain('logToken123');
    expect(lines.join('\n')).not.toContain(account.appSecret);
  });
});
