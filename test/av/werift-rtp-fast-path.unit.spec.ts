// werift's RTP path made cheaper (src/adapters/webrtc/werift-rtp-fast-path.ts): the same headers read and
// written as werift's own code (seeded random headers with CSRCs, padding and both extension profiles), the
// same clone, and a sender sending the same rewritten headers and payloads, with the same NACK history and
// counters, as werift's dispatchRtp.
import { describe, expect, it } from 'vitest';
import { Event, RTCRtpCodecParameters, RTCRtpReceiver, RTCRtpSender, RtcpHeader, RtpHeader, RtpPacket, useNACK, usePLI, useTWCC } from 'werift';
import { seededRandom } from '../support/seeded-random.ts';

type AnyHeader = RtpHeader & Record<string, unknown>;
const weriftDeSerialize = RtpHeader.deSerialize.bind(RtpHeader);
const weriftSerialize = RtpHeader.prototype.serialize;
const weriftClone = RtpPacket.prototype.clone;
const weriftRtcpHeader = RtcpHeader.deSerialize.bind(RtcpHeader);
const weriftDispatch = (RTCRtpSender.prototype as unknown as { dispatchRtp(p: RtpPacket): Promise<void> }).dispatchRtp;

function randomPacket(random: () => number): Buffer {
  const int = (n: number) => Math.floor(random() * n);
  const cc = random() < 0.2 ? int(4) : 0;
  const extension = random() < 0.4;
  const padding = random() < 0.1;
  const parts: Buffer[] = [];
  const fixed = Buffer.alloc(12 + 4 * cc);
  fixed[0] = 0x80 | (padding ? 0x20 : 0) | (extension ? 0x10 : 0) | cc;
  fixed[1] = (random() < 0.3 ? 0x80 : 0) | int(128);
  fixed.writeUInt16BE(int(65536), 2);
  fixed.writeUInt32BE(int(2 ** 32), 4);
  fixed.writeUInt32BE(int(2 ** 32), 8);
  for (let i = 0; i < cc; i++) fixed.writeUInt32BE(int(2 ** 32), 12 + 4 * i);
  parts.push(fixed);
  if (extension) {
    const profile = [0xbede, 0x1000, 0x1234][int(3)]!;
    const body: number[] = [];
    const n = 1 + int(3);
    for (let i = 0; i < n; i++) {
      if (profile === 0xbede) {
        const len = 1 + int(4);
        body.push(((1 + int(14)) << 4) | (len - 1), ...Array.from({ length: len }, () => int(256)));
      } else if (profile === 0x1000) {
        const len = int(5);
        body.push(1 + int(200), len, ...Array.from({ length: len }, () => int(256)));
      } else body.push(int(256), int(256), int(256), int(256));
      if (random() < 0.3) body.push(0);
    }
    while (body.length % 4 !== 0) body.push(0);
    const head = Buffer.alloc(4);
    head.writeUInt16BE(profile, 0);
    head.writeUInt16BE(body.length / 4, 2);
    parts.push(head, Buffer.from(body));
  }
  parts.push(Buffer.from(Array.from({ length: 1 + int(300) }, () => int(256))));
  if (padding) parts.push(Buffer.from([0, 0, 3]));
  return Buffer.concat(parts);
}

const plain = (h: RtpHeader) => ({ ...(h as AnyHeader), extensions: h.extensions.map((e) => ({ id: e.id, payload: Buffer.from(e.payload) })) });

