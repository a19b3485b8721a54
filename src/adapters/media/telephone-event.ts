/** RFC 4733 telephone-event payloads: DTMF key presses carried in RTP. */

export const TELEPHONE_EVENT_SIZE = 4;
const DIGITS = '0123456789*#ABCD';

export interface TelephoneEvent {
  /** 0-9, 10 '*', 11 '#', 12-15 'A'-'D', 16 flash. */
  event: number;
  end: boolean;
  /** Power level in -dBm0 (0-63). */
  volume: number;
  /** In timestamp units (8 kHz samples) since the event began. */
  duration: number;
}

/** Null when the payload is shorter than 4 bytes. */
export function parseTelephoneEvent(payload: Uint8Array): TelephoneEvent | null {
  if (payload.length < TELEPHONE_EVENT_SIZE) return null;
  return {
    event: payload[0]!,
    end: (payload[1]! & 0x80) !== 0,
    volume: payload[1]! & 0x3f,
    duration: (payload[2]! << 8) | payload[3]!,
  };
}

export function buildTelephoneEvent(e: TelephoneEvent): Uint8Array {
  const duration = Math.min(Math.max(0, Math.round(e.duration)), 0xffff);
  return Uint8Array.of(e.event & 0xff, (e.end ? 0x80 : 0) | (e.volume & 0x3f), duration >>> 8, duration & 0xff);
}

/** '0'-'9', '*', '#', 'A'-'D'; null for other events (flash, tones). */
export function digitForEvent(event: number): string | null {
  return DIGITS[event] ?? null;
}

/** The event number of a DTMF digit; throws on anything else. */
export function eventForDigit(digit: string): number {
  const event = digit.length === 1 ? DIGITS.indexOf(digit.toUpperCase()) : -1;
  if (event < 0) throw new Error(`not a DTMF digit: "${digit}" (expected one of 0-9 * # A-D)`);
  return event;
}

export function isDtmfDigit(digit: string): boolean {
  return digit.length === 1 && DIGITS.includes(digit.toUpperCase());
}
