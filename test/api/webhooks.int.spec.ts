// Webhooks (issue 16) through the public API, delivered to a local HTTP server: signed bodies in event order,
// failures retried with backoff until the endpoint recovers, a dead endpoint paused with its reason and resumed
// by an admin, a hanging endpoint that holds up no other, replay, secret rotation, contact and chat kinds (the
// record readable when RECORD_READY arrives), and URLs at this machine or private addresses refused by default.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifySignature } from '../../src/adapters/webhooks/webhook-signature.ts';
import { agentDecider } from '../../src/domain/agent/agent.decide.ts';
import { streams } from '../../src/domain/streams.ts';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { until } from '../support/until.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.ts';

const CREATE = 'mutation($input: CreateWebhookInput!) { createWebhook(input: $input) { secret webhook { id url eventKinds status } } }';
const HOOK = `query($id: ID!) { webhook(id: $id) { id status pausedReason pendingDeliveries deliveries(first: 100) { edges { node { id kind eventType status attempts lastError lastStatusCode replayOf deliveredAt contactId } } } } }`;

interface Delivery {
  id: string;
  kind: string;
  eventType: string;
  status: string;
  attempts: number;
  lastError: string | null;
  lastStatusCode: number | null;
  replayOf: string | null;
  deliveredAt: string | null;
  contactId: string | null;
}
interface HookView {
  id: string;
  status: string;
  pausedReason: string | null;
  pendingDeliveries: number;
  deliveries: { edges: { node: Delivery }[] };
}

