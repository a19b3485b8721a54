// A real inbound call end to end (PH-1, PH-6, PH-7, PH-9, PH-10, PH-12 to PH-15): SIPp as the carrier's
// trunk gateway playing G.711 speech and RFC 2833 keys, SIPp as the agents' phones (registered with digest
// auth, echoing RTP), Kefu in the middle with its IVR, queue, router, media bridge and recorder. Each test
// checks the call record and the recording that users would look at.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operatorToken, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { wantPostgres } from '../support/services.ts';
import { until } from '../support/until.ts';
import { requireSipp, scenario, sipp, portAllocator } from './sipp.ts';
import { analyseWav } from './wav-analysis.ts';
import { NUMBER, OFF_HOURS_NUMBER, setUpPhoneInstance, sipPassword, type PhoneInstance } from './phone-setup.ts';

const SIP_PORT = 25060;
const kefuSip = `127.0.0.1:${SIP_PORT}`;
/** A SIPp signalling port and a media port of its own for each SIPp run. */
const ports = portAllocator(26000);

interface CallRecord {
  contactId: string;
  caller: string;
  callee: string;
  direction: string;
  endStatus: string | null;
  endedBy: string | null;
  ivrSeconds: number | null;
  queueSeconds: number | null;
  ringSeconds: number | null;
  talkSeconds: number | null;
  startedAt: string;
  acceptedAt: string | null;
  endedAt: string | null;
  keys: { key: string; label: string | null }[];
  agent: { id: string } | null;
  legs: { agentId: string; result: string | null; device: string }[];
  recording: { id: string; status: string; durationMs: number | null; url: string | null } | null;
}

const recordFields = `contactId caller callee direction endStatus endedBy ivrSeconds queueSeconds ringSeconds talkSeconds startedAt acceptedAt endedAt
  keys { key label } agent { id } legs { agentId result device } recording { id status durationMs url }`;

