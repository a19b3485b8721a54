// Mobile answering end to end (PH-3): an offline agent who answers WHEN_OFFLINE still gets the phone
// offers of their skill group, on the mobile: Kefu dials the mobile through the outbound trunk (SIPp as the
// carrier's gateway), bridges on answer, and the call record's leg says MOBILE. The offer's ring timeout
// applies to the mobile too: unanswered, it is cancelled and the call goes to the next agent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operatorToken, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { wantPostgres } from '../support/services.ts';
import { until } from '../support/until.ts';
import { NUMBER, setUpPhoneInstance, sipPassword, type PhoneInstance } from './phone-setup.ts';
import { requireSipp, scenario, sipp, portAllocator } from './sipp.ts';

const SIP_PORT = 25361;
const kefuSip = `127.0.0.1:${SIP_PORT}`;
/** A SIPp signalling port and a media port of its own for each SIPp run. */
const ports = portAllocator(27750);

interface CallRecord {
  caller: string;
  direction: string;
  endStatus: string | null;
  endedBy: string | null;
  endedAt: string | null;
  talkSeconds: number | null;
  agent: { id: string } | null;
  legs: { agentId: string; result: string | null; device: string }[];
}

describe('mobile answering: offers to an offline agent ring their mobile through the trunk', async () => {
  const database = (await wantPostgres()) ? 'postgres' : 'pglite';
  let t: TestKefu;
  let s: PhoneInstance;
  let trunkId: string;
  const mobile = '13700000001';

  beforeAll(async () => {
    requireSipp();
    t = await startTestKefu({
      database,
      env: { KEFU_SIP: 'on', KEFU_SIP_PORT: String(SIP_PORT), KEFU_SIP_BIND: '127.0.0.1', KEFU_RTP_PORT_MIN: '34500', KEFU_RTP_PORT_MAX: '34999' },
    });
    s = await setUpPhoneInstance((token, query, variables) => t.ok(token, query, variables), operatorToken, { agents: ['Ann', 'Bob'], tag: `mob${process.pid}` });
    trunkId = (await t.ok<{ trunks: { id: string }[] }>(s.adminKey, '{ trunks { id } }')).trunks[0]!.id;
  });

  afterAll(async () => {
    await t?.close();
  });

  const gatewayAt = (port: number) =>
    t.ok(s.adminKey, 'mutation($id: ID!, $uri: String) { updateTrunk(input: { id: $id, outboundUri: $uri }) { id } }', { id: trunkId, uri: `sip:127.0.0.1:${port}` });
  const pressOne = { step: 'press-key.xml', vars: { LISTEN_MS: 1200, KEY: '1', KEY_PCAP: '/usr/share/sip-tester/dtmf_2833_1.pcap' } };
  type Step = { step: string; vars?: Record<string, string | number> };
  const customerCalls = (caller: string, steps: Step[], ending: Step) => {
    const p = ports();
    return sipp({ scenarioFile: scenario('caller.xml', { CALLER: caller }, { STEPS: steps, ENDING: [ending] }), target: kefuSip, service: NUMBER, localPort: p.sip, mediaPort: p.media });
  };

  async function endedRecord(caller: string): Promise<CallRecord> {
    const found = await until(
      async () => {
        const r = await t.ok<{ callRecords: { edges: { node: CallRecord }[] } }>(
          s.adminKey,
          'query($n: String!) { callRecords(first: 5, filter: { number: $n }) { edges { node { caller direction endStatus endedBy endedAt talkSeconds agent { id } legs { agentId result device } } } } }',
          { n: caller },
        );
        return r.callRecords.edges[0]?.node ?? null;
      },
      (r) => r !== null && r.endedAt !== null,
      20_000,
    );
    return found!;
  }

  it('sets mobile answering, shows it on the agent, and refuses WHEN_OFFLINE without a number', async () => {
    const bad = await t.gql(s.agents[0]!.token, 'mutation { setAgentMobileAnswering(input: { mode: WHEN_OFFLINE }) { id } }');
    expect(bad.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.mobileNumber' });
    const set = await t.ok<{ setAgentMobileAnswering: { answerOnMobile: string; mobileNumber: string } }>(
      s.agents[0]!.token,
      'mutation($n: String) { setAgentMobileAnswering(input: { mode: WHEN_OFFLINE, mobileNumber: $n }) { answerOnMobile mobileNumber } }',
      { n: mobile },
    );
    expect(set.setAgentMobileAnswering).toEqual({ answerOnMobile: 'WHEN_OFFLINE', mobileNumber: mobile });
    // Another agent may not change Ann's setting.
    const other = await t.gql(s.agents[1]!.token, 'mutation($a: ID!) { setAgentMobileAnswering(input: { agentId: $a, mode: NEVER }) { id } }', { a: s.agents[0]!.id });
    expect(other.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('rings the offline agent\'s mobile through the trunk and bridges the call when it answers', async () => {
    const gw = ports();
    await gatewayAt(gw.sip);
    const caller = '13800000101';
    // The gateway gets the INVITE for Ann's mobile, showing the customer's number; it answers after 1 s and echoes audio.
    const gateway = sipp({
      scenarioFile: scenario('gateway-answers.xml', { NUMBER: mobile, FROM: caller, RING_MS: 1000 }, { CAPTURE: [], ENDING: [{ step: 'kefu-hangs-up.xml', vars: { WAIT_MS: 40_000 } }] }),
      target: kefuSip,
      localPort: gw.sip,
      mediaPort: gw.media,
      rtpEcho: true,
    });
    // The customer presses 1 for sales, talks, and hangs up.
    await gateway.listening;
    const customer = customerCalls(caller, [pressOne, { step: 'speak.xml' }, { step: 'pause.xml', vars: { MS: 4000 } }], { step: 'customer-hangs-up.xml' });
    const [c, g] = await Promise.all([customer.done, gateway.done]);
    expect(c.code, c.output).toBe(0);
    expect(g.code, g.output).toBe(0);
    const record = await endedRecord(caller);
    expect(record).toMatchObject({ direction: 'IN', endStatus: 'ok', endedBy: 'CUSTOMER', agent: { id: s.agents[0]!.id } });
    expect(record.legs).toEqual([expect.objectContaining({ agentId: s.agents[0]!.id, result: 'ANSWERED', device: 'MOBILE' })]);
    expect(record.talkSeconds).toBeGreaterThanOrEqual(2);
    // Ann stayed offline throughout.
    const ann = await t.ok<{ agent: { presence: string } }>(s.adminKey, 'query($id: ID!) { agent(id: $id) { presence } }', { id: s.agents[0]!.id });
    expect(ann.agent.presence).toBe('OFFLINE');
  });

  it('cancels the mobile when the ring timeout passes, and offers the call to the next agent', async () => {
    const gw = ports();
    await gatewayAt(gw.sip);
    // Ann's mobile rings and is never picked up: after the group's 5 s ring timeout Kefu cancels it.
    const gateway = sipp({ scenarioFile: scenario('agent-rings-unanswered.xml', { USER: mobile, WAIT_MS: 30_000 }), target: kefuSip, localPort: gw.sip, mediaPort: gw.media });
    await gateway.listening;
    const caller = '13800000102';
    const customer = customerCalls(caller, [pressOne, { step: 'speak.xml' }], { step: 'kefu-hangs-up.xml', vars: { WAIT_MS: 40_000 } });
    const ringOut = await gateway.done;
    expect(ringOut.code, ringOut.output).toBe(0);
    // Bob's desk phone registers, Bob comes online, answers, talks 3 s and hangs up.
    const bobPorts = ports();
    const reg = await sipp({ scenarioFile: scenario('agent-registers.xml', { USER: s.agents[1]!.sipUser, PASSWORD: sipPassword }), target: kefuSip, localPort: bobPorts.sip, mediaPort: bobPorts.media }).done;
    expect(reg.code, reg.output).toBe(0);
    const bob = sipp({
      scenarioFile: scenario('agent-answers.xml', { USER: s.agents[1]!.sipUser, RING_MS: 500 }, { CAPTURE: [{ step: 'capture-dialog.xml' }], ENDING: [{ step: 'agent-hangs-up.xml', vars: { TALK_MS: 3000 } }] }),
      target: kefuSip,
      localPort: bobPorts.sip,
      mediaPort: bobPorts.media,
      rtpEcho: true,
    });
    // Only once Bob's phone listens may an offer reach it (a slow SIPp start would miss the INVITE).
    await bob.listening;
    await t.ok(s.agents[1]!.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    const [c, b] = await Promise.all([customer.done, bob.done]);
    // Bob's phone first: when it missed the offer, the customer's missing BYE follows from it.
    expect(b.code, b.output).toBe(0);
    expect(c.code, c.output).toBe(0);
    const record = await endedRecord(caller);
    expect(record).toMatchObject({ endStatus: 'ok', endedBy: 'AGENT', agent: { id: s.agents[1]!.id } });
    // Ann's mobile rang out first; until Bob came online the call may have gone back to Ann (tried last, but the
    // only one), each time missed; Bob's desk phone took it.
    const legs = record.legs.map((l) => [l.agentId, l.result, l.device]);
    expect(legs[0]).toEqual([s.agents[0]!.id, 'NO_ANSWER', 'MOBILE']);
    expect(legs.at(-1)).toEqual([s.agents[1]!.id, 'ANSWERED', 'SIP_PHONE']);
    for (const leg of legs.slice(1, -1)) expect(leg.slice(0, 2)).toEqual([s.agents[0]!.id, 'NO_ANSWER']);
    await t.ok(s.agents[1]!.token, 'mutation { setPresence(input: { presence: OFFLINE }) { id } }');
  });
});