describe('webhooks', () => {
  let t: TestKefu;
  const receivers: WebhookReceiver[] = [];
  const receiver = async () => {
    const r = await startWebhookReceiver();
    receivers.push(r);
    return r;
  };

  beforeAll(async () => {
    t = await startTestKefu({
      database: 'pglite',
      env: {
        KEFU_WEBHOOK_ALLOW_HTTP: 'on',
        KEFU_WEBHOOK_ALLOW_PRIVATE: 'on',
        // Long enough that a loaded machine's slow retries never pause the endpoint that recovers after 4 failures
        // (pausing is tested with a Kefu of its own below).
        KEFU_WEBHOOK_RETRY_SECONDS: '120',
        KEFU_WEBHOOK_BACKOFF_MIN_MS: '50',
        KEFU_WEBHOOK_BACKOFF_MAX_MS: '1000',
        KEFU_WEBHOOK_TIMEOUT_MS: '60000',
        KEFU_CHAT_LIMIT_MESSAGE: '1000/10',
      },
    });
  });
  afterAll(async () => {
    for (const r of receivers) await r.close();
    await t?.close();
  });

  async function subscribe(adminKey: string, url: string, eventKinds: string[]) {
    const r = await t.ok<{ createWebhook: { secret: string; webhook: { id: string; url: string; eventKinds: string[]; status: string } } }>(adminKey, CREATE, { input: { url, eventKinds } });
    return r.createWebhook;
  }
  const hook = async (adminKey: string, id: string) => (await t.ok<{ webhook: HookView }>(adminKey, HOOK, { id })).webhook;
  const presence = (token: string, p: string, reason?: string) =>
    t.ok(token, 'mutation($input: SetPresenceInput!) { setPresence(input: $input) { id } }', { input: { presence: p, ...(reason ? { reason } : {}) } });
  const nowSeconds = () => Math.floor(Date.now() / 1000);

  it('delivers every event in order, signed, retrying a failing endpoint until it recovers', async () => {
    const seed = await seedInstance(t, { name: 'Retry Co', agents: [{ name: 'Ann', login: 'ann' }] });
    const r = await receiver();
    // The first four requests fail (503); from then on the endpoint answers 200.
    r.answerWith(({ n }) => (n < 4 ? 503 : 200));
    const created = await subscribe(seed.adminKey, r.url, ['AGENT_STATUS_CHANGED']);
    expect(created.webhook).toMatchObject({ url: r.url, eventKinds: ['AGENT_STATUS_CHANGED'], status: 'ACTIVE' });
    expect(created.secret).toMatch(/^whsec_/);

    const ann = seed.agents[0]!;
    const sequence: [string, string?][] = [['AVAILABLE'], ['BREAK', 'Meal'], ['AVAILABLE'], ['OFFLINE'], ['AVAILABLE'], ['BREAK', 'Meal']];
    for (const [p, reason] of sequence) await presence(ann.token, p, reason);

    const delivered = await until(async () => r.delivered(), (d) => d.length >= sequence.length, 90_000);
    expect(delivered.map((d) => [d.json.data.presence, d.json.data.reason ?? undefined])).toEqual(sequence.map(([p, reason]) => [p, reason]));
    for (const d of delivered) {
      expect(d.json).toMatchObject({ kind: 'AGENT_STATUS_CHANGED', agentId: ann.id, instanceId: seed.instanceId });
      expect(verifySignature(created.secret, d.body, d.signature, nowSeconds())).toBe(true);
      expect(verifySignature(created.secret, `${d.body} `, d.signature, nowSeconds())).toBe(false);
    }
    expect(r.received.filter((x) => x.answered === 503)).toHaveLength(4);

    const view = await until(() => hook(seed.adminKey, created.webhook.id), (h) => h.pendingDeliveries === 0);
    const first = view.deliveries.edges.map((e) => e.node).find((d) => d.id === delivered[0]!.deliveryId)!;
    expect(first).toMatchObject({ status: 'DELIVERED', attempts: 5, lastStatusCode: 200, kind: 'AGENT_STATUS_CHANGED', eventType: 'AgentWentAvailable' });
    expect(first.lastError).toMatch(/HTTP 503/);
    expect(view.status).toBe('ACTIVE');
  });

  it('a hanging endpoint holds up no other endpoint', async () => {
    const seed = await seedInstance(t, { name: 'Slow Co', agents: [{ name: 'Cid', login: 'cid' }] });
    const slow = await receiver();
    const fast = await receiver();
    // The slow endpoint hangs; another endpoint on the same server (host and port) answers at once.
    slow.answerWith(({ path }) => (path === '/hook' ? 'hang' : 200));
    await subscribe(seed.adminKey, slow.url, ['AGENT_STATUS_CHANGED']);
    await subscribe(seed.adminKey, fast.url, ['AGENT_STATUS_CHANGED']);
    await subscribe(seed.adminKey, `${slow.url}/neighbour`, ['AGENT_STATUS_CHANGED']);
    const cid = seed.agents[0]!;
    await presence(cid.token, 'AVAILABLE');
    await until(async () => slow.hanging(), (n) => n === 1);
    await presence(cid.token, 'OFFLINE');
    await presence(cid.token, 'AVAILABLE');
    const got = await until(async () => fast.delivered(), (d) => d.length === 3);
    expect(got.map((d) => d.json.data.presence)).toEqual(['AVAILABLE', 'OFFLINE', 'AVAILABLE']);
    const neighbour = await until(async () => slow.delivered(), (d) => d.length === 3);
    expect(neighbour.map((d) => [d.path, d.json.data.presence])).toEqual([['/hook/neighbour', 'AVAILABLE'], ['/hook/neighbour', 'OFFLINE'], ['/hook/neighbour', 'AVAILABLE']]);
    // The slow one still holds its first request (60 s timeout) and has been sent nothing else.
    expect(slow.hanging()).toBe(1);
    expect(slow.received.filter((r) => r.path === '/hook')).toHaveLength(0);
  });

  it('replays a delivery, signs with a rotated secret, and sends contact and chat kinds in order per contact', async () => {
    const seed = await seedInstance(t, { name: 'Chat Co', agents: [{ name: 'Dee', login: 'dee' }] });
    const r = await receiver();
    const created = await subscribe(seed.adminKey, r.url, ['CONTACT_CREATED', 'CONTACT_QUEUED', 'CONTACT_OFFERED', 'CONTACT_CONNECTED', 'CONTACT_ENDED', 'RECORD_READY', 'CHAT_MESSAGE']);
    const group = (await t.ok<{ createSkillGroup: { id: string } }>(seed.adminKey, 'mutation($input: CreateSkillGroupInput!) { createSkillGroup(input: $input) { id } }', { input: { name: 'Chat', channel: 'ONLINE', maxConcurrency: 3 } })).createSkillGroup.id;
    const dee = seed.agents[0]!;
    await t.ok(seed.adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: group, a: dee.id });
    const key = (
      await t.ok<{ createWebChannel: { webChannel: { publicKey: string } } }>(seed.adminKey, 'mutation($input: CreateWebChannelInput!) { createWebChannel(input: $input) { webChannel { publicKey } } }', {
        input: { name: 'Shop', allowedOrigins: ['*'], skillGroupId: group },
      })
    ).createWebChannel.webChannel.publicKey;
    const customer = (await t.ok<{ startCustomerSession: { token: string } }>(null, 'mutation($input: StartCustomerSessionInput!) { startCustomerSession(input: $input) { token } }', { input: { channelKey: key, name: 'Eve' } }))
      .startCustomerSession.token;
    const contactId = (
      await t.ok<{ startChat: { contactId: string } }>(customer, 'mutation($input: StartChatInput!) { startChat(input: $input) { contactId } }', {
        input: { clientChatId: randomUUID(), firstMessage: { clientMessageId: randomUUID(), text: 'hello' } },
      })
    ).startChat.contactId;
    await presence(dee.token, 'AVAILABLE');
    const offered = await until(
      () => t.ok<{ contact: { status: string; offer: { offerId: string } | null } }>(dee.token, 'query($id: ID!) { contact(id: $id) { status offer { offerId } } }', { id: contactId }).catch(() => null),
      (c) => c?.contact.status === 'OFFERED',
    );
    await t.ok(dee.token, 'mutation($c: ID!, $o: ID!) { acceptOffer(input: { contactId: $c, offerId: $o }) { status } }', { c: contactId, o: offered!.contact.offer!.offerId });
    for (const text of ['one', 'two', 'three']) {
      await t.ok(customer, 'mutation($input: SendChatMessageInput!) { sendChatMessage(input: $input) { seq } }', { input: { contactId, message: { clientMessageId: randomUUID(), text } } });
    }
    await t.ok(customer, 'mutation($c: ID!) { endChat(input: { contactId: $c }) { status } }', { c: contactId });

    const all = await until(async () => r.delivered(), (d) => d.some((x) => x.json.kind === 'RECORD_READY'));
    const forContact = all.filter((d) => d.json.contactId === contactId);
    const kinds = forContact.map((d) => d.json.kind);
    // Customer messages, in the order they were sent (system notices come between them as CHAT_MESSAGE too).
    const texts = forContact.filter((d) => d.json.kind === 'CHAT_MESSAGE' && d.json.data.from === 'CUSTOMER').map((d) => d.json.data.text);
    expect(texts).toEqual(['hello', 'one', 'two', 'three']);
    expect(kinds[0]).toBe('CONTACT_CREATED');
    const at = (k: string) => kinds.indexOf(k);
    expect(at('CONTACT_CREATED')).toBeLessThan(at('CONTACT_QUEUED'));
    expect(at('CONTACT_QUEUED')).toBeLessThan(at('CONTACT_OFFERED'));
    expect(at('CONTACT_OFFERED')).toBeLessThan(at('CONTACT_CONNECTED'));
    expect(at('CONTACT_CONNECTED')).toBeLessThan(at('CONTACT_ENDED'));
    expect(at('CONTACT_ENDED')).toBeLessThan(at('RECORD_READY'));
    // RECORD_READY: the chat's record can be read now.
    const record = await t.ok<{ chatRecord: { contactId: string } }>(seed.adminKey, 'query($c: ID!) { chatRecord(contactId: $c) { contactId } }', { c: contactId });
    expect(record.chatRecord.contactId).toBe(contactId);
    for (const d of all) expect(verifySignature(created.secret, d.body, d.signature, nowSeconds())).toBe(true);

    // Replay: the same body again, under a new delivery id, after what is queued; signed with the rotated secret.
    const rotated = await t.ok<{ rotateWebhookSecret: { secret: string } }>(seed.adminKey, 'mutation($id: ID!) { rotateWebhookSecret(input: { webhookId: $id }) { secret } }', { id: created.webhook.id });
    expect(rotated.rotateWebhookSecret.secret).not.toBe(created.secret);
    const original = all[0]!;
    const replay = await t.ok<{ replayWebhookDelivery: { id: string; replayOf: string; status: string } }>(seed.adminKey, 'mutation($id: ID!) { replayWebhookDelivery(input: { deliveryId: $id }) { id replayOf status } }', {
      id: original.deliveryId,
    });
    expect(replay.replayWebhookDelivery).toMatchObject({ replayOf: original.deliveryId, status: 'PENDING' });
    const again = await until(async () => r.delivered().find((d) => d.deliveryId === replay.replayWebhookDelivery.id), (d) => d !== undefined);
    expect(again!.body).toBe(original.body);
    expect(verifySignature(rotated.rotateWebhookSecret.secret, again!.body, again!.signature, nowSeconds())).toBe(true);
    expect(verifySignature(created.secret, again!.body, again!.signature, nowSeconds())).toBe(false);
  });

  it('does not queue events older than the log keeps, and prunes delivered deliveries past it', async () => {
    const seed = await seedInstance(t, { name: 'Old Co', agents: [{ name: 'Gus', login: 'gus' }] });
    const r = await receiver();
    const created = await subscribe(seed.adminKey, r.url, ['AGENT_STATUS_CHANGED']);
    const gus = seed.agents[0]!;
    const setPresence = (presence: 'AVAILABLE' | 'OFFLINE', now: Date) =>
      t.kefu.commands.handle(streams.agent(seed.instanceId, gus.id), agentDecider, {
        type: 'SetPresence',
        data: { agentId: gus.id, presence, reason: null, breakReasons: [] },
        metadata: { now: now.toISOString(), instanceId: seed.instanceId, actor: 'test', correlationId: randomUUID() },
      });
    // An event stamped 40 days ago (as one replayed by a rebuild would be) is not queued; a fresh one is.
    await setPresence('AVAILABLE', new Date(Date.now() - 40 * 86_400_000));
    const fresh = await setPresence('OFFLINE', new Date());
    await t.kefu.projections.waitFor(fresh.position!);
    const delivered = await until(async () => r.delivered(), (d) => d.length >= 1);
    expect(delivered.map((d) => d.json.data.presence)).toEqual(['OFFLINE']);

    const db = t.kefu.db;
    const old = new Date(Date.now() - 40 * 86_400_000);
    const row = (id: string, status: string, createdAt: Date) => ({
      id,
      instance_id: seed.instanceId,
      webhook_id: created.webhook.id,
      event_id: randomUUID(),
      event_type: 'AgentWentAvailable',
      kind: 'AGENT_STATUS_CHANGED',
      contact_id: null,
      event_position: '1/1',
      body: '{}',
      status,
      attempts: 1,
      created_at: createdAt,
      ...(status === 'DELIVERED' ? { delivered_at: createdAt } : {}),
    });
    const [oldDelivered, oldCancelled, recent] = [randomUUID(), randomUUID(), randomUUID()];
    await db.insertInto('webhook_deliveries').values([row(oldDelivered, 'DELIVERED', old), row(oldCancelled, 'CANCELLED', old), row(recent, 'DELIVERED', new Date())]).execute();
    await t.kefu.webhooks.pruneLog();
    const left = (await db.selectFrom('webhook_deliveries').select('id').where('id', 'in', [oldDelivered, oldCancelled, recent]).execute()).map((x) => x.id);
    expect(left).toEqual([recent]);
    expect((await hook(seed.adminKey, created.webhook.id)).deliveries.edges.map((e) => e.node.id)).toContain(delivered[0]!.deliveryId);
  });

  it('admins only; bad input is refused with its field', async () => {
    const seed = await seedInstance(t, { name: 'Rules Co', agents: [{ name: 'Fay', login: 'fay' }] });
    const asAgent = await t.gql(seed.agents[0]!.token, CREATE, { input: { url: 'https://example.com/hook', eventKinds: ['CONTACT_CREATED'] } });
    expect(asAgent.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const cases: [Record<string, unknown>, string][] = [
      [{ url: 'ftp://example.com/x', eventKinds: ['CONTACT_CREATED'] }, 'input.url'],
      [{ url: 'https://user:pw@example.com/x', eventKinds: ['CONTACT_CREATED'] }, 'input.url'],
      [{ url: 'not a url', eventKinds: ['CONTACT_CREATED'] }, 'input.url'],
      [{ url: `https://example.com/${'x'.repeat(2001)}`, eventKinds: ['CONTACT_CREATED'] }, 'input.url'],
      [{ url: 'https://example.com/x', eventKinds: [] }, 'input.eventKinds'],
    ];
    for (const [input, field] of cases) {
      const r = await t.gql(seed.adminKey, CREATE, { input });
      expect(r.errors?.[0]?.extensions, JSON.stringify(input).slice(0, 80)).toMatchObject({ code: 'BAD_USER_INPUT', field });
    }
    const unknownKind = await t.gql(seed.adminKey, CREATE, { input: { url: 'https://example.com/x', eventKinds: ['NOPE'] } });
    expect(unknownKind.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const missing = await t.gql(seed.adminKey, HOOK, { id: randomUUID() });
    expect(missing.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const replayMissing = await t.gql(seed.adminKey, 'mutation($id: ID!) { replayWebhookDelivery(input: { deliveryId: $id }) { id } }', { id: randomUUID() });
    expect(replayMissing.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });
});

describe('a dead webhook endpoint', () => {
  let t: TestKefu;
  const receivers: WebhookReceiver[] = [];
  const receiver = async () => {
    const r = await startWebhookReceiver();
    receivers.push(r);
    return r;
  };
  beforeAll(async () => {
    t = await startTestKefu({ database: 'pglite', env: { KEFU_WEBHOOK_ALLOW_HTTP: 'on', KEFU_WEBHOOK_ALLOW_PRIVATE: 'on', KEFU_WEBHOOK_RETRY_SECONDS: '2', KEFU_WEBHOOK_BACKOFF_MIN_MS: '50', KEFU_WEBHOOK_BACKOFF_MAX_MS: '400' } });
  });
  afterAll(async () => {
    for (const r of receivers) await r.close();
    await t?.close();
  });
  const subscribe = async (adminKey: string, url: string, eventKinds: string[]) =>
    (await t.ok<{ createWebhook: { secret: string; webhook: { id: string } } }>(adminKey, CREATE, { input: { url, eventKinds } })).createWebhook;
  const hook = async (adminKey: string, id: string) => (await t.ok<{ webhook: HookView }>(adminKey, HOOK, { id })).webhook;
  const presence = (token: string, p: string) => t.ok(token, 'mutation($input: SetPresenceInput!) { setPresence(input: $input) { id } }', { input: { presence: p } });

  it('pauses a dead endpoint with its reason while others go on, and resumes from where it stopped', async () => {
    const seed = await seedInstance(t, { name: 'Pause Co', agents: [{ name: 'Bob', login: 'bob' }] });
    const dead = await receiver();
    const alive = await receiver();
    dead.answerWith(() => 500);
    const deadHook = await subscribe(seed.adminKey, dead.url, ['AGENT_STATUS_CHANGED']);
    await subscribe(seed.adminKey, alive.url, ['AGENT_STATUS_CHANGED']);
    const bob = seed.agents[0]!;
    await presence(bob.token, 'AVAILABLE');
    await presence(bob.token, 'OFFLINE');

    const paused = await until(() => hook(seed.adminKey, deadHook.webhook.id), (h) => h.status === 'PAUSED', 90_000);
    expect(paused.pausedReason).toMatch(/failed for \d+ s, \d+ attempts; last error: HTTP 500/);
    expect(paused.pendingDeliveries).toBe(2);
    expect((await until(async () => alive.delivered(), (d) => d.length >= 2)).map((d) => d.json.data.presence)).toEqual(['AVAILABLE', 'OFFLINE']);

    // Paused: events are still queued, nothing is sent.
    await presence(bob.token, 'AVAILABLE');
    await until(async () => alive.delivered().length, (n) => n === 3);
    const sentWhilePaused = dead.received.length;
    expect((await hook(seed.adminKey, deadHook.webhook.id)).pendingDeliveries).toBe(3);

    dead.answerWith(() => 200);
    const resumed = await t.ok<{ resumeWebhook: { status: string; pausedReason: string | null } }>(seed.adminKey, 'mutation($id: ID!) { resumeWebhook(input: { webhookId: $id }) { status pausedReason } }', { id: deadHook.webhook.id });
    expect(resumed.resumeWebhook).toEqual({ status: 'ACTIVE', pausedReason: null });
    const got = await until(async () => dead.delivered(), (d) => d.length === 3);
    expect(got.map((d) => d.json.data.presence)).toEqual(['AVAILABLE', 'OFFLINE', 'AVAILABLE']);
    expect(dead.received.length).toBeGreaterThan(sentWhilePaused);
  });
});

describe('webhook URLs with the default settings', () => {
  let t: TestKefu;
  beforeAll(async () => {
    t = await startTestKefu({ database: 'pglite' });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('refuses http, this machine, private, link-local and reserved addresses (DNS resolved too)', async () => {
    const seed = await seedInstance(t, { name: 'Safe Co', agents: [] });
    const refused = [
      'http://example.com/hook',
      'https://127.0.0.1/hook',
      'https://localhost:8443/hook',
      'https://10.1.2.3/hook',
      'https://172.20.0.5/hook',
      'https://192.168.1.10/hook',
      'https://169.254.169.254/latest/meta-data',
      'https://100.64.0.1/hook',
      'https://0.0.0.0/hook',
      'https://[::1]/hook',
      'https://[::ffff:127.0.0.1]/hook',
      'https://[fd00::1]/hook',
      'https://[fe80::1]/hook',
      'https://224.0.0.1/hook',
    ];
    for (const url of refused) {
      const r = await t.gql(seed.adminKey, CREATE, { input: { url, eventKinds: ['CONTACT_CREATED'] } });
      expect(r.errors?.[0]?.extensions, url).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.url' });
    }
    // A public address literal is accepted (nothing is sent until an event of its kind happens).
    const ok = await t.gql<{ createWebhook: { webhook: { url: string } } }>(seed.adminKey, CREATE, { input: { url: 'https://93.184.215.14/hook', eventKinds: ['CONTACT_CREATED'] } });
    expect(ok.errors).toBeUndefined();
    expect(ok.data?.createWebhook.webhook.url).toBe('https://93.184.215.14/hook');
    // Updating to a private address is refused the same way.
    const upd = await t.gql(seed.adminKey, 'mutation($input: UpdateWebhookInput!) { updateWebhook(input: $input) { id } }', {
      input: { webhookId: (await t.ok<{ webhooks: { id: string }[] }>(seed.adminKey, '{ webhooks { id } }')).webhooks[0]!.id, url: 'https://127.0.0.2/x' },
    });
    expect(upd.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.url' });
  });
});
