// Malformed input over raw UDP and TCP sockets: 400 when the request can be answered, silence
// otherwise, and the server keeps answering OPTIONS.
import { createSocket, type Socket } from 'node:dgram';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, sampleSdp, startTestSipServer, type TestSipServer } from './sip-test-server.ts';

const port = 15070;

function request(lines: string[], body = ''): string {
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

const via = (n: number, transport = 'UDP') => `Via: SIP/2.0/${transport} 127.0.0.1:9;branch=z9hG4bK-malformed-${n};rport`;
const options = (n: number, transport = 'UDP') =>
  request([
    `OPTIONS sip:kefu@127.0.0.1:${port} SIP/2.0`,
    via(n, transport),
    'From: <sip:probe@127.0.0.1>;tag=p1',
    'To: <sip:kefu@127.0.0.1>',
    `Call-ID: options-${n}`,
    'CSeq: 1 OPTIONS',
    'Max-Forwards: 70',
    'Content-Length: 0',
  ]);

/** An INVITE to +4930100 from an allowed trunk address; `extra` replaces the header of the same name or is added. */
const invite = (n: number, o: { via?: string; uri?: string; extra?: string } = {}) => {
  const lines = [
    `INVITE ${o.uri ?? `sip:+4930100@127.0.0.1:${port}`} SIP/2.0`,
    o.via ?? `Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-invite-${n};rport`,
    'From: "Ada" <sip:+4930111@127.0.0.1>;tag=a1',
    'To: <sip:+4930100@127.0.0.1>',
    `Call-ID: invite-${n}`,
    'CSeq: 1 INVITE',
    'Contact: <sip:ada@127.0.0.1:9>',
    'Max-Forwards: 70',
    'Content-Type: application/sdp',
  ];
  if (o.extra) {
    const name = o.extra.split(':')[0]!.toLowerCase();
    const at = lines.findIndex((line) => line.toLowerCase().startsWith(`${name}:`));
    if (at >= 0) lines[at] = o.extra;
    else lines.push(o.extra);
  }
  const body = sampleSdp(40_010);
  return request([...lines, `Content-Length: ${Buffer.byteLength(body)}`], body);
};

class UdpProbe {
  readonly replies: string[] = [];
  private readonly socket: Socket = createSocket('udp4');
  async open(): Promise<void> {
    this.socket.on('message', (m) => this.replies.push(m.toString('latin1')));
    await new Promise<void>((resolve) => this.socket.bind(0, '127.0.0.1', resolve));
  }
  /** Sends and returns the first reply within waitMs, or null. */
  async exchange(data: string | Buffer, waitMs = 300): Promise<string | null> {
    const before = this.replies.length;
    this.socket.send(typeof data === 'string' ? Buffer.from(data, 'latin1') : data, port, '127.0.0.1');
    const deadline = Date.now() + waitMs;
    while (Date.now() < deadline && this.replies.length === before) await new Promise((r) => setTimeout(r, 10));
    return this.replies[before] ?? null;
  }
  close(): void {
    this.socket.close();
  }
}

class TcpProbe {
  received = '';
  closed = false;
  private socket!: net.Socket;
  async open(): Promise<void> {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.on('data', (d) => (this.received += d.toString('latin1')));
    this.socket.on('close', () => (this.closed = true));
    this.socket.on('error', () => {});
    await new Promise((resolve) => this.socket.once('connect', resolve));
  }
  /** Sends and waits for the reply text to contain `expected` (or waitMs). */
  async exchange(data: string, expected: string | null, waitMs = 500): Promise<string> {
    this.received = '';
    this.socket.write(Buffer.from(data, 'latin1'));
    const deadline = Date.now() + waitMs;
    while (Date.now() < deadline && !(expected && this.received.includes(expected))) await new Promise((r) => setTimeout(r, 10));
    return this.received;
  }
  close(): void {
    this.socket.destroy();
  }
}

const statusLine = (reply: string | null) => reply?.split('\r\n')[0] ?? null;

describe('malformed SIP', () => {
  let sip: TestSipServer;
  let errors: unknown[];

  beforeAll(async () => {
    errors = [];
    sip = await startTestSipServer(port, undefined, {
      logger: { info() {}, debug() {}, warn() {}, error: (obj: unknown) => errors.push(obj) },
    });
    sip.directory.addNumber('+4930100', 'inst-a');
    sip.directory.addTrunk({ id: 'trunk-a', instanceId: 'inst-a', allowedAddresses: ['127.0.0.1'], digest: null });
  });

  afterAll(async () => {
    await sip?.stop();
  });

  describe('over UDP', () => {
    const udp = new UdpProbe();
    beforeAll(() => udp.open());
    afterAll(() => udp.close());

    it('drops garbage and a request without a usable Via', async () => {
      expect(await udp.exchange('hello there\r\n\r\n')).toBeNull();
      expect(await udp.exchange(Buffer.from([0, 255, 13, 10, 13, 10, 1, 2, 3]))).toBeNull();
      expect(await udp.exchange(options(1).replace(/^Via: .*$/m, 'Via: garbage'))).toBeNull();
      expect(await udp.exchange(options(2).replace(/^Via: .*\r\n/m, ''))).toBeNull();
    });

    it('answers 400 to a request missing Call-ID, From, To or CSeq', async () => {
      for (const [n, header] of [[3, 'Call-ID'], [4, 'From'], [5, 'To'], [6, 'CSeq']] as const) {
        const reply = await udp.exchange(options(n).replace(new RegExp(`^${header}: .*\\r\\n`, 'm'), ''));
        expect(statusLine(reply), header).toBe('SIP/2.0 400 Missing or Bad ' + header);
      }
    });

    it('answers 400 to a Content-Length larger than the body', async () => {
      const reply = await udp.exchange(options(7).replace('Content-Length: 0', 'Content-Length: 500') + 'v=0\r\n');
      expect(statusLine(reply)).toBe('SIP/2.0 400 Content-Length Larger Than Body');
    });

    it('answers 400 to a 20 KB header line and to too many headers', async () => {
      const long = await udp.exchange(options(8).replace('Max-Forwards: 70', `Max-Forwards: 70\r\nX-Long: ${'a'.repeat(20_000)}`));
      expect(statusLine(long)).toBe('SIP/2.0 400 Header Line Too Long');
      const many = await udp.exchange(options(9).replace('Max-Forwards: 70', Array.from({ length: 150 }, (_, i) => `X-H${i}: ${i}`).join('\r\n')));
      expect(statusLine(many)).toBe('SIP/2.0 400 Too Many Headers');
    });

    it('answers a request with a mismatched CSeq method or a bad Request-URI with 400', async () => {
      expect(statusLine(await udp.exchange(options(10).replace('CSeq: 1 OPTIONS', 'CSeq: 1 INVITE')))).toBe('SIP/2.0 400 CSeq Method Mismatch');
      expect(statusLine(await udp.exchange(options(11).replace(`OPTIONS sip:kefu@127.0.0.1:${port}`, 'OPTIONS nonsense')))).toBe('SIP/2.0 400 Bad Request-URI');
    });

    it('answers 400 to a Via port above 65535 or 0, and stays up past the retransmission timers', async () => {
      // Without rport the response goes to the Via port: Node throws ERR_SOCKET_BAD_PORT on it, and the
      // INVITE transaction's retransmission timer threw it outside any handler.
      for (const [n, bad] of [[30, '70000'], [31, '0'], [32, '99999999999']] as const) {
        const reply = await udp.exchange(invite(n, { via: `Via: SIP/2.0/UDP 127.0.0.1:${bad};branch=z9hG4bK-badport-${n}` }));
        expect(statusLine(reply), bad).toBe('SIP/2.0 400 Missing or Bad Via');
      }
      // Timer G would have resent the final response after 500 ms and 1 s.
      await new Promise((r) => setTimeout(r, 1200));
      expect(statusLine(await udp.exchange(options(33), 1000))).toBe('SIP/2.0 200 OK');
      expect(errors).toEqual([]);
    });

    it('answers 400 to a Via host that is not a host name or address', async () => {
      for (const [n, host] of [[34, 'exa mple'], [35, 'a_b!'], [36, '-bad-.example']] as const) {
        const reply = await udp.exchange(invite(n, { via: `Via: SIP/2.0/UDP ${host};branch=z9hG4bK-badhost-${n};rport` }));
        expect(statusLine(reply), host).toBe('SIP/2.0 400 Missing or Bad Via');
      }
    });

    it('answers 400, not 500, to a Request-URI with broken percent-encoding', async () => {
      const reply = await udp.exchange(invite(37, { uri: 'sip:%E0%A4%A@127.0.0.1' }));
      expect(statusLine(reply)).toBe('SIP/2.0 400 Bad Request-URI');
      expect(errors).toEqual([]);
    });

    it('answers 400 to NUL, control characters, invalid UTF-8 or lone surrogates in a header', async () => {
      const cases: [number, string, string][] = [
        [38, 'From: "Ada\x00" <sip:+4930111@127.0.0.1>;tag=a', 'SIP/2.0 400 Bad Header'],
        [39, 'From: "Ada\x07" <sip:+4930111@127.0.0.1>;tag=a', 'SIP/2.0 400 Bad Header'],
        // A UTF-16 surrogate encoded as UTF-8 (CESU-8), and a lone continuation byte.
        [40, 'From: "Ada\xed\xa0\x80" <sip:+4930111@127.0.0.1>;tag=a', 'SIP/2.0 400 Invalid UTF-8'],
        [41, 'From: "Ada\x80" <sip:+4930111@127.0.0.1>;tag=a', 'SIP/2.0 400 Invalid UTF-8'],
        [42, 'From: <sip:%00evil@127.0.0.1>;tag=a', 'SIP/2.0 400 Missing or Bad From'],
        [43, 'From: <sip:%ED%A0%80@127.0.0.1>;tag=a', 'SIP/2.0 400 Missing or Bad From'],
        [44, 'Subject: hello\x00world', 'SIP/2.0 400 Bad Header'],
        [45, `From: "${'A'.repeat(300)}" <sip:+4930111@127.0.0.1>;tag=a`, 'SIP/2.0 400 Missing or Bad From'],
        [46, 'Contact: <sip:%zz@127.0.0.1>', 'SIP/2.0 400 Missing or Bad Contact'],
        [48, `From: <sip:${'1'.repeat(129)}@127.0.0.1>;tag=a`, 'SIP/2.0 400 Missing or Bad From'],
        [49, 'From: <sip:ada%0A@127.0.0.1>;tag=a', 'SIP/2.0 400 Missing or Bad From'],
      ];
      for (const [n, header, expected] of cases) {
        // The header text is bytes (latin1), so \xed\xa0\x80 goes out as those three bytes.
        expect(statusLine(await udp.exchange(Buffer.from(invite(n, { extra: header }), 'latin1'))), JSON.stringify(header.slice(0, 40))).toBe(expected);
      }
      expect(sip.calls).toEqual([]);
      expect(errors).toEqual([]);
    });

    it('hands a UTF-8 display name to the call as UTF-8 text', async () => {
      const bytes = Buffer.from(invite(47, { extra: 'From: "José 王" <sip:+4930111@127.0.0.1>;tag=a' }), 'utf8');
      expect(statusLine(await udp.exchange(bytes))).toBe('SIP/2.0 100 Trying');
      await eventually(() => sip.calls.length === 1);
      expect(sip.calls[0]).toMatchObject({ from: '+4930111', fromDisplayName: 'José 王' });
      sip.calls[0]!.reject(486, 'Busy Here');
      // ACK the 486, so that its retransmissions do not answer the next test's requests.
      await eventually(() => udp.replies.some((r) => r.startsWith('SIP/2.0 486')));
      const busy = udp.replies.find((r) => r.startsWith('SIP/2.0 486'))!;
      const ack = request([
        `ACK sip:+4930100@127.0.0.1:${port} SIP/2.0`,
        'Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-invite-47;rport',
        'From: "José 王" <sip:+4930111@127.0.0.1>;tag=a',
        /^To: .*$/m.exec(busy)![0],
        'Call-ID: invite-47',
        'CSeq: 1 ACK',
        'Max-Forwards: 70',
        'Content-Length: 0',
      ]);
      expect(await udp.exchange(Buffer.from(ack, 'utf8'), 700)).toBeNull();
    });

    it('answers an unsupported method with 405 and Allow', async () => {
      const reply = await udp.exchange(options(12).replace(/OPTIONS/g, 'SUBSCRIBE'));
      expect(statusLine(reply)).toBe('SIP/2.0 405 Method Not Allowed');
      expect(reply).toMatch(/^Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REGISTER$/m);
    });

    it('survives a flood of junk and still answers OPTIONS with 200', async () => {
      for (let i = 0; i < 2000; i++) udp.exchange(i % 2 ? `INVITE ${'x'.repeat(i % 300)}\r\n\r\n` : Buffer.from(Array.from({ length: i % 900 }, (_, j) => (i * j) % 256)), 0);
      // The kernel may drop datagrams of the flood (and a ping in it); a phone's next ping gets through.
      let reply: string | null = null;
      for (let attempt = 0; attempt < 10 && !reply; attempt++) reply = await udp.exchange(options(13), 500);
      expect(statusLine(reply)).toBe('SIP/2.0 200 OK');
      expect(errors).toEqual([]);
    });
  });

  describe('sending to an address Node cannot send to', () => {
    it('fails the call with 503 and keeps running', async () => {
      const targets = [
        { uri: 'sip:agent@127.0.0.1:99999' },
        { uri: 'sip:agent@127.0.0.1', via: { address: '127.0.0.1', port: 70000, transport: 'udp' as const } },
        { uri: 'sip:agent@127.0.0.1', via: { address: 'not an address', port: 5060, transport: 'tcp' as const } },
      ];
      for (const target of targets) {
        const call = sip.server.call(target, { from: '+4930100', sdp: sampleSdp(40_020) });
        const status = await new Promise<number>((resolve) => call.on('failed', (s) => resolve(s)));
        expect(status, JSON.stringify(target)).toBe(503);
      }
      expect(errors).toEqual([]);
    });
  });

  describe('over TCP', () => {
    it('answers 400 to missing headers and long lines, then OPTIONS on the same connection', async () => {
      const tcp = new TcpProbe();
      await tcp.open();
      expect(await tcp.exchange(options(20, 'TCP').replace(/^Call-ID: .*\r\n/m, ''), '\r\n\r\n')).toMatch(/^SIP\/2.0 400 Missing or Bad Call-ID/);
      expect(await tcp.exchange(options(21, 'TCP').replace('Max-Forwards: 70', `Max-Forwards: 70\r\nX-Long: ${'a'.repeat(20_000)}`), '\r\n\r\n')).toMatch(
        /^SIP\/2.0 400 Header Line Too Long/,
      );
      expect(await tcp.exchange(options(22, 'TCP'), '\r\n\r\n')).toMatch(/^SIP\/2.0 200 OK/);
      // A double-CRLF keepalive ping gets a CRLF pong (RFC 5626).
      expect(await tcp.exchange('\r\n\r\n', '\r\n')).toBe('\r\n');
      tcp.close();
    });

    it('ignores garbage heads, closes on a broken Content-Length, and keeps serving new connections', async () => {
      const tcp = new TcpProbe();
      await tcp.open();
      expect(await tcp.exchange('complete nonsense\r\n\r\n', null, 200)).toBe('');
      expect(await tcp.exchange(options(23, 'TCP').replace('Content-Length: 0', 'Content-Length: -3'), '\r\n\r\n')).toMatch(/^SIP\/2.0 400 Bad Content-Length/);
      await new Promise((r) => setTimeout(r, 100));
      expect(tcp.closed).toBe(true);

      const huge = new TcpProbe();
      await huge.open();
      await huge.exchange(`OPTIONS sip:x SIP/2.0\r\nX: ${'b'.repeat(100_000)}`, null, 300);
      expect(huge.closed).toBe(true);

      const fresh = new TcpProbe();
      await fresh.open();
      expect(await fresh.exchange(options(24, 'TCP'), '\r\n\r\n')).toMatch(/^SIP\/2.0 200 OK/);
      fresh.close();
      expect(errors).toEqual([]);
    });
  });
});
