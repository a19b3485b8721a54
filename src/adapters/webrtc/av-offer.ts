// What Kefu accepts as a browser's SDP offer for an audio/video call (issue 14), checked before any peer
// connection exists: a bounded size, at most one audio and one video m-line (and a data channel, ignored),
// Opus for audio, VP8 or H264 for video (Kefu relays RTP without transcoding, so it takes only what both
// browsers decode), complete ICE (non-trickle: ICE credentials and the fingerprint are there), and ICE
// candidates only on addresses the operator allows. Anything else is an AvOfferError naming the problem.
import { BlockList, isIP } from 'node:net';

export class AvOfferError extends Error {
  override readonly name = 'AvOfferError';
}

export type AvVideoCodec = 'VP8' | 'H264';

export interface AvOffer {
  audio: boolean;
  video: boolean;
  /** The video codecs offered that Kefu can relay, in Kefu's order of preference (VP8 first). */
  videoCodecs: AvVideoCodec[];
}

export interface AvOfferLimits {
  /** Largest SDP in characters. */
  maxBytes: number;
  /** Most m-lines in one offer. */
  maxMediaSections: number;
  /** Where ICE candidates may point; null: any unicast address. */
  allowedCandidates: BlockList | null;
}

export const defaultAvOfferLimits: AvOfferLimits = { maxBytes: 20_000, maxMediaSections: 3, allowedCandidates: null };

/**
 * Parses a comma-separated list of addresses and CIDR ranges (KEFU_AV_ALLOWED_CANDIDATES) into a BlockList
 * used as an allow list; 'any' (or empty) is null. Throws on a malformed entry.
 */
export function parseAddressList(setting: string): BlockList | null {
  const v = setting.trim().toLowerCase();
  if (v === '' || v === 'any') return null;
  const list = new BlockList();
  for (const part of v.split(',').map((p) => p.trim())) {
    const [address, prefix, extra] = part.split('/');
    const family = isIP(address ?? '');
    if (family === 0 || extra !== undefined) throw new Error(`not an address or CIDR range: ${part}`);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (prefix === undefined) list.addAddress(address!, type);
    else {
      const bits = Number(prefix);
      if (!/^\d{1,3}$/.test(prefix) || bits > (family === 4 ? 32 : 128)) throw new Error(`not a CIDR range: ${part}`);
      list.addSubnet(address!, bits, type);
    }
  }
  return list;
}

/** Addresses no media ever goes to, whatever the setting: unspecified, broadcast and multicast. */
const neverAllowed = (() => {
  const list = new BlockList();
  list.addSubnet('0.0.0.0', 8, 'ipv4');
  list.addSubnet('224.0.0.0', 4, 'ipv4');
  list.addAddress('255.255.255.255', 'ipv4');
  list.addAddress('::', 'ipv6');
  list.addSubnet('ff00::', 8, 'ipv6');
  return list;
})();

function checkCandidate(line: string, limits: AvOfferLimits): void {
  // a=candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type> …
  const parts = line.slice('a=candidate:'.length).split(' ');
  const address = parts[4] ?? '';
  const port = Number(parts[5]);
  // mDNS names (Chromium hides host addresses behind <uuid>.local): Kefu is ICE-lite and never sends to a
  // browser's candidates before the browser reached it, so a name it cannot resolve is harmless.
  if (/^[0-9a-f-]{36}\.local$/i.test(address)) return;
  const family = isIP(address);
  if (family === 0) throw new AvOfferError(`ICE candidate address ${JSON.stringify(address.slice(0, 80))} is not an IP address`);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new AvOfferError(`ICE candidate port ${JSON.stringify(parts[5] ?? '')} is not a port`);
  const type = family === 4 ? 'ipv4' : 'ipv6';
  if (neverAllowed.check(address, type)) throw new AvOfferError(`ICE candidate address ${address} is not a unicast address`);
  if (limits.allowedCandidates && !limits.allowedCandidates.check(address, type)) {
    throw new AvOfferError(`ICE candidate address ${address} is not allowed by this Kefu (KEFU_AV_ALLOWED_CANDIDATES)`);
  }
}

