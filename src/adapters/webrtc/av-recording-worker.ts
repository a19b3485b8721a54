// An AV recording worker thread (av-recording-threads.ts starts it): werift's MediaRecorder for each recording
// given to this thread, fed from batches of RTP packets the main thread copies as they arrive, and the WebM
// it builds written to the recording's file. The recorder's work per packet (jitter buffer, depacketizing,
// WebM blocks) and the file writes happen here, off the main thread that relays the calls' media.
import { open, stat, type FileHandle } from 'node:fs/promises';
import { parentPort } from 'node:worker_threads';
import { Event, RtpHeader, RtpPacket, type MediaStreamTrack } from 'werift';
import { DurationPosition, MediaRecorder, SegmentSizePosition, type WebmOutput } from 'werift/nonstandard';
import { ebmlSize8, readPackets, type FromRecorder, type ReadPacket, type RecordedTrack, type ToRecorder } from './av-recording-protocol.ts';
// werift's jitter buffer walked all sequence numbers after a lost video packet: replaced in this thread too.
import './werift-jitter-buffer.ts';

const port = parentPort;
if (!port) throw new Error('av-recording-worker.ts runs as a worker thread');
const post = (message: FromRecorder) => port.postMessage(message);

/** What werift's recorder reads of a track: its kind, codec and received RTP (RTCP is not needed without NTP). */
interface FedTrack {
  kind: 'audio' | 'video';
  codec: { name: string; payloadType: number };
  onReceiveRtp: Event<[RtpPacket]>;
  onReceiveRtcp: Event<[unknown]>;
}

/** Bytes of a cluster's ID before its size (0x1F43B675). */
const CLUSTER_ID_BYTES = 4;
/** Bytes of the size werift writes as unknown (a vint of length 8). */
const CLUSTER_SIZE_BYTES = 8;
/** The same for the segment (its size field at SegmentSizePosition). */
const SEGMENT_SIZE_BYTES = 8;

class Recording {
  private readonly id: number;
  private readonly path: string;
  private readonly tracks: FedTrack[];
  private readonly recorder: MediaRecorder;
  private writing: Promise<void> = Promise.resolve();
  /** Chunks not yet written, and the file they are appended to. */
  private pending: Uint8Array[] = [];
  private file: FileHandle | null = null;
  private open = true;
  private ended = false;
  /** Bytes werift has handed out (the file's size once written); where each cluster and the cues start. */
  private position = 0;
  private readonly clusters: number[] = [];
  private cuesAt: number | null = null;
  /** Resolves once the end of the WebM is on disk (werift's stop itself waits 5 s for an event its file sink sends). */
  private readonly finished: Promise<void>;
  private markFinished!: () => void;

