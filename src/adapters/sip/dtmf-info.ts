// DTMF carried by SIP INFO: application/dtmf-relay ("Signal=5\r\nDuration=160") and
// application/dtmf ("5"). Some phones send 10 and 11 for * and #.
import type { SipMessage } from 'sip';
import { headerText } from './sip-message.ts';

const digit = /^[0-9*#A-D]$/;
const numbered: Record<string, string> = { '10': '*', '11': '#', '12': 'A', '13': 'B', '14': 'C', '15': 'D' };

export function dtmfDigitOf(info: SipMessage): string | null {
  const type = headerText(info, 'content-type')?.split(';')[0]?.trim().toLowerCase();
  const body = (info.content ?? '').trim();
  let signal: string | null = null;
  if (type === 'application/dtmf-relay') {
    signal = /^\s*signal\s*=\s*(\S+)\s*$/im.exec(body)?.[1] ?? null;
  } else if (type === 'application/dtmf') {
    signal = body;
  }
  if (signal === null) return null;
  const normal = numbered[signal] ?? signal.toUpperCase();
  return digit.test(normal) ? normal : null;
}
