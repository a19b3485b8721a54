// The observability bench's method (bench/observability.ts): runs interleaved off, metrics, off, tracing, off,
// ... and each "on" run compared with the mean of its two "off" neighbours, so that a machine whose load drifts
// over the bench (linearly) leaves the ratios alone, where comparing with one "off" run would not.
import { describe, expect, it } from 'vitest';
import { interleave, neighbourRatios } from '../../bench/observability.ts';

describe('the observability bench method', () => {
  it('puts an off run on either side of every on run', () => {
    expect(interleave(['off', 'metrics', 'tracing'], 2).map((r) => r.variant)).toEqual(['off', 'metrics', 'off', 'tracing', 'off', 'metrics', 'off', 'tracing', 'off']);
    expect(interleave(['off', 'tracing'], 3).map((r) => r.variant)).toEqual(['off', 'tracing', 'off', 'tracing', 'off', 'tracing', 'off']);
    expect(interleave(['off'], 2).map((r) => r.variant)).toEqual(['off', 'off', 'off']);
  });

  it('cancels a linear drift of the machine: a 5 % cost reads as 0.95 however fast the machine slows', () => {
    const sequence = interleave(['off', 'metrics', 'tracing'], 4);
    // Throughput falls 4 % a run (the machine gets busier); metrics costs 5 %, tracing 8 %.
    const cost = { off: 1, metrics: 0.95, tracing: 0.92 } as const;
    const runs = sequence.map((r, slot) => ({ ...r, slot, figure: 1000 * (1 - 0.04 * slot) * cost[r.variant] }));
    const metrics = neighbourRatios(runs, 'metrics', (r) => r.figure);
    const tracing = neighbourRatios(runs, 'tracing', (r) => r.figure);
    expect(metrics).toHaveLength(4);
    for (const r of metrics) expect(r).toBeCloseTo(0.95, 6);
    for (const r of tracing) expect(r).toBeCloseTo(0.92, 6);
    // Against the one off run before it, the same data would show the drift as cost.
    const previousOnly = runs.filter((r) => r.variant === 'metrics').map((r) => r.figure / runs[r.slot - 1]!.figure);
    expect(Math.max(...previousOnly)).toBeLessThan(0.935);
  });

  it('leaves out runs that failed, and uses the one off neighbour left', () => {
    const runs = [
      { variant: 'off' as const, slot: 0, figure: 100 },
      { variant: 'metrics' as const, slot: 1, figure: 90 },
      { variant: 'off' as const, slot: 2, figure: NaN },
      { variant: 'tracing' as const, slot: 3, figure: NaN },
      { variant: 'off' as const, slot: 4, figure: 80 },
    ];
    expect(neighbourRatios(runs, 'metrics', (r) => r.figure)).toEqual([0.9]);
    expect(neighbourRatios(runs, 'tracing', (r) => r.figure)).toEqual([]);
  });
});
