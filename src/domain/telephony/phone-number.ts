// A phone number (DID) and the flow that answers it (PH-1, PH-15). A number belongs to one instance
// platform-wide, so its stream is global: `number-global.<digits>`; its events name the instance.
import type { DomainEvent } from '../decider.ts';

export type PhoneNumberEvent =
  | DomainEvent<'NumberBound', { instanceId: string; number: string; flowId: string }>
  | DomainEvent<'NumberUnbound', { instanceId: string; number: string }>;

export type PhoneNumberState = { status: 'free' } | { status: 'bound'; instanceId: string; number: string; flowId: string };

export const initialPhoneNumberState = (): PhoneNumberState => ({ status: 'free' });

export function evolvePhoneNumber(_state: PhoneNumberState, event: PhoneNumberEvent): PhoneNumberState {
  switch (event.type) {
    case 'NumberBound':
      return { status: 'bound', ...event.data };
    case 'NumberUnbound':
      return { status: 'free' };
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}

/**
 * The form numbers are stored in: without spaces, dashes, dots and parentheses, keeping a leading +.
 * Null when it is not a number (3 to 20 digits).
 */
export function normalizeNumber(raw: string): string | null {
  const compact = raw.trim().replace(/[\s\-().]/g, '');
  return /^\+?[0-9]{3,20}$/.test(compact) ? compact : null;
}

/** The key a number is claimed by platform-wide: its digits (+86… and 86… are one number). */
export const numberKey = (number: string) => number.replace(/^\+/, '');
