import { describe, expect, it } from 'vitest';
import { decodeTable, encodeG711 } from '../../src/adapters/media/g711.ts';
import { SampleQueue } from '../../src/adapters/media/sample-queue.ts';

const frame = (value: number) => encodeG711('PCMU', new Int16Array(160).fill(value));
const table = decodeTable('PCMU');
const read = (queue: SampleQueue) => {
  const out = new Int16Array(160);
  queue.read(out, 0, 1, 160);
  return out[0];
};

describe('SampleQueue (recording jitter buffer)', () => {
  it('gives silence until two frames are in, then plays them in order, then silence when starved', () => {
    const queue = new SampleQueue();
    const f1 = frame(1000);
    queue.pushCoded(f1, 0, 160, table);
    expect(read(queue)).toBe(0);
    queue.pushCoded(frame(-1000), 0, 160, table);
    expect(read(queue)).toBe(table[f1[0]!]);
    expect(read(queue)).toBe(table[frame(-1000)[0]!]);
    expect(read(queue)).toBe(0);
  });

  it('interleaves into the requested channel only', () => {
    const queue = new SampleQueue({ primeSamples: 1 });
    queue.pushCoded(frame(2000), 0, 160, table);
    const out = new Int16Array(320).fill(7);
    queue.read(out, 1, 2, 160);
    expect(out[0]).toBe(7);
    expect(out[1]).not.toBe(0);
    expect(out[318]).toBe(7);
  });

  it('keeps at most its capacity, dropping the oldest audio', () => {
    const queue = new SampleQueue({ capacity: 320, primeSamples: 1 });
    queue.pushCoded(frame(100), 0, 160, table);
    queue.pushCoded(frame(2000), 0, 160, table);
    queue.pushCoded(frame(8000), 0, 160, table);
    expect(queue.length).toBe(320);
    expect(read(queue)).toBe(table[frame(2000)[0]!]);
  });
});
