import { describe, expect, it } from 'vitest';
import { buildOfferSdp, buildSdp, negotiate, parseSdp, SdpError } from '../../src/adapters/media/sdp.ts';

const crlf = (lines: string[]) => lines.join('\r\n') + '\r\n';

// What SIPp's built-in uac scenario sends.
const SIPP_OFFER = crlf([
  'v=0',
  'o=user1 53655765 2353687637 IN IP4 127.0.1.1',
  's=-',
  'c=IN IP4 127.0.1.1',
  't=0 0',
  'm=audio 6000 RTP/AVP 0',
  'a=rtpmap:0 PCMU/8000',
]);

// baresip with opus first, G.722, G.711 and telephone-event.
const BARESIP_OFFER = crlf([
  'v=0',
  'o=- 1911215543 3254281468 IN IP4 192.168.1.23',
  's=-',
  'c=IN IP4 192.168.1.23',
  't=0 0',
  'm=audio 10036 RTP/AVP 96 9 0 8 101',
  'b=AS:125',
  'a=rtpmap:96 opus/48000/2',
  'a=fmtp:96 stereo=1;sprop-stereo=1',
  'a=rtpmap:9 G722/8000',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-15',
  'a=sendrecv',
  'a=label:1',
  'a=ssrc:3371545396 cname:cb2cbd0b-f64e-4ee6-9b42-bf30226a71e2',
  'a=rtcp-rsize',
]);

// Linphone: many codecs, telephone-event at three clock rates, LF line ends, video after audio.
const LINPHONE_OFFER = [
  'v=0',
  'o=alice 3237 1280 IN IP4 10.0.0.20',
  's=Talk',
  'c=IN IP4 10.0.0.20',
  't=0 0',
  'a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics',
  'm=audio 7078 RTP/AVP 96 97 98 8 0 18 101 99 100',
  'a=rtpmap:96 opus/48000/2',
  'a=fmtp:96 useinbandfec=1',
  'a=rtpmap:97 speex/16000',
  'a=rtpmap:98 speex/8000',
  'a=fmtp:18 annexb=yes',
  'a=rtpmap:101 telephone-event/48000',
  'a=rtpmap:99 telephone-event/16000',
  'a=rtpmap:100 telephone-event/8000',
  'a=rtcp-fb:* trr-int 1000',
  'm=video 9078 RTP/AVP 103',
  'c=IN IP4 10.0.0.99',
  'a=rtpmap:103 VP8/90000',
  'a=recvonly',
  '',
].join('\n');

