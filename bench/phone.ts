// Phone benchmark (issue: "SIPp calls through the IVR (one key) → queue → SIPp agents → 10 s of talk with RTP
// → hang-up: the highest call rate with 0 failed calls on this machine, concurrent relayed calls, CPU per call;
// and the same RTP load through rtpengine in the same run, as a ratio of packets per second").
//
// Two parts, one after the other (they would fight over the 2 CPUs otherwise):
// 1. Calls (bench/phone/calls.ts): Kefu as a child process with SIP on, SIPp customers and SIPp agents' phones.
// 2. Relay (bench/phone/relay.ts): the same UDP load generator through rtpengine and through Kefu's media
//    engine, at the same numbers of calls.
import { envInt, envList } from './lib/config.ts';
import type { BenchModule } from './lib/module.ts';
import type { ResultRow } from './lib/report.ts';
import { runCalls, type CallSettings, type CallsResult } from './phone/calls.ts';
import { loadConfig, mediaThreads } from '../src/config.ts';

/** How the system under test carries media, as KEFU_MEDIA_THREADS sets it. */
function mediaThreadsNote(): string {
  const setting = loadConfig({ KEFU_MEDIA_THREADS: process.env.KEFU_MEDIA_THREADS }).KEFU_MEDIA_THREADS;
  const n = mediaThreads(setting);
  return n === 0 ? 'media on the main thread (KEFU_MEDIA_THREADS=0)' : `media on ${n} worker thread${n === 1 ? '' : 's'} (KEFU_MEDIA_THREADS=${setting})`;
}
import { runRelay, type RelayMeasurement, type RelayResult, type RelaySettings } from './phone/relay.ts';

