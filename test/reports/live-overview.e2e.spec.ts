// The live overview (RP-1) follows real contacts: a SIPp caller goes through the IVR menu into the queue and
// is answered by the agent's SIPp phone, and a customer starts a web chat through the customer API that an
// agent answers and replies to; a dashboard subscribed to reportOverviewChanged sees each step.
import { createHmac, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operatorToken, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { wantPostgres } from '../support/services.ts';
import { until } from '../support/until.ts';
import { collect, settleSubscription, wsClient } from '../support/ws-client.ts';
import { NUMBER, setUpPhoneInstance, sipPassword, type PhoneInstance } from '../calls/phone-setup.ts';
import { portAllocator, requireSipp, scenario, sipp } from '../calls/sipp.ts';

const SIP_PORT = 25860;
const kefuSip = `127.0.0.1:${SIP_PORT}`;
const ports = portAllocator(29500);
const origin = 'https://shop.example';

interface Totals {
  created: number;
  ivrEntered: number;
  queued: number;
  handled: number;
  talkSeconds: number;
  firstResponses: number;
  averageFirstResponseSeconds: number | null;
}
interface Overview {
  slices: { channel: string; skillGroupId: string | null; totals: Totals }[];
}
const fields = 'slices { channel skillGroupId totals { created ivrEntered queued handled talkSeconds firstResponses averageFirstResponseSeconds } }';

describe('the live overview follows a real SIP call and a real web chat', async () => {
  const database = (await wantPostgres()) ? 'postgres' : 'pglite';
  let t: TestKefu;
  let s: PhoneInstance;
  let url: string;

  beforeAll(async () => {
    requireSipp();
    t = await startTestKefu({
      database,
      listen: true,
      env: { KEFU_SIP: 'on', KEFU_SIP_PORT: String(SIP_PORT), KEFU_SIP_BIND: '127.0.0.1', KEFU_RTP_PORT_MIN: '39000', KEFU_RTP_PORT_MAX: '39499' },
    });
    url = `http://127.0.0.1:${(t.kefu.app.server.address() as { port: number }).port}`;
    s = await setUpPhoneInstance((token, query, variables) => t.ok(token, query, variables), operatorToken, { agents: ['Ann', 'Bob'], tag: `rp${process.pid}` });
  }, 180_000);
  afterAll(async () => t?.close());

  const slice = (o: Overview, channel: string, group: string | null) => o.slices.find((x) => x.channel === channel && x.skillGroupId === group)?.totals;

  it('counts the call as it enters the IVR, is answered and ends, and the chat as it is answered and replied to', async () => {
    const client = wsClient(url, s.adminKey);
    const live = collect<{ reportOverviewChanged: Overview }>(client, `subscription { reportOverviewChanged(interval: MINUTES_15) { ${fields} } }`);
    await until(async () => live.received.length, (n) => n >= 1);
    await settleSubscription();
    expect(slice(live.received[0]!.reportOverviewChanged, 'PHONE', null)).toMatchObject({ created: 0, handled: 0 });

    // Ann's SIP phone registers, answers after 1 s and echoes until Kefu hangs up.
    const p = ports();
    const registered = await sipp({ scenarioFile: scenario('agent-registers.xml', { USER: s.agents[0]!.sipUser, PASSWORD: sipPassword }), target: kefuSip, localPort: p.sip, mediaPort: p.media }).done;
    expect(registered.code, registered.output).toBe(0);
    await t.ok(s.agents[0]!.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    const agent = sipp({
      scenarioFile: scenario('agent-answers.xml', { USER: s.agents[0]!.sipUser, RING_MS: 1000 }, { CAPTURE: [], ENDING: [{ step: 'kefu-hangs-up.xml', vars: { WAIT_MS: 40_000 } }] }),
      target: kefuSip,
      localPort: p.sip,
      mediaPort: p.media,
      rtpEcho: true,
    });
    await agent.listening;
    // The caller presses 1 (sales), stays 6 s and hangs up.
    const c = ports();
    const customer = sipp({
      scenarioFile: scenario(
        'caller.xml',
        { CALLER: '13800000077' },
        {
          STEPS: [{ step: 'press-key.xml', vars: { LISTEN_MS: 1200, KEY: '1', KEY_PCAP: '/usr/share/sip-tester/dtmf_2833_1.pcap' } }, { step: 'pause.xml', vars: { MS: 6000 } }],
          ENDING: [{ step: 'customer-hangs-up.xml' }],
        },
      ),
      target: kefuSip,
      service: NUMBER,
      localPort: c.sip,
      mediaPort: c.media,
    });
    const [callerRun, agentRun] = await Promise.all([customer.done, agent.done]);
    expect(callerRun.code, callerRun.output).toBe(0);
    expect(agentRun.code, agentRun.output).toBe(0);
    const phoneSlices = async () => live.received.map((m) => slice(m.reportOverviewChanged, 'PHONE', null)!);
    const seen = await until(phoneSlices, (xs) => xs.some((x) => x.handled === 1 && x.talkSeconds >= 3));
    // Step by step: the call counted before it was answered (IVR, queue, ringing: a few seconds), answered
    // while the talk went on (6 s), its talk counted at its end.
    expect(seen.some((x) => x.created === 1 && x.ivrEntered === 1 && x.handled === 0)).toBe(true);
    expect(seen.some((x) => x.handled === 1 && x.talkSeconds === 0)).toBe(true);
    expect(slice(live.received.at(-1)!.reportOverviewChanged, 'PHONE', s.groupId)).toMatchObject({ queued: 1, handled: 1 });

    // A web chat: the customer writes through the customer API, Bob answers and replies.
    const chatGroup = (await t.ok<{ createSkillGroup: { id: string } }>(s.adminKey, 'mutation { createSkillGroup(input: { name: "Chat", channel: ONLINE, ringTimeoutSeconds: 60 }) { id } }')).createSkillGroup.id;
    await t.ok(s.adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: chatGroup, a: s.agents[1]!.id });
    await t.ok(s.agents[1]!.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    const created = await t.ok<{ createWebChannel: { webChannel: { publicKey: string }; identitySecret: string } }>(
      s.adminKey,
      'mutation($input: CreateWebChannelInput!) { createWebChannel(input: $input) { webChannel { publicKey } identitySecret } }',
      { input: { name: 'Shop', allowedOrigins: [origin], skillGroupId: chatGroup } },
    );
    const customerOk = async <T,>(token: string | null, query: string, variables?: Record<string, unknown>): Promise<T> => {
      const res = await t.kefu.app.inject({ method: 'POST', url: '/graphql', headers: { 'content-type': 'application/json', origin, ...(token ? { authorization: `Bearer ${token}` } : {}) }, payload: JSON.stringify({ query, variables }) });
      const r = res.json() as { data: T; errors?: unknown[] };
      if (r.errors?.length) throw new Error(JSON.stringify(r.errors));
      return r.data;
    };
    const customerHash = createHmac('sha256', created.createWebChannel.identitySecret).update('crm-5').digest('hex');
    const session = await customerOk<{ startCustomerSession: { token: string } }>(null, 'mutation($input: StartCustomerSessionInput!) { startCustomerSession(input: $input) { token } }', {
      input: { channelKey: created.createWebChannel.webChannel.publicKey, customerId: 'crm-5', customerHash, name: 'Mei' },
    });
    const chat = (
      await customerOk<{ startChat: { contactId: string } }>(session.startCustomerSession.token, 'mutation($input: StartChatInput!) { startChat(input: $input) { contactId } }', {
        input: { clientChatId: randomUUID(), firstMessage: { clientMessageId: randomUUID(), text: 'Hello?' } },
      })
    ).startChat.contactId;
    const chatSlices = async () => live.received.map((m) => slice(m.reportOverviewChanged, 'ONLINE', null)!);
    await until(chatSlices, (xs) => xs.some((x) => x.queued === 1 && x.handled === 0));
    const offer = await until(
      async () => (await t.ok<{ contact: { offer: { offerId: string } | null } }>(s.adminKey, 'query($id: ID!) { contact(id: $id) { offer { offerId } } }', { id: chat })).contact.offer,
      (o) => o !== null,
    );
    await t.ok(s.agents[1]!.token, 'mutation($c: ID!, $o: ID!) { acceptOffer(input: { contactId: $c, offerId: $o }) { id } }', { c: chat, o: offer!.offerId });
    await t.ok(s.agents[1]!.token, 'mutation($input: SendChatMessageInput!) { sendChatMessage(input: $input) { seq } }', {
      input: { contactId: chat, message: { clientMessageId: randomUUID(), text: 'Hi, how can I help?' } },
    });
    const answered = await until(chatSlices, (xs) => xs.some((x) => x.handled === 1 && x.firstResponses === 1));
    expect(answered.find((x) => x.firstResponses === 1)!.averageFirstResponseSeconds).toBeGreaterThanOrEqual(0);
    live.dispose();
    await client.dispose();
  }, 120_000);
});
