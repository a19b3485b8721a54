// `npm run projections -- rebuild <name>` rebuilds a projection from zero with the same result.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contactDecider, type ContactCommand } from '../../src/domain/contact/contact.decide.ts';
import { streams } from '../../src/domain/streams.ts';
import { rebuildProjection } from '../../src/projections/projection-runner.ts';
import { allProjections } from '../../src/projections/registry.ts';
import { operatorToken, seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { audioFileDecider } from '../../src/domain/flow/audio-file.decide.ts';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));

async function snapshot(t: TestKefu, table: string): Promise<unknown[]> {
  const r = await sql<Record<string, unknown>>`SELECT * FROM ${sql.table(table)}`.execute(t.kefu.db);
  return r.rows.map((row) => JSON.stringify(row)).sort();
}

async function seedHistory(t: TestKefu) {
  const { adminKey, agents, instanceId } = await seedInstance(t, {
    agents: [
      { name: 'Ann', login: 'ann' },
      { name: 'Bob', login: 'bob', role: 'SUPERVISOR' },
      { name: 'Cid', login: 'cid' },
    ],
  });
  const [ann, bob, cid] = agents as [(typeof agents)[0], (typeof agents)[0], (typeof agents)[0]];
  await t.ok(ann.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
  await t.ok(ann.token, 'mutation { setPresence(input: { presence: BREAK, reason: "Meal" }) { id } }');
  await t.ok(bob.token, 'mutation($id: ID!) { forceAgentOffline(input: { agentId: $id, reason: "audit" }) { id } }', { id: cid.id });
  const group = await t.ok<{ createSkillGroup: { id: string } }>(adminKey, 'mutation { createSkillGroup(input: { name: "Sales", channel: PHONE }) { id } }');
  await t.ok(adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a, level: 2 }) { id } }', {
    g: group.createSkillGroup.id,
    a: ann.id,
  });
  await t.ok(adminKey, 'mutation($id: ID!) { deleteAgent(input: { id: $id }) { id } }', { id: cid.id });
  await t.ok(adminKey, 'mutation { configureBreakReasons(input: { reasons: ["Rest", "Lunch"] }) }');
  // A contact routed to Ann, accepted and ended; a blacklisted caller turned away; a screen pop setting.
  await t.ok(adminKey, 'mutation { configureScreenPop(input: { urlTemplate: "https://crm.example.com/pop?c={contactId}", pinned: true }) { pinned } }');
  await t.ok(ann.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
  const create = (caller: string) =>
    t.ok<{ createContact: { id: string; status: string } }>(adminKey, 'mutation($g: ID!, $c: String!) { createContact(input: { channel: PHONE, customer: { kind: PHONE, id: $c }, skillGroupId: $g }) { id status } }', {
      g: group.createSkillGroup.id,
      c: caller,
    });
  const call = (await create('+8613800000001')).createContact.id;
  let offerId: string | null = null;
  for (let i = 0; i < 100 && !offerId; i++) {
    const r = await t.ok<{ contact: { offer: { offerId: string } | null } }>(adminKey, 'query($id: ID!) { contact(id: $id) { offer { offerId } } }', { id: call });
    offerId = r.contact.offer?.offerId ?? null;
    if (!offerId) await new Promise((r) => setTimeout(r, 100));
  }
  await t.ok(ann.token, 'mutation($c: ID!, $o: ID!) { acceptOffer(input: { contactId: $c, offerId: $o }) { id } }', { c: call, o: offerId });
  await t.ok(ann.token, 'mutation($c: ID!) { endContact(input: { contactId: $c }) { id } }', { c: call });
  await t.ok(ann.token, 'mutation { addToBlacklist(input: { channel: PHONE, identity: "+8613800000002", reason: "abuse" }) { id } }');
  const refused = await create('+8613800000002');
  if (refused.createContact.status !== 'REJECTED') throw new Error('a blacklisted caller should be rejected');
  // A chat (chatRecords): queued with nobody in its group, the customer writes, then leaves.
  const chatGroup = await t.ok<{ createSkillGroup: { id: string } }>(adminKey, 'mutation { createSkillGroup(input: { name: "Chat", channel: ONLINE }) { id } }');
  const chat = await t.ok<{ createContact: { id: string } }>(
    adminKey,
    'mutation($g: ID!) { createContact(input: { channel: ONLINE, customer: { kind: WEB, id: "visitor-1", name: "Vi" }, skillGroupId: $g }) { id } }',
    { g: chatGroup.createSkillGroup.id },
  );
  await t.ok(adminKey, 'mutation($c: ID!) { sendMessage(input: { contactId: $c, text: "Hello?" }) { id } }', { c: chat.createContact.id });
  await t.ok(adminKey, 'mutation($c: ID!) { endContact(input: { contactId: $c }) { id } }', { c: chat.createContact.id });
  // Web channels (webChannels): one changed and its secret rotated, one deleted.
  const webChannel = (name: string) =>
    t.ok<{ createWebChannel: { webChannel: { id: string } } }>(adminKey, 'mutation($n: String!, $g: ID!) { createWebChannel(input: { name: $n, allowedOrigins: ["https://shop.example.com"], skillGroupId: $g, welcomeText: "Hi" }) { webChannel { id } } }', {
      n: name,
      g: chatGroup.createSkillGroup.id,
    });
  const shop = (await webChannel('Shop')).createWebChannel.webChannel.id;
  await t.ok(adminKey, 'mutation($id: ID!) { updateWebChannel(input: { webChannelId: $id, name: "Shop 2", allowedOrigins: ["*", "http://localhost:3000"], welcomeText: "", enabled: false }) { id } }', { id: shop });
  await t.ok(adminKey, 'mutation($id: ID!) { rotateWebChannelSecret(input: { webChannelId: $id }) { identitySecret } }', { id: shop });
  const gone = (await webChannel('Old')).createWebChannel.webChannel.id;
  await t.ok(adminKey, 'mutation($id: ID!) { deleteWebChannel(input: { webChannelId: $id }) { id } }', { id: gone });
  // WeChat accounts (wechatAccounts): one changed with a new secret, one deleted.
  const wechatAccount = (name: string, appId: string) =>
    t.ok<{ createWechatAccount: { id: string } }>(adminKey, 'mutation($n: String!, $a: String!, $g: ID!) { createWechatAccount(input: { name: $n, kind: OFFICIAL_ACCOUNT, appId: $a, appSecret: "0123456789abcdef0123456789abcdef", token: "rebuildToken", skillGroupId: $g }) { id } }', {
      n: name,
      a: appId,
      g: chatGroup.createSkillGroup.id,
    });
  const wxShop = (await wechatAccount('WeChat shop', 'wx0000000000000001')).createWechatAccount.id;
  await t.ok(adminKey, 'mutation($id: ID!) { updateWechatAccount(input: { wechatAccountId: $id, name: "WeChat shop 2", sendQuota: 20, token: "newToken", enabled: false }) { id } }', { id: wxShop });
  const wxOld = (await wechatAccount('Old WeChat', 'wx0000000000000002')).createWechatAccount.id;
  await t.ok(adminKey, 'mutation($id: ID!) { deleteWechatAccount(input: { wechatAccountId: $id }) { id } }', { id: wxOld });
  // Quick replies (quickReplyCategories, quickReplies): a category scoped to Ann with a changed reply, and Ann's own.
  const category = await t.ok<{ createQuickReplyCategory: { id: string } }>(adminKey, 'mutation($a: ID!) { createQuickReplyCategory(input: { name: "Orders", scope: { kind: AGENTS, agentIds: [$a] } }) { id } }', { a: ann.id });
  const reply = await t.ok<{ createQuickReply: { id: string } }>(adminKey, 'mutation($c: ID!) { createQuickReply(input: { categoryId: $c, title: "Where is my order", shortcut: "/order", content: "Your order ships in 2 days." }) { id } }', { c: category.createQuickReplyCategory.id });
  await t.ok(adminKey, 'mutation($id: ID!) { updateQuickReply(input: { id: $id, content: "Your order ships tomorrow." }) { id } }', { id: reply.createQuickReply.id });
  await t.ok(ann.token, 'mutation { createQuickReply(input: { title: "Thanks", shortcut: "/ty", content: "Thank you for waiting!" }) { id } }');
  // Flows (two versions, a rename), a prompt recording, a trunk, a bound number and Ann's SIP extension.
  const flowDoc = (text: string) => ({ start: 'm', nodes: [{ id: 'm', type: 'play', prompt: { text }, next: 'r' }, { id: 'r', type: 'route', skillGroupId: group.createSkillGroup.id }] });
  const flow = await t.ok<{ createFlow: { id: string } }>(adminKey, 'mutation($d: JSON!) { createFlow(input: { name: "Main", kind: IVR, definition: $d }) { id } }', { d: flowDoc('Hello') });
  await t.ok(adminKey, 'mutation($id: ID!, $d: JSON!) { updateFlow(input: { id: $id, name: "Main line", definition: $d }) { id } }', { id: flow.createFlow.id, d: flowDoc('Welcome') });
  const audioId = randomUUID();
  await t.kefu.commands.handle(streams.audio(instanceId, audioId), audioFileDecider, {
    type: 'RecordAudioUpload',
    data: { audioId, name: 'Welcome', durationMs: 1000, sampleRate: 8000, sizeBytes: 16_044 },
    metadata: { now: new Date().toISOString(), instanceId, actor: 'test', correlationId: randomUUID() },
  });
  await t.ok(adminKey, 'mutation { createTrunk(input: { name: "Carrier", allowedAddresses: ["203.0.113.0/24"], username: "kefu", password: "trunk-secret" }) { id } }');
  await t.ok(adminKey, 'mutation { submitQualification(input: { companyName: "Co", registrationNumber: "1", documents: ["d"] }) { id } }');
  await t.ok(operatorToken, 'mutation($id: ID!) { reviewQualification(input: { instanceId: $id, approve: true }) { id } }', { id: instanceId });
  await t.ok(adminKey, 'mutation($f: ID!) { bindNumber(input: { number: "+864001230000", flowId: $f }) { number } }', { f: flow.createFlow.id });
  await t.ok(adminKey, 'mutation($a: ID!) { setAgentSipCredentials(input: { agentId: $a, password: "sip-password" }) { username } }', { a: ann.id });
  // Webhooks (webhooks): one paused at once (nothing is sent from a test), changed and rotated; one deleted.
  const webhook = (kinds: string) => t.ok<{ createWebhook: { webhook: { id: string } } }>(adminKey, `mutation { createWebhook(input: { url: "https://93.184.215.14/hook", eventKinds: [${kinds}] }) { webhook { id } } }`);
  const hook = (await webhook('AGENT_STATUS_CHANGED')).createWebhook.webhook.id;
  await t.ok(adminKey, 'mutation($id: ID!) { pauseWebhook(input: { webhookId: $id, reason: "not yet" }) { id } }', { id: hook });
  await t.ok(adminKey, 'mutation($id: ID!) { updateWebhook(input: { webhookId: $id, url: "https://93.184.215.14/kefu", eventKinds: [AGENT_STATUS_CHANGED, RECORD_READY] }) { id } }', { id: hook });
  await t.ok(adminKey, 'mutation($id: ID!) { rotateWebhookSecret(input: { webhookId: $id }) { secret } }', { id: hook });
  const oldHook = (await webhook('CONTACT_CREATED')).createWebhook.webhook.id;
  await t.ok(adminKey, 'mutation($id: ID!) { deleteWebhook(input: { webhookId: $id }) { id } }', { id: oldHook });
  // A phone call as the SIP side drives it (callRecords): keys, a recording, hung up, the recording completed.
  const callId = randomUUID();
  const recordingId = randomUUID();
  const callCommand = (type: ContactCommand['type'], data: Record<string, unknown>) =>
    t.kefu.commands.handle(streams.contact(instanceId, callId), contactDecider, {
      type,
      data: { contactId: callId, ...data },
      metadata: { now: new Date().toISOString(), instanceId, actor: 'system:sip', correlationId: randomUUID() },
    } as ContactCommand);
  await callCommand('CreateContact', {
    channel: 'PHONE',
    direction: 'IN',
    customer: { kind: 'PHONE', id: '+8613800000003', name: null },
    data: {},
    call: { callId: 'rebuild@trunk', direction: 'IN', from: '+8613800000003', to: '+864001234567', trunkId: null, node: 'node-a' },
  });
  await callCommand('StartFlow', { flowId: null });
  await callCommand('PressKey', { key: '2', label: 'Support' });
  await callCommand('StartRecording', { recordingId, agentId: null });
  await callCommand('EndContact', { reason: 'customerHangUp', endedBy: 'CUSTOMER', agentId: null });
  const done = await callCommand('CompleteRecording', { recordingId, durationMs: 900, bytes: 14_444 });
  await t.kefu.projections.waitFor(done.position!);
}

