// The cost of observability (issue 16): the chat send path (bench/chat.ts's machinery) and the phone call path
// (bench/phone/calls.ts, SIPp) measured with observability off, with metrics on (KEFU_METRICS_TOKEN set and a
// scraper reading /metrics every second, as Prometheus would), and with tracing on at 10% sampling to a local
// OTLP/HTTP receiver (accepts, counts spans, discards). Each variant is reported as a ratio to "off". Runs are
// interleaved off, metrics, off, tracing, off, metrics, ... (ABAB): each "on" run is compared with the mean of
// the two "off" runs on either side of it, so a machine getting busier or quieter over the bench (a linear
// drift) cancels out of each ratio, and the report gives the median of those ratios with their spread. Beside
// throughput, Kefu's own CPU time per message (or per call) is measured in every run: on a shared, noisy
// machine it is the steadier figure, and at a fixed pace (where throughput cannot move) it is the only cost.
// Plus webhook deliveries per second to a local receiver: N endpoints subscribed to chat events, the events
// made by a chat run, with the delay from the event (its occurredAt, set just before the append) to the
// receiver.
import { createServer, type Server } from 'node:http';
import { envInt, envList, envString } from './lib/config.ts';
import type { BenchModule } from './lib/module.ts';
import type { ResultRow } from './lib/report.ts';
import { median, percentile } from './lib/stats.ts';
import { chatSettings, runStep, type ChatStepResult } from './chat.ts';
import { runCalls, type CallSettings, type CallsResult } from './phone/calls.ts';

type Variant = 'off' | 'metrics' | 'tracing';
const allVariants: Variant[] = ['off', 'metrics', 'tracing'];
const metricsToken = 'bench-metrics-token-0123456789';

function settings() {
  const variants = (envList('BENCH_OBS_VARIANTS') ?? allVariants) as Variant[];
  const unknownVariants = variants.filter((v) => !allVariants.includes(v));
  if (unknownVariants.length > 0) throw new Error(`BENCH_OBS_VARIANTS: unknown ${unknownVariants.join(', ')} (known: ${allVariants.join(', ')})`);
  if (!variants.includes('off')) throw new Error('BENCH_OBS_VARIANTS must include off (the ratios are to it)');
  const parts = envList('BENCH_OBS_PARTS') ?? ['chat', 'phone', 'webhooks'];
  const unknownParts = parts.filter((p) => !['chat', 'phone', 'webhooks'].includes(p));
  if (unknownParts.length > 0) throw new Error(`BENCH_OBS_PARTS: unknown ${unknownParts.join(', ')} (known: chat, phone, webhooks)`);
  const sample = Number(envString('BENCH_OBS_SAMPLE', '0.1'));
  if (!Number.isFinite(sample) || sample < 0 || sample > 1) throw new Error('BENCH_OBS_SAMPLE must be a number from 0 to 1');
  const kinds = envList('BENCH_OBS_WEBHOOK_KINDS') ?? ['CHAT_MESSAGE', 'CONTACT_CREATED', 'CONTACT_CONNECTED'];
  return {
    variants,
    parts,
    rounds: Math.max(1, envInt('BENCH_OBS_ROUNDS', 3)),
    sample,
    chat: {
      active: Math.max(1, envInt('BENCH_OBS_CHAT_ACTIVE', 20)),
      agents: Math.max(1, envInt('BENCH_OBS_CHAT_AGENTS', 8)),
      seconds: Math.max(2, envInt('BENCH_OBS_CHAT_SECONDS', 6)),
      closedSeconds: envInt('BENCH_OBS_CHAT_CLOSED_SECONDS', 5),
      intervalMs: Math.max(100, envInt('BENCH_OBS_CHAT_INTERVAL_MS', 1000)),
    },
    phone: {
      agents: Math.max(1, envInt('BENCH_OBS_PHONE_AGENTS', 10)),
      rate: Math.max(1, envInt('BENCH_OBS_PHONE_RATE', 3)),
      stepSeconds: Math.max(1, envInt('BENCH_OBS_PHONE_STEP_S', 4)),
      talkSeconds: Math.max(1, envInt('BENCH_OBS_PHONE_TALK_S', 2)),
    },
    webhooks: {
      endpoints: Math.max(1, envInt('BENCH_OBS_WEBHOOK_ENDPOINTS', 4)),
      kinds,
    },
  };
}
type Settings = ReturnType<typeof settings>;

