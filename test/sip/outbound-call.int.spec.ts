// SipServer.call() as a UAC against SIPp playing an agent phone: answer, BYE either way, CANCEL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OutboundCall } from '../../src/adapters/sip/outbound-call.ts';
import { explain, freeUdpPort, requireSipp, skipWithoutSipp, startSipp, type SippResult } from './sipp.ts';
import { eventually, sampleSdp, startTestSipServer, type TestSipServer } from './sip-test-server.ts';

const port = 15090;

function record(call: OutboundCall): string[] {
  const events: string[] = [];
  call.on('ringing', () => events.push('ringing'));
  call.on('answered', (sdp) => events.push(`answered ${/m=audio \d+/.exec(sdp)?.[0] ?? 'no sdp'}`));
  call.on('failed', (status, reason) => events.push(`failed ${status} ${reason}`));
  call.on('ended', (by, reason) => events.push(`ended ${by} ${reason}`));
  return events;
}

describe.skipIf(skipWithoutSipp)('outbound call to an agent phone (SIPp UAS)', () => {
  let sip: TestSipServer;

  beforeAll(async () => {
    requireSipp();
    sip = await startTestSipServer(port);
  });

  afterAll(async () => {
    await sip?.stop();
  });

  /** Starts SIPp as the phone and returns its port and result. */
  async function phone(scenario: string): Promise<{ phonePort: number; result: Promise<SippResult> }> {
    const phonePort = await freeUdpPort();
    const run = await startSipp({ scenario, localPort: phonePort });
    // Our INVITE is resent after 500 ms over UDP anyway; this just avoids the first one being lost.
    await new Promise((r) => setTimeout(r, 300));
    return { phonePort, result: run.result };
  }

  it('rings once, gets answered, ACKs, and hangs up with BYE; requests go to the registration source (NAT)', async () => {
    const { phonePort, result } = await phone('phone-answers.xml');
    // The phone registered a Contact it cannot be reached at (behind NAT); its source is where it is.
    const [registration] = sip.server.registrations.apply(
      { agentId: 'agent-nat', instanceId: 'inst-1' },
      [{ contactUri: 'sip:agent@192.0.2.10:5999', expiresSeconds: 60 }],
      { address: '127.0.0.1', port: phonePort, transport: 'udp' },
      null,
    );
    const call = sip.server.call({ uri: registration!.contactUri, via: registration!.source }, { from: '+4930111222', fromName: 'Ada', sdp: sampleSdp(42_000) });
    const events = record(call);
    await eventually(() => events.some((e) => e.startsWith('answered')));
    await call.hangup();
    const outcome = await result;
    expect(outcome.code, explain(outcome)).toBe(0);
    expect(events).toEqual([expect.stringMatching(/^ringing$/), expect.stringMatching(/^answered m=audio \d+$/), 'ended local hangup']);
  });

  it('reports the phone hanging up as ended by remote', async () => {
    const { phonePort, result } = await phone('phone-hangs-up.xml');
    const call = sip.server.call({ uri: `sip:agent@127.0.0.1:${phonePort}` }, { from: '+4930111222', sdp: sampleSdp(42_002) });
    const events = record(call);
    const outcome = await result;
    expect(outcome.code, explain(outcome)).toBe(0);
    await eventually(() => events.includes('ended remote BYE'));
    expect(events).toEqual(['ringing', expect.stringMatching(/^answered/), 'ended remote BYE']);
  });

  it('cancels a ringing phone: CANCEL, then failed 487 when the 487 arrives (and ACKs it)', async () => {
    const { phonePort, result } = await phone('phone-rings.xml');
    const call = sip.server.call({ uri: `sip:agent@127.0.0.1:${phonePort}` }, { from: '+4930111222', sdp: sampleSdp(42_004) });
    const events = record(call);
    await eventually(() => events.includes('ringing'));
    call.cancel();
    call.cancel(); // twice is harmless
    const outcome = await result;
    expect(outcome.code, explain(outcome)).toBe(0);
    await eventually(() => events.some((e) => e.startsWith('failed')));
    expect(events).toEqual(['ringing', 'failed 487 Request Terminated']);
  });

  it('fails with 503 when the phone\'s TCP port refuses the connection', async () => {
    const deadPort = await freeUdpPort();
    const call = sip.server.call({ uri: `sip:agent@127.0.0.1:${deadPort};transport=tcp` }, { from: '+4930111222', sdp: sampleSdp(42_006) });
    const events = record(call);
    await eventually(() => events.length > 0);
    expect(events).toEqual(['failed 503 Service Unavailable']);
  });
});
