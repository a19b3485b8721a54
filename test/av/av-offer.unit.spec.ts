// What Kefu accepts as a browser's offer for an audio/video call (issue 14), on offers shaped like Chromium's.
import { describe, expect, it } from 'vitest';
import { AvOfferError, checkAvOffer, defaultAvOfferLimits, parseAddressList } from '../../src/adapters/webrtc/av-offer.ts';

const session = ['v=0', 'o=- 4611 2 IN IP4 127.0.0.1', 's=-', 't=0 0', 'a=group:BUNDLE 0 1', 'a=fingerprint:sha-256 AB:CD:EF'];
const audio = (candidate = '192.168.1.20') => [
  'm=audio 9 UDP/TLS/RTP/SAVPF 111 0',
  'c=IN IP4 0.0.0.0',
  'a=ice-ufrag:abcd',
  'a=ice-pwd:0123456789012345678901',
  `a=candidate:1 1 udp 2122260223 ${candidate} 54400 typ host`,
  'a=candidate:2 1 udp 2122260223 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0.local 54401 typ host',
  'a=mid:0',
  'a=sendrecv',
  'a=rtpmap:111 opus/48000/2',
  'a=rtpmap:0 PCMU/8000',
];
const video = (codecs = ['96 VP8/90000', '102 H264/90000']) => [`m=video 9 UDP/TLS/RTP/SAVPF ${codecs.map((c) => c.split(' ')[0]).join(' ')}`, 'a=ice-ufrag:abcd', 'a=mid:1', 'a=sendrecv', ...codecs.map((c) => `a=rtpmap:${c}`)];
const sdp = (...sections: string[][]) => [...session, ...sections.flat(), ''].join('\r\n');

const refused = (offer: string, message: RegExp, limits = defaultAvOfferLimits) => expect(() => checkAvOffer(offer, limits)).toThrow(message);

describe('checkAvOffer', () => {
  it('takes Opus audio with VP8 or H264 video, VP8 first', () => {
    expect(checkAvOffer(sdp(audio(), video()))).toEqual({ audio: true, video: true, videoCodecs: ['VP8', 'H264'] });
    expect(checkAvOffer(sdp(audio(), video(['102 H264/90000'])))).toMatchObject({ video: true, videoCodecs: ['H264'] });
    expect(checkAvOffer(sdp(audio()))).toEqual({ audio: true, video: false, videoCodecs: [] });
  });

  it('ignores a data channel m-line but counts it', () => {
    expect(checkAvOffer(sdp(audio(), video(), ['m=application 9 UDP/DTLS/SCTP webrtc-datachannel', 'a=mid:2']))).toMatchObject({ video: true });
    refused(sdp(audio(), video(), ['m=application 9 UDP/DTLS/SCTP webrtc-datachannel'], ['m=application 9 UDP/DTLS/SCTP webrtc-datachannel']), /4 m-lines; at most 3/);
  });

  it('refuses an offer without a codec Kefu relays', () => {
    refused(sdp(audio().filter((l) => !l.includes('opus'))), /no usable audio codec.*Opus/);
    refused(sdp(audio(), video(['98 VP9/90000'])), /no usable video codec.*VP8 or H264/);
    refused(sdp(video()), /no audio/);
  });

  it('refuses control characters inside lines and mixed line ends (found by av-offer-fuzz: werift never answered "a=mid:0\\r" in an LF offer)', () => {
    const good = sdp(audio());
    expect(checkAvOffer(good.replaceAll('\r\n', '\n')).audio).toBe(true);
    refused(good.replaceAll('\r\n', '\n').replace('a=mid:0\n', 'a=mid:0\r\n'), /mixes CRLF and LF/);
    refused(good.replace('a=mid:0\r\n', 'a=mid:0\n'), /mixes CRLF and LF/);
    refused(good.replaceAll('\r\n', '\r'), /control character \(U\+000D\)/);
    refused(good.replace('a=mid:0', 'a=mid:0\u0000'), /control character \(U\+0000\)/);
    refused(good.replace('a=mid:0', 'a=mid:\u001b0'), /control character \(U\+001B\)/);
  });

  it('refuses two audio or two video m-lines, oversized offers and what is not SDP', () => {
    refused(sdp(audio(), audio()), /one audio and one video/);
    refused(sdp(audio(), [`a=x:${'y'.repeat(20_000)}`]), /at most 20000/);
    refused('hello', /v=0/);
    refused(sdp(), /no media/);
  });

  it('wants complete ICE (candidates present) and DTLS', () => {
    refused(sdp(audio().filter((l) => !l.startsWith('a=candidate'))), /no ICE candidates/);
    const noFingerprint = [...session.filter((l) => !l.startsWith('a=fingerprint')), ...audio(), ''].join('\r\n');
    refused(noFingerprint, /DTLS fingerprint/);
  });

  it('checks candidate addresses: never unspecified or multicast, and only the allowed ranges when set', () => {
    refused(sdp(audio('0.0.0.0')), /not a unicast address/);
    refused(sdp(audio('239.1.2.3')), /not a unicast address/);
    refused(sdp(audio('not-an-ip.example')), /not an IP address/);
    const limits = { ...defaultAvOfferLimits, allowedCandidates: parseAddressList('192.168.0.0/16, 2001:db8::/32') };
    expect(checkAvOffer(sdp(audio('192.168.7.7')), limits).audio).toBe(true);
    expect(checkAvOffer(sdp(audio('2001:db8::5')), limits).audio).toBe(true);
    refused(sdp(audio('10.0.0.5')), /10\.0\.0\.5 is not allowed/, limits);
    expect(() => checkAvOffer(sdp(audio('10.0.0.5')), limits)).toThrow(AvOfferError);
  });

  it('parses the allowed-candidates setting', () => {
    expect(parseAddressList('any')).toBeNull();
    expect(parseAddressList('')).toBeNull();
    expect(() => parseAddressList('10.0.0.0/33')).toThrow();
    expect(() => parseAddressList('example.com')).toThrow();
    expect(parseAddressList('10.0.0.1')!.check('10.0.0.1')).toBe(true);
  });
});