  constructor(id: number, path: string, tracks: RecordedTrack[], size: { width: number; height: number }) {
    this.id = id;
    this.path = path;
    this.finished = new Promise((resolve) => (this.markFinished = resolve));
    this.tracks = tracks.map((t) => ({ kind: t.kind, codec: { name: t.codec, payloadType: t.payloadType }, onReceiveRtp: new Event<[RtpPacket]>(), onReceiveRtcp: new Event<[unknown]>() }));
    const onError = (err: unknown) => post({ ev: 'error', id, message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    const stream = new Event<[WebmOutput]>();
    stream.subscribe((o) => {
      if (!this.open) return;
      if (o.saveToFile) {
        if (o.kind === 'cluster') this.clusters.push(this.position);
        else if (o.kind === 'cuePoints') this.cuesAt = this.position;
        this.position += o.saveToFile.length;
        // werift hands out a chunk per block (some 80 a second with video): written in batches, each batch once
        // the one before is on disk, to a file opened once.
        this.pending.push(o.saveToFile);
        if (this.pending.length === 1) this.writing = this.writing.then(() => this.flush()).catch(onError);
      } else if (o.eol) {
        const { durationElement } = o.eol;
        this.ended = true;
        this.writing = this.writing
          .then(() => this.closeFile())
          .then(() => this.finishHeader(durationElement))
          .catch(onError)
          .finally(() => this.markFinished());
      }
    });
    // disableNtp: the RTP timestamps give each track its time (werift's NTP clock would hold every packet until
    // the sender's first RTCP sender report).
    this.recorder = new MediaRecorder({ stream, tracks: this.tracks as unknown as MediaStreamTrack[], width: size.width, height: size.height, disableNtp: true });
    this.recorder.onError.subscribe((err) => onError(err));
  }

  input(p: ReadPacket): void {
    const track = this.tracks[p.track];
    if (!track || !this.open) return;
    track.onReceiveRtp.execute(new RtpPacket(new RtpHeader({ marker: p.marker, payloadType: p.payloadType, sequenceNumber: p.sequenceNumber, timestamp: p.timestamp, ssrc: p.ssrc }), p.payload));
  }

  private async flush(): Promise<void> {
    const batch = this.pending.splice(0);
    if (batch.length === 0) return;
    this.file ??= await open(this.path, 'w');
    await this.file.write(batch.length === 1 ? batch[0]! : Buffer.concat(batch));
  }

  private async closeFile(): Promise<void> {
    const file = this.file;
    this.file = null;
    await file?.close();
  }

  /**
   * The header gets the duration and the segment's size, and each cluster its size (werift writes them as
   * unknown, which players accept but ffprobe warns about): a cluster runs to the next one, the last to the cues.
   */
  private async finishHeader(durationElement: Uint8Array): Promise<void> {
    const file = await open(this.path, 'r+');
    try {
      await file.write(durationElement, 0, durationElement.length, DurationPosition);
      const size = (await file.stat()).size;
      // The segment's size as an 8-byte vint in place of the unknown one (werift's replaceSegmentSize counts its
      // body from the size field's start, a few bytes past the file's end: "File ended prematurely").
      const segment = ebmlSize8(size - SegmentSizePosition - SEGMENT_SIZE_BYTES);
      await file.write(segment, 0, segment.length, SegmentSizePosition);
      if (size === this.position) {
        for (let i = 0; i < this.clusters.length; i++) {
          const start = this.clusters[i]!;
          const end = this.clusters[i + 1] ?? this.cuesAt ?? size;
          const bytes = ebmlSize8(end - start - CLUSTER_ID_BYTES - CLUSTER_SIZE_BYTES);
          await file.write(bytes, 0, bytes.length, start + CLUSTER_ID_BYTES);
        }
      }
    } finally {
      await file.close();
    }
  }

  /** Ends the WebM (werift's stop, bounded by `timeoutMs`) and closes the file: nothing is written after. */
  async stop(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.recorder.stop().catch(() => undefined), this.finished, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
    this.open = false;
    await this.writing;
    await this.closeFile().catch(() => undefined);
    const bytes = await stat(this.path).then((st) => st.size, () => 0);
    post({ ev: 'stopped', id: this.id, bytes, complete: this.ended });
  }
}

const recordings = new Map<number, Recording>();

port.on('message', (m: ToRecorder) => {
  switch (m.op) {
    case 'start':
      try {
        recordings.set(m.id, new Recording(m.id, m.path, m.tracks, m));
      } catch (err) {
        post({ ev: 'error', id: m.id, message: err instanceof Error ? err.message : String(err) });
      }
      return;
    case 'rtp':
      for (const p of readPackets(m.buffer, m.length)) recordings.get(p.id)?.input(p);
      return;
    case 'stop': {
      const recording = recordings.get(m.id);
      recordings.delete(m.id);
      if (!recording) {
        post({ ev: 'stopped', id: m.id, bytes: 0, complete: false });
        return;
      }
      recording.stop(m.timeoutMs).catch((err: unknown) => {
        post({ ev: 'error', id: m.id, message: err instanceof Error ? err.message : String(err) });
        post({ ev: 'stopped', id: m.id, bytes: 0, complete: false });
      });
      return;
    }
  }
});
