// The outbound calls this SIP node places (PH-2). The API of the same process starts them once the contact
// and the agent's hold on their phone line are in the event store; each call then runs here and reports
// through contact events. A call belongs to the node that started it (its CallInfo.node): if this node
// dies, its next start ends the call (systemError) like any call it held, which frees the agent.
import type { CallDeps } from './call-deps.ts';
import type { SipDialer } from './devices/sip-phone-device.ts';
import { OutboundCallSession, type OutboundCallRequest } from './outbound-call-session.ts';

/** What the API needs to place calls: the node's name, whether the agent can be rung, and the start. */
export interface OutboundCallStarter {
  readonly node: string;
  /** True when the agent has a device to ring here (a registered phone, a mobile through the trunk, …). */
  canReach(instanceId: string, agentId: string): Promise<boolean>;
  /** Starts the call in the background; its progress shows in the contact's events. */
  start(request: OutboundCallRequest): void;
}

export class OutboundCalls implements OutboundCallStarter {
  private readonly deps: CallDeps;
  private readonly sip: () => SipDialer;
  private readonly sessions = new Set<OutboundCallSession>();
  private stopping = false;

  constructor(deps: CallDeps, sip: () => SipDialer) {
    this.deps = deps;
    this.sip = sip;
  }

  get node(): string {
    return this.deps.node;
  }

  get activeCalls(): number {
    return this.sessions.size;
  }

  async canReach(instanceId: string, agentId: string): Promise<boolean> {
    return (await this.deps.devices.devicesOf(instanceId, agentId)).length > 0;
  }

  start(request: OutboundCallRequest): void {
    const session = new OutboundCallSession(this.deps, this.sip(), request);
    if (this.stopping) {
      void session.systemHangup('systemError');
      return;
    }
    this.sessions.add(session);
    session
      .run()
      .catch(async (err: unknown) => {
        this.deps.logger.error({ err, contactId: request.contactId }, 'outbound call failed');
        await session.systemHangup('systemError').catch(() => undefined);
      })
      .then(() => session.done)
      .finally(() => this.sessions.delete(session));
  }

  /** Hangs up every call (systemError). */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all([...this.sessions].map((s) => s.systemHangup('systemError').catch(() => undefined)));
  }
}
