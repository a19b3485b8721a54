// AV calls left open by a run that died (issue 14: no call stays "connected" with nobody on it): their media
// lived in that process, so the next start ends them (systemError) once its read models are caught up. A
// contact is put in the store as an AV call in progress without any media (what a kill -9 leaves), Kefu is
// stopped and started again on the same data directory.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { startKefu, type Kefu } from '../../src/main.ts';
import { contactDecider } from '../../src/domain/contact/contact.decide.ts';
import { streams } from '../../src/domain/streams.ts';
import { operatorToken } from '../support/kefu.ts';
import { until } from '../support/until.ts';

describe('AV calls left over by an earlier run', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kefu-av-orphans-'));
  const env = { KEFU_OPERATOR_TOKEN: operatorToken, LOG_LEVEL: 'silent', PORT: '0', KEFU_SIP: 'off', KEFU_DATA_DIR: dir };
  const start = () => startKefu(loadConfig(env), { logger: pino({ level: 'silent' }), listen: false });
  let kefu: Kefu | null = null;

  afterAll(async () => {
    await kefu?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('ends them at the next start (systemError); an AV call that ended already is left alone', async () => {
    kefu = await start();
    const instanceId = randomUUID();
    const open = randomUUID();
    const done = randomUUID();
    for (const contactId of [open, done]) {
      await kefu.commands.handle(streams.contact(instanceId, contactId), contactDecider, {
        type: 'StartChat',
        data: {
          contactId,
          channel: 'AV',
          customer: { kind: 'WEB', id: 'v_0123456789abcdefghijkl', name: null },
          data: {},
          source: { kind: 'WEB', webChannelId: randomUUID(), clientChatId: contactId, verified: false, pageUrl: null, referrer: null, userAgent: null, address: null },
          skillGroupId: randomUUID(),
          priority: 0,
          reject: null,
          firstMessage: null,
        },
        metadata: { now: new Date().toISOString(), instanceId, actor: 'test', correlationId: contactId },
      });
    }
    await kefu.commands.handle(streams.contact(instanceId, done), contactDecider, {
      type: 'EndContact',
      data: { contactId: done, reason: 'customerHangUp', endedBy: 'CUSTOMER', agentId: null },
      metadata: { now: new Date().toISOString(), instanceId, actor: 'test', correlationId: done },
    });
    const row = (k: Kefu, id: string) => k.db.selectFrom('contacts').select(['status', 'end_reason', 'ended_by']).where('instance_id', '=', instanceId).where('id', '=', id).executeTakeFirst();
    await until(() => row(kefu!, done), (r) => r?.status === 'ENDED');
    expect((await row(kefu, open))?.status).toBe('QUEUED');
    await kefu.close();

    kefu = await start();
    const k = kefu;
    expect(await until(() => row(k, open), (r) => r?.status === 'ENDED', 60_000)).toEqual({ status: 'ENDED', end_reason: 'systemError', ended_by: 'SYSTEM' });
    expect(await row(k, done)).toEqual({ status: 'ENDED', end_reason: 'customerHangUp', ended_by: 'CUSTOMER' });
  });
});
