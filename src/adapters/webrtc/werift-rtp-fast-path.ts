// werift's RTP path, per packet, made cheaper where Kefu relays AV calls (and softphones): werift reads an RTP
// header's bits through strings (getBit: toString(2), split, join, parseInt), writes them through BitWriter
// objects, copies a header with a spread and Object.assign, and a sender adds for every packet an NTP time made
// through toString and split, the header extensions' mapping and sort, and a bandwidth-estimation record
// (with no transport-wide feedback to read it). The AV bench (bench/av.ts) found these among Kefu's larger
// costs after SRTP and the UDP sends. Here:
// - RtpHeader.deSerialize and RtpHeader.prototype.serialize read and write the same fields and bytes with bit
//   operations (extensions parsed as werift does);
// - RtcpHeader.deSerialize (every RTCP packet, NACKs included) the same with bit operations;
// - RtpPacket.prototype.clone copies the header's fields into a new RtpHeader (arrays shared, as werift's);
// - RTCRtpSender.prototype.dispatchRtp takes a packet with no header extensions on a sender with none to add
//   (Kefu negotiates none), no RED and no pending source switch, without those: the same rewrite (SSRC,
//   payload type, sequence number and timestamp offsets), the same NACK history and sender-report counters,
//   the NTP time computed with numbers; anything else goes to werift's own;
// - an RTCRtpReceiver's nackEnabled and twccEnabled, read for every packet (each sorting the codecs and searching
//   the first one's feedback), are kept until its codecs change (prepareReceive, which resyncCodecs calls too);
// - forwardRtp sends a packet on a sender at once, without sendRtp's promises.
// Imported for its effect (and forwardRtp).
import { RTCRtpReceiver, RTCRtpSender, RtcpHeader, RtpHeader, RtpPacket } from 'werift';

interface Extension {
  id: number;
  payload: Buffer;
}

interface Header {
  version: number;
  padding: boolean;
  paddingSize: number;
  extension: boolean;
  marker: boolean;
  payloadOffset: number;
  payloadType: number;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  csrcLength: number;
  csrc: number[];
  extensionProfile: number;
  extensionLength: number | undefined;
  extensions: Extension[];
  readonly serializeSize: number;
}

const OneByte = 0xbede;
const TwoByte = 0x1000;

type HeaderClass = { new (props?: Partial<Header>): Header; deSerialize(raw: Buffer): Header; prototype: Header & { serialize(size: number): Buffer } };
const HeaderOf = RtpHeader as unknown as HeaderClass;
if (typeof HeaderOf.deSerialize !== 'function' || typeof HeaderOf.prototype.serialize !== 'function' || typeof (RtpPacket.prototype as { clone?: unknown }).clone !== 'function') {
  throw new Error("werift's RtpHeader / RtpPacket are not as expected: check werift-rtp-fast-path.ts against the werift version");
}

/** werift's RtpHeader.deSerialize, with bit operations: the same fields, and it throws where werift's does. */
export function deSerializeRtpHeader(raw: Buffer): Header {
  const h = new HeaderOf();
  const b0 = raw[0]!;
  h.version = b0 >> 6;
  h.padding = (b0 & 0x20) !== 0;
  h.extension = (b0 & 0x10) !== 0;
  const cc = b0 & 0x0f;
  h.csrcLength = cc;
  // werift reads past the end here (a RangeError) for a packet shorter than its fixed header and CSRCs.
  if (raw.length < 12 + 4 * cc) raw.readUInt32BE(raw.length);
  const b1 = raw[1]!;
  h.marker = (b1 & 0x80) !== 0;
  h.payloadType = b1 & 0x7f;
  h.sequenceNumber = raw.readUInt16BE(2);
  h.timestamp = raw.readUInt32BE(4);
  h.ssrc = raw.readUInt32BE(8);
  const csrc: number[] = new Array<number>(cc);
  for (let i = 0; i < cc; i++) csrc[i] = raw.readUInt32BE(12 + 4 * i);
  h.csrc = csrc;
  let at = 12 + 4 * cc;
  if (h.extension) {
    h.extensionProfile = raw.readUInt16BE(at);
    at += 2;
    const extensionLength = raw.readUInt16BE(at) * 4;
    h.extensionLength = extensionLength;
    at += 2;
    const extensions: Extension[] = [];
    const end = at + extensionLength;
    if (h.extensionProfile === OneByte) {
      while (at < end) {
        if (raw[at] === 0) {
          at++;
          continue;
        }
        const extId = raw[at]! >> 4;
        const len = (raw[at]! & (raw[at]! ^ 240)) + 1;
        at++;
        if (extId === 15) break;
        extensions.push({ id: extId, payload: raw.subarray(at, at + len) });
        at += len;
      }
    } else if (h.extensionProfile === TwoByte) {
      while (at < end) {
        if (raw[at] === 0) {
          at++;
          continue;
        }
        const extId = raw[at]!;
        at++;
        const len = raw[at]!;
        at++;
        extensions.push({ id: extId, payload: raw.subarray(at, at + len) });
        at += len;
      }
    } else {
      const payload = raw.subarray(at, at + extensionLength);
      extensions.push({ id: 0, payload });
      at += payload.length;
    }
    h.extensions = extensions;
  }
  h.payloadOffset = at;
  if (h.padding) h.paddingSize = raw[raw.length - 1]!;
  return h;
}

