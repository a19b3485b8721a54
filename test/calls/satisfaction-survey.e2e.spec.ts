// The post-call keypad survey (issue 12, CCC's post-IVR keys) with real SIP: SIPp as the carrier's gateway
// calls, presses 1 in the IVR menu, is answered by an agent's SIPp phone that hangs up after 2 s; the caller
// stays on the line, hears the survey, presses 4 (RFC 2833), and Kefu hangs up. The call record shows the
// rating with its key and label; with phone surveys off the caller gets the BYE as soon as the agent hangs up.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operatorToken, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { wantPostgres } from '../support/services.ts';
import { until } from '../support/until.ts';
import { requireSipp, scenario, sipp, portAllocator } from './sipp.ts';
import { NUMBER, setUpPhoneInstance, sipPassword, type PhoneInstance } from './phone-setup.ts';

const SIP_PORT = 25560;
const kefuSip = `127.0.0.1:${SIP_PORT}`;
const ports = portAllocator(28500);

interface CallRecord {
  contactId: string;
  endStatus: string | null;
  endedBy: string | null;
  endedAt: string | null;
  talkSeconds: number | null;
  keys: { key: string; label: string | null }[];
  satisfaction: { value: number; label: string; key: string | null; comment: string | null; ratedAt: string | null } | null;
}
const recordFields = 'contactId endStatus endedBy endedAt talkSeconds keys { key label } satisfaction { value label key comment ratedAt }';

