// Call control end to end (PH-4): hang-up, hold and warm transfer from the API, and blind transfer from an
// agent's phone by SIP REFER. SIPp plays the carrier's trunk (the customer) and the agents' phones; Kefu is in
// the middle. Each test checks what the phones see (BYEs, NOTIFYs, the music on hold) and the call record.
import { execFileSync, spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operatorToken, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { wantPostgres } from '../support/services.ts';
import { until } from '../support/until.ts';
import { requireSipp, scenario, sipp, portAllocator } from './sipp.ts';
import { analyseWav } from './wav-analysis.ts';
import { setUpPhoneInstance, sipPassword, type PhoneInstance } from './phone-setup.ts';

const SIP_PORT = 25460;
const kefuSip = `127.0.0.1:${SIP_PORT}`;
/** A SIPp signalling port and a media port of its own for each SIPp run. */
const ports = portAllocator(28000);

interface Leg {
  agentId: string;
  kind: string;
  result: string | null;
  holdSeconds: number;
  holdCount: number;
  transferredFromAgentId: string | null;
  transferredToAgentId: string | null;
  acceptAt: string | null;
  endAt: string | null;
}
interface CallRecord {
  contactId: string;
  endStatus: string | null;
  endedBy: string | null;
  acceptedAt: string | null;
  endedAt: string | null;
  holdSeconds: number;
  holdCount: number;
  agent: { id: string } | null;
  legs: Leg[];
  recordings: { id: string; status: string; durationMs: number | null }[];
}
const recordFields = `contactId endStatus endedBy acceptedAt endedAt holdSeconds holdCount agent { id }
  legs { agentId kind result holdSeconds holdCount transferredFromAgentId transferredToAgentId acceptAt endAt } recordings { id status durationMs }`;

describe('call control: hang-up, hold, warm transfer and REFER', async () => {
  const database = (await wantPostgres()) ? 'postgres' : 'pglite';
  let t: TestKefu;
  let s: PhoneInstance;
  const sipUser = (i: number) => s.agents[i]!.sipUser;
  const agentId = (i: number) => s.agents[i]!.id;

  beforeAll(async () => {
    requireSipp();
    requireBaresip();
    t = await startTestKefu({
      database,
      env: { KEFU_SIP: 'on', KEFU_SIP_PORT: String(SIP_PORT), KEFU_SIP_BIND: '127.0.0.1', KEFU_RTP_PORT_MIN: '36000', KEFU_RTP_PORT_MAX: '36999' },
    });
    s = await setUpPhoneInstance((token, query, variables) => t.ok(token, query, variables), operatorToken, { agents: ['Ann', 'Bob', 'Cid'], tag: `cc${process.pid}` });
  });

  afterAll(async () => {
    await t?.close();
  });

  async function registerPhone(i: number): Promise<{ sip: number; media: number }> {
    const p = ports();
    const run = await sipp({ scenarioFile: scenario('agent-registers.xml', { USER: sipUser(i), PASSWORD: sipPassword }), target: kefuSip, localPort: p.sip, mediaPort: p.media }).done;
    expect(run.code, run.output).toBe(0);
    return p;
  }

  const setPresence = (i: number, presence: 'AVAILABLE' | 'OFFLINE') => t.ok(s.agents[i]!.token, `mutation { setPresence(input: { presence: ${presence} }) { id } }`);

  type Step = { step: string; vars?: Record<string, string | number> };
  /** Agent i's phone (registered from `p`): answers after 300 ms, echoes RTP, then does `ending` (which may send in-dialog requests). */
  const phoneAnswers = (i: number, p: { sip: number; media: number }, ending: Step[]) =>
    sipp({
      scenarioFile: scenario(
        'agent-answers.xml',
        { USER: sipUser(i), RING_MS: 300 },
        // SIPp refuses variables it captures but never uses: capture the dialog only for a REFER.
        { CAPTURE: ending.some((e) => e.step.includes('refer')) ? [{ step: 'capture-dialog.xml' }] : [], ENDING: ending },
      ),
      target: kefuSip,
      localPort: p.sip,
      mediaPort: p.media,
      rtpEcho: true,
    });
  const untilKefuHangsUp: Step = { step: 'kefu-hangs-up.xml', vars: { WAIT_MS: 45_000 } };
  const pressOne: Step = { step: 'press-key.xml', vars: { LISTEN_MS: 1200, KEY: '1', KEY_PCAP: '/usr/share/sip-tester/dtmf_2833_1.pcap' } };

  /** The customer: presses 1 for sales, speaks, stays `ms` (0: until Kefu's BYE, which SIPp cannot take during a pause), then `ending`. */
  const customerCalls = (caller: string, ms: number, ending: Step) => {
    const p = ports();
    const stay = ms > 0 ? [{ step: 'pause.xml', vars: { MS: ms } }] : [];
    return sipp({
      scenarioFile: scenario('caller.xml', { CALLER: caller }, { STEPS: [pressOne, { step: 'speak.xml' }, ...stay], ENDING: [ending] }),
      target: kefuSip,
      service: '+861012345678',
      localPort: p.sip,
      mediaPort: p.media,
    });
  };

  const latestRecord = async (caller: string) =>
    (await t.ok<{ callRecords: { edges: { node: CallRecord }[] } }>(s.adminKey, `query($n: String!) { callRecords(first: 1, filter: { number: $n }) { edges { node { ${recordFields} } } } }`, { n: caller }))
      .callRecords.edges[0]?.node ?? null;
  const recordWhen = async (caller: string, ok: (r: CallRecord) => boolean, ms = 20_000) => (await until(() => latestRecord(caller), (r) => r !== null && ok(r), ms))!;
  const endedRecord = (caller: string) => recordWhen(caller, (r) => r.endedAt !== null && r.recordings.every((x) => x.status === 'READY'));

  it('holds the customer with music, resumes, and hangs up from the API: both phones get a BYE, the record keeps the hold', async () => {
    const annPorts = await registerPhone(0);
    await setPresence(0, 'AVAILABLE');
    const ann = phoneAnswers(0, annPorts, [untilKefuHangsUp]);
    // The customer's RTP comes to this socket: Kefu's hold music is counted here.
    const listener: Socket = createSocket('udp4');
    const arrivals: number[] = [];
    listener.on('message', () => arrivals.push(Date.now()));
    await new Promise<void>((resolve) => listener.bind(28490, '127.0.0.1', () => resolve()));
    await ann.listening;
    const caller = '13900000001';
    const p = ports();
    const customer = sipp({
      scenarioFile: scenario(
        'caller-listens.xml',
        { CALLER: caller, LISTEN_PORT: 28490 },
        { STEPS: [{ step: 'press-key-info.xml', vars: { LISTEN_MS: 1200, KEY: '1' } }], ENDING: [untilKefuHangsUp] },
      ),
      target: kefuSip,
      service: '+861012345678',
      localPort: p.sip,
      mediaPort: p.media,
    });
    try {
      const talking = await recordWhen(caller, (r) => r.acceptedAt !== null);
      const inWindow = async (ms: number) => {
        const from = Date.now();
        await new Promise((r) => setTimeout(r, ms));
        return arrivals.filter((at) => at >= from && at < from + ms).length;
      };
      // Talking: the agent's phone only echoes what it gets, and the customer sends nothing: silence.
      const beforeHold = await inWindow(1000);
      const token = s.agents[0]!.token;
      await t.ok(token, 'mutation($c: ID!) { holdCall(input: { contactId: $c }) { id } }', { c: talking.contactId });
      // Holding twice changes nothing.
      await t.ok(token, 'mutation($c: ID!) { holdCall(input: { contactId: $c }) { id } }', { c: talking.contactId });
      const onHold = await inWindow(3000);
      await t.ok(token, 'mutation($c: ID!) { resumeCall(input: { contactId: $c }) { id } }', { c: talking.contactId });
      await new Promise((r) => setTimeout(r, 300));
      const afterResume = await inWindow(1000);
      expect(beforeHold).toBeLessThan(10);
      // 20 ms packets of music: about 150 in 3 s.
      expect(onHold).toBeGreaterThan(100);
      expect(afterResume).toBeLessThan(10);

      // Bob, who does not serve the call, cannot hang it up; Ann can.
      const bob = await t.gql(s.agents[1]!.token, 'mutation($c: ID!) { hangUpCall(input: { contactId: $c }) { id } }', { c: talking.contactId });
      expect(bob.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
      await t.ok(token, 'mutation($c: ID!) { hangUpCall(input: { contactId: $c }) { id status endedBy } }', { c: talking.contactId });
      const [c, a] = await Promise.all([customer.done, ann.done]);
      expect(c.code, c.output).toBe(0);
      expect(a.code, a.output).toBe(0);
    } finally {
      listener.close();
    }
    const record = await endedRecord(caller);
    expect(record).toMatchObject({ endStatus: 'agentHangUp', endedBy: 'AGENT', agent: { id: agentId(0) }, holdCount: 1 });
    expect(record.holdSeconds).toBeGreaterThanOrEqual(3);
    expect(record.holdSeconds).toBeLessThanOrEqual(5);
    expect(record.legs).toEqual([expect.objectContaining({ agentId: agentId(0), kind: 'OFFER', result: 'ANSWERED', holdCount: 1, holdSeconds: record.holdSeconds })]);
    // One recording through the hold: as long as the talk, hold included.
    expect(record.recordings).toHaveLength(1);
    const talk = (Date.parse(record.endedAt!) - Date.parse(record.acceptedAt!)) / 1000;
    const wav = analyseWav(`${t.recordingsDir}/${s.instanceId}/${record.recordings[0]!.id}.wav`);
    expect(Math.abs(wav.seconds - talk)).toBeLessThan(1.5);
    await setPresence(0, 'OFFLINE');
  });

  /** Both phones registered and answering until Kefu's BYE; Ann available and talking to `caller`, Bob offline. */
  async function annTalksBobStandsBy(caller: string) {
    const annPorts = await registerPhone(0);
    const bobPorts = await registerPhone(1);
    await setPresence(0, 'AVAILABLE');
    const ann = phoneAnswers(0, annPorts, [untilKefuHangsUp]);
    const bob = phoneAnswers(1, bobPorts, [untilKefuHangsUp]);
    await Promise.all([ann.listening, bob.listening]);
    const customer = customerCalls(caller, 0, untilKefuHangsUp);
    const talking = await recordWhen(caller, (r) => r.acceptedAt !== null);
    return { ann, bob, customer, talking };
  }

  it('warm transfer: Ann consults Bob while the customer holds, then completes; Ann is hung up, Bob serves the call', async () => {
    const caller = '13900000002';
    const { ann, bob, customer, talking } = await annTalksBobStandsBy(caller);
    const annToken = s.agents[0]!.token;
    const consult = (token: string) => t.gql(token, 'mutation($c: ID!, $to: ID!) { startConsultTransfer(input: { contactId: $c, toAgentId: $to }) { id } }', { c: talking.contactId, to: agentId(1) });

    // Bob is offline: CONFLICT, and nothing changes (no consultation leg, no hold).
    const busy = await consult(annToken);
    expect(busy.errors?.[0]?.extensions?.code).toBe('CONFLICT');
    expect(await latestRecord(caller)).toMatchObject({ holdCount: 0, legs: [expect.objectContaining({ agentId: agentId(0) })] });
    // Completing before any consultation: CONFLICT.
    const early = await t.gql(annToken, 'mutation($c: ID!) { completeConsultTransfer(input: { contactId: $c }) { id } }', { c: talking.contactId });
    expect(early.errors?.[0]?.extensions?.code).toBe('CONFLICT');

    await setPresence(1, 'AVAILABLE');
    await t.ok(annToken, 'mutation($c: ID!, $to: ID!) { startConsultTransfer(input: { contactId: $c, toAgentId: $to }) { id } }', { c: talking.contactId, to: agentId(1) });
    await recordWhen(caller, (r) => r.legs.some((l) => l.kind === 'CONSULT' && l.result === 'ANSWERED'));
    // Bob's workload counts the consultation: he is on a call.
    await until(
      async () =>
        (await t.ok<{ agentMonitor: { agent: { id: string }; workload: { phone: number } }[] }>(s.adminKey, 'query { agentMonitor { agent { id } workload { phone } } }')).agentMonitor.find(
          (m) => m.agent.id === agentId(1),
        )?.workload.phone,
      (phone) => phone === 1,
      5000,
    );
    await new Promise((r) => setTimeout(r, 1500));
    await t.ok(annToken, 'mutation($c: ID!) { completeConsultTransfer(input: { contactId: $c }) { id } }', { c: talking.contactId });
    // Ann's phone gets its BYE now; the customer talks to Bob.
    const a = await ann.done;
    expect(a.code, a.output).toBe(0);
    await new Promise((r) => setTimeout(r, 1500));
    // An admin ends the call with endContact: both remaining phones get a BYE.
    await t.ok(s.adminKey, 'mutation($c: ID!) { endContact(input: { contactId: $c, reason: "doneBySupervisor" }) { id } }', { c: talking.contactId });
    const [c, b] = await Promise.all([customer.done, bob.done]);
    expect(c.code, c.output).toBe(0);
    expect(b.code, b.output).toBe(0);

    const record = await endedRecord(caller);
    expect(record).toMatchObject({ endStatus: 'doneBySupervisor', agent: { id: agentId(1) }, holdCount: 1 });
    expect(record.holdSeconds).toBeGreaterThanOrEqual(1);
    expect(record.legs).toEqual([
      expect.objectContaining({ agentId: agentId(0), kind: 'OFFER', result: 'ANSWERED', transferredToAgentId: agentId(1), holdCount: 1 }),
      expect.objectContaining({ agentId: agentId(1), kind: 'CONSULT', result: 'ANSWERED', transferredFromAgentId: agentId(0), holdCount: 0 }),
    ]);
    expect(record.legs[0]!.endAt).not.toBeNull();
    // Ann's and Bob's parts are recorded apart.
    expect(record.recordings).toHaveLength(2);
    await setPresence(0, 'OFFLINE');
    await setPresence(1, 'OFFLINE');
  });

  it('warm transfer cancelled: Bob is hung up, Ann is back with the customer; a supervisor hangs up', async () => {
    const caller = '13900000003';
    const { ann, bob, customer, talking } = await annTalksBobStandsBy(caller);
    await setPresence(1, 'AVAILABLE');
    const annToken = s.agents[0]!.token;
    await t.ok(annToken, 'mutation($c: ID!, $to: ID!) { startConsultTransfer(input: { contactId: $c, toAgentId: $to }) { id } }', { c: talking.contactId, to: agentId(1) });
    await recordWhen(caller, (r) => r.legs.some((l) => l.kind === 'CONSULT' && l.result === 'ANSWERED'));
    // While consulting the customer stays on hold: resume is refused.
    const resume = await t.gql(annToken, 'mutation($c: ID!) { resumeCall(input: { contactId: $c }) { id } }', { c: talking.contactId });
    expect(resume.errors?.[0]?.extensions?.code).toBe('CONFLICT');
    await t.ok(annToken, 'mutation($c: ID!) { cancelConsultTransfer(input: { contactId: $c }) { id } }', { c: talking.contactId });
    const b = await bob.done;
    expect(b.code, b.output).toBe(0);
    await new Promise((r) => setTimeout(r, 1000));
    // The admin (a supervisor's power) hangs up: ended by SYSTEM, supervisorHangUp.
    await t.ok(s.adminKey, 'mutation($c: ID!) { hangUpCall(input: { contactId: $c }) { id } }', { c: talking.contactId });
    const [c, a] = await Promise.all([customer.done, ann.done]);
    expect(c.code, c.output).toBe(0);
    expect(a.code, a.output).toBe(0);
    const record = await endedRecord(caller);
    expect(record).toMatchObject({ endStatus: 'supervisorHangUp', endedBy: 'SYSTEM', agent: { id: agentId(0) }, holdCount: 1 });
    expect(record.legs).toEqual([
      expect.objectContaining({ agentId: agentId(0), kind: 'OFFER', result: 'ANSWERED', transferredToAgentId: null }),
      expect.objectContaining({ agentId: agentId(1), kind: 'CONSULT', result: 'ANSWERED' }),
    ]);
    expect(record.legs[1]!.endAt).not.toBeNull();
    await setPresence(0, 'OFFLINE');
    await setPresence(1, 'OFFLINE');
  });

  it('REFER from the agent\'s phone to another agent: 202, NOTIFY 100 then 200, the agent is hung up and Bob takes the call', async () => {
    const annPorts = await registerPhone(0);
    const bobPorts = await registerPhone(1);
    await setPresence(0, 'AVAILABLE');
    const ann = phoneAnswers(0, annPorts, [{ step: 'agent-refers.xml', vars: { TALK_MS: 2000, TARGET: sipUser(1), USER: sipUser(0) } }]);
    const bob = phoneAnswers(1, bobPorts, [untilKefuHangsUp]);
    await Promise.all([ann.listening, bob.listening]);
    const caller = '13900000004';
    const customer = customerCalls(caller, 9000, { step: 'customer-hangs-up.xml' });
    await recordWhen(caller, (r) => r.acceptedAt !== null);
    await setPresence(1, 'AVAILABLE');
    const [c, a, b] = await Promise.all([customer.done, ann.done, bob.done]);
    expect(a.code, a.output).toBe(0);
    expect(c.code, c.output).toBe(0);
    expect(b.code, b.output).toBe(0);
    const record = await endedRecord(caller);
    expect(record).toMatchObject({ endStatus: 'ok', endedBy: 'CUSTOMER', agent: { id: agentId(1) } });
    expect(record.legs).toEqual([
      expect.objectContaining({ agentId: agentId(0), result: 'ANSWERED', transferredToAgentId: agentId(1) }),
      expect.objectContaining({ agentId: agentId(1), kind: 'OFFER', result: 'ANSWERED', transferredFromAgentId: agentId(0) }),
    ]);
    await setPresence(0, 'OFFLINE');
    await setPresence(1, 'OFFLINE');
  });

  it('REFER to an unknown target: 404, and the call goes on with the same agent', async () => {
    const annPorts = await registerPhone(0);
    await setPresence(0, 'AVAILABLE');
    const ann = phoneAnswers(0, annPorts, [{ step: 'agent-refer-refused.xml', vars: { TALK_MS: 1500, TARGET: 'nobody-here', USER: sipUser(0) } }, untilKefuHangsUp]);
    await ann.listening;
    const caller = '13900000005';
    const customer = customerCalls(caller, 8000, { step: 'customer-hangs-up.xml' });
    const [c, a] = await Promise.all([customer.done, ann.done]);
    expect(a.code, a.output).toBe(0);
    expect(c.code, c.output).toBe(0);
    const record = await endedRecord(caller);
    expect(record).toMatchObject({ endStatus: 'ok', endedBy: 'CUSTOMER', agent: { id: agentId(0) } });
    expect(record.legs).toEqual([expect.objectContaining({ agentId: agentId(0), result: 'ANSWERED', transferredToAgentId: null })]);
    await setPresence(0, 'OFFLINE');
  });

  it('REFER from baresip: a real softphone answers, presses transfer to Bob, and Bob takes the call', async () => {
    const bobPorts = await registerPhone(1);
    const cid = await startBaresip({ user: sipUser(2), sipPort: 28300, rtpPorts: '28310-28330', ctrlPort: 28340 });
    try {
      // baresip registers Cid's extension (digest), then auto-answers Kefu's INVITE.
      await until(async () => t.kefu.phone?.sip.registrations.lookup(agentId(2)).length ?? 0, (n) => n > 0, 10_000);
      await setPresence(2, 'AVAILABLE');
      const bob = phoneAnswers(1, bobPorts, [untilKefuHangsUp]);
      await bob.listening;
      const caller = '13900000006';
      const customer = customerCalls(caller, 9000, { step: 'customer-hangs-up.xml' });
      await recordWhen(caller, (r) => r.acceptedAt !== null).catch((e: unknown) => {
        customer.kill();
        bob.kill();
        throw new Error(`baresip did not take the call: ${String(e)}\n${cid.output}`, { cause: e });
      });
      await setPresence(1, 'AVAILABLE');
      await new Promise((r) => setTimeout(r, 1000));
      // The transfer key: baresip sends REFER with Refer-To: <sip:bob's username@kefu>.
      await cid.command('transfer', `sip:${sipUser(1)}@127.0.0.1:${SIP_PORT}`);
      const [c, b] = await Promise.all([customer.done, bob.done]);
      expect(c.code, c.output).toBe(0);
      expect(b.code, b.output).toBe(0);
      const record = await endedRecord(caller);
      expect(record).toMatchObject({ endStatus: 'ok', endedBy: 'CUSTOMER', agent: { id: agentId(1) } });
      expect(record.legs).toEqual([
        expect.objectContaining({ agentId: agentId(2), result: 'ANSWERED', transferredToAgentId: agentId(1) }),
        expect.objectContaining({ agentId: agentId(1), result: 'ANSWERED', transferredFromAgentId: agentId(2) }),
      ]);
    } finally {
      cid.stop();
      await setPresence(1, 'OFFLINE');
      await setPresence(2, 'OFFLINE');
    }
  });
});

/** baresip (Debian baresip-core) as an agent's softphone; under CI a missing binary fails the suite. */
function requireBaresip(): void {
  try {
    execFileSync('baresip', ['-h'], { stdio: 'ignore' });
  } catch (err) {
    // `baresip -h` exits non-zero; only a missing binary is an error.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error('baresip is not installed (Debian package baresip-core); the REFER test needs it', { cause: err });
  }
}

/**
 * A headless baresip: registers `user` to Kefu, answers every call at once (answermode=auto) and echoes
 * what it hears (aubridge: player to source). Commands go over its ctrl_tcp module (netstring-framed JSON).
 */
async function startBaresip(o: { user: string; sipPort: number; rtpPorts: string; ctrlPort: number }) {
  const dir = mkdtempSync(path.join(tmpdir(), 'kefu-baresip-'));
  writeFileSync(
    path.join(dir, 'config'),
    [
      'poll_method epoll',
      `sip_listen 127.0.0.1:${o.sipPort}`,
      'sip_transports udp',
      'audio_player aubridge,nil',
      'audio_source aubridge,nil',
      'audio_alert aubridge,nil',
      `rtp_ports ${o.rtpPorts}`,
      'module_path /usr/lib/baresip/modules',
      'module g711.so',
      'module aubridge.so',
      'module_app account.so',
      'module_app menu.so',
      'module_app ctrl_tcp.so',
      `ctrl_tcp_listen 127.0.0.1:${o.ctrlPort}`,
      '',
    ].join('\n'),
  );
  writeFileSync(path.join(dir, 'accounts'), `<sip:${o.user}@127.0.0.1:${SIP_PORT};transport=udp>;auth_pass=${sipPassword};answermode=auto;regint=300\n`);
  const child = spawn('baresip', ['-f', dir], { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  child.stderr.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  await until(async () => output, (text) => text.includes('baresip is ready'), 10_000);
  return {
    get output() {
      return output;
    },
    /** One ctrl_tcp command, e.g. ('transfer', 'sip:bob@host'); resolves once sent. */
    command(command: string, params: string): Promise<void> {
      const json = JSON.stringify({ command, params, token: 'kefu-test' });
      return new Promise((resolve, reject) => {
        const socket = connect(o.ctrlPort, '127.0.0.1', () => {
          socket.write(`${Buffer.byteLength(json)}:${json},`, () => {
            setTimeout(() => {
              socket.end();
              resolve();
            }, 200);
          });
        });
        socket.on('error', reject);
      });
    },
    stop(): void {
      child.kill('SIGKILL');
    },
  };
}
