// AV recordings on worker threads (av-recording-worker.ts). werift's WebM recorder took some 40 % of Kefu's
// CPU per relayed packet (AV bench), all of it on the main thread that also relays every call's media and
// serves the API: here the main thread only copies each recorded packet (a fixed head and its payload) into a
// batch, and hands the batch to the recording's worker every 20 ms (or when full) as one transferred buffer.
// A recording stays on the worker it started on; new ones go to the worker with the fewest.
import { stat } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import type { RtpPacket } from 'werift';
import { PACKET_HEAD, writePacket, type FromRecorder, type RecordedTrack, type ToRecorder } from './av-recording-protocol.ts';

const WORKER_URL = new URL('./av-recording-worker.ts', import.meta.url);
/** A batch's size: some 20 ms of 50 video calls' packets, both sides. */
const BATCH_BYTES = 256 * 1024;
const FLUSH_MS = 20;

interface Waiter {
  resolve: (result: { bytes: number; complete: boolean }) => void;
}

class RecorderThread {
  readonly worker: Worker;
  alive = true;
  /** Recordings started here and not yet stopped. */
  active = 0;
  private buffer = new ArrayBuffer(BATCH_BYTES);
  private view = new DataView(this.buffer);
  private bytes = new Uint8Array(this.buffer);
  private length = 0;
  private timer: NodeJS.Timeout | null = null;
  readonly waiters = new Map<number, Waiter>();
  readonly errorHandlers = new Map<number, (err: unknown) => void>();

  constructor(index: number, onExit: (thread: RecorderThread) => void) {
    this.worker = new Worker(WORKER_URL, { name: `kefu-av-recording-${index}` });
    this.worker.unref();
    this.worker.on('message', (m: FromRecorder) => {
      if (m.ev === 'error') this.errorHandlers.get(m.id)?.(new Error(m.message));
      else {
        this.waiters.get(m.id)?.resolve({ bytes: m.bytes, complete: m.complete });
        this.waiters.delete(m.id);
      }
    });
    const gone = (err?: unknown) => {
      if (!this.alive) return;
      this.alive = false;
      if (this.timer) clearTimeout(this.timer);
      for (const handler of this.errorHandlers.values()) handler(err ?? new Error('the AV recording thread stopped'));
      for (const w of this.waiters.values()) w.resolve({ bytes: -1, complete: false });
      this.waiters.clear();
      onExit(this);
    };
    this.worker.on('error', (err) => gone(err));
    this.worker.on('exit', () => gone());
  }

  send(message: ToRecorder, transfer: ArrayBuffer[] = []): void {
    if (this.alive) this.worker.postMessage(message, transfer);
  }

  /** Copies one packet into the batch. */
  add(id: number, track: number, rtp: RtpPacket): void {
    const payload = rtp.payload;
    if (PACKET_HEAD + payload.length > BATCH_BYTES) return;
    if (this.length + PACKET_HEAD + payload.length > BATCH_BYTES) this.flush();
    const h = rtp.header;
    this.length = writePacket(this.view, this.bytes, this.length, id, track, h.marker, h.payloadType, h.sequenceNumber, h.timestamp, h.ssrc, payload);
    this.timer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  /** Hands the batch to the worker (before a stop, so that the recording gets all its packets). */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.length === 0) return;
    const buffer = this.buffer;
    const length = this.length;
    this.buffer = new ArrayBuffer(BATCH_BYTES);
    this.view = new DataView(this.buffer);
    this.bytes = new Uint8Array(this.buffer);
    this.length = 0;
    this.send({ op: 'rtp', buffer, length }, [buffer]);
  }

  /** The thread keeps the process alive only while it has recordings to finish. */
  setActive(delta: number): void {
    this.active += delta;
    if (this.active > 0) this.worker.ref();
    else this.worker.unref();
  }
}

/** One recording on a worker: fed packet by packet, stopped once. */
export class ThreadRecording {
  private readonly thread: RecorderThread;
  private readonly id: number;
  private readonly path: string;
  private stopped: Promise<{ bytes: number; complete: boolean }> | null = null;

  constructor(thread: RecorderThread, id: number, path: string) {
    this.thread = thread;
    this.id = id;
    this.path = path;
  }

  /** One RTP packet of the recording's track `track` (its index in the tracks started with). */
  feed(track: number, rtp: RtpPacket): void {
    if (this.stopped === null && this.thread.alive) this.thread.add(this.id, track, rtp);
  }

  /**
   * Ends the WebM and closes the file; resolves to its size and whether it was ended properly (duration and
   * sizes written). werift's stop may take up to `timeoutMs` on the worker; the file is closed after it whatever.
   */
  stop(timeoutMs: number): Promise<{ bytes: number; complete: boolean }> {
    this.stopped ??= (async () => {
      const thread = this.thread;
      let result = { bytes: -1, complete: false };
      if (thread.alive) {
        thread.flush();
        let timer: NodeJS.Timeout | undefined;
        result = await new Promise<{ bytes: number; complete: boolean }>((resolve) => {
          thread.waiters.set(this.id, { resolve });
          thread.send({ op: 'stop', id: this.id, timeoutMs });
          // A wedged worker does not hold the call's end for ever.
          timer = setTimeout(() => resolve({ bytes: -1, complete: false }), timeoutMs + 15_000);
        });
        clearTimeout(timer);
        thread.waiters.delete(this.id);
      }
      thread.errorHandlers.delete(this.id);
      thread.setActive(-1);
      if (result.bytes < 0) result = { bytes: await stat(this.path).then((st) => st.size, () => 0), complete: false };
      return result;
    })();
    return this.stopped;
  }
}

export class AvRecordingThreads {
  private readonly threads: (RecorderThread | null)[];
  private nextId = 1;

  constructor(threads: number) {
    this.threads = Array.from({ length: Math.max(1, threads) }, () => null);
  }

  /** Starts a recording of `tracks` to `path` on the least busy worker (started if need be). */
  start(path: string, tracks: RecordedTrack[], size: { width: number; height: number }, onError: (err: unknown) => void): ThreadRecording {
    let best = 0;
    for (let i = 0; i < this.threads.length; i++) {
      const t = this.threads[i] ??= this.spawn(i);
      if (t.active < this.threads[best]!.active) best = i;
    }
    const thread = this.threads[best]!;
    const id = this.nextId++;
    thread.errorHandlers.set(id, onError);
    thread.setActive(1);
    thread.send({ op: 'start', id, path, tracks, ...size });
    return new ThreadRecording(thread, id, path);
  }

  private spawn(index: number): RecorderThread {
    return new RecorderThread(index, (gone) => {
      if (this.threads[index] === gone) this.threads[index] = null;
    });
  }

  /** Stops the workers (recordings not stopped yet lose what they had not written). */
  async close(): Promise<void> {
    await Promise.all(this.threads.map((t) => t?.worker.terminate()));
    this.threads.fill(null);
  }
}