describe('the post-call keypad survey', async () => {
  const database = (await wantPostgres()) ? 'postgres' : 'pglite';
  let t: TestKefu;
  let s: PhoneInstance;

  beforeAll(async () => {
    requireSipp();
    t = await startTestKefu({
      database,
      env: { KEFU_SIP: 'on', KEFU_SIP_PORT: String(SIP_PORT), KEFU_SIP_BIND: '127.0.0.1', KEFU_RTP_PORT_MIN: '37000', KEFU_RTP_PORT_MAX: '37499' },
    });
    s = await setUpPhoneInstance((token, query, variables) => t.ok(token, query, variables), operatorToken, { agents: ['Ann'], tag: `survey${process.pid}` });
  }, 180_000);

  afterAll(async () => {
    await t?.close();
  });

  async function registerPhone(): Promise<{ sip: number; media: number }> {
    const p = ports();
    const run = await sipp({ scenarioFile: scenario('agent-registers.xml', { USER: s.agents[0]!.sipUser, PASSWORD: sipPassword }), target: kefuSip, localPort: p.sip, mediaPort: p.media }).done;
    expect(run.code, run.output).toBe(0);
    return p;
  }
  const setPresence = (presence: 'AVAILABLE' | 'OFFLINE') => t.ok(s.agents[0]!.token, `mutation { setPresence(input: { presence: ${presence} }) { id } }`);
  const phoneSurvey = (on: boolean) => t.ok(s.adminKey, 'mutation($on: Boolean!) { configureSatisfactionSurvey(input: { channels: { phone: $on } }) { channels { phone } } }', { on });

  async function endedRecord(caller: string): Promise<CallRecord> {
    return (await until(
      async () => (await t.ok<{ callRecords: { edges: { node: CallRecord }[] } }>(s.adminKey, `query($n: String!) { callRecords(first: 1, filter: { number: $n }) { edges { node { ${recordFields} } } } }`, { n: caller })).callRecords.edges[0]?.node ?? null,
      (r) => r !== null && r.endedAt !== null,
      30_000,
    ))!;
  }

  /** The agent's phone answers after 0.5 s and hangs up after 2 s of talk. */
  async function agentAnswersAndHangsUp() {
    const p = await registerPhone();
    const agent = sipp({
      scenarioFile: scenario('agent-answers.xml', { USER: s.agents[0]!.sipUser, RING_MS: 500 }, { CAPTURE: [{ step: 'capture-dialog.xml' }], ENDING: [{ step: 'agent-hangs-up.xml', vars: { TALK_MS: 2000 } }] }),
      target: kefuSip,
      localPort: p.sip,
      mediaPort: p.media,
      rtpEcho: true,
    });
    await agent.listening;
    await setPresence('AVAILABLE');
    return agent;
  }

  const pressOne = { step: 'press-key.xml', vars: { LISTEN_MS: 1200, KEY: '1', KEY_PCAP: '/usr/share/sip-tester/dtmf_2833_1.pcap' } };

  it('the caller presses 4 after the agent hangs up: the call record shows 4 Satisfied with its key', async () => {
    await phoneSurvey(true);
    const agent = await agentAnswersAndHangsUp();
    const caller = '13900000001';
    const p = ports();
    // Menu key 1 (~1 s in), the agent answers and hangs up ~2 s later; the survey asks twice, waiting 8 s
    // each time, so a key 15 s after the menu key lands in it however slow the machine is.
    const customer = sipp({
      scenarioFile: scenario(
        'caller.xml',
        { CALLER: caller },
        {
          STEPS: [pressOne, { step: 'pause.xml', vars: { MS: 15_000 } }, { step: 'press-key.xml', vars: { LISTEN_MS: 100, KEY: '4', KEY_PCAP: '/usr/share/sip-tester/dtmf_2833_4.pcap' } }],
          ENDING: [{ step: 'kefu-hangs-up.xml', vars: { WAIT_MS: 40_000 } }],
        },
      ),
      target: kefuSip,
      service: NUMBER,
      localPort: p.sip,
      mediaPort: p.media,
    });
    const [c, a] = await Promise.all([customer.done, agent.done]);
    expect(c.code, c.output).toBe(0);
    expect(a.code, a.output).toBe(0);

    const rated = await until(
      () => endedRecord(caller),
      (r) => r.satisfaction !== null,
      30_000,
    );
    expect(rated).toMatchObject({ endStatus: 'ok', endedBy: 'AGENT', satisfaction: { value: 4, label: 'Satisfied', key: '4', comment: null } });
    // The survey's key is not an IVR key: the trail keeps the menu's only.
    expect(rated!.keys).toEqual([expect.objectContaining({ key: '1', label: 'Sales' })]);
    // The talk ended when the agent hung up, not when the survey did.
    expect(rated!.talkSeconds).toBeLessThanOrEqual(5);
    const filtered = await t.ok<{ callRecords: { edges: { node: { contactId: string } }[] } }>(s.adminKey, 'query { callRecords(filter: { satisfaction: 4 }) { edges { node { contactId } } } }');
    expect(filtered.callRecords.edges.map((e) => e.node.contactId)).toEqual([rated!.contactId]);
    await setPresence('OFFLINE');
  });

  it('with phone surveys off, Kefu hangs up on the caller when the agent does', async () => {
    await phoneSurvey(false);
    const agent = await agentAnswersAndHangsUp();
    const caller = '13900000002';
    const p = ports();
    const customer = sipp({
      scenarioFile: scenario('caller.xml', { CALLER: caller }, { STEPS: [pressOne], ENDING: [{ step: 'kefu-hangs-up.xml', vars: { WAIT_MS: 40_000 } }] }),
      target: kefuSip,
      service: NUMBER,
      localPort: p.sip,
      mediaPort: p.media,
    });
    const c = await customer.done;
    const byeAt = Date.now();
    const a = await agent.done;
    expect(c.code, c.output).toBe(0);
    expect(a.code, a.output).toBe(0);
    const record = await endedRecord(caller);
    expect(record).toMatchObject({ endStatus: 'ok', endedBy: 'AGENT', satisfaction: null });
    // No survey: the caller's BYE came with the agent's, not after a survey (two 8 s waits and its questions).
    expect(byeAt - Date.parse(record.endedAt!)).toBeLessThan(12_000);
    await setPresence('OFFLINE');
  });
});
