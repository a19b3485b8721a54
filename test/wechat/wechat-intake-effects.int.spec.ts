// The WeChat intake on its own (wechat-intake.ts, issue 13) over a migrated read model: a push's effect starts only
// after the push is kept and its answer could go (never inside receive), at most maxEffects at once, in the
// order the pushes came; and when the intake's own connections fail (keepDb: a server out of connections), the
// push is kept through the shared pool and answered all the same.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKysely } from '../../src/adapters/sql/kysely-dialect.ts';
import type { SqlClient } from '../../src/adapters/sql/sql-client.ts';
import { WechatIntake } from '../../src/adapters/wechat/wechat-intake.ts';
import { pushOf, type WechatPush } from '../../src/adapters/wechat/wechat-messages.ts';
import type { ReadModel } from '../../src/projections/projection.ts';
import type { WechatAccountRow } from '../../src/projections/wechat-accounts/wechat-accounts.projection.ts';
import { readModelStore } from '../support/read-model.ts';
import { until } from '../support/until.ts';

const account = { instance_id: 'i-effects', id: 'a-effects', enabled: true } as unknown as WechatAccountRow;
let nextMsgId = 9_300_000_000_000_000_000n;
const text = (openId: string): WechatPush =>
  pushOf({ ToUserName: 'gh_000000000001', FromUserName: openId, CreateTime: String(Math.floor(Date.now() / 1000)), MsgType: 'text', Content: 'hi', MsgId: String(nextMsgId++) });
const silent = { warn: () => undefined, error: () => undefined };

describe('WeChat intake: effects after the answer, bounded; its own connections with the shared pool behind them', () => {
  let store: Awaited<ReturnType<typeof readModelStore>>;
  let db: ReadModel;

  beforeAll(async () => {
    store = await readModelStore('pglite');
    db = store!.db;
  });
  afterAll(async () => {
    await store?.db.destroy();
    await store?.client.close();
  });

  it('starts effects after receive has returned, at most maxEffects at once, in the order the pushes came', async () => {
    let running = 0;
    let most = 0;
    const started: string[] = [];
    const gates: (() => void)[] = [];
    const intake = new WechatIntake({
      db,
      clock: () => new Date(),
      logger: silent,
      maxEffects: 3,
      account: async () => account,
      handle: async (_account, push) => {
        started.push(push.msgId!);
        running++;
        most = Math.max(most, running);
        await new Promise<void>((resolve) => gates.push(resolve));
        running--;
        return null;
      },
    });
    const pushes = Array.from({ length: 10 }, (_, i) => text(`oEffects_${i % 2}`));
    const received = await Promise.all(pushes.map((p) => intake.receive(account, p)));
    expect(received.every((r) => r.taken)).toBe(true);
    // Kept and answerable, and no effect has begun yet: they wait for the next turn of the loop.
    expect(started).toEqual([]);
    await until(async () => started.length, (n) => n === 3);
    // Released one by one, the rest follow, never more than three at once.
    while (started.length < pushes.length || gates.length > 0) {
      await until(async () => gates.length, (n) => n > 0);
      gates.shift()!();
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(received.map((r) => r.effect));
    expect(most).toBe(3);
    expect(started).toEqual(pushes.map((p) => p.msgId));
    await intake.stop();
    const kept = await db.selectFrom('wechat_inbound').select(['push_key', 'pending']).where('instance_id', '=', account.instance_id).execute();
    expect(kept).toHaveLength(10);
    expect(kept.every((k) => !k.pending)).toBe(true);
  });

  it("keeps a push through the shared pool when the intake's own connection fails", async () => {
    const warned: string[] = [];
    const broken = createKysely({ withConnection: () => Promise.reject(new Error('sorry, too many clients already')) } as unknown as SqlClient) as ReadModel;
    const intake = new WechatIntake({
      db,
      keepDb: broken,
      clock: () => new Date(),
      logger: { warn: (_o, msg) => warned.push(msg), error: () => undefined },
      account: async () => account,
      handle: async () => null,
    });
    const push = text('oEffects_kept');
    const first = await intake.receive(account, push);
    expect(first.taken).toBe(true);
    await first.effect;
    // WeChat's retry of it is still known as one.
    expect((await intake.receive(account, push)).taken).toBe(false);
    await intake.stop();
    expect(warned).toContain("the WeChat intake's own connection failed; pushes kept through the shared pool");
    const rows = await db.selectFrom('wechat_inbound').select('push_key').where('instance_id', '=', account.instance_id).where('push_key', '=', `msg:${push.msgId}`).execute();
    expect(rows).toHaveLength(1);
  });
});
