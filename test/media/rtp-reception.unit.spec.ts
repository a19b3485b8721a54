// The figures a leg keeps of what it received: loss from sequence numbers, RFC 3550 jitter, silence while bridged.
import { describe, expect, it } from 'vitest';
import { RtpReception } from '../../src/adapters/media/rtp-reception.ts';

/** Feeds audio packets `sequences` of one source, 20 ms apart on both clocks unless `arrivals` says otherwise. */
function feed(r: RtpReception, sequences: number[], o: { ssrc?: number; arrivals?: number[]; firstTimestamp?: number } = {}): void {
  sequences.forEach((sequence, i) => {
    const arrival = o.arrivals?.[i] ?? i * 20;
    r.packet(sequence, o.ssrc ?? 1);
    r.audio(((o.firstTimestamp ?? 0) + (sequence - sequences[0]!) * 160) >>> 0, 1_000_000 + arrival);
  });
}

describe('RTP reception figures', () => {
  it('counts nothing lost when every sequence number comes, across the 16-bit wrap', () => {
    const r = new RtpReception();
    feed(r, [65533, 65534, 65535, 0, 1, 2].map((n) => n & 0xffff));
    expect(r.lost).toBe(0);
  });

  it('counts the sequence numbers that never came, and forgives reordering', () => {
    const r = new RtpReception();
    // 10..29 with 12, 13 and 20 missing; 15 and 16 arrive swapped.
    const sent = Array.from({ length: 20 }, (_, i) => 10 + i).filter((n) => n !== 12 && n !== 13 && n !== 20);
    const order = [...sent];
    const i = order.indexOf(15);
    [order[i], order[i + 1]] = [order[i + 1]!, order[i]!];
    for (const n of order) r.packet(n, 7);
    expect(r.lost).toBe(3);
  });

  it('keeps the losses of an earlier source when the peer switches SSRC, and starts over on a huge jump', () => {
    const r = new RtpReception();
    for (const n of [1, 2, 4]) r.packet(n, 1); // 3 lost
    for (const n of [500, 502]) r.packet(n, 2); // 501 lost
    for (const n of [10_000, 10_001]) r.packet(n, 2); // a restarted stream, not 9,497 lost
    expect(r.lost).toBe(2);
  });

  it('has no jitter when packets arrive exactly as their timestamps say, and some when they do not', () => {
    const steady = new RtpReception();
    feed(steady, Array.from({ length: 50 }, (_, i) => i));
    expect(steady.jitterMs).toBe(0);

    const jittery = new RtpReception();
    // Every other packet 10 ms late: |D| = 10 ms for each pair, so J converges towards 10 ms.
    const arrivals = Array.from({ length: 400 }, (_, i) => i * 20 + (i % 2) * 10);
    feed(jittery, Array.from({ length: 400 }, (_, i) => i), { arrivals });
    expect(jittery.jitterMs).toBeGreaterThan(9);
    expect(jittery.jitterMs).toBeLessThanOrEqual(10);
  });

  it('takes RTP timestamps that wrap around 2^32 as one step', () => {
    const r = new RtpReception();
    feed(r, [0, 1, 2, 3], { firstTimestamp: 0xffffffff - 200 });
    expect(r.jitterMs).toBe(0);
  });

  it('counts silence only while bridged, and only gaps of a second or more', () => {
    const r = new RtpReception();
    r.connected(0);
    r.packet(1, 1);
    r.audio(0, 500); // 0.5 s after the bridge: not a gap
    r.packet(2, 1);
    r.audio(160, 2500); // 2 s without audio
    expect(r.silentMsAt(2500)).toBe(2000);
    expect(r.silentMsAt(3000)).toBe(2000); // 0.5 s into a new stretch: not yet a gap
    expect(r.silentMsAt(4000)).toBe(3500); // the stretch in progress counts once it is one
    r.disconnected(4000);
    expect(r.silentMsAt(60_000)).toBe(3500); // on hold or unbridged: not the call's silence
    r.connected(60_000);
    expect(r.silentMsAt(61_200)).toBe(4700);
  });
});
