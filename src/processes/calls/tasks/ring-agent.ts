// Rings one agent's registered phones for one offer: every device at once, the first to answer wins and the
// others are cancelled. The session decides what an answer or a failure means for the contact.
import type { RtpLeg } from '../../../adapters/media/media-port.ts';
import { buildOfferSdp } from '../../../adapters/media/sdp.ts';
import type { OutboundCall } from '../../../adapters/sip/outbound-call.ts';
import type { CallDeps } from '../call-deps.ts';

export interface RingEvents {
  /** The first device rang (180/183). */
  ringing(address: string): void;
  /** A device answered; the leg's remote is not set yet. */
  answered(call: OutboundCall, sdp: string): void;
  /** Every device failed (busy, declined, unreachable); `status` of the last one. */
  failed(status: number, reason: string): void;
  /** The agent hung up after answering. */
  hungUp(): void;
}

export class AgentRing {
  readonly agentId: string;
  readonly offerId: string;
  readonly leg: RtpLeg;
  private readonly devices: OutboundCall[] = [];
  private answeredCall: OutboundCall | null = null;
  private finished = false;

  private constructor(agentId: string, offerId: string, leg: RtpLeg) {
    this.agentId = agentId;
    this.offerId = offerId;
    this.leg = leg;
  }

  /** Returns null (and rings nothing) when the agent has no registered phone. */
  static async start(
    deps: CallDeps,
    o: { agentId: string; offerId: string; callerId: string; callerName: string | null; contactId: string },
    events: RingEvents,
  ): Promise<AgentRing | null> {
    const devices = deps.phones.devicesOf(o.agentId);
    if (devices.length === 0) return null;
    const leg = await deps.media.openLeg(`agent ${o.agentId}`);
    const ring = new AgentRing(o.agentId, o.offerId, leg);
    const sdp = buildOfferSdp({ address: leg.local.address, port: leg.local.port });
    let failures = 0;
    let rang = false;
    for (const device of devices) {
      const call = deps.phones.call(
        { uri: device.contactUri, via: device.via },
        { from: o.callerId, ...(o.callerName ? { fromName: o.callerName } : {}), sdp, headers: { 'X-Kefu-Contact-Id': o.contactId } },
      );
      ring.devices.push(call);
      call.on('ringing', () => {
        if (rang || ring.finished) return;
        rang = true;
        events.ringing(device.label);
      });
      call.on('answered', (answerSdp) => {
        if (ring.finished || ring.answeredCall) {
          void call.hangup().catch(() => undefined);
          return;
        }
        ring.answeredCall = call;
        for (const other of ring.devices) if (other !== call) other.cancel();
        events.answered(call, answerSdp);
      });
      call.on('failed', (status, reason) => {
        failures++;
        if (failures === devices.length && !ring.answeredCall && !ring.finished) events.failed(status, reason);
      });
      call.on('ended', (by) => {
        if (call === ring.answeredCall && by === 'remote' && !ring.finished) events.hungUp();
      });
    }
    return ring;
  }

  get answered(): boolean {
    return this.answeredCall !== null;
  }

  /** Stops ringing or hangs up, and frees the agent's media leg. */
  async stop(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    const answered = this.answeredCall;
    for (const d of this.devices) {
      if (d === answered) await d.hangup().catch(() => undefined);
      else d.cancel();
    }
    await this.leg.close();
  }
}
