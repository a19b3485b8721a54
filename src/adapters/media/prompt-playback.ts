import type { FrameClock } from './frame-clock.ts';
import { SAMPLES_PER_FRAME } from './frame-clock.ts';
import type { Playback } from './media-port.ts';

/** What a playback needs from its leg: send one 20 ms frame of the prompt starting at a sample. */
export interface FrameSink {
  sendPromptFrame(owner: object, audio: Int16Array, start: number): void;
}

/** Plays 8 kHz PCM on a leg, one frame per clock tick, once or in a loop. */
export class PromptPlayback implements Playback {
  readonly done: Promise<'finished' | 'stopped'>;
  private resolve!: (outcome: 'finished' | 'stopped') => void;
  private position = 0;
  private ended = false;
  private unsubscribe: (() => void) | null;
  private readonly audio: Int16Array;
  private readonly loop: boolean;
  private readonly sink: FrameSink;
  private readonly onEnd: (playback: PromptPlayback) => void;

  constructor(o: { audio: Int16Array; loop: boolean; clock: FrameClock; sink: FrameSink; onEnd: (playback: PromptPlayback) => void }) {
    this.audio = o.audio;
    this.loop = o.loop;
    this.sink = o.sink;
    this.onEnd = o.onEnd;
    this.done = new Promise((resolve) => (this.resolve = resolve));
    if (this.audio.length === 0) {
      this.unsubscribe = null;
      this.finish('finished');
    } else {
      this.unsubscribe = o.clock.subscribe(this.tick);
    }
  }

  get active(): boolean {
    return !this.ended;
  }

  stop(): void {
    this.finish('stopped');
  }

  private readonly tick = (): void => {
    this.sink.sendPromptFrame(this, this.audio, this.position);
    this.position += SAMPLES_PER_FRAME;
    if (this.position >= this.audio.length) {
      if (this.loop) this.position = 0;
      else this.finish('finished');
    }
  };

  private finish(outcome: 'finished' | 'stopped'): void {
    if (this.ended) return;
    this.ended = true;
    const unsubscribe = this.unsubscribe;
    this.unsubscribe = null;
    unsubscribe?.();
    this.resolve(outcome);
    this.onEnd(this);
  }
}
