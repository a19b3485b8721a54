import type { FrameClock } from './frame-clock.ts';
import { SAMPLES_PER_FRAME } from './frame-clock.ts';
import type { Recording, RecordingResult } from './media-port.ts';
import { SampleQueue } from './sample-queue.ts';
import { WavRecorder } from './wav-recorder.ts';

const FRAMES_PER_CHUNK = 50; // one second per file write

/**
 * The two-channel recording of a bridge: left = what leg a received (the customer), right = what leg b
 * received (the agent). The shared clock pulls one 20 ms frame per channel per tick, silence when a packet
 * is missing, so the file is exactly as long as the recording ran.
 */
export class BridgeRecording implements Recording {
  readonly path: string;
  readonly left = new SampleQueue();
  readonly right = new SampleQueue();
  private readonly recorder: WavRecorder;
  private unsubscribe: (() => void) | null;
  private chunk = new Int16Array(FRAMES_PER_CHUNK * SAMPLES_PER_FRAME * 2);
  private chunkFrames = 0;
  private stopping: Promise<RecordingResult> | null = null;

  constructor(path: string, clock: FrameClock) {
    this.path = path;
    this.recorder = new WavRecorder(path, { channels: 2, sampleRate: 8000 });
    this.unsubscribe = clock.subscribe(this.tick);
  }

  get active(): boolean {
    return this.stopping === null;
  }

  stop(): Promise<RecordingResult> {
    if (!this.stopping) {
      this.unsubscribe?.();
      this.unsubscribe = null;
      this.left.close();
      this.right.close();
      this.flush();
      this.stopping = this.recorder.stop();
    }
    return this.stopping;
  }

  private readonly tick = (): void => {
    const offset = this.chunkFrames * SAMPLES_PER_FRAME * 2;
    this.left.read(this.chunk, offset, 2, SAMPLES_PER_FRAME);
    this.right.read(this.chunk, offset + 1, 2, SAMPLES_PER_FRAME);
    if (++this.chunkFrames === FRAMES_PER_CHUNK) this.flush();
  };

  private flush(): void {
    if (this.chunkFrames === 0) return;
    const samples = this.chunkFrames * SAMPLES_PER_FRAME * 2;
    // WAV is little-endian, like the machines Kefu runs on (x86-64, arm64).
    this.recorder.write(new Uint8Array(this.chunk.buffer, 0, samples * 2));
    this.chunk = new Int16Array(this.chunk.length);
    this.chunkFrames = 0;
  }
}
