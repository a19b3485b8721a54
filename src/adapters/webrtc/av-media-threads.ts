// AV calls' media on worker threads (av-media-worker.ts): Kefu's main thread relayed every packet of every
// call (SRTP decrypt and encrypt, werift's RTP and RTCP, the recorder's feed: some 90 us of CPU a packet,
// AV bench), which held it at one CPU near 50 calls. Here each call (its customer's peer, the serving agent's,
// their recordings) lives on one worker, chosen when the customer's offer is answered (the one with the
// fewest calls); the main thread keeps the signalling, through RemotePeer and RemoteCall, which mirror the
// worker's AvPeer and AvCall. A worker that stops (a crash) ends its calls' peers as gone because of Kefu
// (AvGoneCause 'kefu'); a request a worker does not answer in time fails instead of holding its caller.
import { stat } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import type { AvRecordingTarget } from './av-call.ts';
import { AvOfferError, type AvVideoCodec } from './av-offer.ts';
import type { AvKind, AvPeerOptions } from './av-peer.ts';
import type { AvGoneCause, AvMedia, AvMediaCall, AvMediaPeer, AvMediaRecording } from './av-media.ts';
import type { FromMedia, MediaWorkerData, NegotiatedPeer, ToMedia } from './av-media-protocol.ts';

const WORKER_URL = new URL('./av-media-worker.ts', import.meta.url);
/** Longest a request waits for its worker (answers are bounded at 10 s there, a recording's stop at 15 s). */
const requestTimeoutMs = 45_000;

type Done = Extract<FromMedia, { ev: 'done' }>;

class MediaThread {
  readonly worker: Worker;
  alive = true;
  /** Calls started here and not yet closed. */
  calls = 0;
  private nextRequest = 1;
  private readonly pending = new Map<number, { resolve: (m: Done) => void; reject: (err: Error) => void; timer: NodeJS.Timeout }>();
  readonly peers = new Map<number, RemotePeer>();
  readonly recordingErrors = new Map<string, (err: unknown) => void>();
  /** Resolves once the worker has loaded its modules (rejects if it stops before). */
  readonly ready: Promise<void>;
  private markReady: () => void = () => undefined;

  constructor(index: number, data: MediaWorkerData, onExit: (thread: MediaThread) => void) {
    let failStart: (err: Error) => void = () => undefined;
    this.ready = new Promise<void>((resolve, reject) => {
      this.markReady = resolve;
      failStart = reject;
    });
    // Nobody may wait for it (a thread started on demand): its failure is told by the requests it fails.
    this.ready.catch(() => undefined);
    this.worker = new Worker(WORKER_URL, { name: `kefu-av-media-${index}`, workerData: data });
    this.worker.unref();
    this.worker.on('message', (m: FromMedia) => this.receive(m));
    const gone = (err?: unknown) => {
      if (!this.alive) return;
      this.alive = false;
      const why = `the AV media thread stopped${err instanceof Error ? `: ${err.message}` : ''}`;
      failStart(new Error(why));
      for (const p of this.pending.values()) {
        clearTimeout(p.timer);
        p.reject(new Error(why));
      }
      this.pending.clear();
      for (const peer of [...this.peers.values()]) peer.vanish(why, 'kefu');
      this.peers.clear();
      for (const handler of this.recordingErrors.values()) handler(new Error(why));
      this.recordingErrors.clear();
      onExit(this);
    };
    this.worker.on('error', (err) => gone(err));
    this.worker.on('exit', () => gone());
  }

  private receive(m: FromMedia): void {
    switch (m.ev) {
      case 'ready':
        this.markReady();
        return;
      case 'done':
      case 'failed': {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        clearTimeout(p.timer);
        if (m.ev === 'done') p.resolve(m);
        else p.reject(m.offerError ? new AvOfferError(m.message) : new Error(m.message));
        return;
      }
      case 'connected':
        this.peers.get(m.peerId)?.markConnected();
        return;
      case 'gone':
        this.peers.get(m.peerId)?.vanish(m.why, 'browser');
        return;
      case 'recordingError':
        this.recordingErrors.get(m.recordingId)?.(new Error(m.message));
        return;
      case 'status':
        for (const [id, lastRtpAt, kinds] of m.peers) this.peers.get(id)?.status(lastRtpAt, kinds);
        return;
    }
  }

  send(message: ToMedia): void {
    if (this.alive) this.worker.postMessage(message);
  }

  /** Sends a request (its id filled in here); resolves with the worker's answer. */
  request(message: ToMedia & { id: number }): Promise<Done> {
    if (!this.alive) return Promise.reject(new Error('the AV media thread stopped'));
    const id = this.nextRequest++;
    return new Promise<Done>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`the AV media thread did not answer ${message.op} in ${requestTimeoutMs / 1000} s`));
      }, requestTimeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.worker.postMessage({ ...message, id });
    });
  }

  /** The thread keeps the process alive only while it has calls. */
  setCalls(delta: number): void {
    this.calls += delta;
    if (this.calls > 0) this.worker.ref();
    else this.worker.unref();
  }
}