/** werift's RtpHeader.prototype.serialize: the same bytes (and, as werift's, `extension` set when there are extensions). */
function serializeRtpHeader(this: Header, size: number): Buffer {
  const buf = Buffer.alloc(size);
  if (this.extensions.length > 0) this.extension = true;
  buf[0] = ((this.version & 3) << 6) | (this.padding ? 0x20 : 0) | (this.extension ? 0x10 : 0) | (this.csrc.length & 0x0f);
  buf[1] = (this.marker ? 0x80 : 0) | (this.payloadType & 0x7f);
  buf.writeUInt16BE(this.sequenceNumber, 2);
  buf.writeUInt32BE(this.timestamp, 4);
  buf.writeUInt32BE(this.ssrc, 8);
  let offset = 12;
  for (const csrc of this.csrc) {
    buf.writeUInt32BE(csrc, offset);
    offset += 4;
  }
  if (this.extension) {
    const extHeaderPos = offset;
    buf.writeUInt16BE(this.extensionProfile, offset);
    offset += 4;
    const start = offset;
    if (this.extensionProfile === OneByte) {
      for (const e of this.extensions) {
        buf.writeUInt8((e.id << 4) | (e.payload.length - 1), offset++);
        e.payload.copy(buf, offset);
        offset += e.payload.length;
      }
    } else if (this.extensionProfile === TwoByte) {
      for (const e of this.extensions) {
        buf.writeUInt8(e.id, offset++);
        buf.writeUInt8(e.payload.length, offset++);
        e.payload.copy(buf, offset);
        offset += e.payload.length;
      }
    } else {
      const extLen = this.extensions[0]!.payload.length;
      if (extLen % 4 !== 0) throw new Error();
      this.extensions[0]!.payload.copy(buf, offset);
      offset += extLen;
    }
    const extSize = offset - start;
    const rounded = Math.trunc((extSize + 3) / 4) * 4;
    buf.writeUInt16BE(Math.trunc(rounded / 4), extHeaderPos + 2);
    for (let i = 0; i < rounded - extSize; i++) buf.writeUInt8(0, offset++);
  }
  this.payloadOffset = offset;
  return buf;
}

function copyHeader(h: Header): Header {
  const c = new HeaderOf();
  c.version = h.version;
  c.padding = h.padding;
  c.paddingSize = h.paddingSize;
  c.extension = h.extension;
  c.marker = h.marker;
  c.payloadOffset = h.payloadOffset;
  c.payloadType = h.payloadType;
  c.sequenceNumber = h.sequenceNumber;
  c.timestamp = h.timestamp;
  c.ssrc = h.ssrc;
  c.csrcLength = h.csrcLength;
  c.csrc = h.csrc;
  c.extensionProfile = h.extensionProfile;
  c.extensionLength = h.extensionLength;
  c.extensions = h.extensions;
  return c;
}

HeaderOf.deSerialize = deSerializeRtpHeader;

