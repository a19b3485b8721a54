// One inbound phone call (PH-1, PH-6, PH-7, PH-9, PH-10, PH-12): trunk → blacklist → contact → IVR → queue
// with hold music → the router's offers ring agents' phones → answer → bridged and recorded → hang-up.
// The session turns SIP and media into contact commands and follows the contact's events; it never chooses
// an agent (the router does) and never times an offer out (the router's durable timers do).
import { randomUUID } from 'node:crypto';
import type { RtpLeg } from '../../adapters/media/media-port.ts';
import { buildSdp, negotiate, parseSdp, SdpError } from '../../adapters/media/sdp.ts';
import type { InboundCall } from '../../adapters/sip/inbound-call.ts';
import type { ConsultEnd, ContactEvent } from '../../domain/contact/contact.ts';
import { contactDecider, type ContactCommand } from '../../domain/contact/contact.decide.ts';
import type { CommandMetadata } from '../../domain/decider.ts';
import type { RecordedEvent } from '../../domain/ports/event-store.ts';
import { streams } from '../../domain/streams.ts';
import type { CallDeps } from './call-deps.ts';
import { sipCommandMetadata, tryContactCommand } from './contact-command.ts';
import { RecordedBridge } from './tasks/bridge-call.ts';
import { recordLegMedia } from './tasks/call-media.ts';
import { AgentRing } from './tasks/ring-agent.ts';
import type { TransferRequest } from './devices/agent-device.ts';
import { holdCustomer, resumeCustomer } from './tasks/hold-call.ts';
import { ConsultCall } from './tasks/warm-transfer.ts';
import { runIvr } from './tasks/run-ivr.ts';
import { runKeypadSurvey } from './tasks/keypad-survey.ts';

type Phase = 'starting' | 'ivr' | 'queued' | 'talking' | 'ended';

/** Why a contact ended, in the words CCC users know, by where the caller was when they hung up. */
const giveUpReason: Record<Phase, string> = {
  starting: 'ivrGiveUp',
  ivr: 'ivrGiveUp',
  queued: 'waitingGiveUp',
  talking: 'ok',
  ended: 'ok',
};

export class InboundCallSession {
  readonly contactId = randomUUID();
  private readonly deps: CallDeps;
  private readonly call: InboundCall;
  private readonly stream: string;
  private readonly gone = new AbortController();
  private phase: Phase = 'starting';
  private customerLeg: RtpLeg | null = null;
  /** Agents ringing for the open offer, by agent id. */
  private readonly rings = new Map<string, AgentRing>();
  private talking: { ring: AgentRing; bridge: RecordedBridge | null } | null = null;
  /** PH-4: a warm transfer's consultation in progress. */
  private consult: ConsultCall | null = null;
  /** The skill group whose queue the contact is in or came from (queued, overflowed, transferred). */
  private skillGroupId: string | null = null;
  private unwatch: () => void = () => undefined;
  private finished: Promise<void> | null = null;
  private contactCreated = false;
  /** Contact events run one at a time, in order. */
  private line: Promise<void> = Promise.resolve();

  constructor(deps: CallDeps, call: InboundCall) {
    this.deps = deps;
    this.call = call;
    this.stream = streams.contact(call.instanceId, this.contactId);
  }

  get instanceId(): string {
    return this.call.instanceId;
  }

  private metadata = (): CommandMetadata => sipCommandMetadata(this.deps, this.call.instanceId, this.contactId);

  private command(command: ContactCommand): Promise<boolean> {
    return tryContactCommand(this.deps, this.stream, command);
  }

