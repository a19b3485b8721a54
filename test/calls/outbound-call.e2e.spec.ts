// Outbound calls end to end (PH-2, WS-4): SIPp as the agent's registered phone and SIPp as the carrier's
// gateway behind the outbound trunk. The agent's leg rings first; once it answers, Kefu dials the customer
// through the trunk with the chosen caller number, bridges and records; the call record reads OUT. Bad
// requests (a number that may not be used, a blacklisted callee, a second call) fail and record nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operatorToken, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { wantPostgres } from '../support/services.ts';
import { until } from '../support/until.ts';
import { NUMBER, OFF_HOURS_NUMBER, setUpPhoneInstance, sipPassword, type PhoneInstance } from './phone-setup.ts';
import { requireSipp, scenario, sipp, portAllocator } from './sipp.ts';
import { analyseWav } from './wav-analysis.ts';

const SIP_PORT = 25360;
const kefuSip = `127.0.0.1:${SIP_PORT}`;
/** A SIPp signalling port and a media port of its own for each SIPp run. */
const ports = portAllocator(27500);
const digits = (n: string) => n.replace(/^\+/, '');

interface CallRecord {
  contactId: string;
  callId: string;
  caller: string;
  callee: string;
  direction: string;
  endStatus: string | null;
  endedBy: string | null;
  ringSeconds: number | null;
  talkSeconds: number | null;
  startedAt: string;
  ringAt: string | null;
  acceptedAt: string | null;
  endedAt: string | null;
  agent: { id: string } | null;
  legs: { agentId: string; result: string | null; device: string; acceptAt: string | null }[];
  recording: { id: string; status: string } | null;
}
const recordFields = 'contactId callId caller callee direction endStatus endedBy ringSeconds talkSeconds startedAt ringAt acceptedAt endedAt agent { id } legs { agentId result device acceptAt } recording { id status }';

