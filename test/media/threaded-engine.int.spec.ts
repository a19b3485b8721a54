// What only the engine on worker threads has: a call's legs (one group) stay in one thread, new calls
// spread over the threads, a bridge across threads is refused with a clear error, and the port range is
// split into even slices.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { splitPortRange, ThreadedMediaEngine } from '../../src/adapters/media/threaded/threaded-media-engine.ts';
import { RtpPeer, tone } from './rtp-peer.ts';

// Ports 30220-30259 belong to this file.
let engine: ThreadedMediaEngine;

beforeEach(() => {
  engine = new ThreadedMediaEngine({ bindAddress: '127.0.0.1', publicAddress: '127.0.0.1', portMin: 30220, portMax: 30259, threads: 2, statsIntervalMs: 20 });
});

afterEach(async () => {
  await engine.close();
});

/** The thread a leg lives in, from its port: the first slice is 30220-30239, the second 30240-30259. */
const thread = (port: number) => (port < 30240 ? 0 : 1);

describe('media engine on worker threads', () => {
  it('splits the port range into even slices, one per thread, and refuses a range too small', () => {
    expect(splitPortRange(20000, 29999, 3)).toEqual([
      { min: 20000, max: 23331 },
      { min: 23332, max: 26663 },
      { min: 26664, max: 29999 },
    ]);
    expect(splitPortRange(30001, 30010, 2).every((r) => (r.min - 30001) % 2 === 0)).toBe(true);
    expect(() => splitPortRange(30000, 30002, 4)).toThrowError(/too small for 4 media threads/);
    expect(() => new ThreadedMediaEngine({ bindAddress: '127.0.0.1', publicAddress: '127.0.0.1', portMin: 30000, portMax: 30010, threads: 0 })).toThrowError(/>= 1/);
  });

  it('keeps a group\'s legs in one thread, spreads new groups over the threads, and refuses a bridge across threads', async () => {
    const a1 = await engine.openLeg('customer', { group: 'call-1' });
    const a2 = await engine.openLeg('agent', { group: 'call-1' });
    const b1 = await engine.openLeg('customer', { group: 'call-2' });
    const b2 = await engine.openLeg('agent', { group: 'call-2' });
    expect(thread(a2.local.port)).toBe(thread(a1.local.port));
    expect(thread(b2.local.port)).toBe(thread(b1.local.port));
    expect(thread(b1.local.port)).not.toBe(thread(a1.local.port));
    expect(() => engine.bridge(a1, b1)).toThrowError(/different media threads/);
    // A group's thread is kept while one of its legs is open, then forgotten.
    await a1.close();
    const a3 = await engine.openLeg('transfer target', { group: 'call-1' });
    expect(thread(a3.local.port)).toBe(thread(a2.local.port));
    expect(engine.openLegs).toBe(4);
  });

  it('opens a group\'s legs opened at the same time in one thread', async () => {
    const legs = await Promise.all(Array.from({ length: 4 }, (_, i) => engine.openLeg(`leg ${i}`, { group: 'burst' })));
    expect(new Set(legs.map((l) => thread(l.local.port))).size).toBe(1);
  });

  it('plays in the worker and reports the counters back', async () => {
    const peer = await RtpPeer.open();
    try {
      const leg = await engine.openLeg('customer');
      leg.setRemote(peer.endpoint, 'PCMU', 0, null);
      expect(await leg.play(tone(440, 0.2)).done).toBe('finished');
      await peer.waitFor(10);
      await engine.syncStats();
      expect(leg.stats().packetsOut).toBe(10);
      expect(engine.legStats()).toEqual([{ id: leg.id, stats: expect.objectContaining({ packetsOut: 10 }) }]);
      await leg.close();
      expect(() => leg.play(tone(440, 0.1))).toThrowError(/is closed/);
    } finally {
      await peer.close();
    }
  });

  it('refuses new legs once closed', async () => {
    await engine.close();
    await expect(engine.openLeg()).rejects.toThrowError(/closed/);
  });
});
