// What a received message must satisfy before Kefu answers it, sends to an address it names, or
// stores any of its text. A message that fails gets a 400 with the reason (sip-wire.ts), so nothing
// past the wire layer meets a bad Via, an unreadable URI or text PostgreSQL cannot hold.
import net from 'node:net';
import sip, { type SipAddress, type SipMessage, type SipVia } from 'sip';
import { customerIdentity, name as personName } from '../../domain/values.ts';

const MAX_CALL_ID = 256;
const MAX_CSEQ = 2 ** 31 - 1;

/** The 400 reason for the first problem of a parsed message, or null. `head` is the raw head, one char per byte. */
export function messageProblem(message: SipMessage, head: string): string | null {
  const textProblem = headTextProblem(head);
  if (textProblem) return textProblem;
  const h = message.headers;
  if (!validVia(h.via?.[0])) return 'Missing or Bad Via';
  if (!validAddress(h.from)) return 'Missing or Bad From';
  if (!validAddress(h.to)) return 'Missing or Bad To';
  const callId = h['call-id'];
  if (typeof callId !== 'string' || callId === '' || callId.length > MAX_CALL_ID || /\s/.test(callId)) return 'Missing or Bad Call-ID';
  if (!h.cseq || !Number.isInteger(h.cseq.seq) || h.cseq.seq < 0 || h.cseq.seq > MAX_CSEQ) return 'Missing or Bad CSeq';
  if (h.contact !== undefined && h.contact !== '*' && !h.contact.every((c) => sipUriUser(c.uri) !== undefined)) return 'Missing or Bad Contact';
  if (message.method) {
    if (h.cseq.method !== message.method && !(message.method === 'ACK' && h.cseq.method === 'INVITE')) return 'CSeq Method Mismatch';
    if (!message.uri || sipUriUser(message.uri) === undefined) return 'Bad Request-URI';
  }
  return null;
}

/**
 * Header text is UTF-8 (RFC 3261 §7.3.1) without control characters: NUL, a lone surrogate (which
 * strict UTF-8 cannot encode) or a stray byte would otherwise reach the event store.
 */
function headTextProblem(head: string): string | null {
  for (const line of head.split('\r\n')) {
    // eslint-disable-next-line no-control-regex -- control characters are what this looks for
    if (/[\x00-\x08\x0a-\x1f\x7f]/.test(line)) return 'Bad Header';
  }
  // Pure ASCII needs no decoding (the common case).
  if (!/[\x80-\xff]/.test(head)) return null;
  try {
    strictUtf8.decode(Buffer.from(head, 'latin1'));
    return null;
  } catch {
    return 'Invalid UTF-8';
  }
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Host name (RFC 1123 labels), IPv4 or IPv6 reference; port absent or 1-65535; a branch to match the transaction by. */
export function validVia(via: SipVia | undefined): boolean {
  if (!via?.host || !validHost(via.host)) return false;
  if (via.port !== undefined && !validPort(via.port)) return false;
  const branch = via.params.branch;
  return typeof branch === 'string' && branch !== '';
}

const hostLabel = '(?!-)[A-Za-z0-9-]{1,63}(?<!-)';
const hostName = new RegExp(`^${hostLabel}(\\.${hostLabel})*\\.?$`);

function validHost(host: string): boolean {
  if (host.length > 253) return false;
  if (host.startsWith('[')) return net.isIPv6(host.replace(/^\[|\]$/g, ''));
  return net.isIPv4(host) || hostName.test(host);
}

export function validPort(port: unknown): port is number {
  return typeof port === 'number' && Number.isInteger(port) && port >= 1 && port <= 65535;
}

/**
 * From and To: a SIP URI whose user is a storable customer identity (the caller number of a contact),
 * or another absolute URI (tel:); a display name that is a storable name (the customer's name).
 */
function validAddress(address: SipAddress | undefined): boolean {
  if (!address?.uri) return false;
  const name = displayNameText(address);
  if (name !== null && !(plainText(name) && personName.safeParse(name).success)) return false;
  if (/^sips?:/i.test(address.uri)) {
    const user = sipUriUser(address.uri);
    return user !== undefined && (user === null || (plainText(user) && customerIdentity.safeParse(user).success));
  }
  return /^[a-z][a-z0-9+.-]*:[^\s"<>\\]+$/i.test(address.uri);
}

/**
 * The user part of a SIP URI as text (percent-decoded, UTF-8): null when the URI has none,
 * undefined when the URI does not parse or its user is not valid percent-encoded UTF-8.
 */
export function sipUriUser(uri: string): string | null | undefined {
  const parsed = sip.parseUri(uri);
  if (!parsed) return undefined;
  if (!parsed.user) return null;
  try {
    return decodeURIComponent(fromWire(parsed.user));
  } catch {
    return undefined;
  }
}

/** A display name without its quotes and escapes, as UTF-8 text; null when absent. */
export function displayNameText(address: SipAddress | undefined): string | null {
  const name = address?.name?.trim();
  if (!name) return null;
  const unquoted = name.startsWith('"') && name.endsWith('"') && name.length >= 2 ? name.slice(1, -1).replace(/\\(.)/g, '$1') : name;
  return fromWire(unquoted);
}

/** No control characters (a percent-encoded %00 or %0A in a URI user, say): a caller number or name is one line. */
function plainText(text: string): boolean {
  // eslint-disable-next-line no-control-regex -- control characters are what this looks for
  return !/[\u0000-\u001f\u007f]/.test(text);
}

/** Head text is read one char per byte (latin1); a header value is UTF-8 on the wire. */
function fromWire(text: string): string {
  return /[\x80-\xff]/.test(text) ? Buffer.from(text, 'latin1').toString('utf8') : text;
}
