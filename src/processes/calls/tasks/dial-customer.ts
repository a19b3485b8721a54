// Dials the customer of an outbound call through the trunk (PH-2): an RTP leg of our own, an INVITE to the
// trunk's gateway with the chosen caller number in From, and a no-answer limit. The session decides what
// an answer, a failure or a hang-up means for the contact.
import type { MediaEngine } from '../../../adapters/media/media-port.ts';
import { buildOfferSdp } from '../../../adapters/media/sdp.ts';
import type { DeviceCall } from '../devices/agent-device.ts';
import { dialledCall, type SipDialer } from '../devices/sip-phone-device.ts';

export interface CustomerDialEvents {
  answered(): void;
  /** Refused, unreachable, or no answer within the limit (408). */
  failed(status: number, reason: string): void;
  /** The customer hung up after answering. */
  hungUp(): void;
}

export class CustomerDial {
  readonly callId: string;
  private readonly call: DeviceCall;
  private timer: NodeJS.Timeout | null;

  private constructor(callId: string, call: DeviceCall, timer: NodeJS.Timeout | null) {
    this.callId = callId;
    this.call = call;
    this.timer = timer;
  }

  static async start(
    o: { media: MediaEngine; sip: SipDialer; requestUri: string; from: string; noAnswerSeconds: number; /** The contact id: the leg shares the agent leg's media thread. */ group: string },
    events: CustomerDialEvents,
  ): Promise<CustomerDial> {
    const leg = await o.media.openLeg(`customer ${o.requestUri}`, { group: o.group });
    const sip = o.sip.call({ uri: o.requestUri }, { from: o.from, sdp: buildOfferSdp({ address: leg.local.address, port: leg.local.port }) });
    let dial: CustomerDial | null = null;
    let answered = false;
    const call = dialledCall(sip, leg, {
      ringing: () => undefined,
      answered: () => {
        answered = true;
        dial?.clearTimer();
        events.answered();
      },
      failed: (status, reason) => {
        dial?.clearTimer();
        events.failed(status, reason);
      },
      ended: () => events.hungUp(),
    });
    const timer = setTimeout(() => {
      if (answered) return;
      call.cancel();
      events.failed(408, 'No Answer');
    }, o.noAnswerSeconds * 1000);
    timer.unref();
    dial = new CustomerDial(sip.callId, call, timer);
    return dial;
  }

  /** The customer's media, once answered. */
  get leg() {
    return this.call.leg;
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Cancels the ringing or hangs up; frees the leg. */
  async stop(): Promise<void> {
    this.clearTimer();
    this.call.cancel();
    await this.call.hangup();
  }
}
