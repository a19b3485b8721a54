// One outbound call (PH-2), CCC's two-leg callout: the agent's devices ring first (softphone, SIP phone or
// mobile); when the agent picks up, the customer is dialled through the instance's outbound trunk with the
// chosen caller number; on the customer's answer both are bridged and recorded; either hanging up ends it.
// The contact (created by the API, already the agent's) carries each step as an event, so the call record,
// the agent's workload and after-call work follow from the events as for inbound calls.
import type { ContactEvent } from '../../domain/contact/contact.ts';
import type { ContactCommand } from '../../domain/contact/contact.decide.ts';
import type { CommandMetadata } from '../../domain/decider.ts';
import type { EndedBy } from '../../domain/contact/contact.ts';
import type { RecordedEvent } from '../../domain/ports/event-store.ts';
import { streams } from '../../domain/streams.ts';
import { failedCallEndStatus } from '../../domain/telephony/outbound-rules.ts';
import type { CallDeps } from './call-deps.ts';
import { sipCommandMetadata, tryContactCommand } from './contact-command.ts';
import type { SipDialer } from './devices/sip-phone-device.ts';
import { RecordedBridge } from './tasks/bridge-call.ts';
import { recordLegMedia } from './tasks/call-media.ts';
import { CustomerDial } from './tasks/dial-customer.ts';
import { AgentRing } from './tasks/ring-agent.ts';

export interface OutboundCallRequest {
  instanceId: string;
  contactId: string;
  agentId: string;
  /** The caller number shown to the customer (an outbound number of the instance). */
  from: string;
  /** The customer's number. */
  to: string;
  /** Where the trunk takes the call: sip:<to>@<gateway>. */
  requestUri: string;
  /** How long the agent's devices ring before the call is given up (agentNotAnswered). */
  agentRingSeconds: number;
  /** How long the customer's phone rings before the call is given up (notAnswered). */
  customerNoAnswerSeconds: number;
}

type Phase = 'ringingAgent' | 'dialling' | 'talking' | 'ended';

export class OutboundCallSession {
  private readonly deps: CallDeps;
  private readonly sip: SipDialer;
  readonly request: OutboundCallRequest;
  private readonly stream: string;
  private phase: Phase = 'ringingAgent';
  private ring: AgentRing | null = null;
  private customer: CustomerDial | null = null;
  private bridge: RecordedBridge | null = null;
  private agentTimer: NodeJS.Timeout | null = null;
  private unwatch: () => void = () => undefined;
  private finished: Promise<void> | null = null;
  /** Steps run one at a time, in order. */
  private line: Promise<void> = Promise.resolve();
  private markDone: () => void = () => undefined;
  /** Resolves when the call has ended and everything is freed. */
  readonly done: Promise<void> = new Promise((resolve) => (this.markDone = resolve));

  constructor(deps: CallDeps, sip: SipDialer, request: OutboundCallRequest) {
    this.deps = deps;
    this.sip = sip;
    this.request = request;
    this.stream = streams.contact(request.instanceId, request.contactId);
  }

  get contactId(): string {
    return this.request.contactId;
  }

  private metadata = (): CommandMetadata => sipCommandMetadata(this.deps, this.request.instanceId, this.request.contactId);

  private command(command: ContactCommand): Promise<boolean> {
    return tryContactCommand(this.deps, this.stream, command);
  }

  private enqueue(job: () => Promise<void>): void {
    this.line = this.line.then(job).catch(async (err: unknown) => {
      this.deps.logger.error({ err, contactId: this.contactId }, 'outbound call session failed');
      await this.systemHangup('systemError').catch(() => undefined);
    });
  }

  async run(): Promise<void> {
    const r = this.request;
    const data = { contactId: r.contactId };
    this.unwatch = this.deps.watch.watch(this.stream, (e) => this.enqueue(() => this.onContactEvent(e)));
    const ring = await AgentRing.start(
      this.deps,
      // The agent's device shows the number being called.
      { agentId: r.agentId, offerId: r.contactId, callerId: r.to, callerName: null, contactId: r.contactId, instanceId: r.instanceId },
      {
        ringing: (device) =>
          this.enqueue(async () => {
            await this.command({ type: 'RingAgentLeg', data: { ...data, offerId: r.contactId, agentId: r.agentId, device: device.kind, address: device.label }, metadata: this.metadata() });
          }),
        answered: () => this.enqueue(() => this.agentAnswered()),
        failed: (status) => this.enqueue(() => this.end(status === 486 || status === 600 || status === 603 ? 'agentBusy' : 'agentNotAnswered', 'SYSTEM')),
        hungUp: () => this.enqueue(() => this.agentHungUp()),
      },
    );
    if (!ring) {
      this.deps.logger.info({ agentId: r.agentId, contactId: r.contactId }, 'agent has no device for an outbound call');
      this.enqueue(() => this.end('agentUnreachable', 'SYSTEM'));
      return;
    }
    this.ring = ring;
    if (this.phase === 'ended') {
      await ring.stop();
      return;
    }
    this.agentTimer = setTimeout(() => this.enqueue(async () => (this.phase === 'ringingAgent' ? this.end('agentNotAnswered', 'SYSTEM') : undefined)), r.agentRingSeconds * 1000);
    this.agentTimer.unref();
  }

