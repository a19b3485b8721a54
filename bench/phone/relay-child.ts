// Kefu's relay for the pure-relay comparison, in a child process of its own (so its CPU time is its own):
// the UdpMediaEngine that calls use, with the same calls as the bridge of a phone call, minus the recording
// (rtpengine records nothing either). Per relayed call: two legs, each given the generator's side as its
// peer (PCMU), bridged. The engine is the one Kefu runs with KEFU_MEDIA_THREADS (default auto): on worker
// threads, or on this process's main thread with 0.
import { loadConfig, mediaThreads } from '../../src/config.ts';
import { ThreadedMediaEngine } from '../../src/adapters/media/threaded/threaded-media-engine.ts';
import { UdpMediaEngine } from '../../src/adapters/media/udp-media-engine.ts';
import type { Bridge, MonitoredMediaEngine, RtpLeg } from '../../src/adapters/media/media-port.ts';

const options = {
  bindAddress: '127.0.0.1',
  publicAddress: '127.0.0.1',
  portMin: Number(process.env.BENCH_RELAY_PORT_MIN ?? 40000),
  portMax: Number(process.env.BENCH_RELAY_PORT_MAX ?? 49999),
};
const threads = mediaThreads(loadConfig({ KEFU_MEDIA_THREADS: process.env.KEFU_MEDIA_THREADS }).KEFU_MEDIA_THREADS);
const engine: MonitoredMediaEngine = threads === 0 ? new UdpMediaEngine(options) : new ThreadedMediaEngine({ ...options, threads });
let call = 0;
let legs: RtpLeg[] = [];
let bridges: Bridge[] = [];

process.on('message', async (m: { cmd: 'open' | 'close' | 'stats'; pairs?: { a: number; b: number }[] }) => {
  try {
    if (m.cmd === 'open') {
      const dests: { toA: number; toB: number }[] = [];
      for (const p of m.pairs!) {
        const group = `call-${++call}`;
        const a = await engine.openLeg('bench-a', { group });
        const b = await engine.openLeg('bench-b', { group });
        a.setRemote({ address: '127.0.0.1', port: p.a }, 'PCMU', 0, null);
        b.setRemote({ address: '127.0.0.1', port: p.b }, 'PCMU', 0, null);
        bridges.push(engine.bridge(a, b));
        legs.push(a, b);
        dests.push({ toA: a.local.port, toB: b.local.port });
      }
      process.send!({ dests });
    } else if (m.cmd === 'stats') {
      if (engine instanceof ThreadedMediaEngine) await engine.syncStats();
      let packetsIn = 0;
      let packetsOut = 0;
      for (const l of legs) {
        const s = l.stats();
        packetsIn += s.packetsIn;
        packetsOut += s.packetsOut;
      }
      process.send!({ packetsIn, packetsOut });
    } else if (m.cmd === 'close') {
      await Promise.all(bridges.map((b) => b.stop()));
      await Promise.all(legs.map((l) => l.close()));
      bridges = [];
      legs = [];
      process.send!({ closed: true });
    }
  } catch (err) {
    process.send!({ error: (err as Error).message });
  }
});
process.send!({ ready: true });
