// GET /metrics (issue 16): a real call (SIPp as the carrier and as the agent's phone, through the IVR, the
// queue, the router and the media bridge) and a web chat (a customer on graphql-ws), then the Prometheus text
// parsed back line by line: every sample well formed and typed, the figures of what just happened there, and
// no label that could name a customer, a contact, an agent or an instance.
import { randomUUID } from 'node:crypto';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operatorToken, seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { noReceptionPrompts } from '../support/reception.ts';
import { until } from '../support/until.ts';
import { requireSipp, scenario, sipp, portAllocator } from '../calls/sipp.ts';
import { NUMBER, setUpPhoneInstance, sipPassword, type PhoneInstance } from '../calls/phone-setup.ts';

const SIP_PORT = 25660;
const kefuSip = `127.0.0.1:${SIP_PORT}`;
const ports = portAllocator(29000);
const metricsToken = 'metrics-scrape-token-0123456789';
const origin = 'https://shop.example';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus text format 0.0.4, strictly: HELP and TYPE before a family's samples, then `name{l="v",...} value`. */
function parsePrometheus(text: string): { samples: Sample[]; types: Map<string, string> } {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta) {
      expect(meta[2], line).toMatch(name);
      if (meta[1] === 'TYPE') {
        expect(['counter', 'gauge', 'histogram', 'summary', 'untyped'], line).toContain(meta[3]);
        types.set(meta[2]!, meta[3]!);
      }
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    expect(m, `not a sample line: ${line}`).not.toBeNull();
    const labels: Record<string, string> = {};
    const body = m![2] ?? '';
    const label = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)/y;
    let at = 0;
    while (at < body.length) {
      label.lastIndex = at;
      const l = label.exec(body);
      expect(l, `bad labels in: ${line}`).not.toBeNull();
      labels[l![1]!] = l![2]!;
      at = label.lastIndex;
    }
    const value = Number(m![3] === '+Inf' ? Infinity : m![3] === '-Inf' ? -Infinity : m![3]);
    // NaN only as written: prom-client writes the event loop lag's gauges as 'Nan' when no delay was sampled since
    // the last scrape (two scrapes within the monitor's 10 ms resolution, as this spec's polling makes; Prometheus
    // reads it as NaN: Go's ParseFloat takes any case). Any other value that is not a number fails.
    const nan = m![3] === 'NaN' || (m![3] === 'Nan' && m![1]!.startsWith('kefu_nodejs_eventloop_lag_'));
    expect(Number.isNaN(value) && !nan, line).toBe(false);
    const family = m![1]!.replace(/_(bucket|sum|count|total|created)$/, '');
    expect(types.has(m![1]!) || types.has(family), `no TYPE for ${m![1]}`).toBe(true);
    samples.push({ name: m![1]!, labels, value });
  }
  return { samples, types };
}

const valueOf = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((sum, s) => sum + s.value, 0);