const RtcpHeaderOf = RtcpHeader as unknown as { new (props: Record<string, unknown>): RtcpHeader; deSerialize(buf: Buffer): RtcpHeader };
if (typeof RtcpHeaderOf.deSerialize !== 'function') throw new Error("werift's RtcpHeader is not as expected: check werift-rtp-fast-path.ts against the werift version");
/** werift's RtcpHeader.deSerialize with bit operations (a RangeError for fewer than 4 bytes, as werift's). */
export function deSerializeRtcpHeader(buf: Buffer): RtcpHeader {
  const first = buf.readUInt8(0);
  const type = buf.readUInt8(1);
  const length = buf.readUInt16BE(2);
  return new RtcpHeaderOf({ version: first >> 6, padding: (first & 0x20) !== 0, count: first & 0x1f, type, length });
}
RtcpHeaderOf.deSerialize = deSerializeRtcpHeader;
HeaderOf.prototype.serialize = serializeRtpHeader;
(RtpPacket.prototype as unknown as { clone(this: { header: Header; payload: Buffer }): RtpPacket }).clone = function clone() {
  return new RtpPacket(copyHeader(this.header) as unknown as RtpHeader, this.payload);
};

// The sender.
interface Sender {
  stopped: boolean;
  pendingRtpEnabled: boolean;
  rtpContinuityPending: boolean;
  redRedundantPayloadType?: number;
  headerExtensions: unknown[];
  codec?: { payloadType: number };
  ssrc: number;
  timestampOffset: number;
  seqOffset: number;
  timestamp: number;
  sequenceNumber: number;
  ntpTimestamp: bigint;
  rtpTimestamp: number;
  octetCount: number;
  headerBytesSent: number;
  packetCount: number;
  rtpCache: RtpPacket[];
  dtlsTransport: { sendRtp(payload: Buffer, header: unknown): Promise<number> };
  canSendRtp(): boolean;
  runRtcp(): Promise<void>;
  sendRtp(rtp: RtpPacket): Promise<void>;
  dispatchRtp(rtp: RtpPacket | Buffer): Promise<void> | undefined;
}

const senderProto = RTCRtpSender.prototype as unknown as Sender;
const weriftDispatch = senderProto.dispatchRtp;
if (typeof weriftDispatch !== 'function' || typeof senderProto.canSendRtp !== 'function' || typeof senderProto.runRtcp !== 'function') {
  throw new Error("werift's RTCRtpSender is not as expected: check werift-rtp-fast-path.ts against the werift version");
}
/** werift's send history (RTP_HISTORY_SIZE): the packets a NACK can ask for again. */
const historySize = 128;
const ntpEpochMs = -Date.UTC(1900, 0, 1);
const timeOrigin = performance.timeOrigin + ntpEpochMs;

/** Now as a 64-bit NTP timestamp (seconds since 1900, 32-bit fraction). */
export function ntpNow(): bigint {
  const ms = timeOrigin + performance.now();
  const seconds = Math.floor(ms / 1000);
  const fraction = Math.floor(((ms - seconds * 1000) / 1000) * 0x100000000);
  return (BigInt(seconds) << 32n) | BigInt(fraction >>> 0);
}

senderProto.dispatchRtp = function dispatchRtp(this: Sender, rtp: RtpPacket | Buffer): Promise<void> | undefined {
  if (Buffer.isBuffer(rtp) || this.rtpContinuityPending || this.redRedundantPayloadType || this.headerExtensions.length > 0) return weriftDispatch.call(this, rtp);
  const source = rtp.header as unknown as Header;
  if (source.extension || source.extensions.length > 0) return weriftDispatch.call(this, rtp);
  const codec = this.codec;
  if (!codec || !this.canSendRtp()) return undefined;
  const header = copyHeader(source);
  header.extensions = [];
  header.ssrc = this.ssrc;
  header.payloadType = codec.payloadType;
  header.timestamp = (source.timestamp + this.timestampOffset) >>> 0;
  header.sequenceNumber = (source.sequenceNumber + this.seqOffset) & 0xffff;
  this.timestamp = header.timestamp;
  this.sequenceNumber = header.sequenceNumber;
  const packet = new RtpPacket(header as unknown as RtpHeader, rtp.payload);
  this.ntpTimestamp = ntpNow();
  this.rtpTimestamp = header.timestamp;
  this.octetCount += rtp.payload.length;
  this.headerBytesSent += 12 + 4 * header.csrc.length;
  this.packetCount = (this.packetCount + 1) >>> 0;
  this.rtpCache[header.sequenceNumber % historySize] = packet;
  // werift's transport catches its own send errors (and answers 0).
  void this.dtlsTransport.sendRtp(rtp.payload, header);
  void this.runRtcp();
  return undefined;
};

