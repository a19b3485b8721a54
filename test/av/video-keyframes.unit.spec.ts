// Whether a recording's video has had a whole keyframe (src/adapters/webrtc/video-keyframes.ts): VP8 and H264
// keyframe starts told from other packets, and a keyframe counted whole only with all its packets in order.
import { describe, expect, it } from 'vitest';
import { KeyframeWatch, startsKeyframe } from '../../src/adapters/webrtc/video-keyframes.ts';

const b = (...bytes: number[]) => Uint8Array.from(bytes);

describe('video keyframes', () => {
  it('tells VP8 keyframe starts (short and extended payload descriptors) from the rest', () => {
    expect(startsKeyframe('VP8', b(0x10, 0x50, 0x9d))).toBe(true);
    // X, I with a 15-bit picture id, L and T/K bytes.
    expect(startsKeyframe('VP8', b(0x90, 0xf0, 0x80, 0x01, 0x07, 0x20, 0x50))).toBe(true);
    expect(startsKeyframe('vp8', b(0x90, 0x80, 0x05, 0x50))).toBe(true);
    expect(startsKeyframe('VP8', b(0x10, 0x51))).toBe(false); // an interframe
    expect(startsKeyframe('VP8', b(0x00, 0x50))).toBe(false); // not a partition's start
    expect(startsKeyframe('VP8', b(0x11, 0x50))).toBe(false); // partition 1
    expect(startsKeyframe('VP8', b(0x90, 0x80))).toBe(false); // cut short
    expect(startsKeyframe('VP8', b())).toBe(false);
  });

  it('tells H264 IDR and SPS, alone, in a STAP-A or starting an FU-A, from the rest', () => {
    expect(startsKeyframe('H264', b(0x65, 0x88))).toBe(true);
    expect(startsKeyframe('H264', b(0x67, 0x42))).toBe(true);
    expect(startsKeyframe('H264', b(0x78, 0x00, 0x02, 0x09, 0x10, 0x00, 0x03, 0x67, 0x42, 0x00))).toBe(true);
    expect(startsKeyframe('H264', b(0x7c, 0x85, 0x88))).toBe(true);
    expect(startsKeyframe('H264', b(0x7c, 0x05, 0x88))).toBe(false); // an FU-A's middle
    expect(startsKeyframe('H264', b(0x41, 0x9a))).toBe(false);
    expect(startsKeyframe('H264', b(0x78, 0x00, 0x02, 0x09, 0x10))).toBe(false);
    expect(startsKeyframe('opus', b(0x10, 0x50))).toBe(false);
  });

  it('counts a keyframe whole only with every packet up to its marker, in order, across the sequence wrap', () => {
    const key = b(0x10, 0x50);
    const rest = b(0x00, 0x00);
    const delta = b(0x10, 0x51);
    const w = new KeyframeWatch('VP8');
    expect(w.packet(65533, 1000, true, delta)).toBe(false);
    // A keyframe in three packets, the middle one lost.
    expect(w.packet(65534, 4000, false, key)).toBe(false);
    expect(w.packet(0, 4000, true, rest)).toBe(false);
    expect(w.packet(1, 7000, true, delta)).toBe(false);
    // The middle one resent late does not make it whole.
    expect(w.packet(65535, 4000, false, rest)).toBe(false);
    // Another, whole, across the wrap.
    expect(w.packet(65535, 9000, false, key)).toBe(false);
    expect(w.packet(0, 9000, false, rest)).toBe(false);
    expect(w.packet(1, 9000, true, rest)).toBe(true);
    expect(w.whole).toBe(true);
    expect(w.packet(2, 12000, true, delta)).toBe(true);
    // A one-packet keyframe.
    expect(new KeyframeWatch('VP8').packet(7, 0, true, key)).toBe(true);
  });
});