describe('inbound phone calls through SIP trunks, the IVR and agents\' SIP phones', async () => {
  const database = (await wantPostgres()) ? 'postgres' : 'pglite';
  let t: TestKefu;
  let s: PhoneInstance;
  const sipUser = (i: number) => s.agents[i]!.sipUser;

  beforeAll(async () => {
    requireSipp();
    t = await startTestKefu({
      database,
      // A side silent for 4 s while connected is reported (issue 9), so a test call can show it.
      env: { KEFU_SIP: 'on', KEFU_SIP_PORT: String(SIP_PORT), KEFU_SIP_BIND: '127.0.0.1', KEFU_RTP_PORT_MIN: '31000', KEFU_RTP_PORT_MAX: '31999', KEFU_SILENCE_ALERT_SECONDS: '4' },
    });
    s = await setUpPhoneInstance((token, query, variables) => t.ok(token, query, variables), operatorToken, { agents: ['Ann', 'Bob'], tag: String(process.pid) });
  });

  afterAll(async () => {
    await t?.close();
  });

  /** Registers agent i's phone from a fresh port; returns the port, for the scenario that then answers there. */
  async function registerPhone(i: number): Promise<{ sip: number; media: number }> {
    const p = ports();
    const run = await sipp({ scenarioFile: scenario('agent-registers.xml', { USER: sipUser(i), PASSWORD: sipPassword }), target: kefuSip, localPort: p.sip, mediaPort: p.media }).done;
    expect(run.code, run.output).toBe(0);
    return p;
  }

  async function setPresence(i: number, presence: 'AVAILABLE' | 'OFFLINE') {
    await t.ok(s.agents[i]!.token, `mutation { setPresence(input: { presence: ${presence} }) { id } }`);
  }

  /** The newest call record from this caller, once it has ended and its recording (if any) is ready. */
  async function endedRecord(caller: string, o: { recording: boolean }): Promise<CallRecord> {
    const found = await until(
      async () => {
        const r = await t.ok<{ callRecords: { edges: { node: CallRecord }[] } }>(s.adminKey, `query($n: String!) { callRecords(first: 5, filter: { number: $n }) { edges { node { ${recordFields} } } } }`, { n: caller });
        return r.callRecords.edges[0]?.node ?? null;
      },
      (r) => r !== null && r.endedAt !== null && (!o.recording || r.recording?.status === 'READY'),
      20_000,
    );
    return found!;
  }

  interface MediaFigures {
    packetsReceived: number;
    packetsSent: number;
    packetsLost: number;
    jitterMs: number;
    silentSeconds: number;
    dropped: { malformed: number; wrongSource: number; unknownPayloadType: number; beforeNegotiation: number };
  }
  interface CallMedia {
    silentSides: string[];
    customerMedia: MediaFigures | null;
    legs: { media: MediaFigures | null; silentAt: string | null }[];
  }
  const figureFields = 'packetsReceived packetsSent packetsLost jitterMs silentSeconds dropped { malformed wrongSource unknownPayloadType beforeNegotiation }';
  /** The media side of a call record (issue 9). */
  async function callMedia(contactId: string): Promise<CallMedia> {
    const r = await t.ok<{ callRecord: CallMedia }>(
      s.adminKey,
      `query($id: ID!) { callRecord(contactId: $id) { silentSides customerMedia { ${figureFields} } legs { silentAt media { ${figureFields} } } } }`,
      { id: contactId },
    );
    return r.callRecord;
  }

  /** A call Kefu must refuse with `status`. */
  const refusedCall = (caller: string, status: number, media: string, number = NUMBER) => {
    const p = ports();
    return sipp({ scenarioFile: scenario('refused-caller.xml', { CALLER: caller, STATUS: status, MEDIA: media }), target: kefuSip, service: number, localPort: p.sip, mediaPort: p.media }).done;
  };
  type Step = { step: string; vars?: Record<string, string | number> };
  /** The customer's SIPp: calls `number` from `caller`, does `steps` once answered, and ends as `ending` says. */
  const customerCalls = (caller: string, steps: Step[], ending: Step, number = NUMBER) => {
    const p = ports();
    return sipp({ scenarioFile: scenario('caller.xml', { CALLER: caller }, { STEPS: steps, ENDING: [ending] }), target: kefuSip, service: number, localPort: p.sip, mediaPort: p.media });
  };
  /** A carrier's call with its own codec offer; its SIPp checks that Kefu's answer lists `answerFormats` in that order. */
  const carrierCalls = (caller: string, media: string, answerFormats: string, steps: Step[], ending: Step) => {
    const p = ports();
    return sipp({
      scenarioFile: scenario('carrier-calls.xml', { CALLER: caller, MEDIA: media, ANSWER_FORMATS: answerFormats }, { STEPS: steps, ENDING: [ending] }),
      target: kefuSip,
      service: NUMBER,
      localPort: p.sip,
      mediaPort: p.media,
    });
  };
  const pcmaOffer = 'm=audio [media_port] RTP/AVP 8 101\n      a=rtpmap:8 PCMA/8000\n      a=rtpmap:101 telephone-event/8000';
  const pressOne = { step: 'press-key.xml', vars: { LISTEN_MS: 1200, KEY: '1', KEY_PCAP: '/usr/share/sip-tester/dtmf_2833_1.pcap' } };

  it('answers, takes a menu key, queues, rings the agent\'s phone, bridges, records, and keeps a true call record', async () => {
    const agentPorts = await registerPhone(0);
    await setPresence(0, 'AVAILABLE');
    // The agent's phone rings 1 s, answers, and echoes what it hears until the customer hangs up.
    const agent = sipp({
      scenarioFile: scenario('agent-answers.xml', { USER: sipUser(0), RING_MS: 1000 }, { CAPTURE: [], ENDING: [{ step: 'kefu-hangs-up.xml', vars: { WAIT_MS: 40_000 } }] }),
      target: kefuSip,
      localPort: agentPorts.sip,
      mediaPort: agentPorts.media,
      rtpEcho: true,
    });
    await agent.listening;
    const caller = '13800000001';
    // The customer presses 1, speaks 7 s of G.711 A-law, stays 2 s more, and hangs up.
    const customer = customerCalls(caller, [pressOne, { step: 'speak.xml' }, { step: 'pause.xml', vars: { MS: 9000 } }], { step: 'customer-hangs-up.xml' });
    const [c, a] = await Promise.all([customer.done, agent.done]);
    expect(c.code, c.output).toBe(0);
    expect(a.code, a.output).toBe(0);

    const record = await endedRecord(caller, { recording: true });
    expect(record).toMatchObject({ caller, callee: NUMBER, direction: 'IN', endStatus: 'ok', endedBy: 'CUSTOMER', agent: { id: s.agents[0]!.id } });
    expect(record.keys).toEqual([expect.objectContaining({ key: '1', label: 'Sales' })]);
    expect(record.legs).toEqual([expect.objectContaining({ agentId: s.agents[0]!.id, result: 'ANSWERED', device: 'SIP_PHONE' })]);
    expect(record.ivrSeconds).toBeGreaterThanOrEqual(1);
    expect(record.ringSeconds).toBeGreaterThanOrEqual(0);
    // The customer stays ~9 s after the key; ringing and answering take ~1-2 s of that.
    expect(record.talkSeconds).toBeGreaterThanOrEqual(5);
    expect(record.talkSeconds).toBeLessThanOrEqual(10);

    // The recording: two channels, customer left and agent right, both carrying audio, as long as the talk.
    const wav = analyseWav(`${t.recordingsDir}/${s.instanceId}/${record.recording!.id}.wav`);
    expect(wav).toMatchObject({ channels: 2, sampleRate: 8000, bitsPerSample: 16 });
    const talk = (Date.parse(record.endedAt!) - Date.parse(record.acceptedAt!)) / 1000;
    expect(Math.abs(wav.seconds - talk)).toBeLessThan(1.5);
    expect(record.recording!.durationMs! / 1000).toBeCloseTo(wav.seconds, 0);
    expect(wav.activeShare[0]).toBeGreaterThan(0.3);
    expect(wav.activeShare[1]).toBeGreaterThan(0.3);

    // The recording downloads over HTTP with Range.
    const res = await t.kefu.app.inject({ method: 'GET', url: record.recording!.url!, headers: { authorization: `Bearer ${s.adminKey}`, range: 'bytes=0-43' } });
    expect(res.statusCode).toBe(206);
    expect(res.rawPayload.subarray(0, 4).toString('ascii')).toBe('RIFF');
    await setPresence(0, 'OFFLINE');
  });

  // Issue 9: carriers in China offer A-law first. Kefu answered PCMU only and dropped the A-law packets, so the
  // call connected, the record said ok, and the recording was silence. SIPp's speech pcap is A-law (payload
  // type 8) whatever the answer says, as such a carrier sends it; the agent's phone speaks PCMU.
  it.each([
    ['A-law first, as carriers in China offer', 'm=audio [media_port] RTP/AVP 8 0 101\n      a=rtpmap:8 PCMA/8000\n      a=rtpmap:0 PCMU/8000\n      a=rtpmap:101 telephone-event/8000', '8 0 101', '13800000020'],
    ['mu-law first, then sending the A-law it also listed', 'm=audio [media_port] RTP/AVP 0 8 101\n      a=rtpmap:0 PCMU/8000\n      a=rtpmap:8 PCMA/8000\n      a=rtpmap:101 telephone-event/8000', '0 8 101', '13800000021'],
  ])('carries the audio of a carrier offering %s: answer in the offer order, converted for the agent, recorded', async (_name, media, answerFormats, caller) => {
    const agentPorts = await registerPhone(0);
    await setPresence(0, 'AVAILABLE');
    const agent = sipp({
      scenarioFile: scenario('agent-answers.xml', { USER: sipUser(0), RING_MS: 500 }, { CAPTURE: [], ENDING: [{ step: 'kefu-hangs-up.xml', vars: { WAIT_MS: 40_000 } }] }),
      target: kefuSip,
      localPort: agentPorts.sip,
      mediaPort: agentPorts.media,
      rtpEcho: true,
    });
    await agent.listening;
    const customer = carrierCalls(caller, media, answerFormats, [pressOne, { step: 'speak.xml' }, { step: 'pause.xml', vars: { MS: 8000 } }], { step: 'customer-hangs-up.xml' });
    const [c, a] = await Promise.all([customer.done, agent.done]);
    expect(c.code, c.output).toBe(0);
    expect(a.code, a.output).toBe(0);

    const record = await endedRecord(caller, { recording: true });
    expect(record).toMatchObject({ endStatus: 'ok', endedBy: 'CUSTOMER', agent: { id: s.agents[0]!.id } });
    // The customer's A-law reached the recording (left) and, converted to mu-law, the agent, whose phone echoed it (right).
    const wav = analyseWav(`${t.recordingsDir}/${s.instanceId}/${record.recording!.id}.wav`);
    expect(wav.activeShare[0]).toBeGreaterThan(0.3);
    expect(wav.activeShare[1]).toBeGreaterThan(0.3);
    // The figures say so too: nothing dropped for its payload type, audio both ways, neither side silent.
    const media_ = (await until(() => callMedia(record.contactId), (m) => m.legs[0]?.media != null && m.customerMedia != null, 20_000))!;
    expect(media_.customerMedia).toMatchObject({ dropped: { unknownPayloadType: 0, malformed: 0 } });
    expect(media_.customerMedia!.packetsReceived).toBeGreaterThan(200);
    expect(media_.customerMedia!.packetsSent).toBeGreaterThan(100);
    expect(media_.legs[0]!.media!.packetsReceived).toBeGreaterThan(100);
    expect(media_.silentSides).not.toContain('AGENT');
    await setPresence(0, 'OFFLINE');
  });

  it("shows a call whose agent's phone sends no audio as silent on the agent's side, and finds it by filter", async () => {
    const agentPorts = await registerPhone(0);
    await setPresence(0, 'AVAILABLE');
    // The phone answers and never sends RTP (no echo): one-way audio, as behind a broken NAT.
    const agent = sipp({
      scenarioFile: scenario('agent-answers.xml', { USER: sipUser(0), RING_MS: 300 }, { CAPTURE: [], ENDING: [{ step: 'kefu-hangs-up.xml', vars: { WAIT_MS: 40_000 } }] }),
      target: kefuSip,
      localPort: agentPorts.sip,
      mediaPort: agentPorts.media,
    });
    await agent.listening;
    const caller = '13800000022';
    const customer = customerCalls(caller, [pressOne, { step: 'speak.xml' }, { step: 'pause.xml', vars: { MS: 10_000 } }], { step: 'customer-hangs-up.xml' });
    const [c, a] = await Promise.all([customer.done, agent.done]);
    expect(c.code, c.output).toBe(0);
    expect(a.code, a.output).toBe(0);

    const record = await endedRecord(caller, { recording: true });
    expect(record.endStatus).toBe('ok');
    const media_ = await until(() => callMedia(record.contactId), (m) => m.legs[0]?.media != null && m.customerMedia != null, 20_000);
    expect(media_!.silentSides).toEqual(['AGENT']);
    expect(media_!.legs[0]!.silentAt).not.toBeNull();
    expect(media_!.legs[0]!.media).toMatchObject({ packetsReceived: 0 });
    expect(media_!.legs[0]!.media!.silentSeconds).toBeGreaterThanOrEqual(4);
    expect(media_!.legs[0]!.media!.packetsSent).toBeGreaterThan(100);
    const found = async (filter: Record<string, unknown>) =>
      (await t.ok<{ callRecords: { edges: { node: { contactId: string } }[] } }>(s.adminKey, 'query($f: CallRecordFilter) { callRecords(first: 50, filter: $f) { edges { node { contactId } } } }', { f: filter })).callRecords.edges.map(
        (e) => e.node.contactId,
      );
    expect(await found({ mediaSilent: true, number: caller })).toEqual([record.contactId]);
    expect(await found({ silentSide: 'AGENT' })).toContain(record.contactId);
    expect(await found({ silentSide: 'CUSTOMER' })).not.toContain(record.contactId);
    expect(await found({ mediaSilent: false, number: caller })).toEqual([]);
    await setPresence(0, 'OFFLINE');
  });

  it('rings the next agent when the first does not answer, and records who hung up', async () => {
    const annPorts = await registerPhone(0);
    const bobPorts = await registerPhone(1);
    await setPresence(0, 'AVAILABLE');
    // Ann's phone rings out (the group's ring timeout is 5 s) and is cancelled; she goes on break "Missed".
    const ann = sipp({ scenarioFile: scenario('agent-rings-unanswered.xml', { USER: sipUser(0), WAIT_MS: 30_000 }), target: kefuSip, localPort: annPorts.sip, mediaPort: annPorts.media });
    await ann.listening;
    const caller = '13800000002';
    const customer = customerCalls(caller, [pressOne, { step: 'speak.xml' }], { step: 'kefu-hangs-up.xml', vars: { WAIT_MS: 40_000 } });
    // Ann has had her turn; Bob comes online and his phone answers, talks 3 s, and hangs up.
    const annRun = await ann.done;
    expect(annRun.code, annRun.output).toBe(0);
    const bob = sipp({
      scenarioFile: scenario('agent-answers.xml', { USER: sipUser(1), RING_MS: 500 }, { CAPTURE: [{ step: 'capture-dialog.xml' }], ENDING: [{ step: 'agent-hangs-up.xml', vars: { TALK_MS: 3000 } }] }),
      target: kefuSip,
      localPort: bobPorts.sip,
      mediaPort: bobPorts.media,
      rtpEcho: true,
    });
    // Only once Bob's phone listens may an offer reach it.
    await bob.listening;
    await setPresence(1, 'AVAILABLE');
    const [c, b] = await Promise.all([customer.done, bob.done]);
    expect(c.code, c.output).toBe(0);
    expect(b.code, b.output).toBe(0);

    const record = await endedRecord(caller, { recording: true });
    expect(record).toMatchObject({ endStatus: 'ok', endedBy: 'AGENT', agent: { id: s.agents[1]!.id } });
    expect(record.legs.map((l) => [l.agentId, l.result])).toEqual([
      [s.agents[0]!.id, 'NO_ANSWER'],
      [s.agents[1]!.id, 'ANSWERED'],
    ]);
    expect(record.talkSeconds).toBeGreaterThanOrEqual(2);
    expect(record.talkSeconds).toBeLessThanOrEqual(5);
    const annNow = await t.ok<{ agent: { presence: string } }>(s.adminKey, 'query($id: ID!) { agent(id: $id) { presence } }', { id: s.agents[0]!.id });
    expect(annNow.agent.presence).toBe('BREAK');
    await setPresence(0, 'OFFLINE');
    await setPresence(1, 'OFFLINE');
  });

  it('ends a call whose caller hangs up while an agent\'s phone rings as ringingGiveUp, and stops the ringing', async () => {
    const annPorts = await registerPhone(0);
    await setPresence(0, 'AVAILABLE');
    // Ann's phone rings; the caller gives up 6 s after the key, well before a 30 s ring timeout (however slow
    // the machine), so Kefu must CANCEL Ann's INVITE.
    await t.ok(s.adminKey, 'mutation($id: ID!) { updateSkillGroup(input: { id: $id, ringTimeoutSeconds: 30 }) { id } }', { id: s.groupId });
    const ann = sipp({ scenarioFile: scenario('agent-rings-unanswered.xml', { USER: sipUser(0), WAIT_MS: 30_000 }), target: kefuSip, localPort: annPorts.sip, mediaPort: annPorts.media });
    await ann.listening;
    const caller = '13800000008';
    const customer = customerCalls(caller, [pressOne, { step: 'pause.xml', vars: { MS: 6000 } }], { step: 'customer-hangs-up.xml' });
    const [c, a] = await Promise.all([customer.done, ann.done]);
    expect(c.code, c.output).toBe(0);
    expect(a.code, a.output).toBe(0);
    const record = await endedRecord(caller, { recording: false });
    expect(record).toMatchObject({ endStatus: 'ringingGiveUp', endedBy: 'CUSTOMER', agent: null });
    expect(record.legs.map((l) => [l.agentId, l.result])).toEqual([[s.agents[0]!.id, 'CANCELLED']]);
    await setPresence(0, 'OFFLINE');
    await t.ok(s.adminKey, 'mutation($id: ID!) { updateSkillGroup(input: { id: $id, ringTimeoutSeconds: 5 }) { id } }', { id: s.groupId });
  });

  it('moves the call to another agent\'s phone on a blind transfer, and records both legs', async () => {
    const annPorts = await registerPhone(0);
    const bobPorts = await registerPhone(1);
    await setPresence(0, 'AVAILABLE');
    // Both phones answer and wait for Kefu's BYE: Ann's when she transfers, Bob's when the customer hangs up.
    const answerUntilBye = (i: number, p: { sip: number; media: number }) =>
      sipp({
        scenarioFile: scenario('agent-answers.xml', { USER: sipUser(i), RING_MS: 300 }, { CAPTURE: [], ENDING: [{ step: 'kefu-hangs-up.xml', vars: { WAIT_MS: 40_000 } }] }),
        target: kefuSip,
        localPort: p.sip,
        mediaPort: p.media,
        rtpEcho: true,
      });
    const ann = answerUntilBye(0, annPorts);
    const bob = answerUntilBye(1, bobPorts);
    await Promise.all([ann.listening, bob.listening]);
    const caller = '13800000010';
    const customer = customerCalls(caller, [pressOne, { step: 'speak.xml' }, { step: 'pause.xml', vars: { MS: 10_000 } }], { step: 'customer-hangs-up.xml' });
    // Ann talks, then hands the caller to Bob.
    const talking = await until(
      async () =>
        (await t.ok<{ callRecords: { edges: { node: CallRecord }[] } }>(s.adminKey, `query($n: String!) { callRecords(first: 1, filter: { number: $n }) { edges { node { ${recordFields} } } } }`, { n: caller }))
          .callRecords.edges[0]?.node ?? null,
      (r) => r?.acceptedAt != null,
      20_000,
    );
    await setPresence(1, 'AVAILABLE');
    await t.ok(s.agents[0]!.token, 'mutation($c: ID!, $to: ID!) { transferContact(input: { contactId: $c, toAgentId: $to, note: "wants a quote" }) { id } }', {
      c: talking!.contactId,
      to: s.agents[1]!.id,
    });
    const [c, a, b] = await Promise.all([customer.done, ann.done, bob.done]);
    expect(c.code, c.output).toBe(0);
    expect(a.code, a.output).toBe(0);
    expect(b.code, b.output).toBe(0);
    const record = await endedRecord(caller, { recording: true });
    expect(record).toMatchObject({ endStatus: 'ok', endedBy: 'CUSTOMER', agent: { id: s.agents[1]!.id } });
    expect(record.legs.map((l) => [l.agentId, l.result])).toEqual([
      [s.agents[0]!.id, 'ANSWERED'],
      [s.agents[1]!.id, 'ANSWERED'],
    ]);
    await setPresence(0, 'OFFLINE');
    await setPresence(1, 'OFFLINE');
  });

  it('ends a call whose caller hangs up in the queue as waitingGiveUp', async () => {
    // Nobody is available: the caller waits with hold music, then gives up.
    const caller = '13800000003';
    const run = await customerCalls(caller, [pressOne, { step: 'pause.xml', vars: { MS: 3000 } }], { step: 'customer-hangs-up.xml' }).done;
    expect(run.code, run.output).toBe(0);
    const record = await endedRecord(caller, { recording: false });
    expect(record).toMatchObject({ endStatus: 'waitingGiveUp', endedBy: 'CUSTOMER', agent: null, recording: null, legs: [] });
    expect(record.queueSeconds).toBeGreaterThanOrEqual(2);
  });

  it('ends a call whose caller hangs up in the IVR as ivrGiveUp', async () => {
    const caller = '13800000004';
    const run = await customerCalls(caller, [{ step: 'pause.xml', vars: { MS: 1500 } }], { step: 'customer-hangs-up.xml' }).done;
    expect(run.code, run.output).toBe(0);
    const record = await endedRecord(caller, { recording: false });
    expect(record).toMatchObject({ endStatus: 'ivrGiveUp', endedBy: 'CUSTOMER', keys: [] });
  });

  it('plays the off-hours prompt and hangs up outside business hours', async () => {
    const caller = '13800000005';
    const run = await customerCalls(caller, [], { step: 'kefu-hangs-up.xml', vars: { WAIT_MS: 20_000 } }, OFF_HOURS_NUMBER).done;
    expect(run.code, run.output).toBe(0);
    const record = await endedRecord(caller, { recording: false });
    expect(record).toMatchObject({ endStatus: 'afterHours', endedBy: 'SYSTEM', callee: OFF_HOURS_NUMBER });
    // The prompt was spoken before the hang-up: "We are closed..." takes more than a second.
    expect(Date.parse(record.endedAt!) - Date.parse(record.startedAt)).toBeGreaterThan(1000);
  });

  it('refuses a blacklisted caller with 603 and keeps the refusal on record', async () => {
    const caller = '13800000006';
    await t.ok(s.adminKey, 'mutation($id: String!) { addToBlacklist(input: { channel: PHONE, identity: $id, reason: "abuse" }) { id } }', { id: caller });
    const run = await refusedCall(caller, 603, pcmaOffer);
    expect(run.code, run.output).toBe(0);
    const record = await endedRecord(caller, { recording: false });
    expect(record).toMatchObject({ endStatus: 'blacklisted', endedBy: 'SYSTEM' });
  });

  it('answers 488 to a caller offering no codec Kefu speaks, and creates no contact', async () => {
    const caller = '13800000011';
    // G.729 only: Kefu relays G.711 (PCMU, PCMA).
    const run = await refusedCall(caller, 488, 'm=audio [media_port] RTP/AVP 18\n      a=rtpmap:18 G729/8000');
    expect(run.code, run.output).toBe(0);
    const r = await t.ok<{ callRecords: { edges: unknown[] } }>(s.adminKey, 'query($n: String!) { callRecords(first: 1, filter: { number: $n }) { edges { node { contactId } } } }', { n: caller });
    expect(r.callRecords.edges).toEqual([]);
  });

  it('answers 404 for a number nobody has bound', async () => {
    const run = await refusedCall('13800000007', 404, pcmaOffer, '+869999999999');
    expect(run.code, run.output).toBe(0);
  });
});
