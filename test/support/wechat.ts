// A WeChat account as the WeChat specs set one up: created in Kefu, its app known to the local fake WeChat,
// and the fake's view of it (what it signs and pushes with) aimed at the listening Kefu.
import type { AddressInfo } from 'node:net';
import type { FakeAccount, FakeWechat } from '../wechat/fake-wechat.ts';
import type { TestKefu } from './kefu.ts';

export interface WechatAccountInput {
  name: string;
  kind?: 'OFFICIAL_ACCOUNT' | 'MINI_PROGRAM';
  appId: string;
  appSecret: string;
  token: string;
  originalId: string;
  skillGroupId: string;
  encodingAesKey?: string;
  messageMode?: 'PLAIN' | 'COMPATIBLE' | 'SAFE';
  dataFormat?: 'XML' | 'JSON';
  /** Any other CreateWechatAccountInput field (flowId, miniProgramCards, …). */
  [field: string]: unknown;
}

/** createWechatAccount as `adminKey` (kind OFFICIAL_ACCOUNT unless given), the app registered with `wx`; the account's id and its FakeAccount. */
export async function addWechatAccount(t: TestKefu, wx: FakeWechat, adminKey: string, input: WechatAccountInput): Promise<{ id: string; account: FakeAccount }> {
  const kind = input.kind ?? 'OFFICIAL_ACCOUNT';
  const created = await t.ok<{ createWechatAccount: { id: string; callbackUrl: string } }>(adminKey, 'mutation($input: CreateWechatAccountInput!) { createWechatAccount(input: $input) { id callbackUrl } }', {
    input: { ...input, kind },
  });
  wx.register(input.appId, input.appSecret, kind);
  const origin = `http://127.0.0.1:${(t.kefu.app.server.address() as AddressInfo).port}`;
  return {
    id: created.createWechatAccount.id,
    account: {
      appId: input.appId,
      appSecret: input.appSecret,
      token: input.token,
      encodingAesKey: input.encodingAesKey ?? null,
      mode: input.messageMode ?? 'PLAIN',
      format: input.dataFormat ?? 'XML',
      originalId: input.originalId,
      callbackUrl: `${origin}${new URL(created.createWechatAccount.callbackUrl).pathname}`,
    },
  };
}
