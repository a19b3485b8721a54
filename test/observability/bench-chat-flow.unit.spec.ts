// bench chat-flow's verdict (issue 12): the p99 difference flow − no flow comes with a 90 % interval from
// resampling each side's sends, so that a verdict resting on a few slow sends says so.
import { describe, expect, it } from 'vitest';
import { extraP99Interval } from '../../bench/chat-flow.ts';

const sends = Array.from({ length: 600 }, (_, i) => 5 + (i % 100) / 10);

describe('bench chat-flow: the interval of the extra p99', () => {
  it('is narrow around the difference when every send differs alike', () => {
    const [low, high] = extraP99Interval(sends, sends);
    expect(low).toBeGreaterThanOrEqual(-0.5);
    expect(high).toBeLessThanOrEqual(0.5);
    const [low10, high10] = extraP99Interval(sends.map((x) => x + 10), sends);
    expect(low10).toBeGreaterThan(9);
    expect(high10).toBeLessThan(11);
  });

  it('spans the target when the p99 rests on a few slow sends', () => {
    // 7 of 600 flow sends 50 ms slower: p99 is the 6th slowest, so whether it is one of them is chance.
    const [low, high] = extraP99Interval(sends.map((x, i) => (i % 97 === 0 ? x + 50 : x)), sends);
    expect(low).toBeLessThan(5);
    expect(high).toBeGreaterThan(5);
  });

  it('is the same for the same sends (a fixed seed)', () => {
    const flow = sends.map((x, i) => x + (i % 7));
    expect(extraP99Interval(flow, sends)).toEqual(extraP99Interval(flow, sends));
  });
});