// The receiver.
interface ReceiverFeedback {
  nack: unknown;
  twcc: unknown;
}
const receiverProto = RTCRtpReceiver.prototype as unknown as { prepareReceive(params: unknown): unknown };
const getterOf = (name: string) => Object.getOwnPropertyDescriptor(receiverProto, name)?.get;
const weriftNackEnabled = getterOf('nackEnabled');
const weriftTwccEnabled = getterOf('twccEnabled');
const weriftPrepareReceive = receiverProto.prepareReceive;
if (!weriftNackEnabled || !weriftTwccEnabled || typeof weriftPrepareReceive !== 'function') {
  throw new Error("werift's RTCRtpReceiver is not as expected: check werift-rtp-fast-path.ts against the werift version");
}
const feedbackOf = new WeakMap<object, ReceiverFeedback>();
function receiverFeedback(receiver: object): ReceiverFeedback {
  let f = feedbackOf.get(receiver);
  if (!f) {
    f = { nack: weriftNackEnabled!.call(receiver), twcc: weriftTwccEnabled!.call(receiver) };
    feedbackOf.set(receiver, f);
  }
  return f;
}
receiverProto.prepareReceive = function prepareReceive(this: object, params: unknown) {
  feedbackOf.delete(this);
  return weriftPrepareReceive.call(this, params);
};
Object.defineProperty(receiverProto, 'nackEnabled', {
  configurable: true,
  get(this: object) {
    return receiverFeedback(this).nack;
  },
});
Object.defineProperty(receiverProto, 'twccEnabled', {
  configurable: true,
  get(this: object) {
    return receiverFeedback(this).twcc;
  },
});

const ignore = () => undefined;

/** Sends `rtp` on `sender` now (dropped if it cannot send yet), without sendRtp's promises. */
export function forwardRtp(sender: RTCRtpSender, rtp: RtpPacket): void {
  const s = sender as unknown as Sender;
  if (s.stopped) return;
  if (s.pendingRtpEnabled) {
    s.sendRtp(rtp).catch(ignore);
    return;
  }
  s.dispatchRtp(rtp)?.catch(ignore);
}

// werift's events (its Event class) start an async function on every execute, to run subscribers queued with
// queuingSubscribe, even when there are none: a promise and a microtask per event per packet, and a received
// packet passes four (the socket's protocol, the ICE connection, the DTLS transport, the track). The events of
// the media path get an execute that does the same and starts that async function only when something is queued.
interface WeriftEvent {
  ended: boolean;
  event: { stack: { execute(...args: unknown[]): unknown }[]; promiseStack: { execute(...args: unknown[]): unknown }[] };
  onerror(err: unknown): void;
  execute(...args: unknown[]): void;
}
const lightened = new WeakSet<object>();

/** Gives werift's event `ev` the execute described above (once; anything else is left alone). */
export function lightenEvent(ev: unknown): void {
  const e = ev as WeriftEvent;
  if (!e || typeof e !== 'object' || lightened.has(e) || typeof e.execute !== 'function' || !Array.isArray(e.event?.stack) || !Array.isArray(e.event?.promiseStack)) return;
  lightened.add(e);
  e.execute = (...args: unknown[]) => {
    if (e.ended) return;
    for (const item of e.event.stack) item.execute(...args);
    if (e.event.promiseStack.length === 0) return;
    void (async () => {
      for (const item of e.event.promiseStack) await item.execute(...args);
    })().catch((err: unknown) => e.onerror(err));
  };
}

interface PeerInternals {
  getTransceivers(): { receiver: { dtlsTransport?: DtlsInternals }; sender: { dtlsTransport?: DtlsInternals } }[];
}
interface DtlsInternals {
  onRtp?: unknown;
  onRtcp?: unknown;
  iceTransport?: { connection?: { onData?: unknown; protocols?: { onDataReceived?: unknown }[] } };
}

/** The events every packet of `pc` passes (its sockets' protocols, ICE connection, DTLS transports) lightened. */
export function lightenPeerEvents(pc: unknown): void {
  for (const t of (pc as PeerInternals).getTransceivers()) {
    for (const dtls of [t.receiver.dtlsTransport, t.sender.dtlsTransport]) {
      if (!dtls) continue;
      lightenEvent(dtls.onRtp);
      lightenEvent(dtls.onRtcp);
      const connection = dtls.iceTransport?.connection;
      lightenEvent(connection?.onData);
      for (const protocol of connection?.protocols ?? []) lightenEvent(protocol.onDataReceived);
    }
  }
}