  async run(): Promise<void> {
    const call = this.call;
    let offer;
    try {
      offer = negotiate(parseSdp(call.remoteSdp));
    } catch (err) {
      if (err instanceof SdpError) {
        call.reject(488, 'Not Acceptable Here');
        return;
      }
      throw err;
    }
    call.on('ended', (by) => {
      if (by !== 'remote') return;
      // During the keypad survey (the contact has ended) the session's line is busy with it: stop it now.
      if (this.phase === 'ended') this.gone.abort();
      this.enqueue(() => this.customerHungUp());
    });
    call.on('dtmf', (digit) => this.customerLeg?.injectDtmf(digit));
    this.unwatch = this.deps.watch.watch(this.stream, (e) => this.enqueue(() => this.onContactEvent(e)));

    const now = this.deps.clock();
    const customer = { kind: 'PHONE' as const, id: call.from, name: call.fromDisplayName };
    await this.deps.commands.handle(this.stream, contactDecider, {
      type: 'CreateContact',
      data: {
        contactId: this.contactId,
        channel: 'PHONE',
        direction: 'IN',
        customer,
        data: { callee: call.to },
        call: { callId: call.callId, direction: 'IN', from: call.from, to: call.to, trunkId: call.trunkId, node: this.deps.node },
      },
      metadata: this.metadata(),
    });
    this.contactCreated = true;
    if (this.gone.signal.aborted) return;

    if (await this.deps.isBlacklisted(call.instanceId, call.from, now)) {
      // Ended before the command: the watch may hand the ContactRejected to onContactEvent before the command
      // returns (an own append goes to subscribers from memory), and its hang-up would answer 480 instead of 603.
      this.phase = 'ended';
      await this.command({ type: 'RejectContact', data: { contactId: this.contactId, reason: 'BLACKLISTED' }, metadata: this.metadata() });
      call.reject(603, 'Decline');
      await this.finish();
      return;
    }

    const leg = await this.deps.media.openLeg(`customer ${call.from}`, { group: this.contactId });
    this.customerLeg = leg;
    const remote = parseSdp(call.remoteSdp);
    // The answer keeps the offer's order of the laws (RFC 3264 section 6.1): we send the caller's first, and
    // accept either law it listed, which a bridge converts for the other side.
    leg.setRemote({ address: remote.address, port: remote.port }, offer.codec, offer.payloadType, offer.dtmfPayloadType, offer.formats.slice(1));
    await call.answer(buildSdp({ address: leg.local.address, port: leg.local.port, formats: offer.formats, dtmfPayloadType: offer.dtmfPayloadType }));
    if (this.gone.signal.aborted) return;

    this.phase = 'ivr';
    const flow = call.flowId ? await this.deps.loadFlow(call.instanceId, call.flowId) : null;
    await this.command({ type: 'StartFlow', data: { contactId: this.contactId, flowId: call.flowId }, metadata: this.metadata() });
    if (!flow) {
      await this.systemHangup('ivrEnd');
      return;
    }
    const outcome = await runIvr(this.deps, { instanceId: call.instanceId, contactId: this.contactId, flow, leg, metadata: this.metadata, gone: this.gone.signal });
    if (outcome.type === 'gone' || this.phase !== 'ivr') return;
    if (outcome.type === 'hangup') {
      await this.systemHangup(outcome.reason === 'flowError' ? 'systemError' : outcome.reason);
      return;
    }
    if (!(await this.deps.queueHasRoom(call.instanceId, outcome.skillGroupId))) {
      this.phase = 'ended';
      await this.command({ type: 'RejectContact', data: { contactId: this.contactId, reason: 'QUEUE_FULL' }, metadata: this.metadata() });
      await call.hangup().catch(() => undefined);
      await this.finish();
      return;
    }
    leg.play(this.deps.holdMusic, { loop: true });
    this.phase = 'queued';
    const queued = await this.command({
      type: 'QueueContact',
      data: { contactId: this.contactId, skillGroupId: outcome.skillGroupId, priority: outcome.priority },
      metadata: this.metadata(),
    });
    if (!queued && this.phase === 'queued') await this.systemHangup('systemError');
  }