// eslint-disable-next-line no-control-regex -- finding control characters is the point
const strayControl = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]|\r(?!\n)/;

/** Checks an offer; throws AvOfferError with what is wrong. */
export function checkAvOffer(sdp: string, limits: AvOfferLimits = defaultAvOfferLimits): AvOffer {
  if (sdp.length > limits.maxBytes) throw new AvOfferError(`the offer is ${sdp.length} characters; at most ${limits.maxBytes}`);
  if (!sdp.startsWith('v=0')) throw new AvOfferError('not an SDP offer (it must start with v=0)');
  // Lines end with CRLF (or all with LF): an offer mixing the two, or with a control character inside a line (NUL,
  // a lone CR), is one text to a reader splitting on CRLF and another to one splitting on LF. werift never
  // answered an LF offer with "a=mid:0\r" in it (found by test/av/av-offer-fuzz.int.spec.ts).
  if (sdp.includes('\r\n') && /(?<!\r)\n/.test(sdp)) throw new AvOfferError('the offer mixes CRLF and LF line ends; lines end with CRLF');
  const control = strayControl.exec(sdp);
  if (control) throw new AvOfferError(`the offer has a control character (U+${control[0].charCodeAt(0).toString(16).padStart(4, '0').toUpperCase()}) inside a line; lines end with CRLF`);
  const sections = sdp.split(/\r?\n(?=m=)/);
  const session = sections.shift()!;
  if (sections.length === 0) throw new AvOfferError('the offer has no media (m-lines)');
  if (sections.length > limits.maxMediaSections) throw new AvOfferError(`the offer has ${sections.length} m-lines; at most ${limits.maxMediaSections} (audio, video and a data channel)`);
  const sessionFingerprint = /^a=fingerprint:/m.test(session);
  let audio = 0;
  let video = 0;
  let opus = false;
  const videoCodecs = new Set<AvVideoCodec>();
  let candidates = 0;
  for (const section of sections) {
    const kind = /^m=(\w+)/.exec(section)?.[1];
    const lines = section.split(/\r?\n/);
    for (const line of lines) {
      if (!line.startsWith('a=candidate:')) continue;
      checkCandidate(line, limits);
      candidates++;
    }
    if (kind === 'application') continue;
    if (kind !== 'audio' && kind !== 'video') throw new AvOfferError(`m=${kind ?? '?'} is not audio, video or a data channel`);
    if (/^m=\w+ 0 /.test(section) || /^a=inactive/m.test(section)) continue;
    if (!/^a=ice-ufrag:/m.test(section) && !/^a=ice-ufrag:/m.test(session)) throw new AvOfferError(`the ${kind} m-line has no ICE credentials`);
    if (!sessionFingerprint && !/^a=fingerprint:/m.test(section)) throw new AvOfferError(`the ${kind} m-line has no DTLS fingerprint (Kefu takes DTLS-SRTP only)`);
    if (kind === 'audio') {
      audio++;
      if (/^a=rtpmap:\d+ opus\/48000/im.test(section)) opus = true;
    } else {
      video++;
      if (/^a=rtpmap:\d+ VP8\/90000/im.test(section)) videoCodecs.add('VP8');
      if (/^a=rtpmap:\d+ H264\/90000/im.test(section)) videoCodecs.add('H264');
    }
  }
  if (audio > 1 || video > 1) throw new AvOfferError('the offer may have one audio and one video m-line');
  if (audio === 0) throw new AvOfferError('the offer has no audio (every call carries the voice)');
  if (!opus) throw new AvOfferError('the offer has no usable audio codec: Kefu relays Opus, without transcoding');
  if (video === 1 && videoCodecs.size === 0) throw new AvOfferError('the offer has no usable video codec: Kefu relays VP8 or H264, without transcoding');
  if (candidates === 0) throw new AvOfferError('the offer has no ICE candidates: send it once ICE gathering is complete (no trickle ICE)');
  return { audio: true, video: video === 1, videoCodecs: (['VP8', 'H264'] as const).filter((c) => videoCodecs.has(c)) };
}
