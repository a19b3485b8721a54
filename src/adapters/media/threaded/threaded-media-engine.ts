// The media engine on worker threads: N workers, each a UdpMediaEngine with its own slice of the RTP port
// range, its own sockets and its own 20 ms clock. The main thread keeps signalling, the call sessions and
// the event store; it only sends control messages here. A call's legs share a worker (openLeg's `group`,
// the contact id), so a bridge relays packets inside one thread and no packet crosses threads, except for
// piped (WebRTC) legs, whose peer connection lives on the main thread.
//
// Each leg and bridge here mirrors what the worker holds (closed, bridged, paused), so misuse throws at the
// call site as the in-process engine's would, instead of failing later inside a worker.
import type { EventLoopUtilization } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import type { Bridge, MediaEndpoint, MediaEngine, OpenLegOptions, PipedLeg, Playback, Recording, RecordingResult, RtpLeg, RtpLegStats } from '../media-port.ts';
import type { Codec, MediaFormat } from '../sdp.ts';
import { DtmfListeners } from '../dtmf-listeners.ts';
import type { Command, FromWorker, Request, WorkerSetup } from './protocol.ts';

export interface ThreadedMediaLogger {
  warn(context: unknown, message?: string): void;
  error(context: unknown, message?: string): void;
}

export interface ThreadedMediaEngineOptions {
  bindAddress: string;
  publicAddress: string;
  portMin: number;
  portMax: number;
  /** Worker threads (at least 1); the port range is split evenly between them. */
  threads: number;
  logger?: ThreadedMediaLogger;
  /** How often workers report leg counters (ms); stats() returns the last report. */
  statsIntervalMs?: number;
}

const ZERO_STATS: Required<RtpLegStats> = {
  packetsIn: 0,
  packetsOut: 0,
  bytesIn: 0,
  bytesOut: 0,
  lastPacketAt: null,
  packetsMalformed: 0,
  packetsIgnored: 0,
  packetsUnknownPayloadType: 0,
  packetsBeforeNegotiation: 0,
  lastAudioAt: null,
  packetsLost: 0,
  jitterMs: 0,
  silentMs: 0,
};
const WORKER_URL = new URL('./media-worker.ts', import.meta.url);

type Pending = { resolve: (value: unknown) => void; reject: (error: Error) => void };
type RequestBody = Request extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

/** One worker thread and the proxies of what lives in it. */
class MediaWorker {
  readonly index: number;
  readonly legs = new Map<string, ThreadLeg>();
  readonly playbacks = new Map<number, ThreadPlayback>();
  readonly pipedSends = new Map<string, (packet: Uint8Array) => void>();
  readonly sentAudio = new Set<number>();
  alive = true;
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  /** Legs asked for and not yet answered: counted as load so a burst spreads over the workers. */
  opening = 0;
  private readonly engine: ThreadedMediaEngine;
  private nextId = 1;

  constructor(index: number, setup: WorkerSetup, engine: ThreadedMediaEngine) {
    this.index = index;
    this.engine = engine;
    this.worker = new Worker(WORKER_URL, { workerData: setup, name: `kefu-media-${index}` });
    this.worker.on('message', (message: FromWorker) => this.receive(message));
    this.worker.on('error', (error) => engine.logger.error({ err: error, worker: index }, 'media worker failed'));
    this.worker.on('exit', (code) => this.exited(code));
  }

