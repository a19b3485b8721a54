/** SDP (RFC 4566) for one audio stream of G.711 with RFC 4733 telephone-events: just what a phone call needs. */
import { isIP } from 'node:net';

export type Codec = 'PCMU' | 'PCMA';
export type SdpDirection = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

export interface SdpCodec {
  payloadType: number;
  name: string;
  clockRate: number;
}

export interface SdpDescription {
  address: string;
  port: number;
  /** Every format of the audio stream in offer order, static ones named even without a=rtpmap. */
  codecs: SdpCodec[];
  dtmfPayloadType: number | null;
  direction: SdpDirection;
}

/** The SDP cannot be used: the SIP layer answers 400 (unreadable) or 488 (nothing we can do). */
export class SdpError extends Error {
  override name = 'SdpError';
}

/** RFC 3551 static payload types that a phone may list without a=rtpmap. */
const STATIC_PAYLOAD_TYPES: Record<number, { name: string; clockRate: number }> = {
  0: { name: 'PCMU', clockRate: 8000 },
  3: { name: 'GSM', clockRate: 8000 },
  4: { name: 'G723', clockRate: 8000 },
  8: { name: 'PCMA', clockRate: 8000 },
  9: { name: 'G722', clockRate: 8000 },
  13: { name: 'CN', clockRate: 8000 },
  18: { name: 'G729', clockRate: 8000 },
};

const DIRECTIONS = new Set<string>(['sendrecv', 'sendonly', 'recvonly', 'inactive']);
const SUPPORTED_PROFILES = new Set(['RTP/AVP', 'RTP/AVPF']);

interface AudioSection {
  port: number;
  profile: string;
  formats: number[];
  address: string | null;
  direction: SdpDirection | null;
  rtpmap: Map<number, { name: string; clockRate: number }>;
}

export function parseSdp(text: string): SdpDescription {
  if (typeof text !== 'string' || text.trim() === '') throw new SdpError('empty SDP');
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
  if (!lines[0]?.startsWith('v=')) throw new SdpError('SDP must start with a v= line');

  let sessionAddress: string | null = null;
  let sessionDirection: SdpDirection | null = null;
  const audio: AudioSection[] = [];
  let current: AudioSection | null = null;
  let inOtherMedia = false;

  for (const line of lines) {
    if (line[1] !== '=') throw new SdpError(`malformed SDP line "${line.slice(0, 60)}" (expected <type>=<value>)`);
    const type = line[0];
    const value = line.slice(2);
    if (type === 'm') {
      current = null;
      inOtherMedia = true;
      const media = parseMediaLine(value);
      if (media) {
        current = media;
        inOtherMedia = false;
        audio.push(media);
      }
    } else if (type === 'c') {
      const address = parseConnection(value);
      if (current) current.address = address;
      else if (!inOtherMedia) sessionAddress = address;
    } else if (type === 'a') {
      const colon = value.indexOf(':');
      const name = colon === -1 ? value : value.slice(0, colon);
      const rest = colon === -1 ? '' : value.slice(colon + 1);
      if (DIRECTIONS.has(name)) {
        if (current) current.direction = name as SdpDirection;
        else if (!inOtherMedia) sessionDirection = name as SdpDirection;
      } else if (name === 'rtpmap' && current) {
        const m = /^(\d+)\s+([^/\s]+)\/(\d+)/.exec(rest);
        if (!m) throw new SdpError(`malformed a=rtpmap "${rest}" (expected <payload type> <encoding>/<clock rate>)`);
        current.rtpmap.set(Number(m[1]), { name: m[2]!, clockRate: Number(m[3]) });
      }
    }
  }

  if (audio.length === 0) throw new SdpError('SDP has no m=audio line');
  const section = audio.find((a) => a.port !== 0);
  if (!section) throw new SdpError('SDP audio stream is disabled (m=audio port 0)');
  if (!SUPPORTED_PROFILES.has(section.profile)) {
    throw new SdpError(`unsupported media transport ${section.profile}; only RTP/AVP (plain RTP) is supported`);
  }
  const address = section.address ?? sessionAddress;
  if (!address) throw new SdpError('SDP has no c= connection address for the audio stream');

  const codecs: SdpCodec[] = [];
  for (const payloadType of section.formats) {
    const mapped = section.rtpmap.get(payloadType) ?? STATIC_PAYLOAD_TYPES[payloadType];
    // A dynamic payload type without a=rtpmap is unusable; leave it out rather than guess.
    if (mapped) codecs.push({ payloadType, name: mapped.name, clockRate: mapped.clockRate });
  }
  const dtmf = codecs.find((c) => c.name.toLowerCase() === 'telephone-event' && c.clockRate === 8000);
  return {
    address,
    port: section.port,
    codecs,
    dtmfPayloadType: dtmf ? dtmf.payloadType : null,
    direction: section.direction ?? sessionDirection ?? 'sendrecv',
  };
}

function parseMediaLine(value: string): AudioSection | null {
  const parts = value.split(/\s+/);
  if (parts.length < 4) throw new SdpError(`malformed m= line "${value}" (expected <media> <port> <proto> <formats>)`);
  if (parts[0] !== 'audio') return null;
  const portText = parts[1]!.split('/')[0]!;
  if (!/^\d+$/.test(portText) || Number(portText) > 65535) {
    throw new SdpError(`bad port "${parts[1]}" in m=audio (expected 0-65535)`);
  }
  const formats: number[] = [];
  for (const f of parts.slice(3)) {
    if (!/^\d+$/.test(f) || Number(f) > 127) throw new SdpError(`bad payload type "${f}" in m=audio (expected 0-127)`);
    formats.push(Number(f));
  }
  return { port: Number(portText), profile: parts[2]!, formats, address: null, direction: null, rtpmap: new Map() };
}

