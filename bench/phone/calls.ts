// The call part of the phone benchmark: Kefu (bench/phone/kefu-child.ts, a child process) with SIP on and a
// fresh PostgreSQL database; SIPp agents' phones registered and answering with RTP echo; SIPp customers
// calling through the trunk into the IVR (key 1), the queue, an agent, talk with RTP, hang-up. The call rate
// is stepped up; each step offers `rate x stepSeconds` calls (at most one per agent, so every call can have
// an agent at once) and waits until Kefu has ended them all.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { dropDatabase, recreateDatabase } from '../lib/pg-admin.ts';
import { cpuMs, cpuOf } from './cpu.ts';
import type { KefuProbe } from './kefu-child.ts';
import { Gql, seed } from './seed.ts';
import { scenarioFile, sipp, workDir, type SippHandle } from './sipp.ts';

export interface CallSettings {
  agents: number;
  rates: number[];
  stepSeconds: number;
  talkSeconds: number;
  ringMs: number;
  sipPort: number;
  httpPort: number;
  rtpMin: number;
  rtpMax: number;
  /** Keep stepping after a step with failed calls. */
  continueOnFailure: boolean;
  /** The concurrency step after the ramp (null: none). */
  hold: { rate: number; talkSeconds: number; calls: number } | null;
}

export interface CallStep {
  /** A step of the rate ramp, or the concurrency step (long calls at a low rate). */
  kind: 'ramp' | 'hold';
  talkSeconds: number;
  rate: number;
  offered: number;
  successful: number;
  sippFailed: number;
  /** Calls Kefu bridged to an agent during the step. */
  bridged: number;
  /** Offered calls that failed in SIPp or never reached an agent. */
  failed: number;
  /** Largest number of calls SIPp's customers had open at once. */
  peakCalls: number;
  /** Largest number of calls Kefu relayed at once (bridges open). */
  peakBridged: number;
  /** Wall time from the first INVITE to the last call's end in Kefu. */
  seconds: number;
  kefuCpuMs: number;
  /** SIPp (customers + agents) CPU time during the step. */
  sippCpuMs: number;
  /** RTP packets received + sent by Kefu's media engine per second: mean over the step and the busiest second. */
  rtpPpsMean: number;
  rtpPpsPeak: number;
  /** Median INVITE→200 time (IVR answer), ms, from SIPp. */
  answerMs: number | null;
  loopDelayP99MaxMs: number;
  loopDelayMaxMs: number;
  legsWithoutMedia: number;
  sippErrors: string;
}

export interface CallsResult {
  steps: CallStep[];
  seedSeconds: number;
  registerSeconds: number;
  agentsRegistered: number;
  agentSippFailed: number;
  kefuLogLines: number;
  kefuLogSample: string[];
  error: string | null;
}

const childPath = fileURLToPath(new URL('./kefu-child.ts', import.meta.url));
const database = 'kefu_bench_phone';
const operatorToken = 'bench-operator-token-0123456789';
const NUMBER = '+861088880000';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class KefuChild {
  readonly child: ChildProcess;
  private waiting: ((p: KefuProbe) => void)[] = [];
  readonly ready: Promise<void>;
  exited: string | null = null;

  constructor(env: Record<string, string>) {
    this.child = fork(childPath, [], { env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.ready = new Promise((resolve, reject) => {
      this.child.on('message', (m: { ready?: true; probe?: KefuProbe }) => {
        if (m.ready) resolve();
        if (m.probe) this.waiting.shift()?.(m.probe);
      });
      this.child.on('exit', (code, signal) => {
        this.exited = `Kefu exited (${code ?? signal})`;
        reject(new Error(this.exited));
      });
    });
    this.ready.catch(() => undefined);
  }

  get pid(): number {
    return this.child.pid!;
  }

  probe(): Promise<KefuProbe> {
    if (this.exited) return Promise.reject(new Error(this.exited));
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.child.send({ cmd: 'probe' });
    });
  }

  async close(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise((r) => this.child.once('exit', r));
    this.child.send({ cmd: 'close' });
    await Promise.race([gone, sleep(10_000)]);
    if (!this.exited) this.child.kill('SIGKILL');
  }
}