  /** Runs `job` after the session's earlier jobs; a failure ends the call rather than leaving it in silence. */
  private enqueue(job: () => Promise<void>): void {
    this.line = this.line.then(job).catch(async (err: unknown) => {
      this.deps.logger.error({ err, contactId: this.contactId }, 'call session failed');
      await this.systemHangup('systemError').catch(() => undefined);
    });
  }

  private async onContactEvent(e: RecordedEvent): Promise<void> {
    const event = { type: e.type, data: e.data } as ContactEvent;
    if (this.phase === 'ended') return;
    switch (event.type) {
      case 'ContactQueued':
        // The IVR's queue, or an overflow group after the wait limit.
        this.skillGroupId = event.data.skillGroupId;
        break;
      case 'ContactOffered':
        for (const agentId of event.data.agentIds) await this.ringAgent(event.data.offerId, agentId);
        break;
      case 'ContactOfferDeclined':
        await this.stopRing(event.data.agentId, event.data.offerId);
        break;
      case 'ContactOfferTimedOut':
      case 'ContactOfferWithdrawn':
        for (const agentId of event.data.agentIds) await this.stopRing(agentId, event.data.offerId);
        break;
      case 'ContactTransferred':
        // Blind transfer: the agent's leg goes, the caller waits with music for the next offer.
        this.skillGroupId = event.data.toSkillGroupId ?? this.skillGroupId;
        await this.stopTalking();
        this.phase = 'queued';
        this.customerLeg?.play(this.deps.holdMusic, { loop: true });
        break;
      // Call control (PH-4): hold, warm transfer.
      case 'CallHeld':
        this.onCallHeld();
        break;
      case 'CallResumed':
        this.onCallResumed();
        break;
      case 'ConsultStarted':
        await this.onConsultStarted(event.data);
        break;
      case 'ConsultCancelled':
        await this.onConsultCancelled(event.data.consultId);
        break;
      case 'ConsultCompleted':
        await this.onConsultCompleted(event.data.consultId);
        break;
      case 'ContactEnded':
      case 'ContactRejected':
        // Ended elsewhere (the API, the router's queue limits): hang up both sides.
        this.phase = 'ended';
        await this.call.hangup().catch(() => undefined);
        await this.finish();
        break;
      default:
        break;
    }
  }

  private async ringAgent(offerId: string, agentId: string): Promise<void> {
    if (this.phase !== 'queued' || this.rings.has(agentId)) return;
    const ring = await AgentRing.start(
      this.deps,
      { agentId, offerId, callerId: this.call.from, callerName: this.call.fromDisplayName, contactId: this.contactId, instanceId: this.call.instanceId },
      {
        ringing: (device) =>
          this.enqueue(async () => {
            await this.command({ type: 'RingAgentLeg', data: { contactId: this.contactId, offerId, agentId, device: device.kind, address: device.label }, metadata: this.metadata() });
          }),
        answered: () => this.enqueue(() => this.agentAnswered(ring!)),
        failed: () =>
          this.enqueue(async () => {
            await this.command({ type: 'DeclineOffer', data: { contactId: this.contactId, offerId, agentId }, metadata: this.metadata() });
          }),
        hungUp: (cause) => this.enqueue(() => this.agentHungUp(agentId, cause)),
        transferRequested: (request) => this.enqueue(() => this.transferFromPhone(agentId, request)),
      },
    );
    if (!ring) {
      // No device to ring: the offer goes on to someone who can take the call.
      this.deps.logger.info({ agentId, contactId: this.contactId }, 'agent has no device to ring; declining the offer');
      await this.command({ type: 'DeclineOffer', data: { contactId: this.contactId, offerId, agentId }, metadata: this.metadata() });
      return;
    }
    this.rings.set(agentId, ring);
  }

  private async stopRing(agentId: string, offerId: string): Promise<void> {
    const ring = this.rings.get(agentId);
    if (!ring || ring.offerId !== offerId || this.talking?.ring === ring) return;
    this.rings.delete(agentId);
    await ring.stop();
  }

