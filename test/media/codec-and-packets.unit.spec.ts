import { describe, expect, it } from 'vitest';
import { DtmfReceiver } from '../../src/adapters/media/dtmf-receiver.ts';
import { decodeG711, decodeTable, encodeG711, transcodeInPlace, transcodeTable } from '../../src/adapters/media/g711.ts';
import { parseRtpPacket, rtpPayloadOffset, serializeRtpPacket } from '../../src/adapters/media/rtp-packet.ts';
import { buildTelephoneEvent, digitForEvent, eventForDigit, parseTelephoneEvent } from '../../src/adapters/media/telephone-event.ts';
import { tone } from './rtp-peer.ts';

describe('G.711', () => {
  it.each(['PCMU', 'PCMA'] as const)('%s round trip keeps a tone within the quantization error', (codec) => {
    const samples = tone(440, 0.1, 12000);
    const decoded = decodeG711(codec, encodeG711(codec, samples));
    expect(decoded.length).toBe(samples.length);
    for (let i = 0; i < samples.length; i++) {
      // G.711 steps grow with amplitude: under 4% of the value (plus a small floor near zero).
      expect(Math.abs(decoded[i]! - samples[i]!)).toBeLessThanOrEqual(Math.abs(samples[i]!) * 0.04 + 16);
    }
  });

  it('encodes silence as the codec silence byte', () => {
    expect(encodeG711('PCMU', new Int16Array(2))).toEqual(Uint8Array.of(0xff, 0xff));
    expect(encodeG711('PCMA', new Int16Array(2))).toEqual(Uint8Array.of(0xd5, 0xd5));
  });

  it('transcodes mu-law to A-law by table the same as decode + encode', () => {
    const mu = encodeG711('PCMU', tone(1000, 0.05, 20000));
    const viaLibrary = encodeG711('PCMA', decodeG711('PCMU', mu));
    const inPlace = Uint8Array.from(mu);
    transcodeInPlace(transcodeTable('PCMU', 'PCMA'), inPlace, 0, inPlace.length);
    expect(inPlace).toEqual(viaLibrary);
    expect(decodeTable('PCMA')[0xd5]).toBe(decodeG711('PCMA', Uint8Array.of(0xd5))[0]);
  });
});

describe('RTP packets', () => {
  it('round-trips header fields and payload', () => {
    const packet = { marker: true, payloadType: 8, sequenceNumber: 65535, timestamp: 0xfffffff0, ssrc: 0xdeadbeef, payload: Uint8Array.of(1, 2, 3) };
    const bytes = serializeRtpPacket(packet);
    expect(bytes.length).toBe(15);
    expect(parseRtpPacket(bytes)).toEqual(packet);
  });

  it('skips CSRCs and header extension, and drops padding from the payload', () => {
    // V=2 P=1 X=1 CC=1, then CSRC, a one-word extension, payload [9, 9], and 2 padding bytes.
    const bytes = Uint8Array.of(0xb1, 0x00, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 1, 1, 1, 1, 0xbe, 0xde, 0, 1, 7, 7, 7, 7, 9, 9, 0, 2);
    expect(rtpPayloadOffset(bytes)).toBe(24);
    expect(parseRtpPacket(bytes)?.payload).toEqual(Uint8Array.of(9, 9));
  });

  it.each([
    ['too short', new Uint8Array(11)],
    ['version 1', Uint8Array.of(0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1)],
    ['CSRC count past the end', Uint8Array.of(0x8f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1)],
    ['padding longer than the packet', Uint8Array.of(0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 200)],
  ])('rejects a malformed packet: %s', (_name, bytes) => {
    expect(parseRtpPacket(bytes)).toBeNull();
  });
});

describe('RFC 4733 telephone-event', () => {
  it('parses event, end bit, volume and duration', () => {
    expect(parseTelephoneEvent(Uint8Array.of(11, 0x8a, 0x03, 0x20))).toEqual({ event: 11, end: true, volume: 10, duration: 800 });
    expect(parseTelephoneEvent(Uint8Array.of(1, 0x0a, 0, 160))).toEqual({ event: 1, end: false, volume: 10, duration: 160 });
    expect(parseTelephoneEvent(Uint8Array.of(1, 2, 3))).toBeNull();
  });

  it('builds what it parses, and maps digits both ways', () => {
    const event = { event: eventForDigit('*'), end: true, volume: 7, duration: 1280 };
    expect(parseTelephoneEvent(buildTelephoneEvent(event))).toEqual(event);
    expect([...'0123456789*#ABCD'].map((d) => digitForEvent(eventForDigit(d))).join('')).toBe('0123456789*#ABCD');
    expect(digitForEvent(16)).toBeNull(); // flash
    expect(() => eventForDigit('x')).toThrowError(/not a DTMF digit/);
  });

  it('reports one digit per key press whatever the packets of that press', () => {
    const receiver = new DtmfReceiver();
    const five = (end: boolean, duration: number) => buildTelephoneEvent({ event: 5, end, volume: 10, duration });
    const seen = [
      receiver.receive(1000, 1, five(false, 160)),
      receiver.receive(1000, 1, five(false, 320)),
      receiver.receive(1000, 1, five(true, 480)),
      receiver.receive(1000, 1, five(true, 480)),
      receiver.receive(1000, 1, five(true, 480)),
      receiver.receive(2000, 1, five(true, 480)), // a second press whose start packets were lost
    ];
    expect(seen).toEqual(['5', null, null, null, null, '5']);
  });
});