const numbers = (name: string, fallback: number[]) => (envList(name) ?? fallback.map(String)).map((v) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name}: ${v} is not a positive number`);
  return n;
});

function settings() {
  const parts = envList('BENCH_PHONE_PARTS') ?? ['calls', 'relay'];
  const calls: CallSettings = {
    agents: Math.max(1, envInt('BENCH_PHONE_AGENTS', 600)),
    rates: numbers('BENCH_PHONE_RATES', [10, 15, 20, 25, 50, 100, 150]),
    stepSeconds: Math.max(1, envInt('BENCH_PHONE_STEP_S', 10)),
    talkSeconds: Math.max(1, envInt('BENCH_PHONE_TALK_S', 10)),
    ringMs: envInt('BENCH_PHONE_RING_MS', 100),
    sipPort: envInt('BENCH_PHONE_SIP_PORT', 35060),
    httpPort: envInt('BENCH_PHONE_HTTP_PORT', 34100),
    rtpMin: 40000,
    rtpMax: 59999,
    continueOnFailure: process.env.BENCH_PHONE_CONTINUE === '1',
    hold:
      envInt('BENCH_PHONE_HOLD_CALLS', 560) > 0
        ? { calls: envInt('BENCH_PHONE_HOLD_CALLS', 560), rate: Math.max(1, envInt('BENCH_PHONE_HOLD_RATE', 12)), talkSeconds: Math.max(1, envInt('BENCH_PHONE_HOLD_TALK_S', 45)) }
        : null,
  };
  const relay: RelaySettings = {
    calls: numbers('BENCH_PHONE_RELAY_CALLS', [200, 400, 600, 800, 1000]),
    seconds: Math.max(1, envInt('BENCH_PHONE_RELAY_S', 5)),
    generatorThreads: Math.max(1, envInt('BENCH_PHONE_GEN_THREADS', 2)),
    rtpengineThreads: Math.max(1, envInt('BENCH_PHONE_RTPENGINE_THREADS', 2)),
    lossPct: Number(process.env.BENCH_PHONE_LOSS_PCT ?? 0.1),
  };
  return { parts, calls, relay };
}

const TARGET_CPS = 100;
const TARGET_CONCURRENT = 500;
const TARGET_RELAY_RATIO = 0.5;

let lastCalls: CallsResult | null = null;
let lastRelay: RelayResult | null = null;

const int = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const f1 = (v: number) => v.toFixed(1);
const f2 = (v: number) => v.toFixed(2);
const table = (header: string[], body: string[][]) =>
  [header, header.map((_, i) => (i === 0 ? '---' : '---:')), ...body].map((c) => `| ${c.join(' | ')} |`).join('\n');

/** The highest step of `target` whose loss was within the threshold: its delivered packets/s. */
function bestRelay(ms: RelayMeasurement[], target: string, lossPct: number): RelayMeasurement | null {
  const ok = ms.filter((m) => m.target === target && m.lossPct <= lossPct);
  return ok.length === 0 ? null : ok.reduce((a, b) => (b.deliveredPps > a.deliveredPps ? b : a));
}

function relayRows(r: RelayResult): ResultRow[] {
  return r.measurements.map((m) => ({
    measurement: `relay-${m.calls}`,
    label: `${int.format(m.calls)} relayed calls, ${int.format(m.calls * 100)} RTP packets/s offered: packets/s delivered (loss); latency columns: relay CPU ms per 1,000 packets`,
    target: m.target,
    events: Math.round(m.deliveredPps),
    ms: 0,
    eventsPerSec: m.deliveredPps,
    p50Ms: m.cpuPer1k,
    p99Ms: m.cpuPer1k,
    perRound: [m.deliveredPps],
  }));
}

export const phoneBench: BenchModule = {
  name: 'phone',
  title: 'Phone: calls through IVR, queue and agents; RTP relay vs rtpengine',
  comparison: { numerator: 'kefu-relay', denominator: 'rtpengine', title: 'Kefu relay / rtpengine' },
  describe() {
    const s = settings();
    return [
      `**Calls** (${s.parts.includes('calls') ? 'run' : 'skipped'}): Kefu (\`startKefu\`, SIP on, LOG_LEVEL=warn, ${mediaThreadsNote()}) in a child process on a fresh PostgreSQL database (\`kefu_bench_phone\`); ${s.calls.agents} agents seeded over GraphQL in one PHONE group (LONGEST_IDLE, ring timeout 10 s, no wrap-up), all AVAILABLE, their phones registered by SIPp (digest) and answered by one SIPp uas after ${s.calls.ringMs} ms with PCMU and \`-rtp_echo\`. SIPp customers call the number through the trunk (PCMA + telephone-event): the IVR answers with a TTS menu, the customer presses 1 (RFC 2833, SIPp's dtmf_2833_1.pcap) after 1.2 s, waits 0.5 s, talks ${s.calls.talkSeconds} s (g711a.pcap, 50 packets/s; the agent's phone echoes it back), hangs up. Every call is recorded by Kefu (two-channel WAV), as in production. Call rates ${s.calls.rates.join(', ')} calls/s, each step offering rate x ${s.calls.stepSeconds} s calls, at most ${s.calls.agents} (one per agent); the ramp stops after the first step with a failed call. Then a concurrency step: ${s.calls.hold ? `${s.calls.hold.calls} calls at ${s.calls.hold.rate} calls/s with ${s.calls.hold.talkSeconds} s of talk each, so that about ${Math.min(s.calls.hold.calls, Math.round(s.calls.hold.rate * (s.calls.hold.talkSeconds + 2.2)))} calls are open at once at a low call rate` : 'none'}. A call counts as failed when SIPp fails it or Kefu never bridged it to an agent.`,
      '',
      `**Relay** (${s.parts.includes('relay') ? 'run' : 'skipped'}): one UDP generator (${s.relay.generatorThreads} worker threads in the bench process; per call two sockets, each sending 50 packets/s of 172 bytes: 160-byte PCMU payload) through rtpengine (\`--table=-1\`: userspace, ${s.relay.rtpengineThreads} threads, set up over its ng protocol: offer + answer per call) and through Kefu's media engine (${mediaThreadsNote()}; two legs + bridge per call, no recording, in a child process). ${s.relay.calls.join(', ')} calls, ${s.relay.seconds} s windows after 1 s of warm-up, the two relays alternating which goes first. Relay CPU from /proc/<pid>/stat (all threads).`,
    ].join('\n');
  },
  async run() {
    const s = settings();
    const log = (m: string) => process.stderr.write(`  ${m}\n`);
    lastCalls = s.parts.includes('calls') ? await runCalls(s.calls, log) : null;
    lastRelay = s.parts.includes('relay') ? await runRelay(s.relay, log) : null;
    return lastRelay ? relayRows(lastRelay) : [];
  },
  notes() {
    const s = settings();
    const out: string[] = [];
    const c = lastCalls;
    const r = lastRelay;
    let bestRate: number | null = null;
    let bestConcurrent = 0;
    if (c) {
      const ok = c.steps.filter((x) => x.failed === 0);
      const okRamp = ok.filter((x) => x.kind === 'ramp');
      bestRate = okRamp.length ? Math.max(...okRamp.map((x) => x.rate)) : null;
      bestConcurrent = ok.length ? Math.max(...ok.map((x) => x.peakBridged)) : 0;
      out.push(
        table(
          ['Calls: offered rate', 'calls offered', 'ok in SIPp', 'bridged to an agent', 'failed', 'peak open (SIPp) / relayed (Kefu)', 'Kefu CPU (of 1 CPU)', 'Kefu CPU ms per call', 'SIPp CPU', 'Kefu RTP packets/s, mean / peak second', 'IVR answer (INVITE→200)', 'Kefu event-loop delay p99 / max'],
          c.steps.map((x) => [
            x.kind === 'hold' ? `${x.rate} calls/s, ${x.talkSeconds} s talk (concurrency step)` : `${x.rate} calls/s`,
            int.format(x.offered),
            int.format(x.successful),
            int.format(x.bridged),
            x.failed === 0 ? '0' : `**${int.format(x.failed)}**`,
            `${x.peakCalls} / ${x.peakBridged}`,
            `${int.format((x.kefuCpuMs / 10 / x.seconds))}% over ${f1(x.seconds)} s`,
            int.format(x.kefuCpuMs / x.offered),
            `${int.format(x.sippCpuMs / 10 / x.seconds)}%`,
            `${int.format(x.rtpPpsMean)} / ${int.format(x.rtpPpsPeak)}`,
            x.answerMs === null ? '-' : `${int.format(x.answerMs)} ms`,
            `${int.format(x.loopDelayP99MaxMs)} / ${int.format(x.loopDelayMaxMs)} ms`,
          ]),
        ),
      );
      out.push('');
      out.push(
        `Set-up (not timed): ${s.calls.agents} agents seeded in ${f1(c.seedSeconds)} s (createAgent hashes a password with scrypt), ${c.agentsRegistered} registered in ${f1(c.registerSeconds)} s. ` +
          `Agents' SIPp failed calls: ${c.agentSippFailed}. Kefu log (warn and above): ${c.kefuLogLines} lines${c.kefuLogSample.length ? `; most frequent: ${c.kefuLogSample.map((l) => `\`${l.replace(/`/g, "'")}\``).join('; ')}` : ''}.` +
          (c.error ? ` **The call part stopped with an error:** \`${c.error.slice(0, 400).replace(/\n/g, ' ')}\`` : ''),
      );
      const failing = c.steps.find((x) => x.failed > 0);
      if (failing?.sippErrors) out.push('', `SIPp errors at ${failing.rate} calls/s (tail): \`${failing.sippErrors.replace(/\s+/g, ' ').slice(-400)}\``);
      out.push('');
    }
    let ratio: number | null = null;
    if (r) {
      out.push(
        table(
          ['Relay: calls', 'target', 'offered packets/s', 'delivered packets/s', 'loss', 'relay CPU (of 1 CPU)', 'relay CPU ms per 1k packets', 'generator CPU'],
          r.measurements.map((m) => [int.format(m.calls), m.target, int.format(m.offeredPps), int.format(m.deliveredPps), `${f2(m.lossPct)}%`, `${int.format(m.relayCpuPct)}%`, f2(m.cpuPer1k), `${int.format(m.generatorCpuPct)}%`]),
        ),
      );
      const k = bestRelay(r.measurements, 'kefu-relay', s.relay.lossPct);
      const e = bestRelay(r.measurements, 'rtpengine', s.relay.lossPct);
      if (k && e) {
        ratio = k.deliveredPps / e.deliveredPps;
        const shared = r.measurements.filter((m) => m.target === 'kefu-relay' && m.lossPct <= s.relay.lossPct && r.measurements.some((x) => x.target === 'rtpengine' && x.calls === m.calls));
        const cpuRatios = shared.map((m) => m.cpuPer1k / r.measurements.find((x) => x.target === 'rtpengine' && x.calls === m.calls)!.cpuPer1k);
        const cpuRatio = cpuRatios.length ? cpuRatios.sort((a, b) => a - b)[Math.floor(cpuRatios.length / 2)]! : null;
        const topOffered = Math.max(...r.measurements.map((m) => m.offeredPps));
        out.push(
          '',
          `Highest delivered rate with loss <= ${s.relay.lossPct}%: Kefu ${int.format(k.deliveredPps)} packets/s (${k.calls} calls), rtpengine ${int.format(e.deliveredPps)} packets/s (${e.calls} calls): **${f2(ratio)}x**. ` +
            `CPU per packet, Kefu over rtpengine (median over the steps where Kefu stayed within the loss threshold): **${cpuRatio === null ? '-' : `${f2(cpuRatio)}x`}**.` +
            (k.calls === e.calls && k.offeredPps >= topOffered * 0.95 ? ' Both relays carried the largest step offered: the packets/s ratio is then bounded by the generator, not by either relay.' : ''),
        );
      }
      if (r.rtpengineError) out.push('', `rtpengine: **${r.rtpengineError.slice(0, 500)}**`);
      if (r.kefuError) out.push('', `Kefu relay: **${r.kefuError.slice(0, 500)}**`);
      if (r.rtpengineVersion) out.push('', `rtpengine: ${r.rtpengineVersion}.`);
      out.push('');
    }
    const verdict = (met: boolean | null) => (met === null ? 'not measured' : met ? 'met' : '**not met**');
    out.push(
      table(
        ['Target (issue)', 'Measured', 'Measured / target'],
        [
          [`>= ${TARGET_CPS} calls/s with 0 failed calls`, c ? (bestRate === null ? 'no step without failures' : `${bestRate} calls/s`) : '-', c ? `**${f2((bestRate ?? 0) / TARGET_CPS)}x** (${verdict(bestRate !== null && bestRate >= TARGET_CPS)})` : 'not measured'],
          [`>= ${TARGET_CONCURRENT} concurrent relayed calls with 0 failed calls`, c ? `${bestConcurrent} calls` : '-', c ? `**${f2(bestConcurrent / TARGET_CONCURRENT)}x** (${verdict(bestConcurrent >= TARGET_CONCURRENT)})` : 'not measured'],
          [`relay >= ${TARGET_RELAY_RATIO * 100}% of rtpengine's packets/s`, ratio === null ? '-' : `${f2(ratio)}x of rtpengine`, ratio === null ? 'not measured' : `**${f2(ratio / TARGET_RELAY_RATIO)}x** (${verdict(ratio >= TARGET_RELAY_RATIO)})`],
        ],
      ),
    );
    out.push('', 'Both CPUs are shared: SIPp (customers and agents, with a thread per playing pcap), the RTP generator and PostgreSQL run on the same 2 CPUs as the system under test.');
    return out.join('\n');
  },
};