  request(body: RequestBody): Promise<unknown> {
    if (!this.alive) return Promise.reject(new Error(`media worker ${this.index} is not running`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...body, id });
    });
  }

  send(command: Command, transfer?: ArrayBuffer[]): void {
    if (this.alive) this.worker.postMessage(command, transfer ?? []);
  }

  private lastUtilization: EventLoopUtilization | undefined;
  /** The share of time this thread's event loop was busy since the previous call (0 to 1; metrics). */
  utilization(): number {
    if (!this.alive) return 0;
    const now = this.worker.performance.eventLoopUtilization();
    const last = this.lastUtilization ?? { idle: 0, active: 0, utilization: 0 };
    this.lastUtilization = now;
    // Read from another thread the two counters may be a hair apart: keep the share within 0..1.
    const active = Math.max(0, now.active - last.active);
    const idle = Math.max(0, now.idle - last.idle);
    return active + idle === 0 ? 0 : Math.min(1, active / (active + idle));
  }

  async stop(): Promise<void> {
    if (this.alive) await this.request({ op: 'close' }).catch(() => undefined);
    this.alive = false;
    await this.worker.terminate();
  }

  private receive(message: FromWorker): void {
    if ('id' in message) {
      const pending = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (!pending) return;
      if (message.ok) pending.resolve(message.value ?? null);
      else pending.reject(new Error(message.error));
      return;
    }
    switch (message.ev) {
      case 'dtmf':
        this.legs.get(message.leg)?.emitDtmf(message.digit);
        return;
      case 'playDone':
        this.playbacks.get(message.playback)?.finish(message.result);
        this.playbacks.delete(message.playback);
        return;
      case 'piped':
        this.pipedSends.get(message.leg)?.(message.packet);
        return;
      case 'stats':
        for (const [id, stats] of message.legs) this.legs.get(id)?.updateStats(stats);
        return;
      case 'error':
        this.engine.logger.warn({ worker: this.index, context: message.context }, message.message);
        return;
    }
  }

  /** The thread is gone (a crash, or stop()): its sockets closed with it; every proxy of it ends now. */
  private exited(code: number): void {
    const expected = !this.alive;
    this.alive = false;
    for (const pending of this.pending.values()) pending.reject(new Error(`media worker ${this.index} exited (code ${code})`));
    this.pending.clear();
    for (const playback of this.playbacks.values()) playback.finish('stopped');
    this.playbacks.clear();
    for (const leg of [...this.legs.values()]) leg.lost();
    this.legs.clear();
    if (!expected) this.engine.replace(this, code);
  }
}

class ThreadPlayback implements Playback {
  readonly done: Promise<'finished' | 'stopped'>;
  private settle!: (result: 'finished' | 'stopped') => void;
  private settled = false;
  private readonly worker: MediaWorker;
  private readonly id: number;

  constructor(worker: MediaWorker, id: number) {
    this.worker = worker;
    this.id = id;
    this.done = new Promise((resolve) => (this.settle = resolve));
  }

  finish(result: 'finished' | 'stopped'): void {
    if (this.settled) return;
    this.settled = true;
    this.settle(result);
  }

  stop(): void {
    if (!this.settled) this.worker.send({ op: 'stopPlay', playback: this.id });
  }
}

class ThreadLeg implements RtpLeg {
  readonly id: string;
  readonly local: MediaEndpoint;
  /** The bridge relaying this leg now (mirrors the worker's sink). */
  sink: ThreadBridge | null = null;
  closed = false;
  private readonly dtmfListeners: DtmfListeners;
  private latestStats: Required<RtpLegStats> = ZERO_STATS;
  private closing: Promise<void> | null = null;
  readonly worker: MediaWorker;
  /** The leg's id inside its worker. */
  readonly workerLegId: string;
  readonly engine: ThreadedMediaEngine;
  private readonly released: () => void;

  constructor(worker: MediaWorker, workerLegId: string, local: MediaEndpoint, engine: ThreadedMediaEngine, released: () => void) {
    this.worker = worker;
    this.workerLegId = workerLegId;
    this.engine = engine;
    this.released = released;
    this.dtmfListeners = new DtmfListeners((error) => engine.logger.warn({ err: error, leg: this.id }, 'DTMF listener failed'));
    this.id = `${workerLegId}@m${worker.index}`;
    this.local = local;
  }

  setRemote(remote: MediaEndpoint, codec: Codec, payloadType: number, dtmfPayloadType: number | null, alsoReceive: readonly MediaFormat[] = []): void {
    this.worker.send({ op: 'setRemote', leg: this.workerLegId, remote, codec, payloadType, dtmfPayloadType, alsoReceive: [...alsoReceive] });
  }

