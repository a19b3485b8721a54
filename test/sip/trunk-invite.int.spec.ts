// INVITEs from trunks with real SIPp: answered calls, refusals, digest trunks, CANCEL, retransmits.
import { createSocket, type Socket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InboundCall } from '../../src/adapters/sip/inbound-call.ts';
import { digestHa1 } from '../../src/adapters/sip/digest-auth.ts';
import { explain, freeSipPort, requireSipp, retransmissionsReceived, runSipp, skipWithoutSipp } from './sipp.ts';
import { eventually, realm, sampleSdp, startTestSipServer, type TestSipServer } from './sip-test-server.ts';

const port = 15080;
const remote = `127.0.0.1:${port}`;

/** What the test's call control does per DID. */
const behaviour: Record<string, (call: InboundCall) => void> = {
  '+4930100': (call) => {
    call.ringing();
    void call.answer(sampleSdp(40_000));
  },
  '+4930200': (call) => call.ringing(),
  '+4930300': (call) => {
    call.ringing();
    void call.answer(sampleSdp(40_002));
  },
};

describe.skipIf(skipWithoutSipp)('trunk INVITE (SIPp)', () => {
  let sip: TestSipServer;
  const ended = new Map<string, string>();
  const dtmf: string[] = [];

  beforeAll(async () => {
    requireSipp();
    sip = await startTestSipServer(port, (call) => {
      call.on('ended', (by, reason) => ended.set(call.callId, `${by}:${reason}`));
      call.on('dtmf', (digit) => dtmf.push(digit));
      behaviour[call.to]?.(call);
    });
    sip.directory.addNumber('+4930100', 'inst-a');
    sip.directory.addNumber('+4930200', 'inst-a');
    sip.directory.addTrunk({ id: 'trunk-a', instanceId: 'inst-a', allowedAddresses: ['10.0.0.0/8', '127.0.0.0/24'], digest: null });
    sip.directory.addNumber('+4930900', 'inst-b');
    sip.directory.addTrunk({ id: 'trunk-b', instanceId: 'inst-b', allowedAddresses: ['192.0.2.0/24'], digest: null });
    sip.directory.addNumber('+4930300', 'inst-c');
    sip.directory.addTrunk({ id: 'trunk-c', instanceId: 'inst-c', allowedAddresses: [], digest: { username: 'carrier', ha1: digestHa1('carrier', realm, 'trunk-pass') } });
  });

  afterAll(async () => {
    await sip?.stop();
  });

  const sipp = async (scenario: string, number: string, extra: string[] = [], transport: 'udp' | 'tcp' = 'udp') =>
    runSipp({ scenario, remote, localPort: await freeSipPort(transport), service: number, transport, extra });

  it('rings, answers and reports the caller hanging up (UDP)', async () => {
    const result = await sipp('trunk-call.xml', '+4930100');
    expect(result.code, explain(result)).toBe(0);
    const call = sip.calls.at(-1)!;
    expect(call).toMatchObject({ instanceId: 'inst-a', trunkId: 'trunk-a', from: '+4930111222', fromDisplayName: 'Ada Customer', to: '+4930100', flowId: 'flow-1' });
    expect(call.remoteSdp).toMatch(/^m=audio \d+ RTP\/AVP 0/m);
    expect(call.source).toMatchObject({ address: '127.0.0.1', transport: 'udp' });
    await eventually(() => ended.has(call.callId));
    expect(ended.get(call.callId)).toBe('remote:BYE');
  });

  it('does the same over TCP', async () => {
    const result = await sipp('trunk-call.xml', '+4930100', [], 'tcp');
    expect(result.code, explain(result)).toBe(0);
    const call = sip.calls.at(-1)!;
    expect(call.source.transport).toBe('tcp');
    await eventually(() => ended.has(call.callId));
    expect(ended.get(call.callId)).toBe('remote:BYE');
  });

  it('refuses an unknown number with 404', async () => {
    const before = sip.calls.length;
    const result = await sipp('trunk-call-not-found.xml', '+4930555');
    expect(result.code, explain(result)).toBe(0);
    // The ACK reached the INVITE transaction, so the 404 was not resent.
    expect(retransmissionsReceived(result, 404), explain(result)).toBe(0);
    expect(sip.calls.length).toBe(before);
  });

  it('refuses a source address outside the instance trunks with 403', async () => {
    const before = sip.calls.length;
    const result = await sipp('trunk-call-forbidden.xml', '+4930900');
    expect(result.code, explain(result)).toBe(0);
    expect(retransmissionsReceived(result, 403), explain(result)).toBe(0);
    expect(sip.calls.length).toBe(before);
  });

  it('authenticates a digest trunk with 407 and accepts the retried INVITE', async () => {
    const result = await sipp('trunk-call-digest.xml', '+4930300', ['-au', 'carrier', '-ap', 'trunk-pass']);
    expect(result.code, explain(result)).toBe(0);
    const call = sip.calls.at(-1)!;
    expect(call).toMatchObject({ instanceId: 'inst-c', trunkId: 'trunk-c', to: '+4930300' });
    await eventually(() => ended.has(call.callId));
    expect(ended.get(call.callId)).toBe('remote:BYE');
  });

  it('keeps challenging a digest trunk with the wrong password', async () => {
    const before = sip.calls.length;
    const result = await sipp('trunk-call-digest-rejected.xml', '+4930300', ['-au', 'carrier', '-ap', 'wrong']);
    expect(result.code, explain(result)).toBe(0);
    expect(retransmissionsReceived(result, 407), explain(result)).toBe(0);
    expect(sip.calls.length).toBe(before);
  });

  it('ends the call on CANCEL while ringing: 200, 487, ended by remote', async () => {
    const result = await sipp('trunk-call-cancel.xml', '+4930200');
    expect(result.code, explain(result)).toBe(0);
    expect(retransmissionsReceived(result, 487), explain(result)).toBe(0);
    const call = sip.calls.at(-1)!;
    expect(call.to).toBe('+4930200');
    expect(ended.get(call.callId)).toBe('remote:CANCEL');
  });

  it('reports DTMF sent by SIP INFO and answers a hold re-INVITE with the same SDP', async () => {
    dtmf.length = 0;
    const result = await sipp('trunk-call-dtmf.xml', '+4930100');
    expect(result.code, explain(result)).toBe(0);
    expect(dtmf).toEqual(['5', '#']);
    const call = sip.calls.at(-1)!;
    expect(call.remoteSdp).toMatch(/a=sendonly/);
    await eventually(() => ended.has(call.callId));
  });

  describe('over a raw UDP socket', () => {
    let socket: Socket;
    const replies: string[] = [];
    beforeAll(async () => {
      socket = createSocket('udp4');
      socket.on('message', (m) => replies.push(m.toString('latin1')));
      await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    });
    afterAll(() => socket.close());

    const invite = (callId: string, number: string, body: string | null) =>
      [
        `INVITE sip:${number}@127.0.0.1:${port} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${socket.address().port};branch=z9hG4bK-${callId};rport`,
        `From: <sip:+4930111222@127.0.0.1>;tag=raw-${callId}`,
        `To: <sip:${number}@127.0.0.1>`,
        `Call-ID: ${callId}`,
        'CSeq: 1 INVITE',
        `Contact: <sip:raw@127.0.0.1:${socket.address().port}>`,
        ...(body ? ['Content-Type: application/sdp'] : []),
        `Content-Length: ${body?.length ?? 0}`,
        '',
        body ?? '',
      ].join('\r\n');
    const send = (text: string) => socket.send(Buffer.from(text, 'latin1'), port, '127.0.0.1');
    const statuses = (callId: string) => replies.filter((r) => r.includes(`Call-ID: ${callId}`)).map((r) => r.split('\r\n')[0]!.split(' ')[1]);

    it('absorbs a retransmitted INVITE: one InboundCall, the last response repeated', async () => {
      const before = sip.calls.length;
      const text = invite('retransmit-1', '+4930200', sampleSdp(41_000));
      send(text);
      await eventually(() => statuses('retransmit-1').includes('180'));
      send(text);
      send(text);
      await eventually(() => statuses('retransmit-1').filter((s) => s === '180').length >= 3);
      expect(sip.calls.length).toBe(before + 1);
      await sip.calls.at(-1)!.hangup();
      await eventually(() => statuses('retransmit-1').includes('480'));
    });

    it('answers an INVITE without SDP (late offer) with 488', async () => {
      send(invite('no-sdp-1', '+4930100', null));
      await eventually(() => statuses('no-sdp-1').includes('488'));
      expect(replies.find((r) => r.includes('Call-ID: no-sdp-1') && r.includes(' 488 '))).toMatch(/^SIP\/2.0 488 Offer Required/);
    });

    it('answers an INVITE from a registered agent phone with 403 and a clear reason', async () => {
      sip.server.registrations.apply({ agentId: 'agent-x', instanceId: 'inst-a' }, [{ contactUri: 'sip:x@127.0.0.1', expiresSeconds: 60 }], { address: '127.0.0.1', port: socket.address().port, transport: 'udp' }, null);
      send(invite('phone-1', '+4930100', sampleSdp(41_002)));
      await eventually(() => statuses('phone-1').includes('403'));
      expect(replies.find((r) => r.includes('Call-ID: phone-1') && r.includes(' 403 '))).toMatch(/^SIP\/2.0 403 Calls From Agent Phones Are Not Supported Yet/);
      sip.server.registrations.removeAll('agent-x');
    });
  });
});
