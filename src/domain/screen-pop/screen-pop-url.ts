// Screen pop (PH-5, OL-6, AV-8, WS-4, AD-5): the CRM page an offer opens, filled from the contact and
// signed so that the CRM can tell the link came from Kefu, unchanged and recently.
//
// The signature covers the query only (a reverse proxy in front of the CRM may rewrite the path), so
// placeholders may stand in query parameter values only. The canonical query, which the CRM can rebuild
// from what it receives:
//   1. every query parameter except `sig` (the template's own, the filled ones and `ts`), decoded;
//   2. name and value each percent-encoded as RFC 3986 unreserved characters (encodeURIComponent, plus ! ' ( ) *);
//   3. each pair written `name=value`, these strings sorted (plain ASCII order), joined with `&`.
// sig = lowercase hex HMAC-SHA256(key = the secret as UTF-8, message = the canonical query).
import { createHmac, timingSafeEqual } from 'node:crypto';

export const screenPopPlaceholders = ['contactId', 'channel', 'customer', 'skillGroupId', 'keys', 'data.<name>'] as const;

export interface ScreenPopContact {
  contactId: string;
  channel: string;
  /** Phone number, WeChat OpenID or web visitor id. */
  customerId: string;
  skillGroupId: string | null;
  keyTrail: { key: string; label: string | null }[];
  data: Record<string, string>;
}

export interface BuildScreenPopUrl {
  urlTemplate: string;
  secret: string;
  contact: ScreenPopContact;
  now: Date | string;
}

export type ScreenPopVerification =
  | { valid: true; issuedAt: number }
  | { valid: false; reason: 'malformed' | 'unsigned' | 'bad-signature' | 'expired' };

const placeholder = /\{([^{}]*)\}/g;
const maxTemplateLength = 2000;

function knownPlaceholder(name: string): boolean {
  return ['contactId', 'channel', 'customer', 'skillGroupId', 'keys'].includes(name) || /^data\..+$/.test(name);
}

/** What is wrong with a template, or null: an http(s) URL, placeholders known and in query values only. */
export function screenPopTemplateProblem(urlTemplate: string): string | null {
  if (urlTemplate.length > maxTemplateLength) return `at most ${maxTemplateLength} characters`;
  let url: URL;
  try {
    url = new URL(urlTemplate);
  } catch {
    return 'not a URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must be an http or https URL';
  if (url.username || url.password) return 'must not carry a user name or password';
  const braces = /[{}]|%7B|%7D/i;
  if (braces.test(url.pathname) || braces.test(url.hash)) return 'placeholders go in query parameter values only';
  for (const [name, value] of url.searchParams) {
    if (braces.test(name)) return 'placeholders go in query parameter values only';
    if (name === 'ts' || name === 'sig') return 'ts and sig are added by Kefu; the template must not have them';
    for (const m of value.matchAll(placeholder)) {
      if (!knownPlaceholder(m[1]!)) {
        return `unknown placeholder {${m[1]}}; known: ${screenPopPlaceholders.map((p) => `{${p}}`).join(' ')}`;
      }
    }
    if (/[{}]/.test(value.replace(placeholder, ''))) return 'a { without its } (or the other way round)';
  }
  return null;
}

/** Lone UTF-16 surrogates cannot be percent-encoded: they become U+FFFD, as a browser would send them. */
function wellFormed(s: string): string {
  return s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}

/** RFC 3986: everything but A-Z a-z 0-9 - . _ ~ is percent-encoded (UTF-8). */
export function encodeRfc3986(s: string): string {
  return encodeURIComponent(wellFormed(s)).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function canonicalScreenPopQuery(params: Iterable<[string, string]>): string {
  const pairs: string[] = [];
  for (const [name, value] of params) if (name !== 'sig') pairs.push(`${encodeRfc3986(name)}=${encodeRfc3986(value)}`);
  // Percent-encoded, the strings are ASCII: the default sort (UTF-16 code units) is byte order in any language.
  return pairs.sort().join('&');
}

export function signScreenPopQuery(canonicalQuery: string, secret: string): string {
  return createHmac('sha256', secret).update(canonicalQuery, 'utf8').digest('hex');
}

function placeholderValue(name: string, contact: ScreenPopContact): string {
  switch (name) {
    case 'contactId':
      return contact.contactId;
    case 'channel':
      return contact.channel;
    case 'customer':
      return contact.customerId;
    case 'skillGroupId':
      return contact.skillGroupId ?? '';
    case 'keys':
      // JSON: labels may hold any character, so no separator would be safe.
      return JSON.stringify(contact.keyTrail.map((k) => ({ key: k.key, label: k.label ?? null })));
    default:
      // data.<name>; a value the contact does not have is left empty.
      return Object.hasOwn(contact.data, name.slice(5)) ? contact.data[name.slice(5)]! : '';
  }
}

function unixSeconds(now: Date | string): number {
  return Math.floor(new Date(now).getTime() / 1000);
}

/** The template filled for this contact, with `ts` (unix seconds) and `sig` appended. */
export function buildScreenPopUrl({ urlTemplate, secret, contact, now }: BuildScreenPopUrl): string {
  const problem = screenPopTemplateProblem(urlTemplate);
  if (problem) throw new Error(`Invalid screen pop template: ${problem}`);
  const url = new URL(urlTemplate);
  const params: [string, string][] = [];
  for (const [name, value] of url.searchParams) {
    params.push([name, value.replace(placeholder, (_, p: string) => placeholderValue(p, contact))]);
  }
  params.push(['ts', String(unixSeconds(now))]);
  const sig = signScreenPopQuery(canonicalScreenPopQuery(params), secret);
  const query = [...params, ['sig', sig]].map(([n, v]) => `${encodeRfc3986(n!)}=${encodeRfc3986(v!)}`).join('&');
  return `${url.origin}${url.pathname}?${query}${url.hash}`;
}

/**
 * Checks a screen pop URL as a CRM would: exactly one `ts` and one `sig`, the signature matches the
 * canonical query, and `ts` lies within maxAgeSeconds of now (either side, for clocks that disagree).
 */
export function verifyScreenPopUrl(url: string, secret: string, maxAgeSeconds: number, now: Date | string = new Date()): ScreenPopVerification {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { valid: false, reason: 'malformed' };
  }
  const params = [...parsed.searchParams];
  const sigs = params.filter(([n]) => n === 'sig').map(([, v]) => v);
  const stamps = params.filter(([n]) => n === 'ts').map(([, v]) => v);
  if (sigs.length !== 1 || stamps.length !== 1) return { valid: false, reason: 'unsigned' };
  const sig = sigs[0]!;
  const ts = stamps[0]!;
  if (!/^[0-9a-f]{64}$/i.test(sig) || !/^\d{1,12}$/.test(ts)) return { valid: false, reason: 'bad-signature' };
  const expected = Buffer.from(signScreenPopQuery(canonicalScreenPopQuery(params), secret), 'hex');
  if (!timingSafeEqual(expected, Buffer.from(sig, 'hex'))) return { valid: false, reason: 'bad-signature' };
  const issuedAt = Number(ts);
  if (Math.abs(unixSeconds(now) - issuedAt) > maxAgeSeconds) return { valid: false, reason: 'expired' };
  return { valid: true, issuedAt };
}
