// Why an AV bench call failed (bench/av.ts, bench/av/peers-child.ts): a call up after set-up that went down
// (its connection failed or closed, or its media stopped) is a failed call with its cause, not a loss figure,
// and the notes count failed calls by cause (ICE, DTLS, Kefu ending the contact, media stopped).
import type { MediaKind } from './media.ts';

const kinds: MediaKind[] = ['audio', 'video'];

/** What downWhy reads of a stand-in browser. */
export interface SideState {
  /** Why its connection went down after it was up, or null. */
  downWhy: string | null;
  sent: Record<MediaKind, number>;
  received: Record<MediaKind, { unique: number }>;
}

/**
 * Why a call that was up is down now: a side's connection, or (`inWindow`, after the window) a kind of media one
 * side sent of which the other received nothing. Null while it is up.
 */
export function downWhy(call: { customer: SideState; agent: SideState }, inWindow: boolean): string | null {
  for (const [who, side] of [['customer', call.customer], ['agent', call.agent]] as const) {
    if (side.downWhy) return `${who}'s ${side.downWhy}`;
  }
  if (!inWindow) return null;
  for (const [who, from, to] of [['agent', call.customer, call.agent], ['customer', call.agent, call.customer]] as const) {
    for (const k of kinds) if (from.sent[k] > 0 && to.received[k].unique === 0) return `no ${k} reached the ${who} in the window (${from.sent[k]} sent)`;
  }
  return null;
}

/** Failed calls counted by cause, for the notes: 'ICE failed: 3; dropped after set-up, media stopped: 1'. */
export function failureCauses(failed: string[]): string {
  const causes = new Map<string, number>();
  for (const f of failed) {
    const ended = /ENDED (\w+) by (\w+)/.exec(f);
    const ice = /ICE (failed|disconnected|closed)/.exec(f);
    const dtls = /DTLS (connecting|failed|new|closed)/.exec(f);
    const cause = ended
      ? `Kefu ended the contact (${ended[1]} by ${ended[2]})`
      : ice
        ? `ICE ${ice[1]}`
        : dtls
          ? `DTLS ${dtls[1]}`
          : /no (audio|video) reached/.test(f)
            ? 'media stopped'
            : /not connected in|no video both ways|no agent took/.test(f)
              ? 'not up in time'
              : 'other';
    const kind = f.startsWith('down ') ? `dropped after set-up, ${cause}` : cause;
    causes.set(kind, (causes.get(kind) ?? 0) + 1);
  }
  return [...causes].map(([k, n]) => `${k}: ${n}`).join('; ');
}
