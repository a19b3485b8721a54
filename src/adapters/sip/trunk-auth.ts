// Which trunk an INVITE comes from: by source address (allow-list, CIDR allowed), or by digest
// (Proxy-Authorization) for trunks that have credentials.
import net from 'node:net';
import type { SipMessage } from 'sip';
import type { DigestAuth } from './digest-auth.ts';
import type { SipTrunk } from './sip-directory.ts';

export type TrunkVerdict =
  | { kind: 'trusted'; trunk: SipTrunk }
  | { kind: 'challenge'; stale: boolean }
  | { kind: 'forbidden'; reason: string };

/** True when `address` is one of `patterns` (IPs or CIDRs, v4 or v6). Bad patterns are ignored. */
export function addressAllowed(address: string, patterns: string[]): boolean {
  const family = net.isIPv4(address) ? 'ipv4' : net.isIPv6(address) ? 'ipv6' : null;
  if (!family) return false;
  const list = new net.BlockList();
  for (const pattern of patterns) {
    const [ip = '', bits] = pattern.trim().split('/');
    const type = net.isIPv4(ip) ? 'ipv4' : net.isIPv6(ip) ? 'ipv6' : null;
    if (!type) continue;
    const prefix = bits === undefined ? (type === 'ipv4' ? 32 : 128) : Number(bits);
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > (type === 'ipv4' ? 32 : 128)) continue;
    list.addSubnet(ip, prefix, type);
  }
  return list.check(address, family);
}

export function authenticateTrunkCall(trunks: SipTrunk[], sourceAddress: string, request: SipMessage, digest: DigestAuth): TrunkVerdict {
  const byAddress = trunks.find((t) => addressAllowed(sourceAddress, t.allowedAddresses));
  if (byAddress) return { kind: 'trusted', trunk: byAddress };
  const withDigest = trunks.filter((t) => t.digest !== null);
  if (withDigest.length === 0) return { kind: 'forbidden', reason: 'Address Not Allowed' };
  const credentials = digest.credentials(request.headers['proxy-authorization']);
  if (!credentials) return { kind: 'challenge', stale: false };
  const trunk = withDigest.find((t) => t.digest!.username === credentials.username);
  if (!trunk) return { kind: 'challenge', stale: false };
  const verdict = digest.verify(credentials, request.method ?? 'INVITE', trunk.digest!.ha1);
  if (verdict === 'ok') return { kind: 'trusted', trunk };
  return { kind: 'challenge', stale: verdict === 'stale' };
}
