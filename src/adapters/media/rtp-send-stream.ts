import { randomInt } from 'node:crypto';
import { SAMPLES_PER_FRAME } from './frame-clock.ts';

/**
 * What a leg sends: one SSRC with one sequence and timestamp line, whoever feeds it (a prompt, DTMF, the
 * other leg of a bridge). When the feeder changes, the new one starts a talkspurt: marker bit, and a
 * timestamp moved on by the wall-clock time since the last packet, so the phone's jitter buffer copes.
 */
export class RtpSendStream {
  readonly ssrc = randomInt(0, 2 ** 32);
  sequenceNumber = randomInt(0, 2 ** 16);
  timestamp = randomInt(0, 2 ** 32);
  /** Date.now() of the last packet sent, null before the first. */
  lastSentAt: number | null = null;
  private owner: object | null = null;

  /** True when `owner` takes over from someone else (it must start a talkspurt). */
  claim(owner: object): boolean {
    if (this.owner === owner) return false;
    this.owner = owner;
    return true;
  }

  release(owner: object): void {
    if (this.owner === owner) this.owner = null;
  }

  /** The timestamp a new talkspurt starts at: at least one frame on, more after a pause. */
  talkspurtTimestamp(now: number): number {
    if (this.lastSentAt === null) return this.timestamp;
    const frames = Math.max(1, Math.round((now - this.lastSentAt) / 20));
    return (this.timestamp + frames * SAMPLES_PER_FRAME) >>> 0;
  }

  nextSequenceNumber(): number {
    this.sequenceNumber = (this.sequenceNumber + 1) & 0xffff;
    return this.sequenceNumber;
  }
}