describe("werift's RTP path, made cheaper", async () => {
  const random = seededRandom(14);
  const packets = Array.from({ length: 2000 }, () => randomPacket(random));
  // (werift's serialize sets the header's payloadOffset: each read is kept before any write.)
  const before = packets.map((p) => plain(weriftDeSerialize(p)));
  const written = packets.map((p) => {
    const h = weriftDeSerialize(p);
    return weriftSerialize.call(h, h.serializeSize);
  });
  const { deSerializeRtcpHeader, deSerializeRtpHeader, forwardRtp, lightenEvent } = await import('../../src/adapters/webrtc/werift-rtp-fast-path.ts');

  it('reads every header as werift does, and refuses what werift refuses', () => {
    expect(RtpHeader.deSerialize).toBe(deSerializeRtpHeader);
    packets.forEach((p, i) => expect(plain(RtpHeader.deSerialize(p))).toEqual(before[i]));
    for (const short of [Buffer.alloc(0), Buffer.alloc(5), Buffer.from([0x83, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])]) {
      expect(() => weriftDeSerialize(short)).toThrow();
      expect(() => RtpHeader.deSerialize(short)).toThrow();
    }
  });

  it('reads RTCP headers as werift does', () => {
    const rtcp = packets.map((p) => p.subarray(0, 4));
    const expected = rtcp.map((b) => ({ ...weriftRtcpHeader(b) }));
    expect(RtcpHeader.deSerialize).toBe(deSerializeRtcpHeader);
    expect(rtcp.map((b) => ({ ...RtcpHeader.deSerialize(b) }))).toEqual(expected);
    expect(() => weriftRtcpHeader(Buffer.alloc(3))).toThrow(RangeError);
    expect(() => RtcpHeader.deSerialize(Buffer.alloc(3))).toThrow(RangeError);
  });

  it('writes every header to the same bytes as werift, and clones as werift does', () => {
    packets.forEach((_, i) => {
      const again = RtpHeader.deSerialize(packets[i]!);
      expect(again.serialize(again.serializeSize)).toEqual(written[i]);
      const packet = new RtpPacket(again, Buffer.from('payload'));
      expect(plain(packet.clone().header)).toEqual(plain(weriftClone.call(packet).header));
      expect(packet.clone().payload).toBe(packet.payload);
    });
  });

  it("sends what werift's sender sends: the rewritten header, the payload, the NACK history and the report counters", async () => {
    const run = async (fast: boolean) => {
      const sent: Buffer[] = [];
      const sender = new RTCRtpSender('video');
      const state = sender as unknown as Record<string, unknown>;
      Object.assign(state, {
        ssrc: 0x11223344,
        codec: { payloadType: 100 },
        seqOffset: 1000,
        timestampOffset: 2 ** 32 - 500,
        runRtcp: () => Promise.resolve(),
        dtlsTransport: {
          state: 'connected',
          transportSequenceNumber: 0,
          sendRtp: (payload: Buffer, header: RtpHeader) => {
            sent.push(Buffer.concat([header.serialize(header.serializeSize), payload]));
            return Promise.resolve(payload.length);
          },
        },
      });
      const originals = packets.slice(0, 300).map((p) => RtpPacket.deSerialize(p)).filter((p) => !p.header.extension && !p.header.padding);
      for (const p of originals) {
        if (fast) forwardRtp(sender, p);
        else await weriftDispatch.call(sender, p);
      }
      await new Promise((r) => setImmediate(r));
      const cache = (state.rtpCache as (RtpPacket | undefined)[]).map((p) => p && Buffer.concat([p.header.serialize(p.header.serializeSize), p.payload]));
      // The source packets are left as they came (other listeners, e.g. a recording, read them after).
      const sources = originals.map((p) => p.serialize());
      return { sent, cache, sources, counters: ['octetCount', 'packetCount', 'headerBytesSent', 'sequenceNumber', 'timestamp', 'rtpTimestamp'].map((k) => state[k]), n: originals.length };
    };
    const fast = await run(true);
    const slow = await run(false);
    expect(fast.n).toBeGreaterThan(100);
    expect(fast.sent).toEqual(slow.sent);
    expect(fast.cache).toEqual(slow.cache);
    expect(fast.sources).toEqual(slow.sources);
    expect(fast.counters).toEqual(slow.counters);
  });

  it("runs an event's subscribers as werift's execute does, queued ones only when there are some", async () => {
    const run = async (light: boolean) => {
      const seen: string[] = [];
      const ev = new Event<[number]>();
      if (light) lightenEvent(ev);
      const a = ev.subscribe((n) => seen.push(`a${n}`));
      ev.subscribe((n) => seen.push(`b${n}`));
      ev.execute(1);
      a.unSubscribe();
      ev.execute(2);
      ev.queuingSubscribe(async (n) => {
        await new Promise((r) => setTimeout(r, 5));
        seen.push(`q${n}`);
      });
      ev.queuingSubscribe((n) => {
        seen.push(`r${n}`);
        return n === 4 ? Promise.reject(new Error('boom')) : Promise.resolve();
      });
      ev.onerror = (e) => seen.push(`error ${(e as Error).message}`);
      ev.execute(3);
      seen.push('after 3');
      ev.execute(4);
      await new Promise((r) => setTimeout(r, 50));
      ev.complete();
      ev.execute(5);
      return seen;
    };
    const light = await run(true);
    expect(light).toEqual(await run(false));
    expect(light).toContain('error boom');
    expect(light.slice(0, 4)).toEqual(['a1', 'b1', 'b2', 'b3']);
  });

  it("answers a receiver's nackEnabled and twccEnabled as werift does, after its codecs change too", () => {
    const receiver = new (RTCRtpReceiver as unknown as new (...a: unknown[]) => RTCRtpReceiver & { prepareReceive(p: unknown): void; resyncCodecs(p: unknown): void; nackEnabled: unknown; twccEnabled: unknown })({}, 'video', 1234);
    const codec = (pt: number, feedback: { type: string; parameter?: string }[]) => new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90000, payloadType: pt, rtcpFeedback: feedback });
    expect([receiver.nackEnabled, receiver.twccEnabled]).toEqual([undefined, undefined]);
    receiver.prepareReceive({ codecs: [codec(100, [usePLI()]), codec(96, [useNACK()])], encodings: [] });
    expect(receiver.nackEnabled).toEqual(useNACK());
    expect(receiver.twccEnabled).toBeUndefined();
    receiver.resyncCodecs({ codecs: [codec(97, [useTWCC()])], encodings: [] });
    expect(receiver.nackEnabled).toBeUndefined();
    expect(receiver.twccEnabled).toEqual(useTWCC());
  });
});
