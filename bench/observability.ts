// The cost of observability (issue 16): the chat send path (bench/chat.ts's machinery) and the phone call path
// (bench/phone/calls.ts, SIPp) measured with observability off, with metrics on (KEFU_METRICS_TOKEN set and a
// scraper reading /metrics every second, as Prometheus would), and with tracing on at 10% sampling to a local
// OTLP/HTTP receiver (accepts, counts spans, discards). Each variant is reported as a ratio to "off"; the
// variants run in rounds, each round in a rotated order, so that machine load falls on all of them alike.
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
    rounds: Math.max(1, envInt('BENCH_OBS_ROUNDS', 1)),
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
  step: ChatStepResult;
  scrapes: ScrapeStats | null;
  spans: { requests: number; spans: number; unparsed: number } | null;
}

interface PhoneRun {
  variant: Variant;
  round: number;
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

async function runChat(s: Settings, variant: Variant, round: number, log: (m: string) => void): Promise<ChatRun> {
  const otlp = variant === 'tracing' ? await startOtlpReceiver() : null;
  const scrapes: ScrapeStats | null = variant === 'metrics' ? { ok: 0, failed: 0, ms: [], bytes: 0 } : null;
  try {
    const step = await runStep('kefu-postgres', { idle: 0, active: s.chat.active }, (m) => log(`chat ${variant} (round ${round + 1}): ${m}`), {
      settings: chatStepSettings(s),
      serverEnv: variantEnv(variant, otlp?.port ?? 0, s.sample),
      whileUp: scrapes ? (port) => startScraper(port, scrapes) : undefined,
    });
    return { variant, round, step, scrapes, spans: otlp ? { ...otlp.counts } : null };
  } finally {
    await otlp?.close();
  }
}

// Below Linux's ephemeral range (32768-60999), so that no client connection of the run holds a port a later Kefu needs.
const phonePort = { http: envInt('BENCH_OBS_PHONE_HTTP_PORT', 14200), sip: envInt('BENCH_OBS_PHONE_SIP_PORT', 15160) };
let phoneRunNo = 0;

async function runPhone(s: Settings, variant: Variant, round: number, log: (m: string) => void): Promise<PhoneRun> {
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
    return { variant, round, calls, scrapes, spans: otlp ? { ...otlp.counts } : null };
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

/** Calls per Kefu CPU-second in a phone run (the capacity a call path leaves), and whether any call failed. */
function phoneFigures(r: PhoneRun): { perCpuSecond: number; failed: number; offered: number; cpuMsPerCall: number; loopP99: number } {
  const step = r.calls.steps[0];
  if (!step) return { perCpuSecond: NaN, failed: NaN, offered: 0, cpuMsPerCall: NaN, loopP99: NaN };
  const cpuMsPerCall = step.kefuCpuMs / Math.max(1, step.offered);
  return { perCpuSecond: 1000 / cpuMsPerCall, failed: step.failed, offered: step.offered, cpuMsPerCall, loopP99: step.loopDelayP99MaxMs };
}

function rowsOf(s: Settings): ResultRow[] {
  const rows: ResultRow[] = [];
  const byVariant = <T extends { variant: Variant; round: number }>(runs: T[], v: Variant) => runs.filter((r) => r.variant === v).sort((a, b) => a.round - b.round);
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

/** Per measurement, the median over rounds of (variant's figure / off's figure in the same round). */
function ratios(rows: ResultRow[], measurement: string, v: Variant): number[] {
  const a = rows.find((r) => r.measurement === measurement && r.target === label[v]);
  const b = rows.find((r) => r.measurement === measurement && r.target === 'off');
  if (!a || !b) return [];
  return a.perRound.slice(0, b.perRound.length).map((x, i) => x / b.perRound[i]!);
}

let lastRows: ResultRow[] = [];

export const observabilityBench: BenchModule = {
  name: 'observability',
  title: 'The cost of observability (metrics, tracing) and webhook deliveries per second',
  describe() {
    const s = settings();
    return [
      `Variants (${s.variants.join(', ')}), ${s.rounds} round${s.rounds === 1 ? '' : 's'}, each round running the variants in a rotated order (round r starts with variant r), so that a busier or quieter machine falls on all alike; ratios are the median of the per-round ratios to "off".`,
      `- off: KEFU_METRICS_TOKEN and OTEL_EXPORTER_OTLP_ENDPOINT unset. metrics: KEFU_METRICS_TOKEN set and a scraper GETting /metrics with the token every second during the whole run, as Prometheus would. tracing: OTEL_EXPORTER_OTLP_ENDPOINT at a local OTLP/HTTP receiver (node:http; counts the spans of each export and discards them), OTEL_TRACES_SAMPLER_ARG=${s.sample}.`,
      `- Chat (${s.parts.includes('chat') ? 'run' : 'skipped'}): bench/chat.ts's step on PostgreSQL, ${s.chat.active} chatting customers, ${s.chat.agents} agents, each customer sending every ${s.chat.intervalMs} ms for ${s.chat.seconds} s (paced) then ${s.chat.closedSeconds} s closed loop; figures: messages/s stored and acknowledged; the stored check of bench/chat.ts runs every time.`,
      `- Phone (${s.parts.includes('phone') ? 'run' : 'skipped'}): bench/phone/calls.ts, ${s.phone.agents} agents registered by SIPp, ${s.phone.rate} calls/s for ${s.phone.stepSeconds} s through IVR (one key), queue and agent, ${s.phone.talkSeconds} s of talk with RTP, recorded. The call rate is fixed, so the figure is Kefu's capacity: calls per second of Kefu CPU (its CPU time over the step); failed calls are shown beside it.`,
      `- Webhooks (${s.parts.includes('webhooks') ? 'run' : 'skipped'}): one chat run (as above, observability off) with ${s.webhooks.endpoints} webhooks (KEFU_WEBHOOK_ALLOW_HTTP and _PRIVATE on) at a local receiver answering 200 at once, subscribed to ${s.webhooks.kinds.join(', ')}; deliveries/s from the first delivery to the last (after the chat run, until none came for 3 s), delay from the event's occurredAt (set by the command just before the append) to its arrival, duplicates (same Kefu-Delivery) and per-contact order.`,
      'Settings: BENCH_OBS_VARIANTS, BENCH_OBS_PARTS (chat, phone, webhooks), BENCH_OBS_ROUNDS, BENCH_OBS_SAMPLE, BENCH_OBS_CHAT_ACTIVE, _AGENTS, _SECONDS, _CLOSED_SECONDS, _INTERVAL_MS, BENCH_OBS_PHONE_AGENTS, _RATE, _STEP_S, _TALK_S, _HTTP_PORT, _SIP_PORT, BENCH_OBS_WEBHOOK_ENDPOINTS, BENCH_OBS_WEBHOOK_KINDS. Targets (issue 16): metrics cost < 3% of throughput (ratio > 0.97), tracing at 10% sampling < 10% (ratio > 0.90).',
    ].join('\n');
  },
  comparison: { numerator: 'metrics', denominator: 'off', title: 'metrics / off' },
  async run() {
    const s = settings();
    const log = (m: string) => console.log(`  ${m}`);
    chatRuns.length = 0;
    phoneRuns.length = 0;
    webhookRun = null;
    for (let round = 0; round < s.rounds; round++) {
      const order = s.variants.map((_, i) => s.variants[(i + round) % s.variants.length]!);
      for (const v of order) {
        if (s.parts.includes('chat')) chatRuns.push(await runChat(s, v, round, log));
        if (s.parts.includes('phone')) phoneRuns.push(await runPhone(s, v, round, log));
      }
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
      out.push('| Measurement | metrics / off (per round) | tracing / off (per round) | metrics: target > 0.97 | tracing: target > 0.90 |', '|---|---:|---:|---:|---:|');
      for (const m of measurements) {
        const mr = ratios(lastRows, m, 'metrics');
        const tr = ratios(lastRows, m, 'tracing');
        const cell = (r: number[]) => (r.length ? `**${f2(median(r))}x** (${r.map(f2).join(', ')})` : '-');
        const verdict = (r: number[], min: number) => (r.length ? (median(r) >= min ? 'met' : '**not met**') : 'not measured');
        out.push(`| ${m} | ${cell(mr)} | ${cell(tr)} | ${verdict(mr, 0.97)} | ${verdict(tr, 0.9)} |`);
      }
      out.push('');
    }
    const runs = [...chatRuns.map((r) => ({ part: 'chat', ...r })), ...phoneRuns.map((r) => ({ part: 'phone', ...r }))];
    if (runs.length > 0) {
      out.push('| Run | round | scrapes ok / failed | scrape p50 / max ms | /metrics size KB | OTLP exports / spans received | checks |', '|---|---:|---:|---:|---:|---:|---|');
      for (const r of runs) {
        const sc = r.scrapes;
        let checks: string;
        if ('step' in r) {
          const c = r.step.check;
          checks = c ? (c.lost + c.doubled + c.gaps === 0 ? `stored check ok (${c.chats} chats), ${r.step.paced.errors + (r.step.closed?.errors ?? 0)} client errors` : `**stored check failed** (lost ${c.lost}, doubled ${c.doubled}, gaps ${c.gaps})`) : '-';
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
    out.push(`Everything (Kefu, PostgreSQL, the clients, SIPp, the receivers) shares this machine's CPUs; with ${s.rounds} round${s.rounds === 1 ? '' : 's'} the ratios carry the machine's noise: raise BENCH_OBS_ROUNDS for figures to quote.`);
    return out.join('\n');
  },
};