  private async agentAnswered(ring: AgentRing): Promise<void> {
    const leg = this.customerLeg;
    if (this.phase !== 'queued' || this.rings.get(ring.agentId) !== ring || !leg) {
      this.rings.delete(ring.agentId);
      await ring.stop();
      return;
    }
    const accepted = await this.command({
      type: 'AcceptOffer',
      data: { contactId: this.contactId, offerId: ring.offerId, agentId: ring.agentId },
      metadata: this.metadata(),
    });
    if (!accepted || this.phase !== 'queued') {
      this.rings.delete(ring.agentId);
      await ring.stop();
      return;
    }
    this.phase = 'talking';
    this.talking = { ring, bridge: null };
    for (const [agentId, other] of this.rings) {
      if (other !== ring) {
        this.rings.delete(agentId);
        await other.stop();
      }
    }
    this.talking.bridge = await RecordedBridge.start(this.deps, {
      instanceId: this.call.instanceId,
      contactId: this.contactId,
      agentId: ring.agentId,
      customer: leg,
      agent: ring.leg,
      metadata: this.metadata,
    });
  }

  private async agentHungUp(agentId: string, cause?: 'lost'): Promise<void> {
    if (this.phase !== 'talking' || this.talking?.ring.agentId !== agentId) return;
    if (cause === 'lost' && (await this.requeueAfterDeviceLost(agentId))) return;
    this.phase = 'ended';
    // A vanished device (a closed browser) is not the agent's choice: Kefu ends the call so the caller is not left in silence.
    const end = cause === 'lost' ? { reason: 'agentDeviceLost', endedBy: 'SYSTEM' as const, agentId: null } : { reason: 'ok', endedBy: 'AGENT' as const, agentId };
    await this.command({ type: 'EndContact', data: { contactId: this.contactId, ...end }, metadata: this.metadata() });
    if (cause !== 'lost') await this.keypadSurvey();
    await this.call.hangup().catch(() => undefined);
    await this.finish();
  }

  /** Issue 12: with phone surveys on, the caller rates the call from the keypad before Kefu hangs up. */
  private async keypadSurvey(): Promise<void> {
    const leg = this.customerLeg;
    if (!leg || !this.deps.satisfactionSurvey || this.gone.signal.aborted) return;
    try {
      const survey = await this.deps.satisfactionSurvey(this.call.instanceId);
      if (!survey.channels.PHONE || this.gone.signal.aborted) return;
      // The agent's leg goes first: the caller hears the question alone.
      await this.stopTalking();
      const outcome = await runKeypadSurvey(this.deps, { instanceId: this.call.instanceId, contactId: this.contactId, leg, survey, metadata: this.metadata, gone: this.gone.signal });
      this.deps.logger.debug({ contactId: this.contactId, outcome }, 'keypad survey');
    } catch (err) {
      // The survey is a courtesy: a failure (the prompt's audio, the read model) only ends the call now.
      this.deps.logger.warn({ err, contactId: this.contactId }, 'keypad survey failed');
    }
  }

  /**
   * A vanished device in a group set to REQUEUE: the call goes back to the group's queue (a transfer by the
   * system, so the agent who lost it is tried last and their workload is released), the caller hears music
   * until the next agent answers. False when the group says END or the transfer is refused (a consultation
   * in progress, the contact ended meanwhile): the caller then gets a BYE as before.
   */
  private async requeueAfterDeviceLost(agentId: string): Promise<boolean> {
    const skillGroupId = this.skillGroupId;
    if (!skillGroupId) return false;
    const setting = await this.deps.onAgentDeviceLost(this.call.instanceId, skillGroupId).catch((err: unknown) => {
      this.deps.logger.warn({ err, contactId: this.contactId, skillGroupId }, 'could not read the skill group; ending the call');
      return 'END' as const;
    });
    if (setting !== 'REQUEUE' || this.phase !== 'talking' || this.talking?.ring.agentId !== agentId) return false;
    const transferred = await this.command({
      type: 'TransferContact',
      data: { contactId: this.contactId, agentId, toAgentId: null, toSkillGroupId: skillGroupId, note: 'agent device lost' },
      metadata: this.metadata(),
    });
    if (!transferred || this.phase !== 'talking') return false;
    this.deps.logger.info({ agentId, contactId: this.contactId, skillGroupId }, 'agent device lost: the call goes back to the queue');
    // As on ContactTransferred (which follows): the lost leg goes, the caller waits with music for the next offer.
    await this.stopTalking();
    this.phase = 'queued';
    this.customerLeg?.play(this.deps.holdMusic, { loop: true });
    return true;
  }