// ---------------------------------------------------------------------------------------------------------
// Peers: the Prometheus-like scraper, the OTLP receiver, the webhook receiver

interface ScrapeStats {
  ok: number;
  failed: number;
  ms: number[];
  bytes: number;
}

/** GET /metrics with the token every second until stopped; errors before the first answer (Kefu starting) are not counted. */
function startScraper(port: number, stats: ScrapeStats): () => Promise<void> {
  let answered = false;
  let running: Promise<void> = Promise.resolve();
  const scrape = async () => {
    const t0 = performance.now();
    try {
      const res = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` }, signal: AbortSignal.timeout(10_000) });
      const text = await res.text();
      if (!res.ok || !text.includes('# TYPE')) throw new Error(`HTTP ${res.status}`);
      answered = true;
      stats.ok++;
      stats.bytes += text.length;
      stats.ms.push(performance.now() - t0);
    } catch (err) {
      // Refused: Kefu not listening yet or already stopped (a phone run's Kefu stops before the scraper does).
      const refused = (err as { cause?: { code?: string } }).cause?.code === 'ECONNREFUSED';
      if (answered && !refused) stats.failed++;
    }
  };
  const timer = setInterval(() => {
    running = scrape();
  }, 1000);
  return async () => {
    clearInterval(timer);
    await running;
  };
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
}

/** OTLP/HTTP traces receiver: counts the spans of each JSON export request (the SDK's OTLP/HTTP exporter sends JSON). */
async function startOtlpReceiver(): Promise<{ port: number; counts: { requests: number; spans: number; unparsed: number }; close: () => Promise<void> }> {
  const counts = { requests: 0, spans: 0, unparsed: 0 };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      counts.requests++;
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { resourceSpans?: { scopeSpans?: { spans?: unknown[] }[] }[] };
        for (const rs of body.resourceSpans ?? []) for (const ss of rs.scopeSpans ?? []) counts.spans += ss.spans?.length ?? 0;
      } catch {
        counts.unparsed++;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  const port = await listen(server);
  return { port, counts, close: () => new Promise((r) => server.close(() => r())) };
}

interface WebhookStats {
  deliveries: number;
  duplicates: number;
  outOfOrder: number;
  delaysMs: number[];
  firstAt: number;
  lastAt: number;
  perEndpoint: number[];
}

/** N endpoints on one server (/hook/<i>): each answers 200 at once and records the delay from the event's occurredAt. */
async function startWebhookReceiver(endpoints: number): Promise<{ urls: string[]; stats: WebhookStats; close: () => Promise<void> }> {
  const stats: WebhookStats = { deliveries: 0, duplicates: 0, outOfOrder: 0, delaysMs: [], firstAt: 0, lastAt: 0, perEndpoint: new Array<number>(endpoints).fill(0) };
  const seen = new Set<string>();
  const lastOfContact = new Map<string, number>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const now = Date.now();
      const endpoint = Number(/^\/hook\/(\d+)$/.exec(req.url ?? '')?.[1] ?? -1);
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { occurredAt: string; contactId?: string };
        const id = String(req.headers['kefu-delivery'] ?? '');
        if (seen.has(id)) stats.duplicates++;
        else {
          seen.add(id);
          stats.deliveries++;
          if (endpoint >= 0 && endpoint < endpoints) stats.perEndpoint[endpoint]!++;
          const at = Date.parse(body.occurredAt);
          stats.delaysMs.push(now - at);
          // In order per contact: an event never arrives before an earlier one of the same contact at this endpoint.
          if (body.contactId) {
            const key = `${endpoint}|${body.contactId}`;
            if ((lastOfContact.get(key) ?? 0) > at) stats.outOfOrder++;
            lastOfContact.set(key, at);
          }
          if (stats.firstAt === 0) stats.firstAt = performance.now();
          stats.lastAt = performance.now();
        }
        res.writeHead(200).end();
      } catch {
        res.writeHead(400).end();
      }
    });
  });
  const port = await listen(server);
  return { urls: Array.from({ length: endpoints }, (_, i) => `http://127.0.0.1:${port}/hook/${i}`), stats, close: () => new Promise((r) => server.close(() => r())) };
}

// ---------------------------------------------------------------------------------------------------------
// Runs

interface ChatRun {
  variant: Variant;
  round: number;
  /** Place in the interleaved sequence (off, metrics, off, tracing, off, ...). */
  slot: number;
  step: ChatStepResult;
  scrapes: ScrapeStats | null;
  spans: { requests: number; spans: number; unparsed: number } | null;
}

interface PhoneRun {
  variant: Variant;
  round: number;
  slot: number;
  calls: CallsResult;
  scrapes: ScrapeStats | null;
  spans: { requests: number; spans: number; unparsed: number } | null;
}

interface WebhookRun {
  endpoints: number;
  stats: WebhookStats;
  messages: number;
  check: ChatStepResult['check'];
}

const chatRuns: ChatRun[] = [];
const phoneRuns: PhoneRun[] = [];
let webhookRun: WebhookRun | null = null;

/** The environment that turns a variant on (and everything else off, whatever the bench's own environment holds). */
function variantEnv(variant: Variant, otlpPort: number, sample: number): Record<string, string> {
  return {
    KEFU_METRICS_TOKEN: variant === 'metrics' ? metricsToken : '',
    OTEL_EXPORTER_OTLP_ENDPOINT: variant === 'tracing' ? `http://127.0.0.1:${otlpPort}` : '',
    OTEL_TRACES_SAMPLER_ARG: variant === 'tracing' ? String(sample) : '1',
  };
}

function chatStepSettings(s: Settings) {
  return { ...chatSettings(), steps: [{ idle: 0, active: s.chat.active }], agents: s.chat.agents, seconds: s.chat.seconds, closedSeconds: s.chat.closedSeconds, intervalMs: s.chat.intervalMs, targets: ['kefu-postgres'] };
}

async function runChat(s: Settings, variant: Variant, round: number, slot: number, log: (m: string) => void): Promise<ChatRun> {
  const otlp = variant === 'tracing' ? await startOtlpReceiver() : null;
  const scrapes: ScrapeStats | null = variant === 'metrics' ? { ok: 0, failed: 0, ms: [], bytes: 0 } : null;
  try {
    const step = await runStep('kefu-postgres', { idle: 0, active: s.chat.active }, (m) => log(`chat ${variant} (round ${round + 1}): ${m}`), {
      settings: chatStepSettings(s),
      serverEnv: variantEnv(variant, otlp?.port ?? 0, s.sample),
      whileUp: scrapes ? (port) => startScraper(port, scrapes) : undefined,
    });
    return { variant, round, slot, step, scrapes, spans: otlp ? { ...otlp.counts } : null };
  } finally {
    await otlp?.close();
  }
}

// Below Linux's ephemeral range (32768-60999), so that no client connection of the run holds a port a later Kefu needs.
const phonePort = { http: envInt('BENCH_OBS_PHONE_HTTP_PORT', 14200), sip: envInt('BENCH_OBS_PHONE_SIP_PORT', 15160) };
let phoneRunNo = 0;

async function runPhone(s: Settings, variant: Variant, round: number, slot: number, log: (m: string) => void): Promise<PhoneRun> {
  // Each run its own ports (SIP and its SIPp peers use sip..sip+49): a stopped Kefu's or SIPp's sockets never collide with the next.
  const offset = (phoneRunNo++ % 20) * 50;
  const ports = { http: phonePort.http + offset, sip: phonePort.sip + offset };
  const otlp = variant === 'tracing' ? await startOtlpReceiver() : null;
  const scrapes: ScrapeStats | null = variant === 'metrics' ? { ok: 0, failed: 0, ms: [], bytes: 0 } : null;
  const stopScraper = scrapes ? startScraper(ports.http, scrapes) : null;
  const callSettings: CallSettings = {
    agents: s.phone.agents,
    rates: [s.phone.rate],
    stepSeconds: s.phone.stepSeconds,
    talkSeconds: s.phone.talkSeconds,
    ringMs: 100,
    sipPort: ports.sip,
    httpPort: ports.http,
    rtpMin: 40000,
    rtpMax: 59999,
    continueOnFailure: true,
    hold: null,
  };
  try {
    const calls = await runCalls(callSettings, (m) => log(`phone ${variant} (round ${round + 1}): ${m}`), variantEnv(variant, otlp?.port ?? 0, s.sample));
    return { variant, round, slot, calls, scrapes, spans: otlp ? { ...otlp.counts } : null };
  } finally {
    await stopScraper?.();
    await otlp?.close();
  }
}

async function runWebhooks(s: Settings, log: (m: string) => void): Promise<WebhookRun> {
  const receiver = await startWebhookReceiver(s.webhooks.endpoints);
  try {
    const step = await runStep('kefu-postgres', { idle: 0, active: s.chat.active }, (m) => log(`webhooks: ${m}`), {
      settings: chatStepSettings(s),
      serverEnv: {
        ...variantEnv('off', 0, 1),
        KEFU_WEBHOOK_ALLOW_HTTP: 'on',
        KEFU_WEBHOOK_ALLOW_PRIVATE: 'on',
        BENCH_CHAT_WEBHOOKS: JSON.stringify({ urls: receiver.urls, kinds: s.webhooks.kinds }),
      },
      // Before Kefu stops: wait until deliveries stop arriving (3 s without one, at most 120 s).
      whileUp: () => async () => {
        const until = performance.now() + 120_000;
        let last = -1;
        while (performance.now() < until) {
          if (receiver.stats.deliveries === last && performance.now() - receiver.stats.lastAt > 3000) break;
          last = receiver.stats.deliveries;
          await new Promise((r) => setTimeout(r, 1000));
        }
      },
    });
    const messages = step.paced.acked + (step.closed?.acked ?? 0);
    return { endpoints: s.webhooks.endpoints, stats: receiver.stats, messages, check: step.check };
  } finally {
    await receiver.close();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Report

const label: Record<Variant, string> = { off: 'off', metrics: 'metrics', tracing: 'tracing' };
const f2 = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : '-');
const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-');

/** Messages per second of Kefu CPU in a chat phase (its capacity, were Kefu alone on a CPU). */
function perCpuSecond(phase: { acked: number; serverCpuMs: number }): number {
  return phase.serverCpuMs > 0 ? (phase.acked * 1000) / phase.serverCpuMs : NaN;
}

/** Calls per Kefu CPU-second in a phone run (the capacity a call path leaves), and whether any call failed. */
function phoneFigures(r: PhoneRun): { perCpuSecond: number; failed: number; offered: number; cpuMsPerCall: number; loopP99: number } {
  const step = r.calls.steps[0];
  if (!step) return { perCpuSecond: NaN, failed: NaN, offered: 0, cpuMsPerCall: NaN, loopP99: NaN };
  const cpuMsPerCall = step.kefuCpuMs / Math.max(1, step.offered);
  return { perCpuSecond: 1000 / cpuMsPerCall, failed: step.failed, offered: step.offered, cpuMsPerCall, loopP99: step.loopDelayP99MaxMs };
}

function rowsOf(s: Settings): ResultRow[] {
  const rows: ResultRow[] = [];
  const byVariant = <T extends { variant: Variant; slot: number }>(runs: T[], v: Variant) => runs.filter((r) => r.variant === v).sort((a, b) => a.slot - b.slot);
  for (const v of s.variants) {
    const chats = byVariant(chatRuns, v);
    if (chats.length > 0) {
      rows.push({
        measurement: 'chat-paced',
        label: `Chat, ${s.chat.active} chatting customers paced every ${s.chat.intervalMs} ms: messages/s stored (latency: customer's send to the agent's frame)`,
        target: label[v],
        events: chats.reduce((a, r) => a + r.step.paced.acked, 0),
        ms: chats.reduce((a, r) => a + r.step.paced.windowMs, 0),
        eventsPerSec: median(chats.map((r) => r.step.paced.messagesPerSec)),
        p50Ms: percentile(chats.flatMap((r) => r.step.paced.customerToAgent), 50),
        p99Ms: percentile(chats.flatMap((r) => r.step.paced.customerToAgent), 99),
        perRound: chats.map((r) => r.step.paced.messagesPerSec),
      });
      rows.push({
        measurement: 'chat-paced-cpu',
        label: `Chat paced (as above): messages per second of Kefu CPU (its CPU time over the phase; the pace is fixed, so this is the cost) (latency: Kefu CPU ms per message)`,
        target: label[v],
        events: chats.reduce((a, r) => a + r.step.paced.acked, 0),
        ms: chats.reduce((a, r) => a + r.step.paced.serverCpuMs, 0),
        eventsPerSec: median(chats.map((r) => perCpuSecond(r.step.paced))),
        p50Ms: median(chats.map((r) => r.step.paced.serverCpuMs / Math.max(1, r.step.paced.acked))),
        p99Ms: Math.max(...chats.map((r) => r.step.paced.serverCpuMs / Math.max(1, r.step.paced.acked))),
        perRound: chats.map((r) => perCpuSecond(r.step.paced)),
      });
      const closed = chats.filter((r) => r.step.closed);
      if (closed.length === chats.length) {
        rows.push({
          measurement: 'chat-closed',
          label: `Chat, ${s.chat.active} customers, closed loop: messages/s stored (latency: round trip)`,
          target: label[v],
          events: closed.reduce((a, r) => a + r.step.closed!.acked, 0),
          ms: closed.reduce((a, r) => a + r.step.closed!.windowMs, 0),
          eventsPerSec: median(closed.map((r) => r.step.closed!.messagesPerSec)),
          p50Ms: percentile(closed.flatMap((r) => r.step.closed!.roundTrip), 50),
          p99Ms: percentile(closed.flatMap((r) => r.step.closed!.roundTrip), 99),
          perRound: closed.map((r) => r.step.closed!.messagesPerSec),
        });
        rows.push({
          measurement: 'chat-closed-cpu',
          label: `Chat closed loop (as above): messages per second of Kefu CPU (latency: Kefu CPU ms per message)`,
          target: label[v],
          events: closed.reduce((a, r) => a + r.step.closed!.acked, 0),
          ms: closed.reduce((a, r) => a + r.step.closed!.serverCpuMs, 0),
          eventsPerSec: median(closed.map((r) => perCpuSecond(r.step.closed!))),
          p50Ms: median(closed.map((r) => r.step.closed!.serverCpuMs / Math.max(1, r.step.closed!.acked))),
          p99Ms: Math.max(...closed.map((r) => r.step.closed!.serverCpuMs / Math.max(1, r.step.closed!.acked))),
          perRound: closed.map((r) => perCpuSecond(r.step.closed!)),
        });
      }
    }
    const phones = byVariant(phoneRuns, v);
    if (phones.length > 0) {
      const figs = phones.map(phoneFigures);
      rows.push({
        measurement: 'phone-calls',
        label: `Phone, ${s.phone.rate} calls/s for ${s.phone.stepSeconds} s through IVR, queue and agent (${s.phone.talkSeconds} s talk): calls per second of Kefu CPU (latency: Kefu event-loop delay p99, max over the seconds)`,
        target: label[v],
        events: figs.reduce((a, f) => a + f.offered, 0),
        ms: 0,
        eventsPerSec: median(figs.map((f) => f.perCpuSecond)),
        p50Ms: median(figs.map((f) => f.loopP99)),
        p99Ms: Math.max(...figs.map((f) => f.loopP99)),
        perRound: figs.map((f) => f.perCpuSecond),
      });
    }
  }
  if (webhookRun) {
    const w = webhookRun.stats;
    const seconds = Math.max(0.001, (w.lastAt - w.firstAt) / 1000);
    rows.push({
      measurement: 'webhook-deliveries',
      label: `Webhook deliveries to ${webhookRun.endpoints} local endpoints (${s.webhooks.kinds.join(', ')}), events from a chat run: deliveries/s from the first to the last (latency: event's occurredAt to the receiver)`,
      target: 'webhooks',
      events: w.deliveries,
      ms: seconds * 1000,
      eventsPerSec: w.deliveries / seconds,
      p50Ms: percentile(w.delaysMs, 50),
      p99Ms: percentile(w.delaysMs, 99),
      perRound: [w.deliveries / seconds],
    });
  }
  return rows;
}

/**
 * The interleaved order of runs: off, then each other variant followed by off, round after round (with
 * metrics and tracing: O M O T O M O T ... O), so every "on" run has an "off" run on either side.
 */
export function interleave(variants: Variant[], rounds: number): { variant: Variant; round: number }[] {
  const on = variants.filter((v) => v !== 'off');
  const out: { variant: Variant; round: number }[] = [{ variant: 'off', round: 0 }];
  for (let round = 0; round < rounds; round++) {
    if (on.length === 0) out.push({ variant: 'off', round });
    for (const v of on) out.push({ variant: v, round }, { variant: 'off', round });
  }
  return out;
}

/**
 * Each run of variant v divided by the mean of the "off" runs next to it in the sequence (the one before and
 * the one after; one of them when the other failed or is missing), in run order. NaN figures are left out.
 */
export function neighbourRatios<T extends { variant: Variant; slot: number }>(runs: T[], v: Variant, figure: (r: T) => number): number[] {
  const bySlot = new Map(runs.map((r) => [r.slot, r]));
  const out: number[] = [];
  for (const r of [...runs].filter((x) => x.variant === v).sort((a, b) => a.slot - b.slot)) {
    const x = figure(r);
    const offs = [bySlot.get(r.slot - 1), bySlot.get(r.slot + 1)].filter((o): o is T => o?.variant === 'off').map(figure).filter((f) => Number.isFinite(f) && f > 0);
    if (!Number.isFinite(x) || offs.length === 0) continue;
    out.push(x / (offs.reduce((a, b) => a + b, 0) / offs.length));
  }
  return out;
}

/** The figure of each measurement in one run (higher is better), for the paired ratios. */
const figures: Record<string, { runs: () => (ChatRun | PhoneRun)[]; figure: (r: ChatRun | PhoneRun) => number }> = {
  'chat-paced': { runs: () => chatRuns, figure: (r) => (r as ChatRun).step.paced.messagesPerSec },
  'chat-paced-cpu': { runs: () => chatRuns, figure: (r) => perCpuSecond((r as ChatRun).step.paced) },
  'chat-closed': { runs: () => chatRuns, figure: (r) => (r as ChatRun).step.closed?.messagesPerSec ?? NaN },
  'chat-closed-cpu': { runs: () => chatRuns, figure: (r) => ((r as ChatRun).step.closed ? perCpuSecond((r as ChatRun).step.closed!) : NaN) },
  'phone-calls': { runs: () => phoneRuns, figure: (r) => phoneFigures(r as PhoneRun).perCpuSecond },
};

function ratios(measurement: string, v: Variant): number[] {
  const f = figures[measurement];
  return f ? neighbourRatios(f.runs(), v, f.figure) : [];
}

/** Lower and upper quartile (the middle half of the ratios), by linear interpolation. */
function quartiles(values: number[]): [number, number] {
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number) => {
    const i = (s.length - 1) * q;
    const lo = Math.floor(i);
    return s[lo]! + (s[Math.min(lo + 1, s.length - 1)]! - s[lo]!) * (i - lo);
  };
  return [at(0.25), at(0.75)];
}

let lastRows: ResultRow[] = [];

export const observabilityBench: BenchModule = {
  name: 'observability',
  title: 'The cost of observability (metrics, tracing) and webhook deliveries per second',
  describe() {
    const s = settings();
    return [
      `Variants (${s.variants.join(', ')}), ${s.rounds} round${s.rounds === 1 ? '' : 's'}, interleaved: ${interleave(s.variants, Math.min(s.rounds, 2)).map((x) => x.variant).join(', ')}${s.rounds > 2 ? ', ...' : ''} (each "on" run between two "off" runs). Each on run's figure is divided by the mean of its two off neighbours' (a drift of the machine's load over the bench cancels); the report gives the median of these ratios, their middle half (quartiles) and their range. Figures: throughput (messages/s, fixed by the pace in the paced phase) and Kefu's CPU per message or call (its capacity: messages per second of Kefu CPU), the steadier figure on a shared machine.`,
      `- off: KEFU_METRICS_TOKEN and OTEL_EXPORTER_OTLP_ENDPOINT unset. metrics: KEFU_METRICS_TOKEN set and a scraper GETting /metrics with the token every second during the whole run, as Prometheus would. tracing: OTEL_EXPORTER_OTLP_ENDPOINT at a local OTLP/HTTP receiver (node:http; counts the spans of each export and discards them), OTEL_TRACES_SAMPLER_ARG=${s.sample}.`,
      `- Chat (${s.parts.includes('chat') ? 'run' : 'skipped'}): bench/chat.ts's step on PostgreSQL, ${s.chat.active} chatting customers, ${s.chat.agents} agents, each customer sending every ${s.chat.intervalMs} ms for ${s.chat.seconds} s (paced) then ${s.chat.closedSeconds} s closed loop; figures: messages/s stored and acknowledged; the stored check of bench/chat.ts runs every time.`,
      `- Phone (${s.parts.includes('phone') ? 'run' : 'skipped'}): bench/phone/calls.ts, ${s.phone.agents} agents registered by SIPp, ${s.phone.rate} calls/s for ${s.phone.stepSeconds} s through IVR (one key), queue and agent, ${s.phone.talkSeconds} s of talk with RTP, recorded. The call rate is fixed, so the figure is Kefu's capacity: calls per second of Kefu CPU (its CPU time over the step); failed calls are shown beside it.`,
      `- Webhooks (${s.parts.includes('webhooks') ? 'run' : 'skipped'}): one chat run (as above, observability off) with ${s.webhooks.endpoints} webhooks (KEFU_WEBHOOK_ALLOW_HTTP and _PRIVATE on) at a local receiver answering 200 at once, subscribed to ${s.webhooks.kinds.join(', ')}; deliveries/s from the first delivery to the last (after the chat run, until none came for 3 s), delay from the event's occurredAt (set by the command just before the append) to its arrival, duplicates (same Kefu-Delivery) and per-contact order.`,
      'Settings: BENCH_OBS_VARIANTS, BENCH_OBS_PARTS (chat, phone, webhooks), BENCH_OBS_ROUNDS, BENCH_OBS_SAMPLE, BENCH_OBS_CHAT_ACTIVE, _AGENTS, _SECONDS, _CLOSED_SECONDS, _INTERVAL_MS, BENCH_OBS_PHONE_AGENTS, _RATE, _STEP_S, _TALK_S, _HTTP_PORT, _SIP_PORT, BENCH_OBS_WEBHOOK_ENDPOINTS, BENCH_OBS_WEBHOOK_KINDS. Targets (issue 16): metrics cost < 3% of throughput (ratio > 0.97), tracing at 10% sampling < 10% (ratio > 0.90).',
    ].join('\n');
  },
  // The tables' column: the ratio of the medians (the paired ratios, with their spread, are in the notes).
  comparison: { numerator: 'metrics', denominator: 'off', title: 'metrics / off (medians)' },
  async run() {
    const s = settings();
    const log = (m: string) => console.log(`  ${m}`);
    chatRuns.length = 0;
    phoneRuns.length = 0;
    webhookRun = null;
    const sequence = interleave(s.variants, s.rounds);
    for (const [slot, { variant, round }] of sequence.entries()) {
      if (s.parts.includes('chat')) chatRuns.push(await runChat(s, variant, round, slot, log));
      if (s.parts.includes('phone')) phoneRuns.push(await runPhone(s, variant, round, slot, log));
    }
    if (s.parts.includes('webhooks')) webhookRun = await runWebhooks(s, log);
    lastRows = rowsOf(s);
    return lastRows;
  },
  notes() {
    const s = settings();
    const out: string[] = [];
    const measurements = [...new Set(lastRows.filter((r) => r.target !== 'webhooks').map((r) => r.measurement))];
    if (measurements.length > 0) {
      out.push(
        'Each on run over the mean of its two off neighbours: median **ratio**, [middle half], (range), n runs. A ratio of messages per Kefu CPU-second below 1 is CPU the variant adds per message (0.97 = 3 % more CPU per message).',
        '',
        '| Measurement | metrics / off | tracing / off | metrics: target > 0.97 | tracing: target > 0.90 |',
        '|---|---:|---:|---:|---:|',
      );
      for (const m of measurements) {
        const mr = ratios(m, 'metrics');
        const tr = ratios(m, 'tracing');
        const cell = (r: number[]) => {
          if (r.length === 0) return '-';
          const [q1, q3] = quartiles(r);
          return `**${f2(median(r))}x** [${f2(q1)}-${f2(q3)}] (${f2(Math.min(...r))}-${f2(Math.max(...r))}), n=${r.length}`;
        };
        // Met when the median is over the line; "unclear" when the middle half straddles it (more rounds, or a quieter machine).
        const verdict = (r: number[], min: number) => {
          if (r.length === 0) return 'not measured';
          const [q1, q3] = quartiles(r);
          const mid = median(r);
          if (mid >= min) return q1 >= min || r.length < 3 ? 'met' : 'met (middle half straddles the target)';
          return q3 < min || r.length < 3 ? '**not met**' : '**not met** (middle half straddles the target)';
        };
        out.push(`| ${m} | ${cell(mr)} | ${cell(tr)} | ${verdict(mr, 0.97)} | ${verdict(tr, 0.9)} |`);
      }
      out.push(
        '',
        'chat-paced: the pace fixes the throughput (both ratios near 1 whatever the cost); its cost is in chat-paced-cpu. chat-closed: throughput with every CPU of the machine taken (Kefu, PostgreSQL and the clients share them), the figure most affected by noise.',
        '',
      );
    }
    const runs = [...chatRuns.map((r) => ({ part: 'chat', ...r })), ...phoneRuns.map((r) => ({ part: 'phone', ...r }))].sort((a, b) => a.slot - b.slot || a.part.localeCompare(b.part));
    if (runs.length > 0) {
      out.push('| Run (in order) | round | scrapes ok / failed | scrape p50 / max ms | /metrics size KB | OTLP exports / spans received | checks |', '|---|---:|---:|---:|---:|---:|---|');
      for (const r of runs) {
        const sc = r.scrapes;
        let checks: string;
        if ('step' in r) {
          const c = r.step.check;
          checks = c ? (c.lost + c.doubled + c.gaps === 0 ? `stored check ok (${c.chats} chats), ${r.step.paced.errors + (r.step.closed?.errors ?? 0)} client errors` : `**stored check failed** (lost ${c.lost}, doubled ${c.doubled}, gaps ${c.gaps})`) : '-';
          const cpu = (p: { acked: number; serverCpuMs: number } | null | undefined) => (p ? f2(p.serverCpuMs / Math.max(1, p.acked)) : '-');
          checks += `; ${int(r.step.paced.messagesPerSec)} / ${r.step.closed ? int(r.step.closed.messagesPerSec) : '-'} msg/s paced / closed, Kefu CPU ${cpu(r.step.paced)} / ${cpu(r.step.closed)} ms per message`;
        } else {
          const f = phoneFigures(r);
          checks = `${f.offered} calls, ${f.failed} failed, ${f2(f.cpuMsPerCall)} ms Kefu CPU per call${r.calls.error ? `; error: ${r.calls.error.slice(0, 120).replace(/\|/g, '/')}` : ''}`;
        }
        out.push(
          `| ${r.part} ${r.variant} | ${r.round + 1} | ${sc ? `${sc.ok} / ${sc.failed}` : '-'} | ${sc && sc.ms.length ? `${f2(median(sc.ms))} / ${f2(Math.max(...sc.ms))}` : '-'} | ${sc && sc.ok ? f2(sc.bytes / sc.ok / 1024) : '-'} | ${r.spans ? `${r.spans.requests} / ${int(r.spans.spans)}${r.spans.unparsed ? ` (${r.spans.unparsed} not JSON)` : ''}` : '-'} | ${checks} |`,
        );
      }
      out.push('');
    }
    if (webhookRun) {
      const w = webhookRun.stats;
      out.push(
        `Webhooks: ${int(w.deliveries)} deliveries (${w.perEndpoint.join(' / ')} per endpoint) for ${int(webhookRun.messages)} chat messages acknowledged; ${w.duplicates} duplicates, ${w.outOfOrder} out of order per contact; delay p50 ${f2(percentile(w.delaysMs, 50))} ms, p99 ${f2(percentile(w.delaysMs, 99))} ms, max ${f2(Math.max(...w.delaysMs))} ms. ` +
          'The delay includes the time deliveries wait behind each other: Kefu sends one at a time per endpoint, so an endpoint\'s rate is bounded by its round trip.',
      );
      out.push('');
    }
    if (phoneRuns.length > 0) out.push("Phone: the call rate is fixed, so Kefu's CPU per call carries the metrics variant's scrapes (one a second, each reading the gauges' sources) divided over the calls of the step: at a low call rate this overstates the cost of metrics per call; raise BENCH_OBS_PHONE_RATE toward the rate the phone bench reaches.", '');
    out.push(`Everything (Kefu, PostgreSQL, the clients, SIPp, the receivers) shares this machine's CPUs. With ${s.rounds} round${s.rounds === 1 ? '' : 's'}, each ratio is the median of ${s.rounds} paired runs: a wide middle half means the machine's noise is larger than the cost; raise BENCH_OBS_ROUNDS (or quiet the machine) for figures to quote.`);
    return out.join('\n');
  },
};