  onDtmf(listener: (digit: string) => void): () => void {
    return this.dtmfListeners.add(listener);
  }

  injectDtmf(digit: string): void {
    this.dtmfListeners.inject(digit);
  }

  /** A digit the worker detected on this leg. */
  emitDtmf(digit: string): void {
    this.dtmfListeners.emit(digit);
  }

  play(audio: Int16Array, options?: { loop?: boolean }): Playback {
    if (this.closed) throw new Error(`leg ${this.id} is closed`);
    const audioId = this.engine.audioFor(this.worker, audio);
    const id = this.engine.nextPlaybackId();
    const playback = new ThreadPlayback(this.worker, id);
    this.worker.playbacks.set(id, playback);
    this.worker.send({ op: 'play', leg: this.workerLegId, playback: id, audio: audioId, loop: options?.loop ?? false });
    return playback;
  }

  stopPlayback(): void {
    if (!this.closed) this.worker.send({ op: 'stopPlayback', leg: this.workerLegId });
  }

  async sendDtmf(digit: string, durationMs?: number): Promise<void> {
    if (this.closed) throw new Error(`leg ${this.id} is closed`);
    await this.worker.request({ op: 'sendDtmf', leg: this.workerLegId, digit, ...(durationMs !== undefined ? { durationMs } : {}) });
  }

  updateStats(stats: Required<RtpLegStats>): void {
    this.latestStats = stats;
  }

  /** The counters of the worker's last report (at most statsIntervalMs old). */
  stats(): Required<RtpLegStats> {
    return this.latestStats;
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closed = true;
    this.sink = null;
    this.dtmfListeners.clear();
    this.closing = this.worker
      .request({ op: 'closeLeg', leg: this.workerLegId })
      .then(
        (final) => {
          if (final) this.latestStats = final as Required<RtpLegStats>;
        },
        () => undefined,
      )
      .then(() => this.forget());
    return this.closing;
  }

  /** Its worker died: the leg is closed without asking the worker. */
  lost(): void {
    if (this.closing) return;
    this.closed = true;
    this.sink = null;
    this.dtmfListeners.clear();
    this.closing = Promise.resolve();
    this.forget();
  }

  private forget(): void {
    this.worker.legs.delete(this.workerLegId);
    this.worker.pipedSends.delete(this.workerLegId);
    this.released();
  }
}

class ThreadBridge implements Bridge {
  readonly recording: Recording | null;
  private paused = false;
  private stopping: Promise<RecordingResult | null> | null = null;
  private readonly worker: MediaWorker;
  private readonly id: number;
  private readonly a: ThreadLeg;
  private readonly b: ThreadLeg;

  constructor(worker: MediaWorker, id: number, a: ThreadLeg, b: ThreadLeg, recordTo: string | undefined) {
    this.worker = worker;
    this.id = id;
    this.a = a;
    this.b = b;
    this.recording = recordTo
      ? {
          path: recordTo,
          stop: async () => (await this.worker.request({ op: 'recordingStop', bridge: this.id })) as RecordingResult,
        }
      : null;
    a.sink = this;
    b.sink = this;
    worker.send({ op: 'bridge', bridge: id, a: a.workerLegId, b: b.workerLegId, ...(recordTo ? { recordTo } : {}) });
  }

  pause(): void {
    if (this.paused || this.stopping) return;
    this.paused = true;
    this.unlink();
    this.worker.send({ op: 'bridgePause', bridge: this.id });
  }

  resume(): void {
    if (!this.paused || this.stopping) return;
    for (const leg of [this.a, this.b]) if (leg.sink) throw new Error(`cannot resume the bridge: leg ${leg.id} is bridged elsewhere`);
    this.paused = false;
    this.a.sink = this;
    this.b.sink = this;
    this.worker.send({ op: 'bridgeResume', bridge: this.id });
  }

