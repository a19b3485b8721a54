// bench chat-flow's verdict (issue 12): the p99 difference flow − no flow comes with a 90 % interval from
// resampling the run's time windows (each with both channels' sends), so that a verdict resting on a few slow
// sends says so, and a slow second of the machine, which slows both channels alike, does not.
import { describe, expect, it } from 'vitest';
import { extraP99Interval, type TimedSend } from '../../bench/chat-flow.ts';

/** 600 sends per channel over 60 windows of 2 s, interleaved: 10 of each channel per window. */
const base = Array.from({ length: 600 }, (_, i) => 5 + (i % 100) / 10);
const timed = (flow: number[], plain: number[]): TimedSend[] => [
  ...flow.map((ms, i) => ({ flow: true, at: i * 200, ms })),
  ...plain.map((ms, i) => ({ flow: false, at: i * 200 + 100, ms })),
];

describe('bench chat-flow: the interval of the extra p99', () => {
  it('is narrow around the difference when every send differs alike', () => {
    const [low, high] = extraP99Interval(timed(base, base));
    expect(low).toBeGreaterThanOrEqual(-0.5);
    expect(high).toBeLessThanOrEqual(0.5);
    const [low10, high10] = extraP99Interval(timed(base.map((x) => x + 10), base));
    expect(low10).toBeGreaterThan(9);
    expect(high10).toBeLessThan(11);
  });

  it('spans the target when the p99 rests on a few slow sends of one channel', () => {
    // 7 of 600 flow sends 50 ms slower: p99 is the 6th slowest, so whether it is one of them is chance.
    const [low, high] = extraP99Interval(timed(base.map((x, i) => (i % 97 === 0 ? x + 50 : x)), base));
    expect(low).toBeLessThan(5);
    expect(high).toBeGreaterThan(5);
  });

  it('stays narrow when a slow second slows both channels alike (paired by window)', () => {
    // One window of 60 (10 sends each side) 100 ms slower on both channels: p99 (the 6th slowest) falls in it on
    // both sides, or on neither when a draw leaves it out. Sends resampled one by one would give one side 5 of
    // them and the other 7 often enough to put ±100 ms in the interval.
    const slow = (xs: number[]) => xs.map((x, i) => (i >= 300 && i < 310 ? x + 100 : x));
    const [low, high] = extraP99Interval(timed(slow(base), slow(base)));
    expect(low).toBeGreaterThan(-5);
    expect(high).toBeLessThan(5);
  });

  it('is the same for the same sends (a fixed seed)', () => {
    const flow = base.map((x, i) => x + (i % 7));
    expect(extraP99Interval(timed(flow, base))).toEqual(extraP99Interval(timed(flow, base)));
  });
});