function parseConnection(value: string): string {
  const parts = value.split(/\s+/);
  if (parts.length < 3 || parts[0] !== 'IN' || (parts[1] !== 'IP4' && parts[1] !== 'IP6')) {
    throw new SdpError(`malformed c= line "${value}" (expected IN IP4 <address>)`);
  }
  // Multicast addresses carry /ttl; unicast is what phones send.
  const address = parts[2]!.split('/')[0]!;
  if (address === '') throw new SdpError(`malformed c= line "${value}" (no address)`);
  // RTP goes only to an address: a host name would cost a DNS lookup per packet sent to it.
  if (isIP(address) === 0) throw new SdpError(`c= address "${address.slice(0, 60)}" is not an IP address`);
  return address;
}

/** One G.711 format of a stream: the law and the payload type the peer numbered it with. */
export interface MediaFormat {
  codec: Codec;
  payloadType: number;
}

export interface Negotiated {
  /** What we send: the peer's first G.711 format (RFC 3264 section 6.1: the offerer's preference order). */
  codec: Codec;
  payloadType: number;
  dtmfPayloadType: number | null;
  /** Every G.711 format the peer listed, in its order (the first is codec/payloadType): each may arrive, and an answer lists them all. */
  formats: MediaFormat[];
}

const SUPPORTED: readonly string[] = ['PCMU', 'PCMA'];

/**
 * The G.711 formats of an offer (or an answer) in the peer's order. The first is what we send; an answer
 * lists them all in that order, so a carrier offering PCMA first gets PCMA first. Throws SdpError('no
 * common codec') when the offer has neither law (SIP 488).
 */
export function negotiate(offer: SdpDescription): Negotiated {
  const formats: MediaFormat[] = [];
  for (const c of offer.codecs) {
    const name = c.name.toUpperCase();
    if (c.clockRate !== 8000 || !SUPPORTED.includes(name)) continue;
    formats.push({ codec: name as Codec, payloadType: c.payloadType });
  }
  const first = formats[0];
  if (!first) {
    const offered = offer.codecs.map((c) => `${c.name}/${c.clockRate}`).join(', ') || 'none';
    throw new SdpError(`no common codec (offered ${offered}; supported PCMU/8000, PCMA/8000)`);
  }
  return { codec: first.codec, payloadType: first.payloadType, dtmfPayloadType: offer.dtmfPayloadType, formats };
}

const STATIC_PAYLOAD_TYPE: Record<Codec, number> = { PCMU: 0, PCMA: 8 };
export const DEFAULT_DTMF_PAYLOAD_TYPE = 101;

export interface BuildSdpOptions {
  address: string;
  port: number;
  /** One codec, with its payload type (the static one unless told)... */
  codec?: Codec;
  payloadType?: number;
  /** ...or several, in this order (an answer keeps the offer's order): `formats` wins over codec/payloadType. */
  formats?: readonly MediaFormat[];
  dtmfPayloadType: number | null;
  sessionId?: string;
  sessionVersion?: number;
  direction?: SdpDirection;
}

/** An answer with the given G.711 formats in their order (plus telephone-event/8000 0-16 when the offer had it). */
export function buildSdp(o: BuildSdpOptions): string {
  const formats = o.formats ?? (o.codec ? [{ codec: o.codec, payloadType: o.payloadType ?? STATIC_PAYLOAD_TYPE[o.codec] }] : []);
  if (formats.length === 0) throw new Error('buildSdp needs a codec or formats');
  const payloadTypes = formats.map((f) => f.payloadType);
  if (o.dtmfPayloadType !== null) payloadTypes.push(o.dtmfPayloadType);
  const lines = [...sessionLines(o.address, o.sessionId, o.sessionVersion), `m=audio ${o.port} RTP/AVP ${payloadTypes.join(' ')}`];
  for (const f of formats) lines.push(`a=rtpmap:${f.payloadType} ${f.codec}/8000`);
  if (o.dtmfPayloadType !== null) lines.push(...dtmfLines(o.dtmfPayloadType));
  lines.push('a=ptime:20', `a=${o.direction ?? 'sendrecv'}`);
  return lines.join('\r\n') + '\r\n';
}

/** An offer: PCMU (0), PCMA (8), telephone-event (101 unless told). */
export function buildOfferSdp(o: { address: string; port: number; dtmfPayloadType?: number; sessionId?: string; sessionVersion?: number }): string {
  const dtmf = o.dtmfPayloadType ?? DEFAULT_DTMF_PAYLOAD_TYPE;
  return [
    ...sessionLines(o.address, o.sessionId, o.sessionVersion),
    `m=audio ${o.port} RTP/AVP 0 8 ${dtmf}`,
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:8 PCMA/8000',
    ...dtmfLines(dtmf),
    'a=ptime:20',
    'a=sendrecv',
  ].join('\r\n') + '\r\n';
}

function sessionLines(address: string, sessionId: string | undefined, sessionVersion: number | undefined): string[] {
  const family = address.includes(':') ? 'IP6' : 'IP4';
  const id = sessionId ?? String(Math.floor(Math.random() * 1e9));
  return ['v=0', `o=kefu ${id} ${sessionVersion ?? 1} IN ${family} ${address}`, 's=kefu', `c=IN ${family} ${address}`, 't=0 0'];
}

function dtmfLines(payloadType: number): string[] {
  return [`a=rtpmap:${payloadType} telephone-event/8000`, `a=fmtp:${payloadType} 0-16`];
}
