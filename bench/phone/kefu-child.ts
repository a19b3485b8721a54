// Kefu for the phone benchmark, in a child process of its own (so its CPU time is its own): the real
// startKefu with SIP on, configured from the environment as `node src/main.ts` would be, plus a small probe
// that answers the parent's IPC questions: open calls, bridged calls, RTP packets through the media engine,
// event-loop delay. The probe only wraps the media engine's openLeg/bridge; the call path is unchanged.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pino } from 'pino';
import { loadConfig } from '../../src/config.ts';
import { startKefu } from '../../src/main.ts';
import { startTracing } from '../../src/adapters/observability/tracing.ts';
import type { RtpLeg } from '../../src/adapters/media/media-port.ts';

export interface KefuProbe {
  /** Inbound call sessions open now. */
  activeCalls: number;
  /** Bridges (customer and agent relayed) open now, and started since the start. */
  bridgesOpen: number;
  bridgesStarted: number;
  legsOpen: number;
  /** RTP packets received and sent by all legs since the start (closed legs included). */
  packetsIn: number;
  packetsOut: number;
  /** Legs that received nothing at all before they closed (a sign of lost media). */
  legsWithoutMedia: number;
  /** Event-loop delay since the last probe, ms. */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
}

const logFile = process.env.BENCH_PHONE_KEFU_LOG;
const config = loadConfig(process.env);
const logger = pino({ level: config.LOG_LEVEL }, logFile ? pino.destination({ dest: logFile, sync: false }) : undefined);
// Traces as `node src/main.ts` starts them (on only with OTEL_EXPORTER_OTLP_ENDPOINT: bench/observability.ts).
const tracing = startTracing({ endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT, sampleRatio: config.OTEL_TRACES_SAMPLER_ARG, serviceName: config.OTEL_SERVICE_NAME });
const kefu = await startKefu(config, { logger, ...(tracing ? { tracer: tracing.tracer } : {}) });
const phone = kefu.phone;
if (!phone) throw new Error('KEFU_SIP must be on for the phone benchmark');

const legs = new Set<RtpLeg>();
let closedIn = 0;
let closedOut = 0;
let legsWithoutMedia = 0;
let bridgesOpen = 0;
let bridgesStarted = 0;
const media = phone.media;
const openLeg = media.openLeg.bind(media);
media.openLeg = async (label, options) => {
  const leg = await openLeg(label, options);
  legs.add(leg);
  const close = leg.close.bind(leg);
  let counted = false;
  // Counted once closed: a leg on a media thread has its final counters then.
  leg.close = () =>
    close().then(() => {
      if (counted) return;
      counted = true;
      const s = leg.stats();
      closedIn += s.packetsIn;
      closedOut += s.packetsOut;
      if (s.packetsIn === 0) legsWithoutMedia++;
      legs.delete(leg);
    });
  return leg;
};
const bridge = media.bridge.bind(media);
media.bridge = (a, b, options) => {
  const made = bridge(a, b, options);
  bridgesOpen++;
  bridgesStarted++;
  let stopped = false;
  return {
    recording: made.recording,
    stop: () => {
      if (!stopped) {
        stopped = true;
        bridgesOpen--;
      }
      return made.stop();
    },
  };
};

const delay = monitorEventLoopDelay({ resolution: 10 });
delay.enable();

function probe(): KefuProbe {
  let packetsIn = closedIn;
  let packetsOut = closedOut;
  for (const leg of legs) {
    const s = leg.stats();
    packetsIn += s.packetsIn;
    packetsOut += s.packetsOut;
  }
  const p = {
    activeCalls: phone!.calls.activeCalls,
    bridgesOpen,
    bridgesStarted,
    legsOpen: media.openLegs,
    packetsIn,
    packetsOut,
    legsWithoutMedia,
    loopDelayP99Ms: delay.percentile(99) / 1e6,
    loopDelayMaxMs: delay.max / 1e6,
  };
  delay.reset();
  return p;
}

process.on('message', (m: { cmd: 'probe' | 'close' }) => {
  if (m.cmd === 'probe') process.send!({ probe: probe() });
  if (m.cmd === 'close') {
    void kefu
      .close()
      .then(() => tracing?.shutdown())
      .then(
        () => process.exit(0),
        () => process.exit(1),
      );
  }
});
process.send!({ ready: true });
