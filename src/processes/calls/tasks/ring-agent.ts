// Rings one agent's devices for one offer: every device at once (phones, the browser softphone, a mobile),
// the first to answer wins and the others stop ringing. The session decides what an answer or a failure
// means for the contact.
import type { RtpLeg } from '../../../adapters/media/media-port.ts';
import type { AgentDevice as DeviceKind } from '../../../domain/contact/contact.ts';
import type { CallDeps } from '../call-deps.ts';
import type { DeviceCall, RingRequest, TransferRequest } from '../devices/agent-device.ts';

export interface RingEvents {
  /** The first device rang. */
  ringing(device: { kind: DeviceKind; label: string }): void;
  /** A device answered; the ring's `leg` is its media. */
  answered(): void;
  /** Every device failed (busy, declined, unreachable); `status` of the last one. */
  failed(status: number, reason: string): void;
  /** The agent hung up after answering; 'lost' when their device vanished. */
  hungUp(cause?: 'lost'): void;
  /** The answering device asks to transfer the call (SIP REFER). */
  transferRequested?(request: TransferRequest): void;
}

export class AgentRing {
  readonly agentId: string;
  readonly offerId: string;
  private readonly calls: DeviceCall[] = [];
  private answeredCall: DeviceCall | null = null;
  private finished = false;

  private constructor(agentId: string, offerId: string) {
    this.agentId = agentId;
    this.offerId = offerId;
  }

  /** Returns null (and rings nothing) when the agent has no device to take the call on. */
  static async start(deps: CallDeps, o: RingRequest & { agentId: string; offerId: string }, events: RingEvents): Promise<AgentRing | null> {
    const devices = await deps.devices.devicesOf(o.instanceId, o.agentId);
    if (devices.length === 0) return null;
    const ring = new AgentRing(o.agentId, o.offerId);
    let failures = 0;
    let rang = false;
    for (const device of devices) {
      let call: DeviceCall | null = null;
      const failed = (status: number, reason: string) => {
        failures++;
        if (failures === devices.length && !ring.answeredCall && !ring.finished) events.failed(status, reason);
      };
      try {
        call = await device.ring(o, {
          ringing: () => {
            if (rang || ring.finished) return;
            rang = true;
            events.ringing(device);
          },
          answered: () => {
            if (!call) return;
            if (ring.finished || ring.answeredCall) {
              void call.hangup();
              return;
            }
            ring.answeredCall = call;
            for (const other of ring.calls) if (other !== call) other.cancel();
            events.answered();
          },
          failed,
          ended: (cause) => {
            if (call === ring.answeredCall && !ring.finished) events.hungUp(cause);
          },
          transferRequested: (request) => {
            if (call === ring.answeredCall && !ring.finished && events.transferRequested) events.transferRequested(request);
            else request.reject(403, 'Transfer Not Allowed');
          },
        });
      } catch (err) {
        deps.logger.warn({ err, agentId: o.agentId, device: device.label }, 'could not ring a device');
        failed(503, 'device unreachable');
        continue;
      }
      ring.calls.push(call);
    }
    return ring;
  }

  /** Tells the answering device the call is on hold, or resumed. */
  held(on: boolean): void {
    this.answeredCall?.held?.(on);
  }

  get answered(): boolean {
    return this.answeredCall !== null;
  }

  /** The answering device's media leg. */
  get leg(): RtpLeg {
    if (!this.answeredCall) throw new Error(`agent ${this.agentId} has not answered`);
    return this.answeredCall.leg;
  }

  /** Stops ringing or hangs up, and frees the devices' media legs. */
  async stop(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    for (const c of this.calls) {
      if (c === this.answeredCall) await c.hangup();
      else {
        c.cancel();
        await c.hangup();
      }
    }
  }
}