describe('rebuilding projections', () => {
  describe('on PostgreSQL, from the command line beside a running Kefu', () => {
    let t: TestKefu;
    beforeAll(async () => {
      t = await startTestKefu({ database: 'postgres' });
    });
    afterAll(async () => t?.close());

    it('gives the same rows for every projection', async () => {
      await seedHistory(t);
      // One command for all of them (a start of the CLI per projection would take minutes on a loaded machine).
      const before = await Promise.all(allProjections.map((projection) => Promise.all(projection.tables.map((table) => snapshot(t, table)))));
      const { stdout } = await run(process.execPath, ['src/projections/cli.ts', 'rebuild', ...allProjections.map((p) => p.name)], {
        cwd: root,
        env: { PATH: process.env.PATH ?? '', DATABASE_URL: t.databaseUrl! },
      });
      for (const projection of allProjections) expect(stdout).toMatch(new RegExp(`Rebuilt ${projection.name} from \\d+ events`));
      const after = await Promise.all(allProjections.map((projection) => Promise.all(projection.tables.map((table) => snapshot(t, table)))));
      allProjections.forEach((projection, i) => expect(after[i], projection.name).toEqual(before[i]));
    });

    it('refuses an unknown projection with the list of known ones', async () => {
      const err = await run(process.execPath, ['src/projections/cli.ts', 'rebuild', 'nope'], {
        cwd: root,
        env: { PATH: process.env.PATH ?? '', DATABASE_URL: t.databaseUrl! },
      }).catch((e: { code: number; stderr: string }) => e);
      expect(err).toMatchObject({ code: 2 });
      expect((err as { stderr: string }).stderr).toContain('agents');
    });
  });

  describe('on the embedded database', () => {
    let t: TestKefu;
    beforeAll(async () => {
      t = await startTestKefu({ database: 'pglite' });
    });
    afterAll(async () => t?.close());

    it('gives the same rows for every projection', async () => {
      await seedHistory(t);
      for (const projection of allProjections) {
        const before = await Promise.all(projection.tables.map((table) => snapshot(t, table)));
        await rebuildProjection({ store: t.kefu.store, db: t.kefu.db, projection });
        const after = await Promise.all(projection.tables.map((table) => snapshot(t, table)));
        expect(after).toEqual(before);
        expect(before.flat().length, projection.name).toBeGreaterThan(0);
      }
    });
  });
});
