import { digitForEvent, parseTelephoneEvent } from './telephone-event.ts';

/**
 * Turns RFC 4733 packets into key presses. Every packet of one press (start, updates, the three redundant
 * end packets) carries the same RTP timestamp, so a digit is reported once, on the first packet seen with
 * a new timestamp: a lost start packet still yields the digit from an update or end packet.
 */
export class DtmfReceiver {
  private lastTimestamp = -1;
  private lastSsrc = -1;

  /** The digit when this packet begins a new press, else null. */
  receive(timestamp: number, ssrc: number, payload: Uint8Array): string | null {
    const event = parseTelephoneEvent(payload);
    if (!event) return null;
    if (timestamp === this.lastTimestamp && ssrc === this.lastSsrc) return null;
    this.lastTimestamp = timestamp;
    this.lastSsrc = ssrc;
    return digitForEvent(event.event);
  }
}