  stop(): Promise<RecordingResult | null> {
    if (!this.stopping) {
      this.unlink();
      this.stopping = this.worker.request({ op: 'bridgeStop', bridge: this.id }) as Promise<RecordingResult | null>;
    }
    return this.stopping;
  }

  private unlink(): void {
    if (this.a.sink === this) this.a.sink = null;
    if (this.b.sink === this) this.b.sink = null;
  }
}

/** Splits [min, max] into `parts` slices, each starting on an even port (RTP takes even ports). */
export function splitPortRange(min: number, max: number, parts: number): { min: number; max: number }[] {
  // Even sizes keep every slice starting on an even port.
  const size = Math.floor((max - min + 1) / parts) & ~1;
  if (size < 2) throw new Error(`RTP port range ${min}-${max} is too small for ${parts} media threads`);
  return Array.from({ length: parts }, (_, i) => ({ min: min + i * size, max: i === parts - 1 ? max : min + (i + 1) * size - 1 }));
}

export class ThreadedMediaEngine implements MediaEngine {
  readonly logger: ThreadedMediaLogger;
  private readonly workers: MediaWorker[];
  private readonly setups: WorkerSetup[];
  /** Which worker a group's legs live in, and how many of its legs are open. */
  private readonly groups = new Map<string, { worker: MediaWorker; legs: number }>();
  private readonly audioIds = new WeakMap<Int16Array, number>();
  private readonly audioRegistry = new FinalizationRegistry<number>((id) => {
    for (const worker of this.workers) if (worker.sentAudio.delete(id)) worker.send({ op: 'dropAudio', audio: id });
  });
  private nextAudio = 1;
  private nextPlayback = 1;
  private nextBridge = 1;
  private closed = false;

  constructor(o: ThreadedMediaEngineOptions) {
    if (!Number.isInteger(o.threads) || o.threads < 1) throw new Error(`media threads must be a whole number >= 1 (got ${o.threads})`);
    this.logger = o.logger ?? { warn: () => {}, error: () => {} };
    this.setups = splitPortRange(o.portMin, o.portMax, o.threads).map((range) => ({
      bindAddress: o.bindAddress,
      publicAddress: o.publicAddress,
      portMin: range.min,
      portMax: range.max,
      statsIntervalMs: o.statsIntervalMs ?? 1000,
    }));
    this.workers = this.setups.map((setup, i) => new MediaWorker(i, setup, this));
  }

  get threads(): number {
    return this.workers.length;
  }

  get openLegs(): number {
    return this.workers.reduce((n, w) => n + w.legs.size, 0);
  }

  /** Asks every worker for its legs' counters now; stats() and legStats() show them once this resolves. */
  async syncStats(): Promise<void> {
    await Promise.all(this.workers.filter((w) => w.alive).map((w) => w.request({ op: 'stats' })));
  }

  /** Per media thread (metrics): its index, its event loop's busy share since the previous call, its open legs' counters. */
  threadFigures(): { thread: number; utilization: number; legs: RtpLegStats[] }[] {
    return this.workers.map((w) => ({ thread: w.index, utilization: w.utilization(), legs: [...w.legs.values()].map((leg) => leg.stats()) }));
  }

  /** Each open leg's counters as last reported by its worker, by leg id. */
  legStats(): { id: string; stats: RtpLegStats }[] {
    return this.workers.flatMap((w) => [...w.legs.values()].map((leg) => ({ id: leg.id, stats: leg.stats() })));
  }

  async openLeg(label?: string, options?: OpenLegOptions): Promise<RtpLeg> {
    return this.open(options?.group, (worker) => worker.request({ op: 'openLeg', label: label ?? 'leg' }));
  }

  async openPipedLeg(label: string, send: (rtpPacket: Uint8Array) => void, options?: OpenLegOptions): Promise<PipedLeg> {
    const leg = await this.open(options?.group, (worker) => worker.request({ op: 'openPipedLeg', label }));
    leg.worker.pipedSends.set(leg.workerLegId, send);
    return {
      leg,
      deliver: (rtpPacket) => {
        if (leg.closed) return;
        const copy = new Uint8Array(rtpPacket);
        leg.worker.send({ op: 'deliver', leg: leg.workerLegId, packet: copy }, [copy.buffer]);
      },
    };
  }

