// Outbound calling rules (PH-2, PH-3), pure: which number a call goes out from, where the trunk sends it,
// and how a failed customer leg reads in a call record.
import { ForbiddenError, ValidationError } from '../errors.ts';
import { normalizeNumber } from './phone-number.ts';

/** A number Kefu may dial: 3 to 20 digits with an optional +, separators dropped. */
export function diallableNumber(raw: string, field: string): string {
  const n = normalizeNumber(raw);
  if (!n) throw new ValidationError(field, 'a phone number: digits, optionally after a +, 3 to 20 of them');
  return n;
}

/**
 * The number a call goes out from. `allowed` are the outbound numbers that apply (the skill group's, or
 * the agent's groups'); when none are set, any number of the instance may be used. Without a request the
 * first allowed number is the default.
 */
export function callerNumber(o: { requested: string | null; allowed: readonly string[]; instanceNumbers: readonly string[] }): string {
  const pool = o.allowed.length > 0 ? o.allowed.filter((n) => o.instanceNumbers.includes(n)) : o.instanceNumbers;
  if (o.requested === null) {
    const first = pool[0];
    if (!first) throw new ForbiddenError('This instance has no number to call out from: bind a number and set it as an outbound number of a skill group');
    return first;
  }
  if (!pool.includes(o.requested)) {
    throw new ForbiddenError(
      o.allowed.length > 0
        ? `${o.requested} is not an outbound number here (allowed: ${pool.join(', ') || 'none bound to this instance'})`
        : `${o.requested} is not a number of this instance`,
    );
  }
  return o.requested;
}

/**
 * The Request-URI for `number` through a trunk whose outboundUri is e.g. `sip:gateway.example:5060;transport=tcp`:
 * `sip:<number>@gateway.example:5060;transport=tcp`. A user part in the trunk URI is replaced.
 */
export function trunkRequestUri(outboundUri: string, number: string): string {
  const m = /^(sips?):(?:[^@;]*@)?([^;?]+)(.*)$/i.exec(outboundUri.trim());
  if (!m) throw new ValidationError('outboundUri', `not a SIP URI: ${outboundUri}`);
  return `${m[1]!.toLowerCase()}:${number}@${m[2]}${m[3]}`;
}

/** The end status CCC users know for a customer leg that failed with a SIP status. */
export function failedCallEndStatus(status: number): string {
  if (status === 486 || status === 600) return 'busy';
  if (status === 603) return 'declined';
  if (status === 408 || status === 480 || status === 487) return 'notAnswered';
  if (status === 404 || status === 484 || status === 410 || status === 604) return 'invalidNumber';
  if (status >= 400 && status < 500) return 'clientError';
  return 'networkError';
}

/** A mobile number as shown in logs and records: the last four digits. */
export function maskedNumber(number: string): string {
  return number.length <= 4 ? number : `${'*'.repeat(number.length - 4)}${number.slice(-4)}`;
}
