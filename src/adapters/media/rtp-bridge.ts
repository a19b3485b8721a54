import { BridgeRecording } from './bridge-recording.ts';
import type { FrameClock } from './frame-clock.ts';
import type { Bridge, RecordingResult } from './media-port.ts';
import { RtpRelay } from './rtp-relay.ts';
import type { UdpRtpLeg } from './udp-rtp-leg.ts';

/** Two legs relayed both ways, optionally recorded; a leg is in at most one bridge. */
export class RtpBridge implements Bridge {
  readonly recording: BridgeRecording | null;
  private readonly a: UdpRtpLeg;
  private readonly b: UdpRtpLeg;
  private readonly aToB: RtpRelay;
  private readonly bToA: RtpRelay;
  private stopping: Promise<RecordingResult | null> | null = null;
  private paused = false;

  constructor(o: { a: UdpRtpLeg; b: UdpRtpLeg; clock: FrameClock; recordTo?: string }) {
    if (o.a === o.b) throw new Error('cannot bridge a leg to itself');
    for (const leg of [o.a, o.b]) {
      if (leg.closed) throw new Error(`cannot bridge leg ${leg.id}: it is closed`);
      if (leg.sink) throw new Error(`cannot bridge leg ${leg.id}: it is already bridged`);
    }
    this.a = o.a;
    this.b = o.b;
    this.recording = o.recordTo ? new BridgeRecording(o.recordTo, o.clock) : null;
    this.aToB = new RtpRelay(o.a, o.b, this.recording?.left ?? null);
    this.bToA = new RtpRelay(o.b, o.a, this.recording?.right ?? null);
    o.a.stopPlayback();
    o.b.stopPlayback();
    o.a.sink = this.aToB.forward;
    o.b.sink = this.bToA.forward;
  }

  /**
   * Stops relaying both ways (a call on hold) but keeps the recording running, silent on both channels, so the
   * file still matches the call's wall-clock time. While paused each leg is free to play or to join another
   * bridge (a consultation); resume() relays again.
   */
  pause(): void {
    if (this.paused || this.stopping) return;
    this.paused = true;
    if (this.a.sink === this.aToB.forward) this.a.sink = null;
    if (this.b.sink === this.bToA.forward) this.b.sink = null;
    this.aToB.release();
    this.bToA.release();
  }

  /** Relays again after pause(); throws when a leg has meanwhile joined another bridge. */
  resume(): void {
    if (!this.paused || this.stopping) return;
    for (const leg of [this.a, this.b]) if (leg.sink) throw new Error(`cannot resume the bridge: leg ${leg.id} is bridged elsewhere`);
    this.paused = false;
    this.a.stopPlayback();
    this.b.stopPlayback();
    this.a.sink = this.aToB.forward;
    this.b.sink = this.bToA.forward;
  }

  /** Unrelays the legs (they stay open, to play a prompt or be bridged again) and ends the recording. */
  stop(): Promise<RecordingResult | null> {
    if (!this.stopping) {
      if (this.a.sink === this.aToB.forward) this.a.sink = null;
      if (this.b.sink === this.bToA.forward) this.b.sink = null;
      this.aToB.release();
      this.bToA.release();
      this.stopping = this.recording ? this.recording.stop() : Promise.resolve(null);
    }
    return this.stopping;
  }
}