  bridge(a: RtpLeg, b: RtpLeg, options?: { recordTo?: string }): Bridge {
    if (!(a instanceof ThreadLeg) || !(b instanceof ThreadLeg) || a.engine !== this || b.engine !== this) throw new Error('bridge: both legs must be open legs of this media engine');
    if (a === b) throw new Error('cannot bridge a leg to itself');
    for (const leg of [a, b]) {
      if (leg.closed) throw new Error(`cannot bridge leg ${leg.id}: it is closed`);
      if (leg.sink) throw new Error(`cannot bridge leg ${leg.id}: it is already bridged`);
    }
    if (a.worker !== b.worker) {
      throw new Error(`bridge: legs ${a.id} and ${b.id} are in different media threads (open a call's legs with the same group)`);
    }
    return new ThreadBridge(a.worker, this.nextBridge++, a, b, options?.recordTo);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.stop()));
  }

  /** The id under which `worker` knows this audio, sending the samples the first time. */
  audioFor(worker: MediaWorker, audio: Int16Array): number {
    let id = this.audioIds.get(audio);
    if (id === undefined) {
      id = this.nextAudio++;
      this.audioIds.set(audio, id);
      this.audioRegistry.register(audio, id);
    }
    if (!worker.sentAudio.has(id)) {
      worker.sentAudio.add(id);
      worker.send({ op: 'audio', audio: id, samples: audio });
    }
    return id;
  }

  nextPlaybackId(): number {
    return this.nextPlayback++;
  }

  /** A worker died unexpectedly: log it and start a new one on the same ports for the calls to come. */
  replace(dead: MediaWorker, code: number): void {
    // Its groups are gone already: each lost leg released its group.
    if (this.closed) return;
    this.logger.error({ worker: dead.index, code }, 'media worker exited; its calls lost their media; starting a new one');
    this.workers[dead.index] = new MediaWorker(dead.index, this.setups[dead.index]!, this);
  }

  private async open(group: string | undefined, request: (worker: MediaWorker) => Promise<unknown>): Promise<ThreadLeg> {
    if (this.closed) throw new Error('media engine is closed');
    const entry = group ? this.groups.get(group) : undefined;
    if (entry) return this.openIn(entry.worker, group, request);
    // A new group (or none) goes to the least loaded worker; when its slice of ports is full, to the next.
    const candidates = this.workers.filter((w) => w.alive).sort((x, y) => x.legs.size + x.opening - (y.legs.size + y.opening));
    if (candidates.length === 0) throw new Error('no media worker is running');
    for (let i = 0; ; i++) {
      try {
        return await this.openIn(candidates[i]!, group, request);
      } catch (error) {
        if (i === candidates.length - 1 || !(error instanceof Error) || !error.message.startsWith('no free RTP port')) throw error;
      }
    }
  }

  private async openIn(worker: MediaWorker, group: string | undefined, request: (worker: MediaWorker) => Promise<unknown>): Promise<ThreadLeg> {
    // Count the leg in its group before the worker answers, so a second leg opened meanwhile goes to the same worker.
    const held = group ? this.hold(group, worker) : () => {};
    let opened: { leg: string; local: MediaEndpoint };
    worker.opening++;
    try {
      opened = (await request(worker)) as { leg: string; local: MediaEndpoint };
    } catch (error) {
      held();
      throw error;
    } finally {
      worker.opening--;
    }
    const leg = new ThreadLeg(worker, opened.leg, opened.local, this, held);
    worker.legs.set(opened.leg, leg);
    return leg;
  }

  private hold(group: string, worker: MediaWorker): () => void {
    const entry = this.groups.get(group) ?? { worker, legs: 0 };
    entry.legs++;
    this.groups.set(group, entry);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      entry.legs--;
      if (entry.legs === 0 && this.groups.get(group) === entry) this.groups.delete(group);
    };
  }
}
