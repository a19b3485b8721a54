// A skill group's queue: higher priority first, then first come first served. A contact that went back
// after a missed offer keeps its queuedAt and sequence, so it keeps its place.
import type { WaitingContact } from './routing-state.ts';

/** Negative when `a` is served before `b`. */
export function compareWaiting(a: WaitingContact, b: WaitingContact): number {
  if (a.priority !== b.priority) return b.priority - a.priority;
  const byTime = Date.parse(a.queuedAt) - Date.parse(b.queuedAt);
  if (byTime !== 0 && !Number.isNaN(byTime)) return byTime;
  if (a.sequence !== b.sequence) return a.sequence - b.sequence;
  // Only equal sequences (which the event store never produces) get here: keep the order total anyway.
  return a.contactId < b.contactId ? -1 : a.contactId > b.contactId ? 1 : 0;
}

/** The contacts in the order they are served; the input is left as it is. */
export function orderQueue(contacts: readonly WaitingContact[]): WaitingContact[] {
  return [...contacts].sort(compareWaiting);
}