/** `env`: added to Kefu's environment (bench/observability.ts turns metrics or tracing on with it). */
export async function runCalls(s: CallSettings, log: (m: string) => void, env: Record<string, string> = {}): Promise<CallsResult> {
  const result: CallsResult = { steps: [], seedSeconds: 0, registerSeconds: 0, agentsRegistered: 0, agentSippFailed: 0, kefuLogLines: 0, kefuLogSample: [], error: null };
  const databaseUrl = await recreateDatabase(database);
  const dataDir = mkdtempSync(path.join(tmpdir(), 'kefu-bench-phone-data-'));
  const logFile = path.join(workDir, 'kefu.log');
  const kefu = new KefuChild({
    DATABASE_URL: databaseUrl,
    PORT: String(s.httpPort),
    HOST: '127.0.0.1',
    KEFU_SIP: 'on',
    KEFU_SIP_PORT: String(s.sipPort),
    KEFU_SIP_BIND: '127.0.0.1',
    KEFU_SIP_PUBLIC_ADDRESS: '127.0.0.1',
    KEFU_RTP_PORT_MIN: String(s.rtpMin),
    KEFU_RTP_PORT_MAX: String(s.rtpMax),
    KEFU_NODE_ID: 'bench-phone',
    KEFU_OPERATOR_TOKEN: operatorToken,
    KEFU_DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    BENCH_PHONE_KEFU_LOG: logFile,
    ...env,
  });
  const target = `127.0.0.1:${s.sipPort}`;
  const agentPort = s.sipPort + 10;
  const agentMedia = s.sipPort + 20;
  const callerPort = s.sipPort + 30;
  const callerMedia = s.sipPort + 40;
  let agents: SippHandle | null = null;
  try {
    await kefu.ready;
    log(`Kefu up (pid ${kefu.pid}); seeding ${s.agents} agents`);
    let t0 = performance.now();
    const seeded = await seed(new Gql(`http://127.0.0.1:${s.httpPort}`), { operatorToken, agents: s.agents, ringTimeoutSeconds: 10, number: NUMBER, log });
    result.seedSeconds = (performance.now() - t0) / 1000;

    // Register the agents from SIPp runs on agentPort, one after the other, 40 agents a run (SIPp reads
    // scenario files of at most 64 KB); a batch is tried again once if the read model did not have its users yet.
    t0 = performance.now();
    await sleep(1000);
    for (let first = 0; first < seeded.sipUsers.length; first += 40) {
      const users = seeded.sipUsers.slice(first, first + 40);
      const registerScenario = scenarioFile('agents-register.xml', { USERS: users.join(','), PASSWORD: seeded.sipPassword });
      for (let attempt = 1; ; attempt++) {
        const reg = await sipp({ scenario: registerScenario, target, localPort: agentPort, mediaPort: agentMedia, total: 1, timeoutS: 60 }).done;
        if (reg.code === 0 && reg.stats?.successful === 1) break;
        if (attempt === 2) throw new Error(`registering agents ${first}-${first + users.length - 1}: SIPp exit ${reg.code}\n${reg.errors.slice(-1500)}\n${reg.output.slice(-1500)}`);
        log(`registration of agents ${first}-${first + users.length - 1} failed; retrying`);
        await sleep(2000);
      }
      result.agentsRegistered += users.length;
    }
    result.registerSeconds = (performance.now() - t0) / 1000;
    log(`${result.agentsRegistered} agents registered in ${result.registerSeconds.toFixed(1)} s`);
    const phones = sipp({ scenario: scenarioFile('agents-answer.xml', { RING_MS: s.ringMs, WAIT_MS: 120_000 }), target, localPort: agentPort, mediaPort: agentMedia, rtpEcho: true, uas: true });
    agents = phones;
    await sleep(500);

    const callerScenario = scenarioFile('customers-call.xml', { LISTEN_MS: 1200, CONNECT_MS: 500, TALK_MS: s.talkSeconds * 1000 });
    const holdSeconds = 1.2 + 0.5 + s.talkSeconds + 0.5;
    // Warm-up (TTS of the menu prompt, first JIT): two calls, not counted.
    log('warm-up: 2 calls');
    const warm = await sipp({ scenario: callerScenario, target, service: NUMBER, localPort: callerPort, mediaPort: callerMedia, rate: 2, total: 2, timeoutS: 60 }).done;
    if (warm.code !== 0) throw new Error(`warm-up calls failed (SIPp exit ${warm.code})\n${warm.errors.slice(-2000)}\n${warm.output.slice(-1500)}`);
    await waitIdle(kefu, 20_000);

    const runStep = async (kind: 'ramp' | 'hold', rate: number, total: number, scenario: string, callSeconds: number): Promise<CallStep> => {
      const before = await kefu.probe();
      const cpu0 = cpuMs(kefu.pid);
      const sippCpu0 = cpuOf([phones.child.pid!]);
      const started = performance.now();
      const callers = sipp({ scenario, target, service: NUMBER, localPort: callerPort, mediaPort: callerMedia, rate, total, limit: s.agents, timeoutS: Math.ceil(total / rate + callSeconds + 60) });
      let callerCpu = 0;
      let peakBridged = 0;
      let ppsPeak = 0;
      let loopP99 = 0;
      let loopMax = 0;
      let lastPackets = before.packetsIn + before.packetsOut;
      let lastAt = performance.now();
      let finished = false;
      const ended = callers.done.then((r) => {
        finished = true;
        return r;
      });
      // Sample once a second until SIPp is done and Kefu has no call left.
      for (;;) {
        await Promise.race([ended, sleep(1000)]);
        if (!finished) callerCpu = cpuOf([callers.child.pid!]);
        const p = await kefu.probe();
        const now = performance.now();
        const packets = p.packetsIn + p.packetsOut;
        ppsPeak = Math.max(ppsPeak, ((packets - lastPackets) * 1000) / (now - lastAt));
        lastPackets = packets;
        lastAt = now;
        peakBridged = Math.max(peakBridged, p.bridgesOpen);
        loopP99 = Math.max(loopP99, p.loopDelayP99Ms);
        loopMax = Math.max(loopMax, p.loopDelayMaxMs);
        if (finished && p.activeCalls === 0) break;
        if (finished && now - started > (total / rate + callSeconds + 60) * 1000) break;
      }
      const run = await ended;
      const after = await kefu.probe();
      const seconds = (performance.now() - started) / 1000;
      const kefuCpu = cpuMs(kefu.pid) - cpu0;
      const sippCpu = callerCpu + cpuOf([phones.child.pid!]) - sippCpu0;
      const st = run.stats;
      const successful = st?.successful ?? 0;
      const sippFailed = st ? st.failed + Math.max(0, total - st.successful - st.failed) : total;
      const bridged = after.bridgesStarted - before.bridgesStarted;
      const step: CallStep = {
        kind,
        talkSeconds: kind === 'hold' ? s.hold!.talkSeconds : s.talkSeconds,
        rate,
        offered: total,
        successful,
        sippFailed,
        bridged,
        failed: Math.max(sippFailed, total - bridged),
        peakCalls: st?.peakCurrent ?? 0,
        peakBridged,
        seconds,
        kefuCpuMs: kefuCpu,
        sippCpuMs: sippCpu,
        rtpPpsMean: (after.packetsIn + after.packetsOut - before.packetsIn - before.packetsOut) / seconds,
        rtpPpsPeak: ppsPeak,
        answerMs: st?.answerMs ?? null,
        loopDelayP99MaxMs: loopP99,
        loopDelayMaxMs: loopMax,
        legsWithoutMedia: after.legsWithoutMedia - before.legsWithoutMedia,
        sippErrors: run.code === 0 ? '' : `${run.errors.slice(-600)}`,
      };
      result.steps.push(step);
      log(
        `${kind === 'hold' ? 'concurrency step, ' : ''}${rate} calls/s: ${total} offered, ${successful} ok in SIPp, ${step.sippFailed} failed in SIPp, ${bridged} bridged; peak ${step.peakCalls} open / ${peakBridged} relayed; Kefu CPU ${((kefuCpu / 1000 / seconds) * 100).toFixed(0)}% (${(kefuCpu / total).toFixed(0)} ms/call); RTP ${Math.round(step.rtpPpsPeak)} pkt/s peak, ${step.legsWithoutMedia} legs closed without receiving RTP; loop delay p99 ${loopP99.toFixed(0)} ms, max ${loopMax.toFixed(0)} ms`,
      );
      await waitIdle(kefu, 30_000);
      return step;
    };
    for (const rate of s.rates) {
      const total = Math.max(1, Math.min(Math.round(rate * s.stepSeconds), s.agents));
      const step = await runStep('ramp', rate, total, callerScenario, holdSeconds);
      if (step.failed > 0 && !s.continueOnFailure) break;
    }
    if (s.hold) {
      // Concurrency: a low rate and long calls, so that many calls are open at once without a high call rate.
      const holdScenario = scenarioFile('customers-call.xml', { LISTEN_MS: 1200, CONNECT_MS: 500, TALK_MS: s.hold.talkSeconds * 1000 }, 'customers-hold.xml');
      log(`concurrency step: ${s.hold.calls} calls at ${s.hold.rate} calls/s, ${s.hold.talkSeconds} s of talk each`);
      await runStep('hold', s.hold.rate, Math.min(s.hold.calls, s.agents), holdScenario, 1.2 + 0.5 + s.hold.talkSeconds + 0.5);
    }
  } catch (err) {
    result.error = (err as Error).message;
    log(`calls: ${result.error}`);
  } finally {
    if (agents) {
      agents.stop();
      const a = await agents.done;
      result.agentSippFailed = a.stats?.failed ?? 0;
    }
    await kefu.close();
    try {
      const lines = readFileSync(logFile, 'utf8').split('\n').filter((l) => l.trim() !== '');
      result.kefuLogLines = lines.length;
      const seen = new Map<string, number>();
      for (const l of lines) {
        try {
          const j = JSON.parse(l) as { msg?: string; err?: { message?: string } };
          const key = `${j.msg ?? '?'}${j.err?.message ? `: ${j.err.message}` : ''}`.slice(0, 200);
          seen.set(key, (seen.get(key) ?? 0) + 1);
        } catch {
          seen.set(l.slice(0, 200), (seen.get(l.slice(0, 200)) ?? 0) + 1);
        }
      }
      result.kefuLogSample = [...seen].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([k, n]) => `${n} x ${k}`);
    } catch {
      // no log
    }
    if (process.env.BENCH_KEEP_DATABASES !== '1') await dropDatabase(database).catch(() => undefined);
  }
  return result;
}

async function waitIdle(kefu: KefuChild, ms: number): Promise<void> {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    const p = await kefu.probe();
    if (p.activeCalls === 0 && p.bridgesOpen === 0) return;
    await sleep(500);
  }
}
