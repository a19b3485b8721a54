// The pure-relay comparison: the same RTP load (50 packets/s each way per call, 160-byte PCMU payloads) from
// the same generator through rtpengine and through Kefu's UdpMediaEngine bridges, at the same numbers of
// calls, in the same run. Per step and relay: set up N relayed calls, send for a warm-up second, then count
// what the generator sent and got back over the window, and the relay's CPU time over the same window.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { cpuMs } from './cpu.ts';
import { RtpLoad, type Pair } from './rtp-load.ts';
import { startRtpengine, type Rtpengine } from './rtpengine.ts';

export type RelayTarget = 'kefu-relay' | 'rtpengine';

export interface RelaySettings {
  calls: number[];
  seconds: number;
  generatorThreads: number;
  rtpengineThreads: number;
  lossPct: number;
}

export interface RelayMeasurement {
  target: RelayTarget;
  calls: number;
  /** Packets/s the generator sent to the relay (both sides). */
  offeredPps: number;
  /** Packets/s the generator got back through the relay. */
  deliveredPps: number;
  lossPct: number;
  relayCpuMs: number;
  /** Relay CPU ms per 1,000 delivered packets. */
  cpuPer1k: number;
  relayCpuPct: number;
  /** Generator (this process, all threads) CPU share of one CPU. */
  generatorCpuPct: number;
}

export interface RelayResult {
  measurements: RelayMeasurement[];
  rtpengineVersion: string | null;
  rtpengineError: string | null;
  kefuError: string | null;
}

const relayChildPath = fileURLToPath(new URL('./relay-child.ts', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class KefuRelay {
  readonly child: ChildProcess;
  private queue: ((m: Record<string, unknown>) => void)[] = [];
  readonly ready: Promise<void>;
  constructor() {
    this.child = fork(relayChildPath, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, BENCH_RELAY_PORT_MIN: '40000', BENCH_RELAY_PORT_MAX: '49999' } });
    this.ready = new Promise((resolve, reject) => {
      this.child.once('exit', (code) => reject(new Error(`Kefu relay child exited (${code})`)));
      this.child.on('message', (m: Record<string, unknown>) => {
        if (m.ready) return resolve();
        this.queue.shift()?.(m);
      });
    });
  }
  ask<T>(m: Record<string, unknown>): Promise<T> {
    return new Promise((resolve, reject) => {
      this.queue.push((r) => (r.error ? reject(new Error(String(r.error))) : resolve(r as T)));
      this.child.send(m);
    });
  }
}

async function measure(
  target: RelayTarget,
  calls: number,
  s: RelaySettings,
  load: RtpLoad,
  relay: { pid: number; setup(pairs: Pair[]): Promise<{ toA: number; toB: number }[]>; teardown(): Promise<void> },
): Promise<RelayMeasurement> {
  const pairs = await load.bind(calls);
  const dests = await relay.setup(pairs);
  await load.start(dests);
  await sleep(1000);
  const c0 = await load.count();
  const r0 = cpuMs(relay.pid);
  const g0 = process.cpuUsage();
  const t0 = performance.now();
  await sleep(s.seconds * 1000);
  const c1 = await load.count();
  const r1 = cpuMs(relay.pid);
  const g1 = process.cpuUsage(g0);
  const seconds = (performance.now() - t0) / 1000;
  // Loss over the whole run (warm-up included), counted after the relay has had time to pass on what it
  // still held: counting inside the window would be off by the packets in flight at its two ends.
  await load.halt();
  await sleep(300);
  const total = await load.count();
  await load.stop();
  await relay.teardown();
  const sent = c1.sent - c0.sent;
  const got = c1.received - c0.received;
  const relayCpuMs = r1 - r0;
  return {
    target,
    calls,
    offeredPps: sent / seconds,
    deliveredPps: got / seconds,
    lossPct: total.sent > 0 ? Math.max(0, (1 - total.received / total.sent) * 100) : 0,
    relayCpuMs,
    cpuPer1k: got > 0 ? (relayCpuMs / got) * 1000 : NaN,
    relayCpuPct: (relayCpuMs / 1000 / seconds) * 100,
    generatorCpuPct: ((g1.user + g1.system) / 1000 / 1000 / seconds) * 100,
  };
}