describe('outbound calls through the trunk: the agent\'s leg first, then the customer', async () => {
  const database = (await wantPostgres()) ? 'postgres' : 'pglite';
  let t: TestKefu;
  let s: PhoneInstance;
  let trunkId: string;
  let integrationKey: string;

  beforeAll(async () => {
    requireSipp();
    t = await startTestKefu({
      database,
      env: { KEFU_SIP: 'on', KEFU_SIP_PORT: String(SIP_PORT), KEFU_SIP_BIND: '127.0.0.1', KEFU_RTP_PORT_MIN: '34000', KEFU_RTP_PORT_MAX: '34499' },
    });
    s = await setUpPhoneInstance((token, query, variables) => t.ok(token, query, variables), operatorToken, { agents: ['Ann', 'Bob'], tag: `out${process.pid}` });
    const trunks = await t.ok<{ trunks: { id: string }[] }>(s.adminKey, '{ trunks { id } }');
    trunkId = trunks.trunks[0]!.id;
    const key = await t.ok<{ createApiKey: { secret: string } }>(s.adminKey, 'mutation { createApiKey(input: { name: "CRM", role: INTEGRATION }) { secret } }');
    integrationKey = key.createApiKey.secret;
  });

  afterAll(async () => {
    await t?.close();
  });

  /** Points the trunk's outboundUri at a SIPp gateway on `port`. */
  const gatewayAt = (port: number) =>
    t.ok(s.adminKey, 'mutation($id: ID!, $uri: String) { updateTrunk(input: { id: $id, outboundUri: $uri }) { id } }', { id: trunkId, uri: `sip:127.0.0.1:${port}` });

  async function registerPhone(i: number) {
    const p = ports();
    const run = await sipp({ scenarioFile: scenario('agent-registers.xml', { USER: s.agents[i]!.sipUser, PASSWORD: sipPassword }), target: kefuSip, localPort: p.sip, mediaPort: p.media }).done;
    expect(run.code, run.output).toBe(0);
    return p;
  }

  /** The agent's phone answers after 500 ms, echoes audio, and waits for Kefu's BYE. */
  const agentAnswers = (i: number, p: { sip: number; media: number }) =>
    sipp({
      scenarioFile: scenario('agent-answers.xml', { USER: s.agents[i]!.sipUser, RING_MS: 500 }, { CAPTURE: [], ENDING: [{ step: 'kefu-hangs-up.xml', vars: { WAIT_MS: 40_000 } }] }),
      target: kefuSip,
      localPort: p.sip,
      mediaPort: p.media,
      rtpEcho: true,
    });

  async function endedRecord(contactId: string, o: { recording: boolean }): Promise<CallRecord> {
    const found = await until(
      // Not found until the projection has it.
      async () => (await t.gql<{ callRecord: CallRecord }>(s.adminKey, `query($id: ID!) { callRecord(contactId: $id) { ${recordFields} } }`, { id: contactId })).data?.callRecord ?? null,
      (r) => r !== null && r.endedAt !== null && (!o.recording || r.recording?.status === 'READY'),
      20_000,
    );
    return found!;
  }

  const contactCount = async () => (await t.ok<{ callRecords: { edges: unknown[] } }>(s.adminKey, '{ callRecords(first: 200) { edges { node { contactId } } } }')).callRecords.edges.length;

  it('rings the agent\'s phone, then dials the customer through the trunk with the caller number, bridges, records, and refuses a second call', async () => {
    const phone = await registerPhone(0);
    const gw = ports();
    await gatewayAt(gw.sip);
    const customer = '13900000001';
    const agent = agentAnswers(0, phone);
    // The gateway checks it is asked for the customer from our number, rings 1 s, answers, and the customer hangs up after 4 s.
    const gateway = sipp({
      scenarioFile: scenario('gateway-answers.xml', { NUMBER: customer, FROM: digits(NUMBER), RING_MS: 1000 }, { CAPTURE: [{ step: 'capture-gateway-dialog.xml' }], ENDING: [{ step: 'gateway-hangs-up.xml', vars: { TALK_MS: 4000 } }] }),
      target: kefuSip,
      localPort: gw.sip,
      mediaPort: gw.media,
      rtpEcho: true,
    });
    await Promise.all([agent.listening, gateway.listening]);
    const started = await t.ok<{ startCall: { contactId: string; from: string; to: string; agentId: string } }>(
      s.agents[0]!.token,
      'mutation($to: String!, $from: String) { startCall(input: { to: $to, fromNumber: $from }) { contactId from to agentId } }',
      { to: customer, from: NUMBER },
    );
    expect(started.startCall).toMatchObject({ from: NUMBER, to: customer, agentId: s.agents[0]!.id });
    // Its call record is there as soon as startCall returns.
    const early = await t.ok<{ callRecord: { direction: string; callee: string; endedAt: string | null } }>(s.adminKey, 'query($id: ID!) { callRecord(contactId: $id) { direction callee endedAt } }', {
      id: started.startCall.contactId,
    });
    expect(early.callRecord).toMatchObject({ direction: 'OUT', callee: customer, endedAt: null });

    // While the call lasts, a second one is refused and records nothing.
    const before = await contactCount();
    expect(before).toBeGreaterThan(0);
    const second = await t.gql(s.agents[0]!.token, 'mutation { startCall(input: { to: "13900000009" }) { contactId } }');
    expect(second.errors?.[0]?.extensions?.code).toBe('CONFLICT');
    expect(second.errors?.[0]?.message).toMatch(/already on a call/);
    expect(await contactCount()).toBe(before);

    const [a, g] = await Promise.all([agent.done, gateway.done]);
    expect(a.code, a.output).toBe(0);
    expect(g.code, g.output).toBe(0);

    const record = await endedRecord(started.startCall.contactId, { recording: true });
    expect(record).toMatchObject({ direction: 'OUT', caller: NUMBER, callee: customer, endStatus: 'ok', endedBy: 'CUSTOMER', agent: { id: s.agents[0]!.id } });
    expect(record.callId).not.toBe(record.contactId);
    expect(record.legs).toEqual([expect.objectContaining({ agentId: s.agents[0]!.id, result: 'ANSWERED', device: 'SIP_PHONE' })]);
    // The agent answered first, the customer after.
    expect(Date.parse(record.legs[0]!.acceptAt!)).toBeLessThan(Date.parse(record.acceptedAt!));
    expect(record.ringAt).not.toBeNull();
    expect(record.talkSeconds).toBeGreaterThanOrEqual(3);
    expect(record.talkSeconds).toBeLessThanOrEqual(6);
    // The recording (customer left, agent right) lasts as long as the talk.
    const wav = analyseWav(`${t.recordingsDir}/${s.instanceId}/${record.recording!.id}.wav`);
    expect(wav.channels).toBe(2);
    expect(Math.abs(wav.seconds - (Date.parse(record.endedAt!) - Date.parse(record.acceptedAt!)) / 1000)).toBeLessThan(1.5);
    // Both legs' media figures are on the record once the call is freed (issue 9). Both SIPp ends only echo,
    // so no audio ever flows: each leg counts its ~4 s of talk as silence.
    const media = await until(
      async () =>
        (
          await t.ok<{ callRecord: { customerMedia: { packetsReceived: number; silentSeconds: number } | null; legs: { media: { packetsReceived: number; silentSeconds: number } | null }[] } }>(
            s.adminKey,
            'query($id: ID!) { callRecord(contactId: $id) { customerMedia { packetsReceived silentSeconds } legs { media { packetsReceived silentSeconds } } } }',
            { id: started.startCall.contactId },
          )
        ).callRecord,
      (r) => r.customerMedia !== null && r.legs[0]?.media != null,
      20_000,
    );
    for (const figures of [media.customerMedia!, media.legs[0]!.media!]) {
      expect(figures.packetsReceived).toBe(0);
      expect(figures.silentSeconds).toBeGreaterThanOrEqual(2);
    }

    // The contact is the agent's outbound PHONE contact, ended; the agent is free again.
    const contact = await t.ok<{ contact: { direction: string; channel: string; status: string } }>(s.adminKey, 'query($id: ID!) { contact(id: $id) { direction channel status } }', {
      id: started.startCall.contactId,
    });
    expect(contact.contact).toMatchObject({ direction: 'OUT', channel: 'PHONE', status: 'ENDED' });
    const annsLoad = async () => {
      const m = await t.ok<{ agentMonitor: { agent: { id: string }; workload: { phone: number } }[] }>(s.adminKey, '{ agentMonitor { agent { id } workload { phone } } }');
      return m.agentMonitor.find((a) => a.agent.id === s.agents[0]!.id)!.workload.phone;
    };
    expect(await until(annsLoad, (n) => n === 0, 10_000)).toBe(0);
  });

  it('places a click-to-call for an integration from the skill group\'s outbound number, and records a busy customer', async () => {
    await t.ok(s.adminKey, 'mutation($g: ID!, $n: [String!]!) { setSkillGroupOutboundNumbers(input: { skillGroupId: $g, numbers: $n }) { id outboundNumbers } }', {
      g: s.groupId,
      n: [OFF_HOURS_NUMBER],
    });
    const phone = await registerPhone(1);
    const gw = ports();
    await gatewayAt(gw.sip);
    const customer = '13900000002';
    const agent = agentAnswers(1, phone);
    const gateway = sipp({ scenarioFile: scenario('gateway-refuses.xml', { NUMBER: customer, STATUS: 486 }), target: kefuSip, localPort: gw.sip, mediaPort: gw.media });
    await Promise.all([agent.listening, gateway.listening]);
    // A number outside the group's outbound numbers is refused first, and records nothing.
    const before = await contactCount();
    const wrongFrom = await t.gql(integrationKey, 'mutation($a: ID!, $g: ID!, $from: String) { clickToCall(input: { agentId: $a, to: "13900000002", fromNumber: $from, skillGroupId: $g }) { contactId } }', {
      a: s.agents[1]!.id,
      g: s.groupId,
      from: NUMBER,
    });
    expect(wrongFrom.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(await contactCount()).toBe(before);

    const started = await t.ok<{ clickToCall: { contactId: string; from: string } }>(
      integrationKey,
      'mutation($a: ID!, $g: ID!, $to: String!) { clickToCall(input: { agentId: $a, to: $to, skillGroupId: $g, data: [{ key: "ticket", value: "T-42" }] }) { contactId from } }',
      { a: s.agents[1]!.id, g: s.groupId, to: customer },
    );
    expect(started.clickToCall.from).toBe(OFF_HOURS_NUMBER);
    const [a, g] = await Promise.all([agent.done, gateway.done]);
    expect(a.code, a.output).toBe(0);
    expect(g.code, g.output).toBe(0);
    const record = await endedRecord(started.clickToCall.contactId, { recording: false });
    expect(record).toMatchObject({ direction: 'OUT', caller: OFF_HOURS_NUMBER, callee: customer, endStatus: 'busy', endedBy: 'CUSTOMER', acceptedAt: null, talkSeconds: null });
    expect(record.legs).toEqual([expect.objectContaining({ agentId: s.agents[1]!.id, result: 'ANSWERED' })]);
    await t.ok(s.adminKey, 'mutation($g: ID!) { setSkillGroupOutboundNumbers(input: { skillGroupId: $g, numbers: [] }) { id } }', { g: s.groupId });
  });

  it('refuses calls the instance may not make, each with a clear error and nothing recorded', async () => {
    await t.ok(s.adminKey, 'mutation { addToBlacklist(input: { channel: PHONE, identity: "13900000666", reason: "asked not to be called" }) { id } }');
    const before = await contactCount();
    const call = (token: string, input: string) => t.gql(token, `mutation { startCall(input: ${input}) { contactId } }`);
    const ann = s.agents[0]!.token;
    const cases: [string, string, string, RegExp][] = [
      [ann, '{ to: "call me" }', 'BAD_USER_INPUT', /input\.to/],
      [ann, '{ to: "13900000666" }', 'FORBIDDEN', /blacklisted/],
      [ann, '{ to: "13900000003", fromNumber: "+861099999999" }', 'FORBIDDEN', /\+861099999999 is not/],
      [ann, `{ to: "13900000003", skillGroupId: "${crypto.randomUUID()}" }`, 'NOT_FOUND', /Skill group/],
      // startCall is an agent's own call; integrations use clickToCall.
      [s.adminKey, '{ to: "13900000003" }', 'FORBIDDEN', /logged-in agent/],
    ];
    for (const [token, input, code, message] of cases) {
      const r = await call(token, input);
      expect(r.errors?.[0]?.extensions?.code, `${input}: ${JSON.stringify(r.errors)}`).toBe(code);
      expect(r.errors?.[0]?.message).toMatch(message);
    }
    // No outbound trunk: CONFLICT.
    await t.ok(s.adminKey, 'mutation($id: ID!) { updateTrunk(input: { id: $id, outboundUri: null }) { id } }', { id: trunkId });
    const noTrunk = await call(ann, '{ to: "13900000003" }');
    expect(noTrunk.errors?.[0]?.extensions?.code).toBe('CONFLICT');
    expect(noTrunk.errors?.[0]?.message).toMatch(/no outbound trunk/);
    // An agent with no phone to ring: CONFLICT.
    await gatewayAt(27999);
    const carl = await t.ok<{ createAgent: { id: string } }>(s.adminKey, 'mutation { createAgent(input: { name: "Carl", login: "carl", password: "password-123" }) { id } }');
    const noPhone = await t.gql(integrationKey, 'mutation($a: ID!) { clickToCall(input: { agentId: $a, to: "13900000003" }) { contactId } }', { a: carl.createAgent.id });
    expect(noPhone.errors?.[0]?.extensions?.code).toBe('CONFLICT');
    expect(noPhone.errors?.[0]?.message).toMatch(/no phone to ring/);
    expect(await contactCount()).toBe(before);
  });
});
