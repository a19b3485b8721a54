// A warm transfer's consultation (PH-4): while the customer holds, the target agent's devices ring; once
// one answers, the two agents talk (their legs bridged, not recorded). The session completes it (the
// customer is bridged to the target, who keeps this ring) or cancels it (the target's leg hangs up).
import type { Bridge, RtpLeg } from '../../../adapters/media/media-port.ts';
import type { AgentDevice as DeviceKind, ConsultEnd } from '../../../domain/contact/contact.ts';
import type { CallDeps } from '../call-deps.ts';
import { AgentRing } from './ring-agent.ts';

export interface ConsultEvents {
  /** The target picked up; `consult.device` says on what. */
  answered(): void;
  /** It did not come about: no answer by the deadline, or every device refused. */
  failed(reason: ConsultEnd): void;
  /** The target hung up after answering. */
  hungUp(cause?: 'lost'): void;
}

export class ConsultCall {
  readonly consultId: string;
  readonly toAgentId: string;
  private readonly deps: CallDeps;
  private ring: AgentRing | null = null;
  private bridge: Bridge | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** The device that rang first (what the call record shows for the leg). */
  device: { kind: DeviceKind; label: string } = { kind: 'SIP_PHONE', label: '' };

  private constructor(deps: CallDeps, consultId: string, toAgentId: string) {
    this.deps = deps;
    this.consultId = consultId;
    this.toAgentId = toAgentId;
  }

  /** Rings the target; null (nothing rings) when they have no device to take it on. */
  static async start(
    deps: CallDeps,
    o: { instanceId: string; contactId: string; consultId: string; toAgentId: string; expiresAt: string; callerId: string; callerName: string | null },
    events: ConsultEvents,
  ): Promise<ConsultCall | null> {
    const consult = new ConsultCall(deps, o.consultId, o.toAgentId);
    const ring = await AgentRing.start(
      deps,
      { agentId: o.toAgentId, offerId: o.consultId, contactId: o.contactId, instanceId: o.instanceId, callerId: o.callerId, callerName: o.callerName },
      {
        ringing: (device) => (consult.device = device),
        answered: () => {
          consult.clearTimer();
          events.answered();
        },
        failed: () => {
          consult.clearTimer();
          events.failed('DECLINED');
        },
        hungUp: (cause) => events.hungUp(cause),
      },
    );
    if (!ring) return null;
    consult.ring = ring;
    const wait = Math.max(0, Date.parse(o.expiresAt) - deps.clock().getTime());
    consult.timer = setTimeout(() => {
      if (!ring.answered && !consult.stopped) events.failed('NO_ANSWER');
    }, wait);
    consult.timer.unref();
    return consult;
  }

  get answered(): boolean {
    return this.ring?.answered ?? false;
  }

  /** Bridges the consulting agent's leg to the target's (the customer's bridge is paused meanwhile). */
  connect(agentLeg: RtpLeg): void {
    if (!this.ring || this.bridge || this.stopped) return;
    this.bridge = this.deps.media.bridge(agentLeg, this.ring.leg);
  }

  /** Completion: the agents' bridge goes, and the target's ring (with its media leg) is handed to the caller. */
  async handOver(): Promise<AgentRing | null> {
    this.stopped = true;
    this.clearTimer();
    await this.bridge?.stop();
    this.bridge = null;
    return this.ring;
  }

  /** Cancellation: the agents' bridge goes and the target's devices stop ringing or hang up. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.clearTimer();
    await this.bridge?.stop();
    this.bridge = null;
    await this.ring?.stop();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
