// Where a webhook may point (issue 16): no server-side request forgery. A URL's host is resolved and every
// address it resolves to must be public: loopback, private, link-local, carrier-grade NAT, multicast,
// documentation and reserved ranges are refused unless KEFU_WEBHOOK_ALLOW_PRIVATE is on. The sender checks the
// address it actually connects to again (safeLookup), so a name that changes its answer later (DNS rebinding)
// gains nothing.
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { ValidationError } from '../../domain/errors.ts';
import { normalizeWebhookUrl } from '../../domain/webhook/webhook.ts';

export interface WebhookAddressPolicy {
  /** http:// URLs (default: https only). */
  allowHttp: boolean;
  /** Loopback and private addresses (default: refused). Tests and on-premises receivers need it. */
  allowPrivate: boolean;
}

const blocked = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  blocked.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['100::', 64],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const) {
  blocked.addSubnet(net, prefix, 'ipv6');
}

/** IPv4 inside an IPv6 address (::ffff:a.b.c.d, ::a.b.c.d, 64:ff9b::a.b.c.d), else null. */
function embeddedIpv4(address: string): string | null {
  const m = /^(?:::ffff:|::|64:ff9b::)(?:0:)?([0-9a-f.:]+)$/i.exec(address);
  if (!m) return null;
  const tail = m[1]!;
  if (isIP(tail) === 4) return tail;
  const hex = /^([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(tail);
  if (!hex) return null;
  const hi = parseInt(hex[1]!, 16);
  const lo = parseInt(hex[2]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** Whether an IP address is one a webhook may not reach by default. */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return blocked.check(address, 'ipv4');
  if (family === 6) {
    const v4 = embeddedIpv4(address.toLowerCase());
    if (v4 && isIP(v4) === 4) return blocked.check(v4, 'ipv4');
    return blocked.check(address, 'ipv6');
  }
  return true;
}

/** Every address of a name; a resolver that does not answer within 5 s counts as no answer (the admin waits for it). */
function lookupAll(hostname: string): Promise<LookupAddress[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('DNS timeout')), 5000);
    dnsLookup(hostname, { all: true, verbatim: true }, (err, addresses) => {
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(addresses);
    });
  });
}

/** The URL as stored, after its form, its scheme and every address its host resolves to are checked; BAD_USER_INPUT on `field` otherwise. */
export async function checkWebhookUrl(value: string, policy: WebhookAddressPolicy, field = 'url'): Promise<string> {
  const n = normalizeWebhookUrl(value);
  if ('problem' in n) throw new ValidationError(field, n.problem);
  const url = new URL(n.url);
  if (url.protocol === 'http:' && !policy.allowHttp) throw new ValidationError(field, 'must be an https URL (http is refused unless KEFU_WEBHOOK_ALLOW_HTTP is on)');
  if (policy.allowPrivate) return n.url;
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  let addresses: string[];
  if (isIP(host) !== 0) addresses = [host];
  else {
    try {
      addresses = (await lookupAll(host)).map((a) => a.address);
    } catch {
      throw new ValidationError(field, `the host ${host} does not resolve`);
    }
  }
  if (addresses.length === 0 || addresses.some(isPrivateAddress)) {
    throw new ValidationError(field, 'points at this machine, a private or a reserved address (refused unless KEFU_WEBHOOK_ALLOW_PRIVATE is on)');
  }
  return n.url;
}

export class PrivateAddressError extends Error {
  override readonly name = 'PrivateAddressError';
}

/** A socket lookup that refuses private addresses (the connection is made only to an address checked here). */
export function safeLookup(allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      const list = addresses as unknown as LookupAddress[];
      const refused = allowPrivate ? undefined : list.find((a) => isPrivateAddress(a.address));
      if (refused || list.length === 0) {
        return callback(new PrivateAddressError(`${hostname} resolves to ${refused?.address ?? 'nothing'}, a private or reserved address`), '', 0);
      }
      if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
      callback(null, list[0]!.address, list[0]!.family);
    });
  };
}