  private async customerHungUp(): Promise<void> {
    this.gone.abort();
    if (this.phase === 'ended') return;
    const reason = this.phase === 'queued' && this.rings.size > 0 ? 'ringingGiveUp' : giveUpReason[this.phase];
    this.phase = 'ended';
    if (this.contactCreated) {
      await this.command({ type: 'EndContact', data: { contactId: this.contactId, reason, endedBy: 'CUSTOMER', agentId: null }, metadata: this.metadata() });
    }
    await this.finish();
  }

  /** Kefu ends the call: a flow hang-up, an error, or shutdown. */
  async systemHangup(reason: string): Promise<void> {
    if (this.phase === 'ended') return;
    this.phase = 'ended';
    this.gone.abort();
    if (this.contactCreated) {
      await this.command({ type: 'EndContact', data: { contactId: this.contactId, reason, endedBy: 'SYSTEM', agentId: null }, metadata: this.metadata() });
    }
    await this.call.hangup().catch(() => undefined);
    await this.finish();
  }

  private async stopTalking(): Promise<void> {
    const talking = this.talking;
    this.talking = null;
    if (!talking) return;
    this.rings.delete(talking.ring.agentId);
    await talking.bridge?.stop();
    await talking.ring.stop();
    // The agent's leg is closed: its figures are final.
    await recordLegMedia(this.deps, this.callRef(), 'AGENT', talking.ring.agentId, talking.ring.leg);
  }

  private callRef() {
    return { instanceId: this.call.instanceId, contactId: this.contactId, metadata: this.metadata };
  }

  /** Frees everything the call holds; the recording is completed. Runs once. */
  finish(): Promise<void> {
    this.finished ??= (async () => {
      this.gone.abort();
      this.unwatch();
      await this.consult?.stop();
      this.consult = null;
      await this.stopTalking();
      for (const ring of this.rings.values()) await ring.stop();
      this.rings.clear();
      if (this.customerLeg) {
        await this.customerLeg.close();
        await recordLegMedia(this.deps, this.callRef(), 'CUSTOMER', null, this.customerLeg);
      }
    })();
    return this.finished;
  }

  // ---- Call control (PH-4): hold, warm transfer, transfer from the agent's phone (SIP REFER) ----

  private onCallHeld(): void {
    if (this.phase !== 'talking' || !this.customerLeg) return;
    holdCustomer(this.customerLeg, this.talking?.bridge ?? null, this.deps.holdMusic);
    this.talking?.ring.held(true);
  }

  private onCallResumed(): void {
    // After a completed consultation the customer is already bridged to the new agent: resuming changes nothing.
    if (this.phase !== 'talking' || !this.customerLeg || this.consult) return;
    resumeCustomer(this.customerLeg, this.talking?.bridge ?? null);
    this.talking?.ring.held(false);
  }

