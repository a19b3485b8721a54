// What a leg measures of the RTP it receives, for the call record and the silence alert: packets lost (from
// the sequence numbers, RFC 3550 appendix A.1/A.3), interarrival jitter (RFC 3550 section 6.4.1, A.8) and
// the time without audio while the leg is bridged. Plain arithmetic per packet, no allocation.

/** A jump of more sequence numbers than this is a restarted stream, not a loss (RFC 3550 A.1's MAX_DROPOUT). */
const MAX_DROPOUT = 3000;
/** Gaps shorter than this are the network's or a phone's pauses between talkspurts, not silence. */
export const SILENCE_GAP_MS = 1000;
const SAMPLES_PER_MS = 8;

export class RtpReception {
  /** Date.now() of the last audio packet (DTMF excluded). */
  lastAudioAt: number | null = null;
  private ssrc = -1;
  private baseSequence = 0;
  /** Extended (cycles counted) highest sequence number of the current source. */
  private highestSequence = 0;
  private received = 0;
  /** Losses of the sources heard before the current one. */
  private lostEarlier = 0;
  private lastArrival: number | null = null;
  private lastTimestamp = 0;
  /** In RTP timestamp units (1/8 ms), as RFC 3550 keeps it. */
  private jitter = 0;
  /** While bridged: when the current stretch without audio began (the bridge start or the last audio); null when not bridged. */
  private silenceFrom: number | null = null;
  private silentMs = 0;

  /** Every accepted packet (audio and DTMF share a source's sequence numbers). */
  packet(sequence: number, ssrc: number): void {
    if (ssrc !== this.ssrc) return this.restart(sequence, ssrc);
    const delta = (sequence - (this.highestSequence & 0xffff)) & 0xffff;
    if (delta < 0x8000) {
      // A big jump forward is the source starting over (a new call leg behind a gateway), not thousands lost.
      if (delta > MAX_DROPOUT) return this.restart(sequence, ssrc);
      this.highestSequence += delta;
    }
    // delta >= 0x8000: late or duplicate, already counted in the expected range.
    this.received++;
  }

  /**
   * An accepted audio packet that arrived at `now` (Date.now(), which the leg reads anyway: a second clock read
   * per packet cost more than all of this, and a millisecond is fine enough for jitter reported in ms).
   */
  audio(timestamp: number, now: number): void {
    if (this.lastArrival !== null) {
      // D(i-1, i) = (Rj - Ri) - (Sj - Si), with the RTP timestamps' wrap-around taken as a signed 32-bit step.
      const d = (now - this.lastArrival) * SAMPLES_PER_MS - ((timestamp - this.lastTimestamp) | 0);
      this.jitter += (Math.abs(d) - this.jitter) / 16;
    }
    this.lastArrival = now;
    this.lastTimestamp = timestamp;
    this.lastAudioAt = now;
    if (this.silenceFrom !== null) {
      this.closeGap(now);
      this.silenceFrom = now;
    }
  }

  /** The leg is bridged from now: audio is expected. */
  connected(now: number): void {
    this.silenceFrom ??= now;
  }

  /** The bridge let go of the leg (hold, transfer, end): its silence is no longer the call's. */
  disconnected(now: number): void {
    if (this.silenceFrom === null) return;
    this.closeGap(now);
    this.silenceFrom = null;
  }

  get lost(): number {
    return this.lostEarlier + this.lostOfCurrent();
  }

  get jitterMs(): number {
    return this.jitter / SAMPLES_PER_MS;
  }

  /** Silence while bridged up to `now`, the stretch in progress included once it is a gap. */
  silentMsAt(now: number): number {
    const open = this.silenceFrom === null ? 0 : now - this.silenceFrom;
    return this.silentMs + (open >= SILENCE_GAP_MS ? open : 0);
  }

  private lostOfCurrent(): number {
    if (this.ssrc === -1) return 0;
    return Math.max(0, this.highestSequence - this.baseSequence + 1 - this.received);
  }

  private restart(sequence: number, ssrc: number): void {
    this.lostEarlier += this.lostOfCurrent();
    this.ssrc = ssrc;
    this.baseSequence = sequence;
    this.highestSequence = sequence;
    this.received = 1;
    // A new source has its own timestamps: jitter goes on from the next pair of its packets.
    this.lastArrival = null;
  }

  private closeGap(now: number): void {
    const gap = now - this.silenceFrom!;
    if (gap >= SILENCE_GAP_MS) this.silentMs += gap;
  }
}