describe('Prometheus metrics', () => {
  let t: TestKefu;
  let base: string;
  let phone: PhoneInstance;
  const clients: Client[] = [];

  async function scrape(): Promise<Sample[]> {
    const res = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const { samples } = parsePrometheus(text);
    // No per-contact, per-agent or per-instance labels: no id, phone number or token in any label value.
    for (const s of samples) {
      for (const v of Object.values(s.labels)) {
        expect(v, `${s.name} ${JSON.stringify(s.labels)}`).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-|\d{6,}|Bearer|@/i);
      }
    }
    return samples;
  }

  async function gql<T>(token: string | null, query: string, variables?: Record<string, unknown>, headers: Record<string, string> = {}): Promise<{ data: T | null; errors?: { extensions?: { code?: string } }[] }> {
    const res = await fetch(`${base}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
      body: JSON.stringify({ query, variables }),
    });
    return (await res.json()) as { data: T | null };
  }

  beforeAll(async () => {
    requireSipp();
    t = await startTestKefu({
      database: 'pglite',
      listen: true,
      env: { HOST: '127.0.0.1', KEFU_METRICS_TOKEN: metricsToken, KEFU_SIP: 'on', KEFU_SIP_PORT: String(SIP_PORT), KEFU_SIP_BIND: '127.0.0.1', KEFU_RTP_PORT_MIN: '38000', KEFU_RTP_PORT_MAX: '38499' },
    });
    base = `http://127.0.0.1:${(t.kefu.app.server.address() as { port: number }).port}`;
    phone = await setUpPhoneInstance((token, query, variables) => t.ok(token, query, variables), operatorToken, { agents: ['Ann'], tag: `m${process.pid}` });
  });

  afterAll(async () => {
    for (const c of clients) await c.dispose();
    await t?.close();
  });

  it('answers only a scrape with the token', async () => {
    expect((await fetch(`${base}/metrics`)).status).toBe(401);
    expect((await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer wrong-token-wrong-token' } })).status).toBe(401);
    expect((await fetch(`${base}/metrics`, { headers: { authorization: `Basic ${metricsToken}` } })).status).toBe(401);
    const samples = await scrape();
    expect(samples.some((s) => s.name === 'kefu_process_cpu_seconds_total')).toBe(true);
    // Every projection has its lag, and they catch up.
    const lagged = samples.filter((s) => s.name === 'kefu_projection_lag_events').map((s) => s.labels.projection);
    expect(lagged).toEqual(expect.arrayContaining(['contacts', 'agents']));
    await until(scrape, (s) => s.filter((x) => x.name === 'kefu_projection_lag_events').every((x) => x.value === 0), 60_000);
  });

  it('counts a real call: SIP by method and code, the offer, the call while it lasts, its RTP', async () => {
    const before = await scrape();
    const agentPorts = ports();
    const reg = await sipp({ scenarioFile: scenario('agent-registers.xml', { USER: phone.agents[0]!.sipUser, PASSWORD: sipPassword }), target: kefuSip, localPort: agentPorts.sip, mediaPort: agentPorts.media }).done;
    expect(reg.code, reg.output).toBe(0);
    await t.ok(phone.agents[0]!.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    const agent = sipp({
      scenarioFile: scenario('agent-answers.xml', { USER: phone.agents[0]!.sipUser, RING_MS: 500 }, { CAPTURE: [], ENDING: [{ step: 'kefu-hangs-up.xml', vars: { WAIT_MS: 40_000 } }] }),
      target: kefuSip,
      localPort: agentPorts.sip,
      mediaPort: agentPorts.media,
      rtpEcho: true,
    });
    await agent.listening;
    const p = ports();
    const pressOne = { step: 'press-key.xml', vars: { LISTEN_MS: 1200, KEY: '1', KEY_PCAP: '/usr/share/sip-tester/dtmf_2833_1.pcap' } };
    const customer = sipp({
      scenarioFile: scenario('caller.xml', { CALLER: '13800000077' }, { STEPS: [pressOne, { step: 'speak.xml' }, { step: 'pause.xml', vars: { MS: 8000 } }], ENDING: [{ step: 'customer-hangs-up.xml' }] }),
      target: kefuSip,
      service: NUMBER,
      localPort: p.sip,
      mediaPort: p.media,
    });
    // While the call is bridged: two dialogs (caller, phone), two legs moving RTP, one connected PHONE contact.
    const callFigures = async () => {
      const s = await scrape();
      return {
        dialogs: valueOf(s, 'kefu_sip_dialogs'),
        legs: valueOf(s, 'kefu_rtp_open_legs'),
        received: valueOf(s, 'kefu_rtp_open_legs_packets', { direction: 'received' }),
        sent: valueOf(s, 'kefu_rtp_open_legs_packets', { direction: 'sent' }),
        connected: valueOf(s, 'kefu_contacts', { channel: 'PHONE', status: 'CONNECTED' }),
        jitterReported: s.some((x) => x.name === 'kefu_rtp_jitter_seconds' && x.labels.stat === 'max'),
        threadLoad: s.filter((x) => x.name === 'kefu_media_thread_utilization').map((x) => x.value),
      };
    };
    const during = await until(callFigures, (f) => f.dialogs === 2 && f.legs >= 2 && f.received > 50 && f.sent > 50 && f.connected === 1, 60_000);
    expect(during.jitterReported).toBe(true);
    // KEFU_MEDIA_THREADS=auto: at least one media worker thread, its load a share of time.
    expect(during.threadLoad.length).toBeGreaterThanOrEqual(1);
    for (const load of during.threadLoad) {
      expect(load).toBeGreaterThanOrEqual(0);
      expect(load).toBeLessThanOrEqual(1);
    }
    const [c, a] = await Promise.all([customer.done, agent.done]);
    expect(c.code, c.output).toBe(0);
    expect(a.code, a.output).toBe(0);

    // (The dialogs stay 32 s after the BYE, to answer its retransmissions.)
    await until(callFigures, (f) => f.legs === 0 && f.connected === 0, 30_000);
    const after = await scrape();
    const grew = (name: string, labels: Record<string, string>) => valueOf(after, name, labels) - valueOf(before, name, labels);
    // The carrier's INVITE in, Kefu's 100 and 200 out; Kefu's INVITE to the phone out, its 200 in; the BYEs.
    expect(grew('kefu_sip_requests_total', { direction: 'in', method: 'INVITE' })).toBeGreaterThanOrEqual(1);
    expect(grew('kefu_sip_responses_total', { direction: 'out', method: 'INVITE', code: '200' })).toBeGreaterThanOrEqual(1);
    expect(grew('kefu_sip_requests_total', { direction: 'out', method: 'INVITE' })).toBeGreaterThanOrEqual(1);
    expect(grew('kefu_sip_responses_total', { direction: 'in', method: 'INVITE', code: '200' })).toBeGreaterThanOrEqual(1);
    expect(grew('kefu_sip_responses_total', { direction: 'out', method: 'REGISTER', code: '401' })).toBeGreaterThanOrEqual(1);
    expect(grew('kefu_sip_responses_total', { direction: 'out', method: 'REGISTER', code: '200' })).toBeGreaterThanOrEqual(1);
    expect(grew('kefu_sip_requests_total', { direction: 'in', method: 'BYE' })).toBeGreaterThanOrEqual(1);
    expect(grew('kefu_router_offers_total', {})).toBeGreaterThanOrEqual(1);
    expect(grew('kefu_event_store_appends_total', { category: 'contact', result: 'ok' })).toBeGreaterThan(3);
    expect(grew('kefu_event_store_append_duration_seconds_count', { category: 'contact' })).toBeGreaterThan(3);
    expect(grew('kefu_graphql_operations_total', { operation_type: 'mutation', field: 'setPresence' })).toBe(1);
  });

  it('counts a chat: the customer connected, the chat queued or served, operations and their errors by code', async () => {
    const seed = await seedInstance(t, { name: 'Chat Co', agents: [{ name: 'Cat', login: 'cat' }] });
    const group = await t.ok<{ createSkillGroup: { id: string } }>(seed.adminKey, 'mutation($input: CreateSkillGroupInput!) { createSkillGroup(input: $input) { id } }', { input: { name: 'Web', channel: 'ONLINE', maxConcurrency: 3 } });
    const channel = await t.ok<{ createWebChannel: { webChannel: { publicKey: string } } }>(seed.adminKey, 'mutation($input: CreateWebChannelInput!) { createWebChannel(input: $input) { webChannel { publicKey } } }', {
      input: { name: 'Shop', allowedOrigins: [origin], skillGroupId: group.createSkillGroup.id, receptionPrompts: noReceptionPrompts },
    });
    const before = await scrape();
    const session = await gql<{ startCustomerSession: { token: string } }>(null, 'mutation($input: StartCustomerSessionInput!) { startCustomerSession(input: $input) { token } }', { input: { channelKey: channel.createWebChannel.webChannel.publicKey, name: 'Ann Customer' } }, { origin });
    const token = session.data!.startCustomerSession.token;
    const started = await gql<{ startChat: { contactId: string } }>(token, 'mutation($input: StartChatInput!) { startChat(input: $input) { contactId } }', { input: { clientChatId: randomUUID(), firstMessage: { clientMessageId: randomUUID(), text: 'Hello' } } }, { origin });
    expect(started.errors).toBeUndefined();
    const contactId = started.data!.startChat.contactId;
    // The customer's live conversation, as the widget holds it.
    class PageSocket extends WebSocket {
      constructor(address: string, protocols?: string | string[]) {
        super(address, protocols, { headers: { origin } });
      }
    }
    const client = createClient({ url: `${base.replace(/^http/, 'ws')}/graphql`, webSocketImpl: PageSocket, connectionParams: { authorization: `Bearer ${token}` }, retryAttempts: 0 });
    clients.push(client);
    const frames: unknown[] = [];
    client.subscribe({ query: 'subscription($c: ID!) { conversationEvents(contactId: $c, afterSeq: 0) { kind } }', variables: { c: contactId } }, { next: (f) => void frames.push(f), error: () => undefined, complete: () => undefined });
    const live = await until(scrape, (s) => valueOf(s, 'kefu_live_connections', { principal: 'customer' }) === 1 && valueOf(s, 'kefu_live_subscriptions') >= 1 && valueOf(s, 'kefu_contacts', { channel: 'ONLINE' }) === 1, 30_000);
    // No agent is available: the chat waits in its group's queue.
    expect(valueOf(live, 'kefu_router_queued_contacts', { channel: 'ONLINE' })).toBe(1);
    expect(valueOf(live, 'kefu_contacts', { channel: 'ONLINE', status: 'QUEUED' })).toBe(1);
    expect(frames.length).toBeGreaterThan(0);
    // A refused operation: counted by its code.
    const refused = await gql(token, 'mutation($input: SendChatMessageInput!) { sendChatMessage(input: $input) { id } }', { input: { contactId, message: { clientMessageId: randomUUID(), text: '' } } }, { origin });
    const code = refused.errors?.[0]?.extensions?.code;
    expect(code).toBeDefined();
    const after = await scrape();
    const grew = (name: string, labels: Record<string, string>) => valueOf(after, name, labels) - valueOf(before, name, labels);
    expect(grew('kefu_graphql_operations_total', { operation_type: 'mutation', field: 'startChat' })).toBe(1);
    expect(grew('kefu_graphql_operations_total', { operation_type: 'mutation', field: 'sendChatMessage' })).toBe(1);
    expect(grew('kefu_graphql_errors_total', { operation_type: 'mutation', code: code! })).toBe(1);
    // Refused before running (a syntax error; no token): counted by code as operation_type "none".
    const syntax = await gql(seed.adminKey, 'mutation { startChat(', {});
    expect(syntax.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const noToken = await gql(null, '{ agents { edges { node { id } } } }');
    const noTokenCode = noToken.errors?.[0]?.extensions?.code;
    const refusedAfter = await scrape();
    expect(valueOf(refusedAfter, 'kefu_graphql_errors_total', { operation_type: 'none', code: 'BAD_USER_INPUT' }) - valueOf(before, 'kefu_graphql_errors_total', { operation_type: 'none', code: 'BAD_USER_INPUT' })).toBe(1);
    expect(noTokenCode).toBeDefined();
    expect(valueOf(refusedAfter, 'kefu_graphql_errors_total', { code: noTokenCode! }) - valueOf(before, 'kefu_graphql_errors_total', { code: noTokenCode! })).toBeGreaterThanOrEqual(1);
    expect(grew('kefu_graphql_operation_duration_seconds_count', { operation_type: 'mutation', field: 'startChat' })).toBe(1);
    expect(grew('kefu_http_requests_total', { method: 'POST', route: '/graphql', status_code: '200' })).toBeGreaterThanOrEqual(3);
    expect(grew('kefu_event_store_appends_total', { category: 'contact', result: 'ok' })).toBeGreaterThanOrEqual(1);
    await client.dispose();
    await until(scrape, (s) => valueOf(s, 'kefu_live_connections', { principal: 'customer' }) === 0, 30_000);
  });

  it('labels HTTP by route pattern, never by the path a client sent', async () => {
    await fetch(`${base}/recordings/${randomUUID()}`);
    await fetch(`${base}/no/such/${randomUUID()}`);
    const s = await scrape();
    expect(s.some((x) => x.name === 'kefu_http_requests_total' && x.labels.route === '/recordings/:recordingId')).toBe(true);
    expect(s.some((x) => x.name === 'kefu_http_requests_total' && x.labels.route === 'unmatched' && x.labels.status_code === '404')).toBe(true);
  });
});

describe('without KEFU_METRICS_TOKEN', () => {
  it('serves no /metrics at all', async () => {
    const t = await startTestKefu({ database: 'pglite' });
    try {
      const res = await t.kefu.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${metricsToken}` } });
      expect(res.statusCode).toBe(404);
    } finally {
      await t.close();
    }
  });
});