  private async onConsultStarted(d: { consultId: string; toAgentId: string; expiresAt: string }): Promise<void> {
    if (this.phase !== 'talking' || this.consult) return;
    const { consultId } = d;
    const cancel = (reason: ConsultEnd) =>
      this.command({ type: 'CancelConsult', data: { contactId: this.contactId, agentId: null, consultId, reason }, metadata: this.metadata() });
    const consult = await ConsultCall.start(
      this.deps,
      { instanceId: this.call.instanceId, contactId: this.contactId, consultId, toAgentId: d.toAgentId, expiresAt: d.expiresAt, callerId: this.call.from, callerName: this.call.fromDisplayName },
      {
        answered: () => this.enqueue(() => this.consultAnswered(consult!)),
        failed: (reason) =>
          this.enqueue(async () => {
            if (this.consult === consult && !consult!.answered) await cancel(reason);
          }),
        hungUp: (cause) =>
          this.enqueue(async () => {
            // Once completed, the target serves the call: their hang-up ends it like any agent's.
            if (this.consult === consult) await cancel('TARGET_HUNG_UP');
            else if (this.talking?.ring.agentId === d.toAgentId) await this.agentHungUp(d.toAgentId, cause);
          }),
      },
    );
    if (!consult) {
      await cancel('TARGET_UNAVAILABLE');
      return;
    }
    this.consult = consult;
  }

  private async consultAnswered(consult: ConsultCall): Promise<void> {
    if (this.consult !== consult || !this.talking) {
      await consult.stop();
      return;
    }
    const answered = await this.command({
      type: 'AnswerConsult',
      data: { contactId: this.contactId, consultId: consult.consultId, agentId: consult.toAgentId, device: consult.device.kind, address: consult.device.label },
      metadata: this.metadata(),
    });
    if (!answered) {
      if (this.consult === consult) this.consult = null;
      await consult.stop();
      return;
    }
    // The two agents talk; the customer's bridge stays paused (music).
    consult.connect(this.talking.ring.leg);
  }

  private async onConsultCancelled(consultId: string): Promise<void> {
    const consult = this.consult;
    if (!consult || consult.consultId !== consultId) return;
    this.consult = null;
    await consult.stop();
  }

  private async onConsultCompleted(consultId: string): Promise<void> {
    const consult = this.consult;
    const leg = this.customerLeg;
    if (!consult || consult.consultId !== consultId || !leg) return;
    this.consult = null;
    const ring = await consult.handOver();
    // The consulting agent's leg hangs up; the customer is bridged to the target, recorded as their part.
    await this.stopTalking();
    if (!ring?.answered) {
      await this.systemHangup('systemError');
      return;
    }
    this.talking = { ring, bridge: null };
    this.talking.bridge = await RecordedBridge.start(this.deps, {
      instanceId: this.call.instanceId,
      contactId: this.contactId,
      agentId: consult.toAgentId,
      customer: leg,
      agent: ring.leg,
      metadata: this.metadata,
    });
  }

  /** A blind transfer asked for by the agent's phone (SIP REFER): to another agent or a skill group. */
  private async transferFromPhone(agentId: string, request: TransferRequest): Promise<void> {
    if (this.phase !== 'talking' || this.talking?.ring.agentId !== agentId || this.consult) {
      request.reject(403, 'Transfer Not Allowed Now');
      return;
    }
    const target = (await this.deps.findTransferTarget?.(this.call.instanceId, request.target)) ?? null;
    if (!target || target.agentId === agentId) {
      request.reject(404, 'Not Found');
      return;
    }
    await request.accept();
    const transferred = await this.command({
      type: 'TransferContact',
      data: { contactId: this.contactId, agentId, toAgentId: target.agentId, toSkillGroupId: target.skillGroupId, note: null },
      metadata: this.metadata(),
    });
    if (!transferred) {
      await request.failed(503, 'Service Unavailable');
      return;
    }
    await request.succeeded();
    // As on ContactTransferred (which follows): the agent's leg goes, the caller waits with music. Done here so
    // that the phone hanging up after the NOTIFY is not taken for the agent ending the call.
    await this.stopTalking();
    this.phase = 'queued';
    this.customerLeg?.play(this.deps.holdMusic, { loop: true });
  }

  /** Resolves when the call has ended and everything is freed. */
  get done(): Promise<void> {
    return this.finished ?? Promise.resolve();
  }
}