describe('parseSdp', () => {
  it('reads the SIPp offer: address, port, PCMU, no telephone-event', () => {
    expect(parseSdp(SIPP_OFFER)).toEqual({
      address: '127.0.1.1',
      port: 6000,
      codecs: [{ payloadType: 0, name: 'PCMU', clockRate: 8000 }],
      dtmfPayloadType: null,
      direction: 'sendrecv',
    });
  });

  it('reads the baresip offer with opus first and telephone-event 101', () => {
    const sdp = parseSdp(BARESIP_OFFER);
    expect(sdp.address).toBe('192.168.1.23');
    expect(sdp.port).toBe(10036);
    expect(sdp.codecs.map((c) => `${c.payloadType} ${c.name}/${c.clockRate}`)).toEqual([
      '96 opus/48000',
      '9 G722/8000',
      '0 PCMU/8000',
      '8 PCMA/8000',
      '101 telephone-event/8000',
    ]);
    expect(sdp.dtmfPayloadType).toBe(101);
  });

  it('reads the linphone offer: static PCMA/PCMU without rtpmap, telephone-event/8000 among three, video ignored', () => {
    const sdp = parseSdp(LINPHONE_OFFER);
    expect(sdp.address).toBe('10.0.0.20'); // the video stream's c= and a=recvonly do not leak into audio
    expect(sdp.port).toBe(7078);
    expect(sdp.direction).toBe('sendrecv');
    expect(sdp.dtmfPayloadType).toBe(100);
    expect(sdp.codecs.find((c) => c.payloadType === 8)).toEqual({ payloadType: 8, name: 'PCMA', clockRate: 8000 });
    expect(sdp.codecs.find((c) => c.payloadType === 18)?.name).toBe('G729');
  });

  it('prefers the media-level connection and direction over the session-level ones', () => {
    const sdp = parseSdp(crlf(['v=0', 'o=- 1 1 IN IP4 1.1.1.1', 's=-', 'c=IN IP4 1.1.1.1', 't=0 0', 'a=sendrecv', 'm=audio 4000 RTP/AVP 8', 'c=IN IP4 2.2.2.2', 'a=sendonly']));
    expect(sdp.address).toBe('2.2.2.2');
    expect(sdp.direction).toBe('sendonly');
  });

  it.each([
    ['empty text', '', /empty/],
    ['no v= line', 'hello world', /v=/],
    ['no m=audio', crlf(['v=0', 's=-', 'c=IN IP4 1.2.3.4', 't=0 0', 'm=video 5000 RTP/AVP 96']), /no m=audio/],
    ['no c= line', crlf(['v=0', 's=-', 't=0 0', 'm=audio 5000 RTP/AVP 0']), /no c= connection/],
    ['port not a number', crlf(['v=0', 'c=IN IP4 1.2.3.4', 'm=audio abc RTP/AVP 0']), /bad port "abc"/],
    ['port too large', crlf(['v=0', 'c=IN IP4 1.2.3.4', 'm=audio 70000 RTP/AVP 0']), /bad port "70000"/],
    ['port 0 (rejected stream)', crlf(['v=0', 'c=IN IP4 1.2.3.4', 'm=audio 0 RTP/AVP 0']), /port 0/],
    ['SRTP profile', crlf(['v=0', 'c=IN IP4 1.2.3.4', 'm=audio 5000 RTP/SAVP 0']), /RTP\/SAVP/],
    ['malformed c=', crlf(['v=0', 'c=IN 1.2.3.4', 'm=audio 5000 RTP/AVP 0']), /malformed c=/],
    ['host name in c=', crlf(['v=0', 'c=IN IP4 media.example.com', 'm=audio 5000 RTP/AVP 0']), /not an IP address/],
    ['garbage address in c=', crlf(['v=0', 'c=IN IP4 999.1.1.1', 'm=audio 5000 RTP/AVP 0']), /not an IP address/],
    ['line without =', crlf(['v=0', 'garbage', 'm=audio 5000 RTP/AVP 0']), /malformed SDP line/],
  ])('refuses %s with a clear SdpError', (_name, text, message) => {
    expect(() => parseSdp(text)).toThrowError(SdpError);
    expect(() => parseSdp(text)).toThrowError(message);
  });
});

