// WeChat inbound (issue 13): a text to a chat this process saw open goes to it without the open-chat look-up
// (the append refuses a chat that ended). The memory lasts 10 s from the chat's last append through it, on
// Kefu's clock: a customer writing every few seconds costs one look-up, not one every 10 s.
import { describe, expect, it } from 'vitest';
import { WechatInbound, type WechatInboundDeps } from '../../src/adapters/wechat/wechat-inbound.ts';
import type { WechatPush } from '../../src/adapters/wechat/wechat-messages.ts';
import type { WechatAccountRow } from '../../src/projections/wechat-accounts/wechat-accounts.projection.ts';

const account = { instance_id: '11111111-1111-4111-8111-111111111111', id: '22222222-2222-4222-8222-222222222222', flow_id: null } as unknown as WechatAccountRow;
const contactId = '33333333-3333-4333-8333-333333333333';

function text(msgId: number): WechatPush {
  return { toUserName: 'gh_1', fromUserName: 'oMemory_1', createTime: 1_764_900_000 + msgId, msgType: 'text', msgId: String(msgId), content: `message ${msgId}`, picUrl: null, mediaId: null, format: null, event: null, eventKey: null, sessionFrom: null, unionId: null, encrypt: null };
}

/** An inbound whose read model always shows the customer's chat queued, counting the look-ups; appends succeed unless `ended`. */
function inbound() {
  let now = Date.parse('2026-12-05T12:00:00Z');
  const seen = { lookups: 0, appends: [] as string[], ended: false };
  // Any query builder chain, answering `row`; on contacts, its executeTakeFirst is the open-chat look-up.
  const chain = (row: () => unknown): unknown => {
    const c: unknown = new Proxy(() => undefined, { get: (_t, name) => (name === 'executeTakeFirst' ? async () => row() : () => c) });
    return c;
  };
  const deps = {
    db: {
      selectFrom: (table: string) =>
        table === 'contacts'
          ? chain(() => {
              seen.lookups++;
              return { id: contactId, status: 'QUEUED' };
            })
          : chain(() => undefined),
    },
    commands: {
      handle: async (_stream: string, _decider: unknown, command: { type: string; data: { contactId: string } }) => {
        if (seen.ended) throw new Error(`Contact ${command.data.contactId} has already ended`);
        seen.appends.push(command.data.contactId);
        return { state: null, events: [], position: null };
      },
    },
    readModels: { waitFor: async () => undefined },
    clock: () => new Date(now),
  } as unknown as WechatInboundDeps;
  return { wechat: new WechatInbound(deps), seen, advance: (ms: number) => (now += ms) };
}

describe('WeChat inbound: the open chat remembered', () => {
  it('is looked up once for a customer writing every 6 s, for as long as the appends go on; again 10 s after the last', async () => {
    const { wechat, seen, advance } = inbound();
    await wechat.take(account, text(1));
    expect(seen.lookups).toBe(1);
    for (let i = 2; i <= 5; i++) {
      advance(6_000);
      await wechat.take(account, text(i));
    }
    // 24 s after the look-up, 6 s after the last append: still remembered (was looked up again at 12 s and 24 s).
    expect(seen.lookups).toBe(1);
    expect(seen.appends).toEqual(Array(5).fill(contactId));
    advance(10_001);
    await wechat.take(account, text(6));
    expect(seen.lookups).toBe(2);
  });

  it('looks the chat up when the remembered one has ended (the append refuses it)', async () => {
    const { wechat, seen, advance } = inbound();
    await wechat.take(account, text(1));
    advance(1_000);
    seen.ended = true;
    await expect(wechat.take(account, text(2))).rejects.toThrow(/has already ended/);
    // The refused remembered append was followed by a look-up (the stub's chat refuses again).
    expect(seen.lookups).toBe(2);
  });
});
