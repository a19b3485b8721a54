// Hang-up races with a scripted peer on a raw UDP socket: CANCEL crossing 200, BYE crossing BYE.
import { createSocket, type Socket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sip from 'sip';
import { eventually, sampleSdp, startTestSipServer, type TestSipServer } from './sip-test-server.ts';

const port = 15110;

interface Received {
  text: string;
  message: NonNullable<ReturnType<typeof sip.parse>>;
}

class RawPeer {
  readonly received: Received[] = [];
  socket!: Socket;
  onMessage: (r: Received) => void = () => {};
  async open(): Promise<void> {
    this.socket = createSocket('udp4');
    this.socket.on('message', (m) => {
      const text = m.toString('latin1');
      const message = sip.parse(text);
      if (!message) return;
      const r = { text, message };
      this.received.push(r);
      this.onMessage(r);
    });
    await new Promise<void>((resolve) => this.socket.bind(0, '127.0.0.1', resolve));
  }
  get port(): number {
    return this.socket.address().port;
  }
  send(text: string): void {
    this.socket.send(Buffer.from(text, 'latin1'), port, '127.0.0.1');
  }
  /** A response to `request`, with our To tag. */
  respond(request: Received, status: number, reason: string, body = ''): void {
    const h = request.text.split('\r\n\r\n')[0]!.split('\r\n');
    const pick = (name: string) => h.filter((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
    const to = pick('To')[0]!;
    this.send(
      [
        `SIP/2.0 ${status} ${reason}`,
        ...pick('Via'),
        ...pick('From'),
        to.includes('tag=') ? to : `${to};tag=peer`,
        ...pick('Call-ID'),
        ...pick('CSeq'),
        `Contact: <sip:peer@127.0.0.1:${this.port}>`,
        ...(body ? ['Content-Type: application/sdp'] : []),
        `Content-Length: ${body.length}`,
        '',
        body,
      ].join('\r\n'),
    );
  }
  methods(): string[] {
    return this.received.map((r) => r.message.method ?? String(r.message.status));
  }
  close(): void {
    this.socket.close();
  }
}

describe('hang-up races', () => {
  let server: TestSipServer;
  const errors: unknown[] = [];

  beforeAll(async () => {
    server = await startTestSipServer(port, (call) => {
      call.ringing();
      void call.answer(sampleSdp(43_000)).catch(() => {});
    }, { logger: { info() {}, debug() {}, warn() {}, error: (e: unknown) => errors.push(e) } });
    server.directory.addNumber('+4930100', 'inst-a');
    server.directory.addTrunk({ id: 't', instanceId: 'inst-a', allowedAddresses: ['127.0.0.1'], digest: null });
  });

  afterAll(async () => {
    await server?.stop();
    expect(errors).toEqual([]);
  });

  it('CANCEL crossing a 200: ACKs the 200, sends BYE, reports failed 487 once', async () => {
    const peer = new RawPeer();
    await peer.open();
    peer.onMessage = (r) => {
      if (r.message.method === 'INVITE') peer.respond(r, 180, 'Ringing');
      // The phone answered just before our CANCEL arrived: 200 for the INVITE, then 481 for the CANCEL.
      if (r.message.method === 'CANCEL') {
        const invite = peer.received.find((x) => x.message.method === 'INVITE')!;
        peer.respond(invite, 200, 'OK', sampleSdp(44_000));
        peer.respond(r, 481, 'Call/Transaction Does Not Exist');
      }
      if (r.message.method === 'BYE') peer.respond(r, 200, 'OK');
    };
    const call = server.server.call({ uri: `sip:agent@127.0.0.1:${peer.port}` }, { from: '100', sdp: sampleSdp(43_002) });
    const events: string[] = [];
    call.on('ringing', () => events.push('ringing'));
    call.on('answered', () => events.push('answered'));
    call.on('failed', (s) => events.push(`failed ${s}`));
    call.on('ended', (by) => events.push(`ended ${by}`));
    await eventually(() => events.includes('ringing'));
    call.cancel();
    await eventually(() => peer.methods().includes('BYE'));
    expect(peer.methods()).toEqual(['INVITE', 'CANCEL', 'ACK', 'BYE']);
    expect(events).toEqual(['ringing', 'failed 487']);
    peer.close();
  });

  it('BYE crossing BYE on an inbound call: both answered, ended fires once', async () => {
    const peer = new RawPeer();
    await peer.open();
    const callId = 'crossing-bye-1';
    const inviteText = [
      `INVITE sip:+4930100@127.0.0.1:${port} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${peer.port};branch=z9hG4bK-x1;rport`,
      'From: <sip:+4930999@127.0.0.1>;tag=caller',
      'To: <sip:+4930100@127.0.0.1>',
      `Call-ID: ${callId}`,
      'CSeq: 1 INVITE',
      `Contact: <sip:caller@127.0.0.1:${peer.port}>`,
      'Content-Type: application/sdp',
      `Content-Length: ${sampleSdp(45_000).length}`,
      '',
      sampleSdp(45_000),
    ].join('\r\n');
    peer.send(inviteText);
    await eventually(() => peer.methods().includes('200'));
    const ok = peer.received.find((r) => r.message.status === 200)!;
    const toTag = ok.message.headers.to!.params.tag;
    peer.send(
      [`ACK sip:kefu@127.0.0.1:${port} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${peer.port};branch=z9hG4bK-x2;rport`, 'From: <sip:+4930999@127.0.0.1>;tag=caller', `To: <sip:+4930100@127.0.0.1>;tag=${toTag}`, `Call-ID: ${callId}`, 'CSeq: 1 ACK', 'Content-Length: 0', '', ''].join('\r\n'),
    );
    const call = server.calls.at(-1)!;
    const ended: string[] = [];
    call.on('ended', (by, reason) => ended.push(`${by} ${reason}`));
    await new Promise((r) => setTimeout(r, 100));
    peer.onMessage = (r) => {
      if (r.message.method === 'BYE') peer.respond(r, 200, 'OK');
    };
    // Both sides hang up at once.
    const hangup = call.hangup();
    peer.send(
      [`BYE sip:kefu@127.0.0.1:${port} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${peer.port};branch=z9hG4bK-x3;rport`, 'From: <sip:+4930999@127.0.0.1>;tag=caller', `To: <sip:+4930100@127.0.0.1>;tag=${toTag}`, `Call-ID: ${callId}`, 'CSeq: 2 BYE', 'Content-Length: 0', '', ''].join('\r\n'),
    );
    await hangup;
    await eventually(() => peer.received.some((r) => r.message.status === 200 && r.message.headers.cseq?.method === 'BYE'));
    expect(ended).toEqual(['local hangup']);
    expect(peer.methods().filter((m) => m === 'BYE')).toHaveLength(1);
    peer.close();
  });
});