describe('negotiate', () => {
  // RFC 3264 section 6.1: the answerer SHOULD keep the offerer's preference order for the formats it supports.
  it('keeps the offer order: linphone lists PCMA before PCMU, so PCMA is sent and both are answered', () => {
    expect(negotiate(parseSdp(LINPHONE_OFFER))).toEqual({
      codec: 'PCMA',
      payloadType: 8,
      dtmfPayloadType: 100,
      formats: [
        { codec: 'PCMA', payloadType: 8 },
        { codec: 'PCMU', payloadType: 0 },
      ],
    });
  });

  it('keeps the offer order when PCMU comes first (baresip: opus, G.722, PCMU, PCMA)', () => {
    const chosen = negotiate(parseSdp(BARESIP_OFFER));
    expect(chosen.codec).toBe('PCMU');
    expect(chosen.formats.map((f) => f.codec)).toEqual(['PCMU', 'PCMA']);
  });

  it('answers a carrier offering "PCMA PCMU telephone-event" with PCMA first, PCMU, then telephone-event', () => {
    const carrier = parseSdp(crlf(['v=0', 'c=IN IP4 1.2.3.4', 'm=audio 5000 RTP/AVP 8 0 101', 'a=rtpmap:8 PCMA/8000', 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000']));
    const chosen = negotiate(carrier);
    const answer = buildSdp({ address: '10.0.0.1', port: 31000, formats: chosen.formats, dtmfPayloadType: chosen.dtmfPayloadType });
    expect(answer).toContain('m=audio 31000 RTP/AVP 8 0 101\r\n');
    expect(answer.indexOf('a=rtpmap:8 PCMA/8000')).toBeLessThan(answer.indexOf('a=rtpmap:0 PCMU/8000'));
    expect(parseSdp(answer).codecs.map((c) => c.name)).toEqual(['PCMA', 'PCMU', 'telephone-event']);
  });

  it('takes PCMA when PCMU is not offered', () => {
    const offer = parseSdp(crlf(['v=0', 'c=IN IP4 1.2.3.4', 'm=audio 5000 RTP/AVP 9 8 101', 'a=rtpmap:101 telephone-event/8000']));
    expect(negotiate(offer)).toEqual({ codec: 'PCMA', payloadType: 8, dtmfPayloadType: 101, formats: [{ codec: 'PCMA', payloadType: 8 }] });
  });

  it('keeps a dynamic payload type the peer gave a law', () => {
    const offer = parseSdp(crlf(['v=0', 'c=IN IP4 1.2.3.4', 'm=audio 5000 RTP/AVP 96 0', 'a=rtpmap:96 pcma/8000']));
    expect(negotiate(offer).formats).toEqual([
      { codec: 'PCMA', payloadType: 96 },
      { codec: 'PCMU', payloadType: 0 },
    ]);
  });

  it('throws SdpError "no common codec" naming what was offered', () => {
    const offer = parseSdp(crlf(['v=0', 'c=IN IP4 1.2.3.4', 'm=audio 5000 RTP/AVP 96 9', 'a=rtpmap:96 opus/48000/2']));
    expect(() => negotiate(offer)).toThrowError(SdpError);
    expect(() => negotiate(offer)).toThrowError(/no common codec \(offered opus\/48000, G722\/8000/);
  });
});

describe('buildSdp / buildOfferSdp', () => {
  it('builds an answer with one codec plus telephone-event that parses back to the same thing', () => {
    const text = buildSdp({ address: '203.0.113.5', port: 30000, codec: 'PCMA', dtmfPayloadType: 101, sessionId: '42' });
    expect(text).toContain('o=kefu 42 1 IN IP4 203.0.113.5\r\n');
    expect(text).toContain('m=audio 30000 RTP/AVP 8 101\r\n');
    expect(text).toContain('a=fmtp:101 0-16\r\n');
    expect(text.endsWith('\r\n')).toBe(true);
    expect(parseSdp(text)).toEqual({
      address: '203.0.113.5',
      port: 30000,
      codecs: [
        { payloadType: 8, name: 'PCMA', clockRate: 8000 },
        { payloadType: 101, name: 'telephone-event', clockRate: 8000 },
      ],
      dtmfPayloadType: 101,
      direction: 'sendrecv',
    });
  });

  it('leaves telephone-event out when the offer had none, and writes the direction', () => {
    const text = buildSdp({ address: '10.1.1.1', port: 30002, codec: 'PCMU', dtmfPayloadType: null, direction: 'sendonly' });
    expect(text).toContain('m=audio 30002 RTP/AVP 0\r\n');
    expect(text).not.toContain('telephone-event');
    expect(parseSdp(text).direction).toBe('sendonly');
  });

  it('uses IP6 for IPv6 addresses', () => {
    const text = buildSdp({ address: '2001:db8::1', port: 30004, codec: 'PCMU', dtmfPayloadType: null });
    expect(text).toContain('c=IN IP6 2001:db8::1\r\n');
    expect(parseSdp(text).address).toBe('2001:db8::1');
  });

  it('offers PCMU, PCMA and telephone-event 101, and negotiating our own offer picks PCMU', () => {
    const offer = parseSdp(buildOfferSdp({ address: '10.1.1.1', port: 30006 }));
    expect(offer.codecs.map((c) => c.payloadType)).toEqual([0, 8, 101]);
    expect(negotiate(offer)).toMatchObject({ codec: 'PCMU', payloadType: 0, dtmfPayloadType: 101 });
  });
});
