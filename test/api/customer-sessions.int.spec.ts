// Customer sessions (issue 11) through the public API: a channel key from a page on an allowed origin opens a
// session for an anonymous visitor or an HMAC-verified customer; the customer token works from the channel's
// origins only (HTTP and graphql-ws), never for staff operations; CORS answers pages of allowed origins;
// sessions are rate limited per address.
import { createHmac } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { until } from '../support/until.ts';

interface Session {
  token: string;
  expiresAt: string;
  visitorId: string | null;
  customer: { kind: string; id: string; name: string | null };
  verified: boolean;
  webChannel: { name: string; welcomeText: string | null; agentsOnline: boolean };
}
interface Result<T> {
  status: number;
  headers: Record<string, unknown>;
  data: T | null;
  errors?: { message: string; extensions?: { code?: string; field?: string; retryAfterSeconds?: number } }[];
}

const shop = 'https://shop.example.com';
const sessionMutation = `mutation($input: StartCustomerSessionInput!) {
  startCustomerSession(input: $input) { token expiresAt visitorId verified customer { kind id name } webChannel { name welcomeText agentsOnline } }
}`;
const hmac = (secret: string, id: string) => createHmac('sha256', secret).update(id).digest('hex');

let nextAddress = 1;
/** Each call from its own client address unless told, so the per-address session limit is the rate-limit test's alone. */
const freshAddress = () => `10.1.${Math.floor(nextAddress / 250)}.${(nextAddress++ % 250) + 1}`;

