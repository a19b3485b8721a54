// The WebRTC softphone end to end with a real WebRTC client: a werift peer connection in this process is the
// agent's browser softphone (connectSoftphone through the GraphQL API, calls on the softphoneCalls
// subscription over graphql-ws), SIPp is the carrier's trunk calling in, Kefu bridges the softphone's
// DTLS-SRTP leg to the caller's RTP leg and records both.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from 'graphql-ws';
import { operatorToken, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { collect, wsClient } from '../support/ws-client.ts';
import { until } from '../support/until.ts';
import { requireSipp, scenario, sipp, portAllocator } from '../calls/sipp.ts';
import { analyseWav } from '../calls/wav-analysis.ts';
import { NUMBER, setUpPhoneInstance, type PhoneInstance } from '../calls/phone-setup.ts';
import { WeriftSoftphone } from './werift-softphone.ts';

// This file's ports: SIP 25260, RTP 33000-33499, SIPp 27000-27199.
const SIP_PORT = 25260;
const kefuSip = `127.0.0.1:${SIP_PORT}`;
/** A SIPp signalling port and a media port of its own for each SIPp run. */
const ports = portAllocator(27000);

interface CallEvent {
  callId: string;
  state: string;
  contactId: string;
  callerId: string;
  callerName: string | null;
  reason: string | null;
}

interface CallRecord {
  contactId: string;
  endStatus: string | null;
  endedBy: string | null;
  endedAt: string | null;
  acceptedAt: string | null;
  agent: { id: string } | null;
  legs: { agentId: string; result: string | null; device: string }[];
  recording: { id: string; status: string; durationMs: number | null } | null;
}

const recordFields = 'contactId endStatus endedBy endedAt acceptedAt agent { id } legs { agentId result device } recording { id status durationMs }';
const eventFields = 'callId state contactId callerId callerName reason';
const pressOne = { step: 'press-key.xml', vars: { LISTEN_MS: 1200, KEY: '1', KEY_PCAP: '/usr/share/sip-tester/dtmf_2833_1.pcap' } };

describe('the WebRTC softphone (a werift peer) taking trunk calls', () => {
  let t: TestKefu;
  let s: PhoneInstance;
  let baseUrl: string;
  const clients: Client[] = [];

  beforeAll(async () => {
    requireSipp();
    t = await startTestKefu({
      listen: true,
      env: { KEFU_SIP: 'on', KEFU_SIP_PORT: String(SIP_PORT), KEFU_SIP_BIND: '127.0.0.1', KEFU_SIP_PUBLIC_ADDRESS: '127.0.0.1', KEFU_RTP_PORT_MIN: '33000', KEFU_RTP_PORT_MAX: '33499', HOST: '127.0.0.1' },
    });
    const address = t.kefu.app.server.address() as { port: number };
    baseUrl = `http://127.0.0.1:${address.port}`;
    s = await setUpPhoneInstance((token, query, variables) => t.ok(token, query, variables), operatorToken, { agents: ['Ann', 'Bob'], tag: `webrtc${process.pid}` });
  });

  afterAll(async () => {
    for (const c of clients) await c.dispose();
    await t?.close();
  });

  const ann = () => s.agents[0]!;
  const bob = () => s.agents[1]!;
  const gqlAs = (token: string) => <T,>(query: string, variables?: Record<string, unknown>) => t.ok<T>(token, query, variables);

  function subscribeCalls(token: string) {
    const client = wsClient(baseUrl, token);
    clients.push(client);
    return { client, calls: collect<{ softphoneCalls: CallEvent }>(client, `subscription { softphoneCalls { ${eventFields} } }`) };
  }

  async function waitFor(calls: { received: { softphoneCalls: CallEvent }[] }, state: string, timeoutMs = 30_000): Promise<CallEvent> {
    const found = await until(
      async () => calls.received.map((r) => r.softphoneCalls).find((e) => e.state === state) ?? null,
      (e) => e !== null,
      timeoutMs,
    );
    return found!;
  }

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

  const setPresence = (presence: 'AVAILABLE' | 'OFFLINE', token = ann().token) => t.ok(token, `mutation { setPresence(input: { presence: ${presence} }) { id } }`);
  const setDeviceLost = (setting: 'END' | 'REQUEUE') =>
    t.ok(s.adminKey, `mutation($id: ID!) { updateSkillGroup(input: { id: $id, onAgentDeviceLost: ${setting} }) { onAgentDeviceLost } }`, { id: s.groupId });
  const legStats = () => t.kefu.phone!.media.legStats();

  it('refuses an offer with Opus only, and callers who are not agents', async () => {
    const opusOnly = new WeriftSoftphone(['opus']);
    const sdp = await opusOnly.offer();
    const r = await t.gql(ann().token, 'mutation($sdp: String!) { connectSoftphone(input: { sdp: $sdp }) { id } }', { sdp });
    expect(r.errors?.[0]).toMatchObject({ message: expect.stringContaining('the softphone must offer PCMU or PCMA'), extensions: { code: 'BAD_USER_INPUT', field: 'input.sdp' } });
    const byKey = await t.gql(s.adminKey, 'mutation($sdp: String!) { connectSoftphone(input: { sdp: $sdp }) { id } }', { sdp });
    expect(byKey.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    await opusOnly.close();
  });

  it('rings the softphone, answers by the API, bridges audio both ways and records it', async () => {
    const { client, calls } = subscribeCalls(ann().token);
    const phone = new WeriftSoftphone();
    const connected = await phone.connect(gqlAs(ann().token));
    expect(connected.codec).toBe('PCMU');
    phone.startTone();
    const softphone = await t.ok<{ softphone: { id: string; muted: boolean } }>(ann().token, '{ softphone { id muted } }');
    expect(softphone.softphone).toEqual({ id: connected.id, muted: false });
    await setPresence('AVAILABLE');

    const caller = '13800000101';
    const p = ports();
    // The customer presses 1, speaks 7 s of G.711 A-law, stays 4 s more, and hangs up.
    const customer = sipp({
      scenarioFile: scenario('caller.xml', { CALLER: caller }, { STEPS: [pressOne, { step: 'speak.xml' }, { step: 'pause.xml', vars: { MS: 11_000 } }], ENDING: [{ step: 'customer-hangs-up.xml' }] }),
      target: kefuSip,
      service: NUMBER,
      localPort: p.sip,
      mediaPort: p.media,
    });
    const ringing = await waitFor(calls, 'RINGING');
    expect(ringing).toMatchObject({ callerId: caller, reason: null });
    const answered = await t.ok<{ answerSoftphoneCall: CallEvent }>(ann().token, `mutation($id: ID!) { answerSoftphoneCall(input: { callId: $id }) { ${eventFields} } }`, { id: ringing.callId });
    expect(answered.answerSoftphoneCall).toMatchObject({ callId: ringing.callId, state: 'CONNECTED', contactId: ringing.contactId });
    await waitFor(calls, 'CONNECTED');

    // Answering twice is a conflict, and changes nothing.
    const again = await t.gql(ann().token, 'mutation($id: ID!) { answerSoftphoneCall(input: { callId: $id }) { state } }', { id: ringing.callId });
    expect(again.errors?.[0]?.extensions?.code).toBe('CONFLICT');

    // RTP counted on both legs while they talk: the caller's leg and the softphone's leg receive, the peer hears.
    // Counted until every side has passed 100 packets (about 2 s of talk; a busy machine takes longer).
    await until(
      async () => legStats(),
      (all) =>
        phone.received > 100 &&
        all.some((l) => l.id.startsWith(`customer ${caller}`) && l.stats.packetsIn > 100 && l.stats.packetsOut > 100) &&
        all.some((l) => l.id.startsWith('softphone ') && l.stats.packetsIn > 100 && l.stats.packetsOut > 100),
      6000,
    ).catch(() => undefined);
    const stats = legStats();
    const customerLeg = stats.find((l) => l.id.startsWith(`customer ${caller}`))!;
    const softphoneLeg = stats.find((l) => l.id.startsWith('softphone '))!;
    expect(customerLeg.stats.packetsIn).toBeGreaterThan(100);
    expect(customerLeg.stats.packetsOut).toBeGreaterThan(100);
    expect(softphoneLeg.stats.packetsIn).toBeGreaterThan(100);
    expect(softphoneLeg.stats.packetsOut).toBeGreaterThan(100);
    expect(phone.received).toBeGreaterThan(100);
    expect([...phone.receivedPayloadTypes]).toEqual([0]);

    // Hold and resume through the API show on the softphone's subscription.
    await t.ok(ann().token, 'mutation($c: ID!) { holdCall(input: { contactId: $c }) { id } }', { c: ringing.contactId });
    expect(await waitFor(calls, 'HELD')).toMatchObject({ callId: ringing.callId });
    await t.ok(ann().token, 'mutation($c: ID!) { resumeCall(input: { contactId: $c }) { id } }', { c: ringing.contactId });
    expect(await waitFor(calls, 'RESUMED')).toMatchObject({ callId: ringing.callId });

    const c = await customer.done;
    expect(c.code, c.output).toBe(0);
    const ended = await waitFor(calls, 'ENDED');
    expect(ended).toMatchObject({ callId: ringing.callId, reason: 'callEnded' });

    const record = await endedRecord(caller, { recording: true });
    expect(record).toMatchObject({ endStatus: 'ok', endedBy: 'CUSTOMER', agent: { id: ann().id } });
    expect(record.legs).toEqual([expect.objectContaining({ agentId: ann().id, result: 'ANSWERED', device: 'WEBRTC' })]);
    const wav = analyseWav(`${t.recordingsDir}/${s.instanceId}/${record.recording!.id}.wav`);
    expect(wav).toMatchObject({ channels: 2, sampleRate: 8000 });
    // Customer (SIPp's speech) on the left, the softphone's tone on the right.
    expect(wav.activeShare[0]).toBeGreaterThan(0.3);
    expect(wav.activeShare[1]).toBeGreaterThan(0.8);

    await t.ok(ann().token, 'mutation { endWrapUp { id } }');
    await setPresence('OFFLINE');
    expect(await t.ok(ann().token, 'mutation { disconnectSoftphone }')).toEqual({ disconnectSoftphone: true });
    await phone.close();
    await client.dispose();
  });

  it('ends the call when the browser vanishes mid-call: the caller gets a BYE, the contact ends agentDeviceLost', async () => {
    const { client, calls } = subscribeCalls(ann().token);
    const phone = new WeriftSoftphone(['PCMA']);
    const connected = await phone.connect(gqlAs(ann().token));
    expect(connected.codec).toBe('PCMA');
    phone.startTone();
    await setPresence('AVAILABLE');
    const caller = '13800000102';
    const p = ports();
    // The customer presses 1 and stays on the line until Kefu hangs up (at most 40 s).
    const customer = sipp({
      scenarioFile: scenario('caller.xml', { CALLER: caller }, { STEPS: [pressOne], ENDING: [{ step: 'kefu-hangs-up.xml', vars: { WAIT_MS: 40_000 } }] }),
      target: kefuSip,
      service: NUMBER,
      localPort: p.sip,
      mediaPort: p.media,
    });
    const ringing = await waitFor(calls, 'RINGING');
    await t.ok(ann().token, 'mutation($id: ID!) { answerSoftphoneCall(input: { callId: $id }) { state } }', { id: ringing.callId });
    await waitFor(calls, 'CONNECTED');
    await new Promise((r) => setTimeout(r, 1000));

    // The browser crashes: its peer connection and its WebSocket go at once, with no goodbye.
    const vanishedAt = Date.now();
    await phone.close();
    await client.dispose();
    const c = await customer.done;
    expect(c.code, c.output).toBe(0);
    expect(Date.now() - vanishedAt).toBeLessThan(8000);

    const record = await endedRecord(caller, { recording: true });
    expect(record).toMatchObject({ endStatus: 'agentDeviceLost', endedBy: 'SYSTEM' });
    expect(record.legs).toEqual([expect.objectContaining({ result: 'ANSWERED', device: 'WEBRTC' })]);
    const gone = await t.ok<{ softphone: unknown }>(ann().token, '{ softphone { id } }');
    expect(gone.softphone).toBeNull();
    await t.ok(ann().token, 'mutation { endWrapUp { id } }');
    await setPresence('OFFLINE');
  });

  it('puts the call back in the queue when the browser vanishes in a REQUEUE group: the next agent answers, the caller never gets a BYE', async () => {
    await setDeviceLost('REQUEUE');
    const annSide = subscribeCalls(ann().token);
    const annPhone = new WeriftSoftphone();
    await annPhone.connect(gqlAs(ann().token));
    annPhone.startTone();
    const bobSide = subscribeCalls(bob().token);
    const bobPhone = new WeriftSoftphone(['PCMA']);
    await bobPhone.connect(gqlAs(bob().token));
    bobPhone.startTone(600);
    // Only Ann takes calls at first, so the call rings her.
    await setPresence('AVAILABLE');
    const caller = '13800000104';
    const p = ports();
    // The customer presses 1, waits 9 s in silence (Ann answers, her browser crashes, the queue, Bob answers),
    // speaks 7 s (to Bob by then), stays 8 s more and hangs up. A BYE from Kefu before that would be an
    // unexpected message: SIPp would fail the call.
    const customer = sipp({
      scenarioFile: scenario('caller.xml', { CALLER: caller }, {
        STEPS: [pressOne, { step: 'pause.xml', vars: { MS: 9000 } }, { step: 'speak.xml' }, { step: 'pause.xml', vars: { MS: 8000 } }],
        ENDING: [{ step: 'customer-hangs-up.xml' }],
      }),
      target: kefuSip,
      service: NUMBER,
      localPort: p.sip,
      mediaPort: p.media,
    });
    const annRinging = await waitFor(annSide.calls, 'RINGING');
    const contactId = annRinging.contactId;
    await t.ok(ann().token, 'mutation($id: ID!) { answerSoftphoneCall(input: { callId: $id }) { state } }', { id: annRinging.callId });
    await waitFor(annSide.calls, 'CONNECTED');
    await setPresence('AVAILABLE', bob().token);
    await new Promise((r) => setTimeout(r, 1000));

    // Ann's browser crashes mid-call: peer connection and WebSocket gone at once.
    await annPhone.close();
    await annSide.client.dispose();

    // The call goes back to the group's queue and rings Bob, who answers.
    const bobRinging = await waitFor(bobSide.calls, 'RINGING', 15_000);
    expect(bobRinging).toMatchObject({ contactId, callerId: caller });
    await t.ok(bob().token, 'mutation($id: ID!) { answerSoftphoneCall(input: { callId: $id }) { state } }', { id: bobRinging.callId });
    await waitFor(bobSide.calls, 'CONNECTED');
    const contact = await t.ok<{ contact: { status: string; agent: { id: string } | null } }>(s.adminKey, 'query($id: ID!) { contact(id: $id) { status agent { id } } }', { id: contactId });
    expect(contact.contact).toEqual({ status: 'CONNECTED', agent: { id: bob().id } });
    // Bob's audio reaches the caller.
    const customerOut = () => legStats().find((l) => l.id.startsWith(`customer ${caller}`))!.stats.packetsOut;
    const before = customerOut();
    await new Promise((r) => setTimeout(r, 2000));
    expect(customerOut() - before).toBeGreaterThan(50);

    // The caller hangs up on their own: no BYE came from Kefu while Ann's leg was lost.
    const c = await customer.done;
    expect(c.code, c.output).toBe(0);
    // The caller's speech reached Bob.
    expect(bobPhone.received).toBeGreaterThan(100);
    const ended = await waitFor(bobSide.calls, 'ENDED');
    expect(ended).toMatchObject({ callId: bobRinging.callId, reason: 'callEnded' });
    const record = await endedRecord(caller, { recording: true });
    expect(record).toMatchObject({ contactId, endStatus: 'ok', endedBy: 'CUSTOMER', agent: { id: bob().id } });
    expect(record.legs).toEqual([
      expect.objectContaining({ agentId: ann().id, result: 'ANSWERED', device: 'WEBRTC' }),
      expect.objectContaining({ agentId: bob().id, result: 'ANSWERED', device: 'WEBRTC' }),
    ]);
    // Ann's workload was released when the call left her (no after-call work for a lost call).
    const annNow = await t.ok<{ agent: { presence: string } }>(s.adminKey, 'query($id: ID!) { agent(id: $id) { presence } }', { id: ann().id });
    expect(annNow.agent.presence).toBe('AVAILABLE');

    await t.ok(bob().token, 'mutation { endWrapUp { id } }');
    await setPresence('OFFLINE', bob().token);
    await setPresence('OFFLINE');
    await t.ok(bob().token, 'mutation { disconnectSoftphone }');
    await bobPhone.close();
    await bobSide.client.dispose();
    await setDeviceLost('END');
  });

  it('passes a rejected call on (the offer is declined), and answers only calls ringing on your own softphone', async () => {
    const { client, calls } = subscribeCalls(ann().token);
    const phone = new WeriftSoftphone();
    await phone.connect(gqlAs(ann().token));
    await setPresence('AVAILABLE');
    const caller = '13800000103';
    const p = ports();
    const customer = sipp({
      scenarioFile: scenario('caller.xml', { CALLER: caller }, { STEPS: [pressOne, { step: 'pause.xml', vars: { MS: 3000 } }], ENDING: [{ step: 'customer-hangs-up.xml' }] }),
      target: kefuSip,
      service: NUMBER,
      localPort: p.sip,
      mediaPort: p.media,
    });
    const ringing = await waitFor(calls, 'RINGING');
    const unknown = await t.gql(ann().token, 'mutation { answerSoftphoneCall(input: { callId: "00000000-0000-4000-8000-000000000000" }) { state } }');
    expect(unknown.errors?.[0]?.extensions?.code).toBe('CONFLICT');
    const rejected = await t.ok<{ rejectSoftphoneCall: CallEvent }>(ann().token, `mutation($id: ID!) { rejectSoftphoneCall(input: { callId: $id }) { ${eventFields} } }`, { id: ringing.callId });
    expect(rejected.rejectSoftphoneCall).toMatchObject({ state: 'ENDED', reason: 'rejected' });
    const late = await t.gql(ann().token, 'mutation($id: ID!) { answerSoftphoneCall(input: { callId: $id }) { state } }', { id: ringing.callId });
    expect(late.errors?.[0]?.extensions?.code).toBe('CONFLICT');
    const c = await customer.done;
    expect(c.code, c.output).toBe(0);
    const record = await endedRecord(caller, { recording: false });
    expect(record.legs[0]).toMatchObject({ agentId: ann().id, device: 'WEBRTC' });
    expect(record.legs[0]!.result).not.toBe('ANSWERED');
    await setPresence('OFFLINE');
    await t.ok(ann().token, 'mutation { disconnectSoftphone }');
    await phone.close();
    await client.dispose();
  });
});
