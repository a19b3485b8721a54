/**
 * One 20 ms tick shared by every playback and recording of an engine, instead of a timer per leg.
 * Ticks follow the wall clock: after a late wake-up (a busy event loop) the missed ticks run back to back,
 * so a recording stays as long as the talk time and a prompt keeps its pace.
 */

export const FRAME_MS = 20;
export const SAMPLES_PER_FRAME = 160;
/** Beyond a second of lag, missed ticks are dropped rather than replayed in a burst. */
const MAX_CATCH_UP_TICKS = 50;

export class FrameClock {
  private readonly listeners = new Set<() => void>();
  private timer: NodeJS.Timeout | null = null;
  private origin = 0;
  private ticks = 0;
  private readonly onError: (error: unknown) => void;

  constructor(onError: (error: unknown) => void = () => {}) {
    this.onError = onError;
  }

  /** Calls `listener` every 20 ms until the returned function is called. */
  subscribe(listener: () => void): () => void {
    // Wrapped so the same function subscribed twice ticks twice and unsubscribes once.
    const entry = () => listener();
    this.listeners.add(entry);
    if (this.timer === null) this.start();
    return () => {
      this.listeners.delete(entry);
      if (this.listeners.size === 0) this.stop();
    };
  }

  get size(): number {
    return this.listeners.size;
  }

  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private start(): void {
    this.origin = performance.now();
    this.ticks = 0;
    this.schedule();
  }

  private schedule(): void {
    const delay = this.origin + (this.ticks + 1) * FRAME_MS - performance.now();
    this.timer = setTimeout(this.fire, Math.max(1, delay));
  }

  private readonly fire = (): void => {
    const due = Math.floor((performance.now() - this.origin) / FRAME_MS);
    if (due - this.ticks > MAX_CATCH_UP_TICKS) this.ticks = due - MAX_CATCH_UP_TICKS;
    while (this.ticks < due && this.listeners.size > 0) {
      this.ticks++;
      for (const listener of this.listeners) {
        try {
          listener();
        } catch (error) {
          this.onError(error);
        }
      }
    }
    if (this.listeners.size > 0) this.schedule();
    else this.timer = null;
  };
}