export async function runRelay(s: RelaySettings, log: (m: string) => void): Promise<RelayResult> {
  const result: RelayResult = { measurements: [], rtpengineVersion: null, rtpengineError: null, kefuError: null };
  const load = new RtpLoad(s.generatorThreads);
  let rtpengine: Rtpengine | null = null;
  let kefu: KefuRelay | null = null;
  try {
    try {
      rtpengine = await startRtpengine({ ngPort: 22222, portMin: 30000, portMax: 39999, threads: s.rtpengineThreads });
      result.rtpengineVersion = rtpengine.version;
      log(`rtpengine up (pid ${rtpengine.pid}, ${rtpengine.version})`);
    } catch (err) {
      result.rtpengineError = (err as Error).message;
      log(`rtpengine: ${result.rtpengineError}`);
    }
    kefu = new KefuRelay();
    await kefu.ready;
    const k = kefu;
    const kefuRelay = {
      pid: k.child.pid!,
      setup: async (pairs: Pair[]) => (await k.ask<{ dests: { toA: number; toB: number }[] }>({ cmd: 'open', pairs })).dests,
      teardown: async () => void (await k.ask({ cmd: 'close' })),
    };
    let ids: string[] = [];
    let round = 0;
    const engine = rtpengine;
    const engineRelay = engine && {
      pid: engine.pid,
      setup: async (pairs: Pair[]) => {
        ids = pairs.map((_, i) => `bench-${round}-${i}`);
        const out: { toA: number; toB: number }[] = [];
        // A few offers/answers at a time over the one control socket.
        for (let i = 0; i < pairs.length; i += 20) {
          out.push(...(await Promise.all(pairs.slice(i, i + 20).map((p, j) => engine.relay(ids[i + j]!, p.a, p.b)))));
        }
        return out;
      },
      teardown: async () => {
        for (let i = 0; i < ids.length; i += 50) await Promise.all(ids.slice(i, i + 50).map((id) => engine.remove(id).catch(() => undefined)));
        round++;
      },
    };
    for (const [step, calls] of s.calls.entries()) {
      // Alternate which relay goes first, so neither always runs on a machine that just cooled down.
      const order: RelayTarget[] = step % 2 === 0 ? ['rtpengine', 'kefu-relay'] : ['kefu-relay', 'rtpengine'];
      for (const target of order) {
        if (target === 'rtpengine' && !engineRelay) continue;
        try {
          const m = await measure(target, calls, s, load, target === 'rtpengine' ? engineRelay! : kefuRelay);
          result.measurements.push(m);
          log(
            `${target} ${calls} calls: offered ${Math.round(m.offeredPps)} pkt/s, delivered ${Math.round(m.deliveredPps)} pkt/s, loss ${m.lossPct.toFixed(2)}%, relay CPU ${m.relayCpuPct.toFixed(0)}% (${m.cpuPer1k.toFixed(2)} ms / 1k pkts), generator CPU ${m.generatorCpuPct.toFixed(0)}%`,
          );
        } catch (err) {
          const msg = (err as Error).message;
          if (target === 'rtpengine') result.rtpengineError = msg;
          else result.kefuError = msg;
          log(`${target} ${calls} calls: ${msg}`);
          await load.stop().catch(() => undefined);
        }
      }
    }
  } catch (err) {
    result.kefuError = (err as Error).message;
  } finally {
    if (rtpengine) {
      const out = await rtpengine.stop();
      if (/error|crit/i.test(out)) log(`rtpengine log tail: ${out.slice(-500)}`);
    }
    if (kefu) kefu.child.kill();
    await load.close();
  }
  return result;
}