let nextPeerId = 1;
let nextCallId = 1;

/** A peer on a media thread, as the main thread sees it. */
class RemotePeer implements AvMediaPeer {
  readonly id = nextPeerId++;
  readonly thread: MediaThread;
  answerSdp = '';
  videoCodec: AvVideoCodec | null = null;
  reservedVideoCodec: AvVideoCodec | null = null;
  lastRtpAt = Date.now();
  private kinds = 0;
  private state: 'connecting' | 'connected' | 'gone' = 'connecting';
  private readonly connectedWaiters: (() => void)[] = [];
  private readonly goneListeners = new Set<(why: string, cause: AvGoneCause) => void>();

  constructor(thread: MediaThread) {
    this.thread = thread;
  }

  negotiated(n: NegotiatedPeer): void {
    this.answerSdp = n.answerSdp;
    this.videoCodec = n.videoCodec;
    this.reservedVideoCodec = n.reservedVideoCodec;
  }

  status(lastRtpAt: number, kinds: number): void {
    this.lastRtpAt = Math.max(this.lastRtpAt, lastRtpAt);
    this.kinds = kinds;
  }

  markConnected(): void {
    if (this.state !== 'connecting') return;
    this.state = 'connected';
    this.lastRtpAt = Date.now();
    for (const w of this.connectedWaiters.splice(0)) w();
  }

  vanish(why: string, cause: AvGoneCause): void {
    if (this.state === 'gone') return;
    this.state = 'gone';
    this.thread.peers.delete(this.id);
    const listeners = [...this.goneListeners];
    this.goneListeners.clear();
    for (const listener of listeners) listener(why, cause);
  }

  /** Closed on the worker (by its call): nothing more is told of it. */
  forget(): void {
    this.goneListeners.clear();
    this.state = 'gone';
    this.thread.peers.delete(this.id);
  }

  get connected(): boolean {
    return this.state === 'connected';
  }

  hasTrack(kind: AvKind): boolean {
    return (this.kinds & (kind === 'audio' ? 1 : 2)) !== 0;
  }

  whenConnected(): Promise<void> {
    if (this.state === 'connected') return Promise.resolve();
    return new Promise((resolve) => this.connectedWaiters.push(resolve));
  }

  onGone(listener: (why: string, cause: AvGoneCause) => void): () => void {
    this.goneListeners.add(listener);
    return () => this.goneListeners.delete(listener);
  }

  async renegotiate(offerSdp: string, video?: AvVideoCodec | null): Promise<string> {
    if (this.state === 'gone') throw new AvOfferError('the call has ended');
    const done = await this.thread.request({ op: 'renegotiate', id: 0, peerId: this.id, offerSdp, video });
    if (done.peer) this.negotiated(done.peer);
    return this.answerSdp;
  }

  requestKeyframe(): void {
    if (this.state === 'connected') this.thread.send({ op: 'keyframe', peerId: this.id });
  }

  async close(): Promise<void> {
    this.forget();
    await this.thread.request({ op: 'closePeer', id: 0, peerId: this.id }).catch(() => undefined);
  }
}

/** A call on a media thread: the worker's AvCall relays; this side tracks who is on it. */
class RemoteCall implements AvMediaCall {
  readonly id = nextCallId++;
  readonly customer: RemotePeer;
  private agent: { agentId: string; peer: RemotePeer } | null = null;
  private closed = false;

  constructor(customer: RemotePeer) {
    this.customer = customer;
    customer.thread.setCalls(1);
    customer.thread.send({ op: 'call', callId: this.id, customerId: customer.id });
  }

  get agentId(): string | null {
    return this.agent?.agentId ?? null;
  }

  get agentPeer(): RemotePeer | null {
    return this.agent?.peer ?? null;
  }

  attachAgent(agentId: string, peer: AvMediaPeer): void {
    if (this.closed) throw new Error('the call has ended');
    const remote = peer as RemotePeer;
    if (remote.thread !== this.customer.thread) throw new Error("the agent's peer is not on the customer's media thread");
    this.detachAgent();
    this.agent = { agentId, peer: remote };
    this.customer.thread.send({ op: 'attach', callId: this.id, agentId, peerId: remote.id });
  }

  setHeld(held: boolean): void {
    this.customer.thread.send({ op: 'hold', callId: this.id, held });
  }