describe('customer sessions', () => {
  let t: TestKefu;
  let url: string;
  let a: Awaited<ReturnType<typeof seedInstance>> & { groupId: string };
  let channel: { id: string; publicKey: string; secret: string };

  /** GraphQL over HTTP as a browser on `origin` sends it (null: no Origin header, as curl). */
  async function gql<T>(origin: string | null, token: string | null, query: string, variables?: Record<string, unknown>, address = freshAddress()): Promise<Result<T>> {
    const res = await t.kefu.app.inject({
      method: 'POST',
      url: '/graphql',
      remoteAddress: address,
      headers: { 'content-type': 'application/json', ...(origin ? { origin } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
      payload: JSON.stringify({ query, variables }),
    });
    return { status: res.statusCode, headers: res.headers, ...(res.json() as { data: T | null }) };
  }
  const start = (origin: string | null, input: Record<string, unknown>, address?: string) => gql<{ startCustomerSession: Session }>(origin, null, sessionMutation, { input }, address);
  const session = async (origin: string | null, input: Record<string, unknown>) => {
    const r = await start(origin, input);
    if (r.errors) throw new Error(JSON.stringify(r.errors));
    return r.data!.startCustomerSession;
  };
  const errorOf = (r: { errors?: { extensions?: Record<string, unknown> }[] }) => r.errors?.[0]?.extensions;
  const createChannel = async (adminKey: string, groupId: string, allowedOrigins: string[], name = 'Shop') =>
    (
      await t.ok<{ createWebChannel: { identitySecret: string; webChannel: { id: string; publicKey: string } } }>(
        adminKey,
        'mutation($input: CreateWebChannelInput!) { createWebChannel(input: $input) { identitySecret webChannel { id publicKey } } }',
        { input: { name, allowedOrigins, skillGroupId: groupId, welcomeText: 'Welcome!' } },
      )
    ).createWebChannel;

  /** Opens graphql-ws from `origin` with the token; resolves with what the server answered connection_init with. */
  function wsInit(origin: string | null, token: string): Promise<'ack' | 'refused'> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws', origin ? { origin } : {});
      const timer = setTimeout(() => reject(new Error('no answer to connection_init')), 20_000);
      let answered = false;
      const done = (v: 'ack' | 'refused') => {
        if (answered) return;
        answered = true;
        clearTimeout(timer);
        ws.close();
        resolve(v);
      };
      ws.on('open', () => ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } })));
      ws.on('message', (data) => {
        const m = JSON.parse(String(data)) as { type: string };
        if (m.type === 'connection_ack') done('ack');
        else if (m.type === 'connection_error') done('refused');
      });
      ws.on('close', () => done('refused'));
      ws.on('error', () => done('refused'));
    });
  }

  /** Subscribes over graphql-ws (from an allowed origin) and resolves with the first frame's errors' codes, or 'next'. */
  function wsSubscribe(origin: string, token: string, query: string): Promise<string[] | 'next'> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws', { origin });
      const timer = setTimeout(() => reject(new Error('no answer to subscribe')), 20_000);
      const done = (v: string[] | 'next') => {
        clearTimeout(timer);
        ws.close();
        resolve(v);
      };
      ws.on('open', () => ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } })));
      ws.on('message', (data) => {
        const m = JSON.parse(String(data)) as { type: string; payload?: unknown };
        if (m.type === 'connection_ack') ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query } }));
        else if (m.type === 'error') done((m.payload as { extensions?: { code?: string } }[]).map((e) => e.extensions?.code ?? ''));
        else if (m.type === 'next') {
          const errors = (m.payload as { errors?: { extensions?: { code?: string } }[] }).errors;
          done(errors ? errors.map((e) => e.extensions?.code ?? '') : 'next');
        } else if (m.type === 'connection_error') reject(new Error('connection refused'));
      });
      ws.on('error', reject);
    });
  }

  beforeAll(async () => {
    // A low session limit, so the rate-limit test reaches it quickly (other tests each come from their own address).
    t = await startTestKefu({ database: 'pglite', listen: true, env: { KEFU_CHAT_LIMIT_SESSION: '5/600' } });
    url = `http://127.0.0.1:${(t.kefu.app.server.address() as { port: number }).port}`;
    const seed = await seedInstance(t, { agents: [{ name: 'Ann', login: 'ann' }] });
    const g = await t.ok<{ createSkillGroup: { id: string } }>(seed.adminKey, 'mutation { createSkillGroup(input: { name: "Chat", channel: ONLINE }) { id } }');
    await t.ok(seed.adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: g.createSkillGroup.id, a: seed.agents[0]!.id });
    a = { ...seed, groupId: g.createSkillGroup.id };
    const made = await createChannel(a.adminKey, a.groupId, [shop, 'http://localhost:3000']);
    channel = { ...made.webChannel, secret: made.identitySecret };
  });
  afterAll(async () => t?.close());

  describe('anonymous visitors', () => {
    it('get a new visitor id, a customer token and what the widget shows', async () => {
      const s = await session(shop, { channelKey: channel.publicKey, name: 'Visitor <b>Joe</b>' });
      expect(s.visitorId).toMatch(/^v_[A-Za-z0-9_-]{22}$/);
      expect(s).toMatchObject({ verified: false, customer: { kind: 'WEB', id: s.visitorId, name: 'Visitor <b>Joe</b>' }, webChannel: { name: 'Shop', welcomeText: 'Welcome!', agentsOnline: false } });
      const ttl = new Date(s.expiresAt).getTime() - Date.now();
      expect(ttl).toBeGreaterThan(86_400_000 - 120_000);
      expect(ttl).toBeLessThanOrEqual(86_400_000);
      const other = await session(shop, { channelKey: channel.publicKey });
      expect(other.visitorId).not.toBe(s.visitorId);
    });

    it('keep their visitor id when they bring it back', async () => {
      const first = await session(shop, { channelKey: channel.publicKey });
      const again = await session('http://localhost:3000', { channelKey: channel.publicKey, visitorId: first.visitorId });
      expect(again).toMatchObject({ visitorId: first.visitorId, customer: { id: first.visitorId }, verified: false });
    });

    it.each([['v_short'], ['x_AAAAAAAAAAAAAAAAAAAAAA'], ['v_AAAAAAAAAAAAAAAAAAAAA=='], ['v_AAAAAAAAAAAAAAAAAAAAAAA']])('refuses a visitor id of another shape (%s)', async (visitorId) => {
      expect(errorOf(await start(shop, { channelKey: channel.publicKey, visitorId }))).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.visitorId' });
    });

    it('see whether an agent of the channel is online', async () => {
      await t.ok(a.agents[0]!.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
      await until(() => session(shop, { channelKey: channel.publicKey }), (s) => s.webChannel.agentsOnline);
      await t.ok(a.agents[0]!.token, 'mutation { setPresence(input: { presence: OFFLINE }) { id } }');
      await until(() => session(shop, { channelKey: channel.publicKey }), (s) => !s.webChannel.agentsOnline);
    });

    it('say whether the channel is open now (work hours, anyone online) and its greeting, also later through customerWebChannel', async () => {
      const q = '{ customerWebChannel { greeting withinWorkHours availability openNow agentsOnline takesMessages } }';
      const ask = async (token: string) => {
        const r = await gql<{ customerWebChannel: Record<string, unknown> }>(shop, token, q);
        if (r.errors) throw new Error(JSON.stringify(r.errors));
        return r.data!.customerWebChannel;
      };
      const group = (await t.ok<{ createSkillGroup: { id: string } }>(a.adminKey, 'mutation($input: CreateSkillGroupInput!) { createSkillGroup(input: $input) { id } }', { input: { name: 'Open now', channel: 'ONLINE' } })).createSkillGroup.id;
      await t.ok(a.adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: group, a: a.agents[0]!.id });
      const ch = await createChannel(a.adminKey, group, [shop], 'Open now');
      const s = await session(shop, { channelKey: ch.webChannel.publicKey });
      expect(await ask(s.token)).toEqual({ greeting: 'Welcome!', withinWorkHours: true, availability: 'NO_AGENT_ONLINE', openNow: false, agentsOnline: false, takesMessages: true });
      await t.ok(a.agents[0]!.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
      try {
        await until(() => ask(s.token), (c) => c.availability === 'OPEN' && c.openNow === true && c.takesMessages === true);
        // Closed all day today and tomorrow (a holiday each, whatever the hour), the welcome prompt off: no greeting.
        const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
        await t.ok(a.adminKey, 'mutation($input: UpdateWebChannelInput!) { updateWebChannel(input: $input) { id } }', {
          input: {
            webChannelId: ch.webChannel.id,
            workHours: { timeZone: 'UTC', weekly: [{ days: ['MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT', 'SUN'], open: '00:00', close: '24:00' }], holidays: [day(0), day(1)] },
            receptionPrompts: { welcome: { enabled: false } },
          },
        });
        const closed = await until(() => ask(s.token), (c) => c.availability === 'OFF_HOURS');
        expect(closed).toEqual({ greeting: null, withinWorkHours: false, availability: 'OFF_HOURS', openNow: false, agentsOnline: true, takesMessages: false });
        const fresh = await session(shop, { channelKey: ch.webChannel.publicKey });
        expect(fresh.webChannel).toMatchObject({ agentsOnline: true });
      } finally {
        await t.ok(a.agents[0]!.token, 'mutation { setPresence(input: { presence: OFFLINE }) { id } }');
      }
      // Only a customer asks it.
      expect(errorOf(await gql(shop, a.adminKey, q))).toMatchObject({ code: 'FORBIDDEN' });
    });
  });

  describe('verified customers', () => {
    it('are accepted with the HMAC of their id; the same id from any device', async () => {
      const s = await session(shop, { channelKey: channel.publicKey, customerId: 'crm-42', customerHash: hmac(channel.secret, 'crm-42'), name: 'Ada' });
      expect(s).toMatchObject({ verified: true, visitorId: null, customer: { kind: 'WEB', id: 'crm-42', name: 'Ada' } });
      const upper = await session(shop, { channelKey: channel.publicKey, customerId: 'crm-42', customerHash: hmac(channel.secret, 'crm-42').toUpperCase() });
      expect(upper.customer.id).toBe('crm-42');
    });

    it.each([
      ['a hash of another id', () => hmac(channel.secret, 'crm-43')],
      ['a hash made with another secret', () => hmac('not-the-secret', 'crm-42')],
      ['a hash one digit off', () => hmac(channel.secret, 'crm-42').replace(/.$/, (c) => (c === '0' ? '1' : '0'))],
    ])('are refused with %s (UNAUTHENTICATED, no session)', async (_, hash) => {
      const r = await start(shop, { channelKey: channel.publicKey, customerId: 'crm-42', customerHash: hash() });
      expect(errorOf(r)?.code).toBe('UNAUTHENTICATED');
      expect(r.data).toBeNull();
    });

    it.each([
      [{ customerId: 'crm-42' }, 'input.customerHash'],
      [{ customerHash: 'ab'.repeat(32) }, 'input.customerId'],
      [{ customerId: 'crm-42', customerHash: 'not hex' }, 'input.customerHash'],
      [{ customerId: '', customerHash: 'ab'.repeat(32) }, 'input.customerId'],
      [{ customerId: 'x'.repeat(129), customerHash: 'ab'.repeat(32) }, 'input.customerId'],
      [{ customerId: 'tab\there', customerHash: 'ab'.repeat(32) }, 'input.customerId'],
    ])('are refused with a malformed claim %j (BAD_USER_INPUT naming %s)', async (claim, field) => {
      expect(errorOf(await start(shop, { channelKey: channel.publicKey, ...claim }))).toMatchObject({ code: 'BAD_USER_INPUT', field });
    });

    it('lose their hash and their sessions when the secret is rotated', async () => {
      const made = await createChannel(a.adminKey, a.groupId, [shop], 'Rotating');
      const s = await session(shop, { channelKey: made.webChannel.publicKey, customerId: 'crm-7', customerHash: hmac(made.identitySecret, 'crm-7') });
      const anonymous = await session(shop, { channelKey: made.webChannel.publicKey });
      expect((await gql(shop, s.token, '{ __typename }')).status).toBe(200);
      const rotated = await t.ok<{ rotateWebChannelSecret: { identitySecret: string } }>(a.adminKey, 'mutation($id: ID!) { rotateWebChannelSecret(input: { webChannelId: $id }) { identitySecret } }', { id: made.webChannel.id });
      const old = await gql(shop, s.token, '{ __typename }');
      expect(old.status).toBe(401);
      expect(errorOf(old)?.code).toBe('UNAUTHENTICATED');
      expect(errorOf(await start(shop, { channelKey: made.webChannel.publicKey, customerId: 'crm-7', customerHash: hmac(made.identitySecret, 'crm-7') }))?.code).toBe('UNAUTHENTICATED');
      await session(shop, { channelKey: made.webChannel.publicKey, customerId: 'crm-7', customerHash: hmac(rotated.rotateWebChannelSecret.identitySecret, 'crm-7') });
      // An anonymous visitor's session was never verified by the secret: it goes on.
      expect((await gql(shop, anonymous.token, '{ __typename }')).status).toBe(200);
    });
  });

  describe('channels', () => {
    it('an unknown key is NOT_FOUND', async () => {
      expect(errorOf(await start(shop, { channelKey: 'wc_nosuchkeyAAAAAAAAAAAAAAAA' }))?.code).toBe('NOT_FOUND');
    });

    it('a disabled or deleted channel is NOT_FOUND, and its customers\' tokens stop working', async () => {
      const made = await createChannel(a.adminKey, a.groupId, [shop], 'Short-lived');
      const s = await session(shop, { channelKey: made.webChannel.publicKey });
      await t.ok(a.adminKey, 'mutation($id: ID!) { updateWebChannel(input: { webChannelId: $id, enabled: false }) { id } }', { id: made.webChannel.id });
      expect(errorOf(await start(shop, { channelKey: made.webChannel.publicKey }))?.code).toBe('NOT_FOUND');
      const refused = await gql(shop, s.token, '{ __typename }');
      expect([refused.status, errorOf(refused)?.code]).toEqual([401, 'UNAUTHENTICATED']);
      await t.ok(a.adminKey, 'mutation($id: ID!) { updateWebChannel(input: { webChannelId: $id, enabled: true }) { id } }', { id: made.webChannel.id });
      expect((await gql(shop, s.token, '{ __typename }')).status).toBe(200);
      await t.ok(a.adminKey, 'mutation($id: ID!) { deleteWebChannel(input: { webChannelId: $id }) { id } }', { id: made.webChannel.id });
      expect(errorOf(await start(shop, { channelKey: made.webChannel.publicKey }))?.code).toBe('NOT_FOUND');
      expect((await gql(shop, s.token, '{ __typename }')).status).toBe(401);
    });

    it('a channel allowing * takes any origin, and none', async () => {
      const open = (await createChannel(a.adminKey, a.groupId, ['*'], 'Anywhere')).webChannel;
      await session('https://anything.example.org', { channelKey: open.publicKey });
      await session(null, { channelKey: open.publicKey });
      // Gone again: the other tests' refused origins must be refused by every channel.
      await t.ok(a.adminKey, 'mutation($id: ID!) { deleteWebChannel(input: { webChannelId: $id }) { id } }', { id: open.id });
    });
  });

  describe('origins', () => {
    it.each([
      ['another site', 'https://evil.example.com'],
      ['another scheme', 'http://shop.example.com'],
      ['another port', 'https://shop.example.com:8443'],
      ['a look-alike', 'https://shop.example.com.evil.example'],
      ['no Origin at all', null],
      ['the opaque origin', 'null'],
    ])('startCustomerSession from %s is FORBIDDEN', async (_, origin) => {
      const r = await start(origin, { channelKey: channel.publicKey });
      expect(errorOf(r)?.code).toBe('FORBIDDEN');
      expect(r.data).toBeNull();
    });

    it('a customer token works over HTTP only from its channel\'s origins (403 FORBIDDEN otherwise)', async () => {
      const s = await session(shop, { channelKey: channel.publicKey });
      expect(await gql(shop, s.token, '{ __typename }')).toMatchObject({ status: 200, data: { __typename: 'Query' } });
      expect(await gql('http://localhost:3000', s.token, '{ __typename }')).toMatchObject({ status: 200 });
      for (const origin of ['https://evil.example.com', null]) {
        const r = await gql(origin, s.token, '{ __typename }');
        expect(r.status).toBe(403);
        expect(errorOf(r)?.code).toBe('FORBIDDEN');
        expect(r.data).toBeNull();
      }
    });

    it('a customer token opens graphql-ws only from its channel\'s origins', async () => {
      const s = await session(shop, { channelKey: channel.publicKey });
      expect(await wsInit(shop, s.token)).toBe('ack');
      expect(await wsInit('https://evil.example.com', s.token)).toBe('refused');
      expect(await wsInit(null, s.token)).toBe('refused');
      // Staff connections are not about channels: an agent's token connects from anywhere, as before.
      expect(await wsInit('https://evil.example.com', a.agents[0]!.token)).toBe('ack');
    });

    it('/chat/* refuses a customer token from another origin before the route runs', async () => {
      const s = await session(shop, { channelKey: channel.publicKey });
      const res = await t.kefu.app.inject({ method: 'POST', url: '/chat/uploads', headers: { origin: 'https://evil.example.com', authorization: `Bearer ${s.token}`, 'content-type': 'multipart/form-data; boundary=x' }, payload: '--x--\r\n' });
      expect(res.statusCode).toBe(403);
      expect(res.json()).toMatchObject({ error: { code: 'FORBIDDEN' } });
    });
  });

  describe('CORS', () => {
    it('answers a preflight from an allowed origin for /graphql and /chat/*, and nothing to others', async () => {
      for (const path of ['/graphql', '/chat/uploads']) {
        const ok = await t.kefu.app.inject({ method: 'OPTIONS', url: path, headers: { origin: shop, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' } });
        expect(ok.statusCode).toBe(204);
        expect(ok.headers['access-control-allow-origin']).toBe(shop);
        expect(String(ok.headers['access-control-allow-methods'])).toContain('POST');
        expect(String(ok.headers['access-control-allow-headers']).toLowerCase()).toContain('authorization');
        const refused = await t.kefu.app.inject({ method: 'OPTIONS', url: path, headers: { origin: 'https://cors-refused.example.net', 'access-control-request-method': 'POST' } });
        expect(refused.headers['access-control-allow-origin']).toBeUndefined();
        expect(refused.statusCode).toBe(403);
      }
    });

    it('marks actual responses for allowed origins only', async () => {
      const s = await session(shop, { channelKey: channel.publicKey });
      const ok = await gql(shop, s.token, '{ __typename }');
      expect(ok.headers['access-control-allow-origin']).toBe(shop);
      expect(String(ok.headers.vary)).toMatch(/Origin/);
      const refused = await gql('https://cors-refused.example.net', s.token, '{ __typename }');
      expect(refused.headers['access-control-allow-origin']).toBeUndefined();
      // The session call itself, before any token: the page can read its answer.
      expect((await start(shop, { channelKey: channel.publicKey })).headers['access-control-allow-origin']).toBe(shop);
    });
  });

  describe('customer tokens', () => {
    it('are refused by staff and integration operations (FORBIDDEN)', async () => {
      const s = await session(shop, { channelKey: channel.publicKey });
      for (const query of ['{ me { __typename } }', '{ contacts { edges { node { id } } } }', '{ webChannels { id } }', '{ skillGroups { id } }', '{ blacklist { totalCount } }']) {
        const r = await gql(shop, s.token, query);
        expect(errorOf(r)?.code).toBe('FORBIDDEN');
        expect(r.data).toBeNull();
      }
      // Over graphql-ws too: staff subscriptions are refused.
      for (const query of ['subscription { agentOffers { contact { id } } }', 'subscription { agentStatusChanged { agent { id } } }', 'subscription { skillGroupMonitorChanged { skillGroup { id } } }']) {
        expect(await wsSubscribe(shop, s.token, query)).toEqual(['FORBIDDEN']);
      }
      const create = await gql(shop, s.token, 'mutation($g: ID!) { createWebChannel(input: { name: "Mine", allowedOrigins: ["*"], skillGroupId: $g }) { identitySecret } }', { g: a.groupId });
      expect(errorOf(create)?.code).toBe('FORBIDDEN');
    });

    it('forged or expired ones are UNAUTHENTICATED', async () => {
      const s = await session(shop, { channelKey: channel.publicKey });
      const [header, payload] = s.token.split('.');
      // Claims changed (another customer id) under the old signature.
      const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>;
      const changed = `${header}.${Buffer.from(JSON.stringify({ ...claims, sub: 'crm-42', ver: true })).toString('base64url')}.${s.token.split('.')[2]}`;
      // Signed with another key.
      const otherKey = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode('x'.repeat(32)));
      // Signed with Kefu's own key, but expired.
      const key = await t.kefu.db.selectFrom('kefu_secrets').select('value').where('name', '=', 'token_signing_key').executeTakeFirstOrThrow();
      const expired = await new SignJWT({ ...claims, exp: Math.floor(Date.now() / 1000) - 10 }).setProtectedHeader({ alg: 'HS256' }).sign(Buffer.from(key.value, 'base64url'));
      for (const token of [changed, otherKey, expired]) {
        const r = await gql(shop, token, '{ __typename }');
        expect([r.status, errorOf(r)?.code]).toEqual([401, 'UNAUTHENTICATED']);
      }
      // The same, freshly signed by Kefu's key and unexpired, is accepted: the refusals above were about the token.
      const fresh = await new SignJWT({ ...claims, exp: Math.floor(Date.now() / 1000) + 600 }).setProtectedHeader({ alg: 'HS256' }).sign(Buffer.from(key.value, 'base64url'));
      expect((await gql(shop, fresh, '{ __typename }')).status).toBe(200);
    });
  });

  it('limits new sessions per address (RATE_LIMITED with the seconds to wait), other addresses unaffected', async () => {
    const address = '10.9.9.9';
    for (let i = 0; i < 5; i++) {
      const r = await start(shop, { channelKey: channel.publicKey }, address);
      expect(r.errors).toBeUndefined();
    }
    const limited = await start(shop, { channelKey: channel.publicKey }, address);
    expect(errorOf(limited)?.code).toBe('RATE_LIMITED');
    expect(errorOf(limited)?.retryAfterSeconds).toBeGreaterThan(500);
    expect(errorOf(limited)?.retryAfterSeconds).toBeLessThanOrEqual(600);
    // Forged hashes count too: guessing costs the same.
    expect(errorOf(await start(shop, { channelKey: channel.publicKey, customerId: 'crm-42', customerHash: 'ab'.repeat(32) }, address))?.code).toBe('RATE_LIMITED');
    expect((await start(shop, { channelKey: channel.publicKey }, '10.9.9.10')).errors).toBeUndefined();
    // X-Forwarded-For is not believed unless KEFU_TRUST_PROXY says so: a client cannot pick a fresh address.
    const spoofed = await t.kefu.app.inject({
      method: 'POST',
      url: '/graphql',
      remoteAddress: address,
      headers: { 'content-type': 'application/json', origin: shop, 'x-forwarded-for': '203.0.113.99' },
      payload: JSON.stringify({ query: sessionMutation, variables: { input: { channelKey: channel.publicKey } } }),
    });
    expect(errorOf(spoofed.json())?.code).toBe('RATE_LIMITED');
  });

  describe('behind a trusted proxy (KEFU_TRUST_PROXY)', () => {
    let behind: TestKefu;
    let channelKey: string;
    // Its own Kefu (started in a hook: a second embedded database takes a while on a loaded machine).
    beforeAll(async () => {
      behind = await startTestKefu({ database: 'pglite', env: { KEFU_CHAT_LIMIT_SESSION: '2/600', KEFU_TRUST_PROXY: '127.0.0.1' } });
      const seed = await seedInstance(behind, { seats: 0 });
      const g = await behind.ok<{ createSkillGroup: { id: string } }>(seed.adminKey, 'mutation { createSkillGroup(input: { name: "Chat", channel: ONLINE }) { id } }');
      const made = await behind.ok<{ createWebChannel: { webChannel: { publicKey: string } } }>(seed.adminKey, 'mutation($g: ID!) { createWebChannel(input: { name: "Shop", allowedOrigins: ["*"], skillGroupId: $g }) { webChannel { publicKey } } }', { g: g.createSkillGroup.id });
      channelKey = made.createWebChannel.webChannel.publicKey;
    });
    afterAll(async () => behind?.close());

    it('limits each client address the proxy names', async () => {
      const from = async (client: string) => {
        const res = await behind.kefu.app.inject({
          method: 'POST',
          url: '/graphql',
          remoteAddress: '127.0.0.1',
          headers: { 'content-type': 'application/json', 'x-forwarded-for': client },
          payload: JSON.stringify({ query: sessionMutation, variables: { input: { channelKey } } }),
        });
        return errorOf(res.json())?.code ?? 'ok';
      };
      expect([await from('203.0.113.7'), await from('203.0.113.7'), await from('203.0.113.7')]).toEqual(['ok', 'ok', 'RATE_LIMITED']);
      expect(await from('203.0.113.8')).toBe('ok');
    });
  });
});
