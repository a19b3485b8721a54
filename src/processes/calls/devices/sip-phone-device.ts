// An agent's registered SIP phone: Kefu INVITEs it with its own RTP leg's SDP and points the leg at the
// phone's answer.
import type { MediaEngine } from '../../../adapters/media/media-port.ts';
import { buildOfferSdp, negotiate, parseSdp, SdpError } from '../../../adapters/media/sdp.ts';
import type { OutboundCall } from '../../../adapters/sip/outbound-call.ts';
import type { CallTarget, CallOptions } from '../../../adapters/sip/sip-server.ts';
import type { AgentDevice, DeviceCall, DeviceEvents, RingRequest } from './agent-device.ts';

export interface SipDialer {
  call(target: CallTarget, options: CallOptions): OutboundCall;
}

export class SipPhoneDevice implements AgentDevice {
  readonly kind = 'SIP_PHONE' as const;
  readonly label: string;
  private readonly target: CallTarget;
  private readonly media: MediaEngine;
  private readonly sip: SipDialer;

  constructor(o: { target: CallTarget; label: string; media: MediaEngine; sip: SipDialer }) {
    this.target = o.target;
    this.label = o.label;
    this.media = o.media;
    this.sip = o.sip;
  }

  async ring(request: RingRequest, events: DeviceEvents): Promise<DeviceCall> {
    const leg = await this.media.openLeg(`sip phone ${this.label}`, { group: request.contactId });
    const sdp = buildOfferSdp({ address: leg.local.address, port: leg.local.port });
    const call = this.sip.call(this.target, {
      from: request.callerId,
      ...(request.callerName ? { fromName: request.callerName } : {}),
      sdp,
      headers: { 'X-Kefu-Contact-Id': request.contactId },
    });
    return dialledCall(call, leg, events);
  }
}

/** A SIP call placed by Kefu (to a phone, or through a trunk) as a device call: the leg follows the answer's SDP. */
export function dialledCall(call: OutboundCall, leg: DeviceCall['leg'], events: DeviceEvents): DeviceCall {
  let done = false;
  let answered = false;
  const finish = async () => {
    if (done) return;
    done = true;
    await leg.close();
  };
  call.on('ringing', () => {
    if (!done) events.ringing();
  });
  call.on('answered', (answerSdp) => {
    if (done) return;
    try {
      const description = parseSdp(answerSdp);
      const chosen = negotiate(description);
      // The phone may send any G.711 law its answer lists; the first is the one we send.
      leg.setRemote({ address: description.address, port: description.port }, chosen.codec, chosen.payloadType, chosen.dtmfPayloadType, chosen.formats.slice(1));
    } catch (err) {
      if (!(err instanceof SdpError)) throw err;
      void call.hangup().catch(() => undefined);
      void finish();
      events.failed(488, `unusable SDP in the answer: ${err.message}`);
      return;
    }
    answered = true;
    events.answered();
  });
  call.on('failed', (status, reason) => {
    if (done) return;
    void finish();
    events.failed(status, reason);
  });
  const onTransfer = events.transferRequested;
  if (onTransfer) {
    call.on('refer', (refer) => {
      if (done) return refer.reject(481, 'Call/Transaction Does Not Exist');
      onTransfer({
        target: refer.targetUser ?? '',
        accept: () => refer.accept(),
        reject: (status, reason) => refer.reject(status, reason),
        succeeded: () => refer.succeeded(),
        failed: (status, reason) => refer.failed(status, reason),
      });
    });
  }
  call.on('ended', (by) => {
    if (done) return;
    void finish();
    if (answered && by === 'remote') events.ended();
  });
  return {
    leg,
    cancel() {
      if (done) return;
      call.cancel();
      void finish();
    },
    async hangup() {
      if (done) return;
      await call.hangup().catch(() => undefined);
      await finish();
    },
  };
}