  detachAgent(): RemotePeer | null {
    const leg = this.agent;
    if (!leg) return null;
    this.agent = null;
    leg.peer.forget();
    this.customer.thread.send({ op: 'detach', callId: this.id });
    return leg.peer;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.agent?.peer.forget();
    this.agent = null;
    this.customer.forget();
    const thread = this.customer.thread;
    await thread.request({ op: 'closeCall', id: 0, callId: this.id }).catch(() => undefined);
    thread.setCalls(-1);
  }
}

class RemoteRecording implements AvMediaRecording {
  readonly recordingId: string;
  private readonly path: string;
  private readonly thread: MediaThread;
  private readonly startedAt = Date.now();
  private stopped: Promise<{ durationMs: number; bytes: number }> | null = null;

  constructor(thread: MediaThread, target: AvRecordingTarget) {
    this.thread = thread;
    this.recordingId = target.recordingId;
    this.path = target.path;
  }

  stop(): Promise<{ durationMs: number; bytes: number }> {
    this.stopped ??= (async () => {
      try {
        const done = await this.thread.request({ op: 'stopRecording', id: 0, recordingId: this.recordingId });
        if (done.stopped) return done.stopped;
      } catch {
        // The thread stopped or did not answer: the file is as far as it got.
      } finally {
        this.thread.recordingErrors.delete(this.recordingId);
      }
      return { durationMs: Date.now() - this.startedAt, bytes: await stat(this.path).then((st) => st.size, () => 0) };
    })();
    return this.stopped;
  }
}

export class ThreadedAvMedia implements AvMedia {
  private readonly threads: (MediaThread | null)[];
  private readonly data: MediaWorkerData;

  constructor(o: AvPeerOptions, threads: number, recordingThreads: number) {
    this.threads = Array.from({ length: Math.max(1, threads) }, () => null);
    // Only the peers' options cross (a caller's options object may hold functions, which cannot).
    const options: AvPeerOptions = { publicAddress: o.publicAddress, bindAddress: o.bindAddress, ...(o.portRange ? { portRange: o.portRange } : {}), ...(o.limits ? { limits: o.limits } : {}) };
    this.data = { options, recordingThreads };
  }

  /**
   * Starts every thread and resolves once each has loaded its modules, so that the first calls do not wait for
   * a worker to start (AvCalls.start). A thread that stops later is started again on demand (pick).
   */
  async start(): Promise<void> {
    for (let i = 0; i < this.threads.length; i++) this.threads[i] ??= this.spawn(i);
    await Promise.all(this.threads.map((t) => t?.ready));
  }

  /** The thread with the fewest calls (started if need be). */
  private pick(): MediaThread {
    let best = 0;
    for (let i = 0; i < this.threads.length; i++) {
      const t = (this.threads[i] ??= this.spawn(i));
      if (t.calls < this.threads[best]!.calls) best = i;
    }
    return this.threads[best]!;
  }

  private spawn(index: number): MediaThread {
    return new MediaThread(index, this.data, (gone) => {
      if (this.threads[index] === gone) this.threads[index] = null;
    });
  }

  async answer(offerSdp: string, video?: AvVideoCodec | null, reserveVideo = false, near?: AvMediaPeer): Promise<AvMediaPeer> {
    const thread = near ? (near as RemotePeer).thread : this.pick();
    if (!thread.alive) throw new Error("the call's media thread stopped");
    const peer = new RemotePeer(thread);
    thread.peers.set(peer.id, peer);
    try {
      const done = await thread.request({ op: 'answer', id: 0, peerId: peer.id, offerSdp, video, reserveVideo });
      peer.negotiated(done.peer!);
    } catch (err) {
      peer.forget();
      // A worker that has answered late still holds the peer: closed there.
      thread.send({ op: 'closePeer', id: 0, peerId: peer.id });
      throw err;
    }
    return peer;
  }

  call(customer: AvMediaPeer): AvMediaCall {
    return new RemoteCall(customer as RemotePeer);
  }

  async record(peer: AvMediaPeer, target: AvRecordingTarget, onError: (err: unknown) => void): Promise<AvMediaRecording | null> {
    const thread = (peer as RemotePeer).thread;
    thread.recordingErrors.set(target.recordingId, onError);
    const done = await thread.request({ op: 'record', id: 0, peerId: (peer as RemotePeer).id, recordingId: target.recordingId, path: target.path }).catch((err: unknown) => {
      thread.recordingErrors.delete(target.recordingId);
      throw err;
    });
    if (!done.recording) {
      thread.recordingErrors.delete(target.recordingId);
      return null;
    }
    return new RemoteRecording(thread, target);
  }

  /** Stops the workers (their calls' media and unfinished recordings with them). */
  async close(): Promise<void> {
    await Promise.all(this.threads.map((t) => t?.worker.terminate()));
    this.threads.fill(null);
  }
}