  private async agentAnswered(): Promise<void> {
    if (this.phase !== 'ringingAgent') return;
    const r = this.request;
    if (!(await this.command({ type: 'AnswerAgentLeg', data: { contactId: r.contactId, agentId: r.agentId }, metadata: this.metadata() }))) {
      return this.systemHangup('systemError');
    }
    this.phase = 'dialling';
    if (this.agentTimer) clearTimeout(this.agentTimer);
    this.customer = await CustomerDial.start(
      { media: this.deps.media, sip: this.sip, requestUri: r.requestUri, from: r.from, noAnswerSeconds: r.customerNoAnswerSeconds, group: r.contactId },
      {
        answered: () => this.enqueue(() => this.customerAnswered()),
        failed: (status, reason) => this.enqueue(() => this.customerFailed(status, reason)),
        hungUp: () => this.enqueue(() => this.customerHungUp()),
      },
    );
    if (this.phase !== 'dialling') {
      // Ended while the INVITE was being set up.
      await this.customer.stop();
      return;
    }
    await this.command({ type: 'DialCustomer', data: { contactId: r.contactId, callId: this.customer.callId }, metadata: this.metadata() });
  }

  private async customerAnswered(): Promise<void> {
    if (this.phase !== 'dialling' || !this.customer || !this.ring) return;
    const r = this.request;
    this.phase = 'talking';
    await this.command({ type: 'AnswerCustomerLeg', data: { contactId: r.contactId }, metadata: this.metadata() });
    this.bridge = await RecordedBridge.start(this.deps, {
      instanceId: r.instanceId,
      contactId: r.contactId,
      agentId: r.agentId,
      customer: this.customer.leg,
      agent: this.ring.leg,
      metadata: this.metadata,
    });
  }

  private async customerFailed(status: number, reason: string): Promise<void> {
    if (this.phase !== 'dialling') return;
    this.deps.logger.info({ contactId: this.contactId, status, reason }, 'outbound call not answered');
    const endStatus = failedCallEndStatus(status);
    await this.end(endStatus, endStatus === 'busy' || endStatus === 'declined' ? 'CUSTOMER' : 'SYSTEM');
  }

  private async customerHungUp(): Promise<void> {
    if (this.phase === 'talking') await this.end('ok', 'CUSTOMER');
  }

  private async agentHungUp(): Promise<void> {
    if (this.phase === 'talking') await this.end('ok', 'AGENT');
    // The agent gave up while the customer's phone rang.
    else if (this.phase === 'dialling') await this.end('notAnswered', 'AGENT');
  }

  private async end(reason: string, endedBy: EndedBy): Promise<void> {
    if (this.phase === 'ended') return;
    this.phase = 'ended';
    const agentId = endedBy === 'AGENT' ? this.request.agentId : null;
    await this.command({ type: 'EndContact', data: { contactId: this.contactId, reason, endedBy, agentId }, metadata: this.metadata() });
    await this.finish();
  }

  private async onContactEvent(e: RecordedEvent): Promise<void> {
    const event = { type: e.type, data: e.data } as ContactEvent;
    // Ended elsewhere (the API's endContact, a restart's clean-up): hang up both sides.
    if ((event.type === 'ContactEnded' || event.type === 'ContactRejected') && this.phase !== 'ended') {
      this.phase = 'ended';
      await this.finish();
    }
  }

  /** Kefu ends the call: an error, or shutdown. */
  async systemHangup(reason: string): Promise<void> {
    await this.end(reason, 'SYSTEM');
    await this.finish();
  }

  /** Frees everything the call holds; the recording is completed. Runs once. */
  finish(): Promise<void> {
    this.finished ??= (async () => {
      this.phase = 'ended';
      if (this.agentTimer) clearTimeout(this.agentTimer);
      this.unwatch();
      await this.bridge?.stop();
      await this.customer?.stop();
      await this.ring?.stop();
      if (this.bridge && this.customer && this.ring) {
        // Both legs were connected and are closed now: their figures are final.
        const call = { instanceId: this.request.instanceId, contactId: this.contactId, metadata: this.metadata };
        await recordLegMedia(this.deps, call, 'AGENT', this.request.agentId, this.ring.leg);
        await recordLegMedia(this.deps, call, 'CUSTOMER', null, this.customer.leg);
      }
      this.markDone();
    })();
    return this.finished;
  }
}
