// The router: one process among those sharing a database holds its lease. It keeps the live state of
// agents, skill groups and contacts (folded from all events with the aggregates' own evolve functions),
// and after each change it
//   1. brings agents' workload in line with their contacts (reactions and crash recovery are one rule),
//   2. keeps one timer per deadline found in that state (offer expiry, end of after-call work): the
//      deadlines are in the events, so timers survive a restart, and the commands they send are no-ops
//      when late or repeated, so each fires its effect once,
//   3. offers waiting contacts to agents: a reservation is appended to the agent's stream at its expected
//      revision first, so two routers can never put one agent over capacity.
import { randomUUID } from 'node:crypto';
import type { CommandHandler } from '../../adapters/eventstore/command-handler.ts';
import type { Lease, SqlClient } from '../../adapters/sql/sql-client.ts';
import { agentDecider } from '../../domain/agent/agent.decide.ts';
import type { ActiveAgent, AgentEvent, AgentState } from '../../domain/agent/agent.ts';
import { answersOfflineOnMobile, evolveAgent, heldOn, initialAgentState } from '../../domain/agent/agent.ts';
import { contactDecider } from '../../domain/contact/contact.decide.ts';
import type { ContactEvent, ContactState } from '../../domain/contact/contact.ts';
import { evolveContactWithoutSentMessages, initialContactState } from '../../domain/contact/contact.ts';
import { instanceDecider } from '../../domain/instance/instance.decide.ts';
import type { CommandMetadata } from '../../domain/decider.ts';
import { DomainError } from '../../domain/errors.ts';
import type { EventStore, RecordedEvent, Subscription } from '../../domain/ports/event-store.ts';
import { assignWaiting } from '../../domain/routing/assign.ts';
import { hasCapacity } from '../../domain/routing/capacity.ts';
import { reconcileWorkload } from '../../domain/routing/reconcile-workload.ts';
import type { RoutableAgent, SkillGroupRouting, WaitingContact } from '../../domain/routing/routing-state.ts';
import type { SkillGroupEvent, SkillGroupState } from '../../domain/skill-group/skill-group.ts';
import { evolveSkillGroup, initialSkillGroupState } from '../../domain/skill-group/skill-group.ts';
import { streamCategory, streams } from '../../domain/streams.ts';
import type { Logger } from '../../projections/projection-runner.ts';
import { KeyedTimers } from '../keyed-timers.ts';

export interface RouterDeps {
  store: EventStore;
  commands: CommandHandler;
  sql: SqlClient;
  logger: Logger;
  clock?: () => Date;
  random?: () => number;
  leaseRetryMs?: number;
}

interface AgentEntry {
  instanceId: string;
  state: AgentState;
  idleSince: string;
  lastOfferedAt: string | null;
  day: string;
  contactsToday: number;
  talkSecondsToday: number;
  connectedAt: Map<string, string>;
}

interface ContactEntry {
  instanceId: string;
  state: ContactState;
  /** The skill group it last queued in, for after-call work once it ended. */
  skillGroupId: string | null;
  sequence: number;
  /** When the router first saw it: a routing pass takes the queued contacts in this order. */
  order: number;
}

function splitStream(streamId: string): { instanceId: string; entityId: string } {
  const rest = streamId.slice(streamId.indexOf('-') + 1);
  const dot = rest.indexOf('.');
  // `instance-<id>` has no entity part.
  if (dot < 0) return { instanceId: rest, entityId: '' };
  return { instanceId: rest.slice(0, dot), entityId: rest.slice(dot + 1) };
}

export interface TimerLatenessFigures {
  count: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** The last few thousand timers' lateness, in ms; percentiles are computed when asked. */
class TimerLateness {
  private readonly recent: number[] = [];
  private next = 0;
  private count = 0;
  private max = 0;
  private static readonly kept = 4096;

  record(lateMs: number): void {
    if (this.recent.length < TimerLateness.kept) this.recent.push(lateMs);
    else this.recent[this.next] = lateMs;
    this.next = (this.next + 1) % TimerLateness.kept;
    this.count++;
    this.max = Math.max(this.max, lateMs);
  }

  figures(): TimerLatenessFigures {
    const sorted = [...this.recent].sort((a, b) => a - b);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
    return { count: this.count, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: this.max };
  }
}

export class Router {
  private readonly deps: RouterDeps;
  private readonly agents = new Map<string, AgentEntry>();
  private readonly groups = new Map<string, { instanceId: string; state: SkillGroupState }>();
  private readonly contacts = new Map<string, ContactEntry>();
  /**
   * The contacts queued now: what a routing pass walks. The router keeps every contact it has seen (ended ones
   * too), and each pass walked them all twice, an [entry] array each (issue 11: several passes a second under the
   * chat bench, each over every chat since the process started).
   */
  private readonly queued = new Set<string>();
  private contactsSeen = 0;
  private readonly timers = new KeyedTimers();
  /** Contacts with an offer being made right now: not offered again until it lands or fails. */
  private readonly offering = new Set<string>();
  /** PH-12: who served each customer last, by `<instanceId>/<customer kind>:<id>`. */
  private readonly lastAgentOf = new Map<string, string>();
  private readonly holders = new Map<string, Set<string>>();
  /** Seats assigned (by `<instanceId>/<agentId>`) with the time, until released. */
  private readonly pendingSeats = new Map<string, string>();
  private dirty = new Set<string>();
  /**
   * Contacts that may be done with: looked at after each pass. An ended (or rejected) contact no agent holds, with
   * nothing of it pending (a timer, an offer, a pass), is forgotten: the router kept every contact since the process
   * started, its whole state each (a contact center's 100,000 a day, never let go). What can follow an end on its
   * stream (a rating, a read mark, a late message, a finished recording) changes nothing the router reads, so an
   * event of a contact it does not know is ignored; an agent who comes to hold a forgotten contact (a reservation
   * landing after the end) gets it from the store again (reconcile).
   */
  private forgettable = new Set<string>();
  /**
   * Dirty contacts whose events since the last pass changed nothing a routing pass reads (a chat message, a read
   * mark): their timers are looked at, but their instance is not routed again for them. Every message of every
   * chat made a pass over all of the instance's queued contacts (O(queued) per message: issue 13's 500 WeChat
   * messages/s into 1,000 waiting chats).
   */
  private quiet = new Set<string>();
  private sequence = 0;
  private caughtUp = false;
  private subscription: Subscription | null = null;
  private lease: Lease | null = null;
  private leaseTimer: NodeJS.Timeout | null = null;
  private working: Promise<void> = Promise.resolve();
  private scheduled = false;
  private stopped = false;
  /** The lease was lost: the state is no longer followed (its subscription stopped). */
  private leaseLost = false;
  private readonly lateness = new TimerLateness();

  constructor(deps: RouterDeps) {
    this.deps = deps;
  }

  private now(): string {
    return (this.deps.clock?.() ?? new Date()).toISOString();
  }

  async start(): Promise<void> {
    await this.tryLead();
    if (!this.lease) {
      this.leaseTimer = setInterval(() => void this.tryLead(), this.deps.leaseRetryMs ?? 2000);
      this.leaseTimer.unref();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.leaseTimer) clearInterval(this.leaseTimer);
    await this.subscription?.stop();
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    await this.working;
    await this.lease?.release();
  }

  /** Whether this process routes now. */
  get leading(): boolean {
    return this.lease !== null && this.caughtUp;
  }

  private async tryLead(): Promise<void> {
    if (this.lease || this.stopped) return;
    const lease = await this.deps.sql.tryLease('router').catch(() => null);
    if (!lease) return;
    this.lease = lease;
    if (this.leaseTimer) clearInterval(this.leaseTimer);
    void lease.lost.then(() => {
      this.leaseLost = true;
      if (!this.stopped) this.deps.logger.error({}, 'router lost its lease; stopping routing in this process');
      void this.subscription?.stop();
    });
    this.subscription = this.deps.store.subscribeToAll({
      onEvent: (e) => this.apply(e),
      onCaughtUp: () => {
        this.caughtUp = true;
        // Everything is suspect after a restart: reconcile every agent, time every deadline.
        for (const [key, at] of this.pendingSeats) {
          const [instanceId, agentId] = key.split('/') as [string, string];
          this.timeSeat(instanceId, agentId, at);
        }
        for (const key of this.agents.keys()) this.dirty.add(key);
        for (const key of this.contacts.keys()) this.dirty.add(key);
        this.quiet.clear();
        this.schedule();
      },
      onError: (err) => this.deps.logger.error({ err }, 'router subscription failed'),
    });
  }

  private apply(e: RecordedEvent): void {
    const category = streamCategory(e.streamId);
    const { instanceId } = splitStream(e.streamId);
    if (category === 'agent') {
      const entry = this.agents.get(e.streamId) ?? {
        instanceId,
        state: initialAgentState(),
        idleSince: e.metadata.occurredAt,
        lastOfferedAt: null,
        day: e.metadata.occurredAt.slice(0, 10),
        contactsToday: 0,
        talkSecondsToday: 0,
        connectedAt: new Map(),
      };
      const event = { type: e.type, data: e.data } as AgentEvent;
      const before = entry.state.status === 'active' ? Object.keys(entry.state.workload.contacts) : [];
      entry.state = evolveAgent(entry.state, event);
      const after = entry.state.status === 'active' ? Object.keys(entry.state.workload.contacts) : [];
      this.indexHolders(e.streamId, instanceId, before, after);
      this.countAgentStats(entry, event, e.metadata.occurredAt);
      this.agents.set(e.streamId, entry);
      this.dirty.add(e.streamId);
    } else if (category === 'instance') {
      // Seats: createAgent assigns one, then creates the agent. A crash between the two would leave a seat held
      // by nobody; such a seat is released once it is old enough that no createAgent can still be on its way.
      if (e.type === 'AgentSeatAssigned') {
        this.pendingSeats.set(`${instanceId}/${String(e.data.agentId)}`, e.metadata.occurredAt);
        if (this.caughtUp) this.timeSeat(instanceId, String(e.data.agentId), e.metadata.occurredAt);
      } else if (e.type === 'AgentSeatReleased') {
        this.pendingSeats.delete(`${instanceId}/${String(e.data.agentId)}`);
      }
      return;
    } else if (category === 'skillgroup') {
      const entry = this.groups.get(e.streamId) ?? { instanceId, state: initialSkillGroupState() };
      entry.state = evolveSkillGroup(entry.state, { type: e.type, data: e.data } as SkillGroupEvent);
      this.groups.set(e.streamId, entry);
    } else if (category === 'contact') {
      // A forgotten contact's later events (or any event before a contact's creation: its state stays 'none', which
      // nothing here reads) are not folded onto an empty state.
      if (e.type !== 'ContactCreated' && !this.contacts.has(e.streamId)) return;
      const entry = this.contacts.get(e.streamId) ?? { instanceId, state: initialContactState(), skillGroupId: null, sequence: 0, order: this.contactsSeen++ };
      const event = { type: e.type, data: e.data } as ContactEvent;
      entry.state = evolveContactWithoutSentMessages(entry.state, event);
      if (event.type === 'ContactQueued' || event.type === 'ContactTransferred') entry.sequence = ++this.sequence;
      if (entry.state.status === 'queued' || entry.state.status === 'offered' || entry.state.status === 'connected') {
        entry.skillGroupId = entry.state.skillGroupId;
      }
      if (event.type === 'ContactOffered') this.offering.delete(e.streamId);
      if (event.type === 'ContactAccepted' && entry.state.status !== 'none') {
        this.lastAgentOf.set(`${instanceId}/${entry.state.customer.kind}:${entry.state.customer.id}`, event.data.agentId);
      }
      this.contacts.set(e.streamId, entry);
      if (entry.state.status === 'queued') this.queued.add(e.streamId);
      else this.queued.delete(e.streamId);
      if (!eventsRoutingIgnores.has(event.type)) this.quiet.delete(e.streamId);
      else if (!this.dirty.has(e.streamId)) this.quiet.add(e.streamId);
      this.dirty.add(e.streamId);
    } else {
      return;
    }
    if (this.caughtUp) this.schedule();
  }

  private countAgentStats(entry: AgentEntry, event: AgentEvent, at: string): void {
    const day = at.slice(0, 10);
    if (day !== entry.day) {
      entry.day = day;
      entry.contactsToday = 0;
      entry.talkSecondsToday = 0;
    }
    switch (event.type) {
      case 'AgentReserved':
        entry.lastOfferedAt = at;
        break;
      case 'AgentContactConnected':
        entry.contactsToday++;
        entry.connectedAt.set(event.data.contactId, at);
        break;
      case 'AgentContactFinished': {
        const from = entry.connectedAt.get(event.data.contactId);
        if (from) entry.talkSecondsToday += Math.max(0, (Date.parse(at) - Date.parse(from)) / 1000);
        entry.connectedAt.delete(event.data.contactId);
        entry.idleSince = at;
        break;
      }
      case 'AgentWentAvailable':
      case 'AgentWrapUpEnded':
        entry.idleSince = at;
        break;
      default:
        break;
    }
  }

  /** Runs one work pass after the current burst of events; passes never overlap. */
  private schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.enqueue('router pass', () => this.work());
    });
  }

  /** Everything the router does runs one piece at a time, in order; a failure is logged and the line goes on. */
  private enqueue(what: string, job: () => Promise<unknown>): void {
    this.working = this.working.then(job).then(
      () => undefined,
      (err: unknown) => this.deps.logger.error({ err }, `${what} failed`),
    );
  }

  /** Arms the timer `key` and disarms any other timer under `prefix`: one deadline per thing. */
  private armTimer(prefix: string, key: string, at: string, fire: () => void): void {
    for (const k of this.timers.keysWithPrefix(prefix)) if (k !== key) this.clearTimers(k);
    this.setTimer(key, at, fire);
  }

  private async work(): Promise<void> {
    if (!this.lease || this.stopped) return;
    const dirty = this.dirty;
    const quiet = this.quiet;
    this.dirty = new Set();
    this.quiet = new Set();
    const instances = new Set<string>();
    for (const key of dirty) {
      const agent = this.agents.get(key);
      if (agent) {
        instances.add(agent.instanceId);
        await this.reconcile(key, agent);
        this.timeWrapUp(key, agent);
        this.timeReservations(key, agent);
      }
      const contact = this.contacts.get(key);
      if (contact) {
        this.forgettable.add(key);
        if (!quiet.has(key)) instances.add(contact.instanceId);
        this.timeOffer(key, contact);
        this.timeQueueWait(key, contact);
        this.timeIdleChat(key, contact);
        await this.autoAccept(key, contact);
        // Agents named by this contact may need their workload fixed; a message or read mark (quiet) changes nothing
        // reconcileWorkload reads (status, offer, consult, hand-overs): each chat message reconciled every contact
        // its agent held (issue 11).
        if (quiet.has(key)) continue;
        for (const agentKey of this.agentsOf(key)) {
          const entry = this.agents.get(agentKey);
          if (entry) await this.reconcile(agentKey, entry);
        }
      }
    }
    for (const instanceId of instances) await this.route(instanceId);
    this.forgetFinished();
  }

  /** Forgets the contacts finished for routing (see forgettable). */
  private forgetFinished(): void {
    const candidates = this.forgettable;
    this.forgettable = new Set();
    for (const key of candidates) {
      const s = this.contacts.get(key)?.state;
      if (!s || (s.status !== 'ended' && s.status !== 'rejected')) continue;
      if (this.holders.has(key) || this.offering.has(key) || this.queued.has(key) || this.dirty.has(key)) continue;
      if (contactTimerKinds.some((kind) => this.timers.keysWithPrefix(`${kind}:${key}:`).length > 0)) continue;
      this.contacts.delete(key);
      this.quiet.delete(key);
    }
  }

  /** Keeps contact → agents holding it, so a contact's change finds its agents without scanning them all. */
  private indexHolders(agentKey: string, instanceId: string, before: string[], after: string[]): void {
    for (const contactId of before) {
      if (after.includes(contactId)) continue;
      const key = streams.contact(instanceId, contactId);
      const set = this.holders.get(key);
      set?.delete(agentKey);
      if (set?.size === 0) {
        this.holders.delete(key);
        this.forgettable.add(key);
      }
    }
    for (const contactId of after) {
      const key = streams.contact(instanceId, contactId);
      let set = this.holders.get(key);
      if (!set) this.holders.set(key, (set = new Set()));
      set.add(agentKey);
    }
  }

  private agentsOf(contactKey: string): string[] {
    return [...(this.holders.get(contactKey) ?? [])];
  }

  private meta(instanceId: string): CommandMetadata {
    return { now: this.now(), instanceId, actor: 'system:router', correlationId: randomUUID() };
  }

  private async reconcile(agentKey: string, entry: AgentEntry): Promise<void> {
    if (entry.state.status !== 'active') return;
    const agent: ActiveAgent = entry.state;
    const contacts = new Map<string, ContactState>();
    /** Contacts read again from the store (forgotten, see forgettable): their last skill group, for after-call work. */
    let refolded: Map<string, string | null> | null = null;
    for (const contactId of Object.keys(agent.workload.contacts)) {
      const key = streams.contact(entry.instanceId, contactId);
      const c = this.contacts.get(key);
      if (c) contacts.set(contactId, c.state);
      else {
        // Not known: not created yet (left alone), or forgotten once it ended. A finished contact read from the store
        // is what the router knew of it before it forgot it.
        const again = await this.refold(key);
        if (again && (again.state.status === 'ended' || again.state.status === 'rejected')) {
          contacts.set(contactId, again.state);
          (refolded ??= new Map()).set(contactId, again.skillGroupId);
        }
      }
    }
    for (const fix of reconcileWorkload(agent, contacts, this.now())) {
      const data =
        fix.type === 'FinishContact'
          ? {
              agentId: agent.id,
              contactId: fix.contactId,
              wrapUpSeconds: fix.afterCallWork ? this.wrapUpSeconds(entry.instanceId, fix.contactId, refolded?.get(fix.contactId)) : 0,
            }
          : fix.type === 'ReleaseReservation'
            ? {
                agentId: agent.id,
                contactId: fix.contactId,
                offerId: fix.offerId,
                reason: fix.reason,
                breakReason: fix.reason === 'TIMED_OUT' && this.groupOf(entry.instanceId, fix.contactId, refolded?.get(fix.contactId))?.breakAfterMissedOffer ? 'Missed' : null,
              }
            : { agentId: agent.id, contactId: fix.contactId };
      await this.send(agentKey, { type: fix.type, data, metadata: this.meta(entry.instanceId) } as Parameters<typeof agentDecider.decide>[0], 'agent');
    }
  }

  /** A contact's state and last skill group folded from its stream, as apply folds them; null for no stream. */
  private async refold(contactKey: string): Promise<{ state: ContactState; skillGroupId: string | null } | null> {
    const events = await this.deps.store.readStream(contactKey);
    if (events.length === 0) return null;
    let state = initialContactState();
    let skillGroupId: string | null = null;
    for (const e of events) {
      state = evolveContactWithoutSentMessages(state, { type: e.type, data: e.data } as ContactEvent);
      if (state.status === 'queued' || state.status === 'offered' || state.status === 'connected') skillGroupId = state.skillGroupId;
    }
    return { state, skillGroupId };
  }

  private groupOf(instanceId: string, contactId: string, refoldedGroupId?: string | null) {
    const groupId = refoldedGroupId !== undefined ? refoldedGroupId : this.contacts.get(streams.contact(instanceId, contactId))?.skillGroupId;
    const group = groupId ? this.groups.get(streams.skillGroup(instanceId, groupId))?.state : undefined;
    return group?.status === 'active' ? group : null;
  }

  private wrapUpSeconds(instanceId: string, contactId: string, refoldedGroupId?: string | null): number {
    return this.groupOf(instanceId, contactId, refoldedGroupId)?.wrapUpSeconds ?? 0;
  }

  /** OL-3: an offer in an auto-accept group is accepted for the agent as soon as it is made. */
  private async autoAccept(contactKey: string, contact: ContactEntry): Promise<void> {
    const s = contact.state;
    if (s.status !== 'offered' || s.offer.pendingAgentIds.length !== 1) return;
    if (!this.groups.get(streams.skillGroup(contact.instanceId, s.skillGroupId))?.state || !this.groupOf(contact.instanceId, s.id)?.autoAccept) return;
    await this.send(
      contactKey,
      { type: 'AcceptOffer', data: { contactId: s.id, offerId: s.offer.offerId, agentId: s.offer.pendingAgentIds[0]! }, metadata: this.meta(contact.instanceId) },
      'contact',
    );
  }

  /** OL-8: a chat whose last word is the agent's ends after the group's idle limit, unless the customer replies. */
  private timeIdleChat(contactKey: string, contact: ContactEntry): void {
    const prefix = `idle:${contactKey}:`;
    const s = contact.state;
    const group = s.status === 'connected' ? this.groupOf(contact.instanceId, s.id) : null;
    const waitingForCustomer =
      s.status === 'connected' &&
      s.channel === 'ONLINE' &&
      s.lastAgentMessageAt !== null &&
      (s.lastCustomerMessageAt === null || Date.parse(s.lastCustomerMessageAt) < Date.parse(s.lastAgentMessageAt));
    if (!waitingForCustomer || !group || group.chatIdleEndSeconds <= 0 || s.status !== 'connected') return this.clearTimers(prefix);
    const lastAgentMessageAt = s.lastAgentMessageAt!;
    const idleSeconds = group.chatIdleEndSeconds;
    const at = new Date(Date.parse(lastAgentMessageAt) + idleSeconds * 1000).toISOString();
    this.armTimer(prefix, `${prefix}${lastAgentMessageAt}`, at, () =>
      this.enqueue('idle chat timer', () =>
        this.send(contactKey, { type: 'EndIdleChat', data: { contactId: s.id, lastAgentMessageAt, idleSeconds }, metadata: this.meta(contact.instanceId) }, 'contact'),
      ),
    );
  }

  /** The queue's wait limit: at queuedAt + maxWaitSeconds a still-waiting contact overflows or is rejected QUEUE_TIMEOUT. */
  private timeQueueWait(contactKey: string, contact: ContactEntry): void {
    const prefix = `wait:${contactKey}:`;
    const s = contact.state;
    const group = s.status === 'queued' ? this.groupOf(contact.instanceId, s.id) : null;
    // A left message (a chat flow's leaveMessage, issue 12) waits for the group's agents however long it takes.
    if (s.status !== 'queued' || s.leftMessage || !group || group.maxWaitSeconds <= 0) return this.clearTimers(prefix);
    const at = new Date(Date.parse(s.queuedAt) + group.maxWaitSeconds * 1000).toISOString();
    this.armTimer(prefix, `${prefix}${group.id}:${s.queuedAt}`, at, () =>
      this.enqueue('queue wait timer', async () => {
          const now = this.contacts.get(contactKey)?.state;
          if (!now || now.status !== 'queued' || now.skillGroupId !== group.id || now.queuedAt !== s.queuedAt) return;
          const overflow = group.overflowSkillGroupId ? this.groups.get(streams.skillGroup(contact.instanceId, group.overflowSkillGroupId))?.state : undefined;
          const command =
            overflow?.status === 'active'
              ? { type: 'OverflowContact', data: { contactId: s.id, toSkillGroupId: overflow.id }, metadata: this.meta(contact.instanceId) }
              : { type: 'RejectContact', data: { contactId: s.id, reason: 'QUEUE_TIMEOUT' }, metadata: this.meta(contact.instanceId) };
          await this.send(contactKey, command, 'contact');
      }),
    );
  }

  private async send(
    streamId: string,
    command: { type: string; data: object; metadata: CommandMetadata },
    kind: 'agent' | 'contact' | 'instance',
  ): Promise<boolean> {
    try {
      if (kind === 'instance') await this.deps.commands.handle(streamId, instanceDecider, command as Parameters<typeof instanceDecider.decide>[0]);
      else if (kind === 'agent') await this.deps.commands.handle(streamId, agentDecider, command as Parameters<typeof agentDecider.decide>[0]);
      else await this.deps.commands.handle(streamId, contactDecider, command as Parameters<typeof contactDecider.decide>[0]);
      return true;
    } catch (err) {
      // A rule said no (the state moved on): the next event brings the router up to date.
      if (err instanceof DomainError) return false;
      this.deps.logger.error({ err, streamId, command: command.type }, 'router command failed');
      return false;
    }
  }

  private setTimer(key: string, at: string, fire: () => void): void {
    if (this.timers.has(key)) return;
    this.armUntil(key, Date.parse(at), fire);
  }

  /**
   * setTimeout keeps a monotonic clock that may run up to a millisecond ahead of the wall clock the
   * deciders compare deadlines with (measured: about 1 timer in 70 fired 1 ms early). A command sent that
   * early is a no-op (TimeOutOffer before expiresAt changes nothing), and nothing would arm the timer
   * again: the offer rang forever. So a timer fires only once `now` has reached its deadline, re-arming
   * for what is left (also past setTimeout's 32-bit limit).
   */
  private armUntil(key: string, atMs: number, fire: () => void): void {
    const delay = Math.max(0, atMs - Date.parse(this.now()));
    const timer = setTimeout(
      () => {
        const late = Date.parse(this.now()) - atMs;
        if (late < 0) return this.armUntil(key, atMs, fire);
        this.timers.delete(key);
        this.lateness.record(late);
        if (late > Router.lateTimerWarnMs) this.deps.logger.warn({ key, lateMs: late }, 'a router timer fired late');
        fire();
      },
      Math.min(Math.max(delay, 1), 2 ** 31 - 1),
    );
    timer.unref();
    this.timers.set(key, timer);
  }

  /** A timer this late says the event loop is starved: worth a line in the log. */
  static readonly lateTimerWarnMs = 1000;

  /** How late timers fired (deadline to the callback), for the log, tests and the bench. */
  timerLateness(): TimerLatenessFigures {
    return this.lateness.figures();
  }

  private clearTimers(prefix: string): void {
    this.timers.clearPrefix(prefix);
  }

  private timeOffer(contactKey: string, contact: ContactEntry): void {
    const s = contact.state;
    const prefix = `offer:${contactKey}:`;
    if (s.status !== 'offered') return this.clearTimers(prefix);
    this.armTimer(prefix, `${prefix}${s.offer.offerId}`, s.offer.expiresAt, () =>
      this.enqueue('offer timer', () =>
        this.send(contactKey, { type: 'TimeOutOffer', data: { contactId: s.id, offerId: s.offer.offerId }, metadata: this.meta(contact.instanceId) }, 'contact'),
      ),
    );
  }

  private timeWrapUp(agentKey: string, entry: AgentEntry): void {
    const prefix = `wrapup:${agentKey}:`;
    if (entry.state.status !== 'active' || !entry.state.workload.wrapUp) return this.clearTimers(prefix);
    const { contactId, until } = entry.state.workload.wrapUp;
    const agentId = entry.state.id;
    this.armTimer(prefix, `${prefix}${contactId}:${until}`, until, () =>
      this.enqueue('after-call work timer', () =>
        this.send(agentKey, { type: 'EndWrapUp', data: { agentId, contactId }, metadata: this.meta(entry.instanceId) }, 'agent'),
      ),
    );
  }

  /** How long a seat may wait for its agent to be created before it counts as left over by a crash. */
  static readonly seatGraceMs = 5 * 60_000;

  private timeSeat(instanceId: string, agentId: string, assignedAt: string): void {
    const at = new Date(Date.parse(assignedAt) + Router.seatGraceMs).toISOString();
    this.setTimer(`seat:${instanceId}/${agentId}`, at, () =>
      this.enqueue('seat check', async () => {
          if (!this.pendingSeats.has(`${instanceId}/${agentId}`)) return;
          // A live agent keeps the seat; one never created (or deleted, its release lost) gives it back.
          if (this.agents.get(streams.agent(instanceId, agentId))?.state.status === 'active') return;
          this.deps.logger.warn({ instanceId, agentId }, 'releasing a seat whose agent was never created');
          await this.send(streams.instance(instanceId), { type: 'ReleaseAgentSeat', data: { agentId }, metadata: this.meta(instanceId) }, 'instance');
      }),
    );
  }

  /** A reservation whose offer never reached its contact (a router died in between) is looked at again when it expires. */
  private timeReservations(agentKey: string, entry: AgentEntry): void {
    const prefix = `reservation:${agentKey}:`;
    if (entry.state.status !== 'active') return this.clearTimers(prefix);
    for (const [contactId, held] of Object.entries(entry.state.workload.contacts)) {
      if (held.state !== 'offered') continue;
      this.setTimer(`${prefix}${contactId}:${held.offerId}`, held.expiresAt, () => {
        this.quiet.delete(agentKey);
        this.dirty.add(agentKey);
        this.schedule();
      });
    }
  }

  private async route(instanceId: string): Promise<void> {
    const now = this.now();
    const groups = new Map<string, SkillGroupRouting>();
    for (const { instanceId: inst, state } of this.groups.values()) {
      if (inst !== instanceId || state.status !== 'active') continue;
      groups.set(state.id, {
        skillGroupId: state.id,
        channel: state.channel,
        strategy: state.strategy,
        maxConcurrency: state.maxConcurrency,
        members: state.members,
      });
    }
    const agents = new Map<string, RoutableAgent>();
    for (const entry of this.agents.values()) {
      const s = entry.state;
      if (entry.instanceId !== instanceId || s.status !== 'active') continue;
      const inWrapUp = s.workload.wrapUp !== null && now < s.workload.wrapUp.until;
      // PH-3: an offline agent answering on the mobile still takes phone offers.
      const onMobile = answersOfflineOnMobile(s);
      agents.set(s.id, {
        agentId: s.id,
        available: (s.presence === 'AVAILABLE' || onMobile) && !s.forcedOffline && !inWrapUp,
        ...(onMobile ? { phoneOnly: true } : {}),
        held: { PHONE: heldOn(s.workload, 'PHONE'), ONLINE: heldOn(s.workload, 'ONLINE'), AV: heldOn(s.workload, 'AV') },
        idleSince: entry.idleSince,
        contactsToday: entry.contactsToday,
        talkSecondsToday: entry.talkSecondsToday,
        lastOfferedAt: entry.lastOfferedAt,
      });
    }
    // The instance's queued contacts, in the order a walk over all contacts gave them (the order they were first seen).
    const queued: [string, ContactEntry][] = [];
    for (const key of this.queued) {
      const entry = this.contacts.get(key);
      if (entry?.instanceId === instanceId) queued.push([key, entry]);
    }
    queued.sort((a, b) => a[1].order - b[1].order);
    const waiting: WaitingContact[] = [];
    for (const [key, entry] of queued) {
      const s = entry.state;
      if (entry.instanceId !== instanceId || s.status !== 'queued' || this.offering.has(key)) continue;
      if (s.directAgentId) continue; // a transfer to one agent is offered below, outside the queue
      const group = groups.get(s.skillGroupId);
      const customerKey = `${s.customer.kind}:${s.customer.id}`;
      const lastAgent = this.lastAgentOf.get(`${instanceId}/${customerKey}`);
      const lastAgentFirst = this.groups.get(streams.skillGroup(instanceId, s.skillGroupId))?.state;
      const waitSeconds = lastAgentFirst?.status === 'active' ? lastAgentFirst.lastAgentFirstSeconds : 0;
      let preferredAgent: WaitingContact['preferredAgent'] = null;
      if (group && lastAgent && waitSeconds > 0) {
        const until = new Date(Date.parse(s.queuedAt) + waitSeconds * 1000).toISOString();
        preferredAgent = { agentId: lastAgent, until };
        // Route again when the wait for the last agent runs out.
        this.setTimer(`prefer:${key}:${until}`, until, () => {
          this.quiet.delete(key);
          this.dirty.add(key);
          this.schedule();
        });
      }
      waiting.push({
        contactId: s.id,
        channel: s.channel,
        skillGroupId: s.skillGroupId,
        priority: s.priority,
        queuedAt: s.queuedAt,
        sequence: entry.sequence,
        customerKey,
        triedAgentIds: s.triedAgentIds,
        preferredAgent,
      });
    }
    // Transfers to one agent: offered to them alone, as soon as they have room; they wait for no one else.
    for (const [key, entry] of queued) {
      const s = entry.state;
      if (entry.instanceId !== instanceId || s.status !== 'queued' || !s.directAgentId || this.offering.has(key)) continue;
      const target = agents.get(s.directAgentId);
      const group = groups.get(s.skillGroupId);
      if (!target || !group || !hasCapacity(target, group.channel, group.maxConcurrency)) continue;
      await this.offer(instanceId, s.id, s.skillGroupId, [s.directAgentId]);
      const held = target.held;
      agents.set(target.agentId, { ...target, held: { ...held, [group.channel]: held[group.channel] + 1 } });
    }
    // Groups set to reject when no member is online (available or on break): their waiting contacts end NO_AGENT.
    const stillWaiting: WaitingContact[] = [];
    for (const w of waiting) {
      const group = this.groups.get(streams.skillGroup(instanceId, w.skillGroupId))?.state;
      if (group?.status === 'active' && group.whenNoAgentOnline === 'REJECT' && !this.anyMemberOnline(instanceId, group.members)) {
        await this.send(
          streams.contact(instanceId, w.contactId),
          { type: 'RejectContact', data: { contactId: w.contactId, reason: 'NO_AGENT' }, metadata: this.meta(instanceId) },
          'contact',
        );
      } else {
        stillWaiting.push(w);
      }
    }
    waiting.length = 0;
    waiting.push(...stillWaiting);
    if (waiting.length === 0) return;
    const assignments = assignWaiting({ groups, agents, waiting }, { now, random: this.deps.random ?? Math.random });
    // Each assignment is a different contact with its own agents: offers go out side by side, so a busy pass
    // is not a queue of database round trips (the event store batches the appends into shared commits).
    await inParallel(assignments, offerConcurrency, (a) => this.offer(instanceId, a.contactId, a.skillGroupId, a.agentIds));
  }

  /**
   * Whether any member of the group is online (AVAILABLE or on a break, not forced offline; a deleted agent or group
   * has nobody online), from this process's routing state: what anyAgentOnlineInReadModel reads from the agents and
   * skill group tables, from the same events, without a statement. Null where this state cannot answer: this process
   * does not route now (no lease, or not caught up), or the group or one of its members is not in it yet (a
   * subscription a step behind). The router folds an event as its subscription hands it over, which for this
   * process's own appends is at their commit, before any projection's batch applies them.
   */
  anyMemberOnlineNow(instanceId: string, skillGroupId: string): boolean | null {
    if (!this.leading || this.stopped || this.leaseLost) return null;
    const group = this.groups.get(streams.skillGroup(instanceId, skillGroupId))?.state;
    if (!group || group.status === 'none') return null;
    if (group.status !== 'active') return false;
    for (const agentId of group.members.keys()) {
      const s = this.agents.get(streams.agent(instanceId, agentId))?.state;
      if (!s || s.status === 'none') return null;
    }
    return this.anyMemberOnline(instanceId, group.members);
  }

  private anyMemberOnline(instanceId: string, members: ReadonlyMap<string, number>): boolean {
    for (const agentId of members.keys()) {
      const s = this.agents.get(streams.agent(instanceId, agentId))?.state;
      if (s?.status === 'active' && !s.forcedOffline && s.presence !== 'OFFLINE') return true;
    }
    return false;
  }

  private async offer(instanceId: string, contactId: string, skillGroupId: string, agentIds: string[]): Promise<void> {
    const contactKey = streams.contact(instanceId, contactId);
    const group = this.groups.get(streams.skillGroup(instanceId, skillGroupId))?.state;
    const contact = this.contacts.get(contactKey)?.state;
    if (!group || group.status !== 'active' || !contact || contact.status !== 'queued') return;
    this.offering.add(contactKey);
    const offerId = randomUUID();
    const expiresAt = new Date(Date.parse(this.now()) + group.ringTimeoutSeconds * 1000).toISOString();
    const reserved: string[] = [];
    for (const agentId of agentIds) {
      const ok = await this.send(
        streams.agent(instanceId, agentId),
        {
          type: 'ReserveAgent',
          data: { agentId, contactId, offerId, channel: contact.channel, skillGroupId, maxConcurrency: group.maxConcurrency, expiresAt },
          metadata: this.meta(instanceId),
        },
        'agent',
      );
      if (ok) reserved.push(agentId);
    }
    const offered =
      reserved.length > 0 &&
      (await this.send(contactKey, { type: 'OfferContact', data: { contactId, offerId, agentIds: reserved, expiresAt }, metadata: this.meta(instanceId) }, 'contact'));
    if (!offered) {
      this.offering.delete(contactKey);
      for (const agentId of reserved) {
        await this.send(
          streams.agent(instanceId, agentId),
          { type: 'ReleaseReservation', data: { agentId, contactId, offerId, reason: 'WITHDRAWN' }, metadata: this.meta(instanceId) },
          'agent',
        );
      }
    }
  }
}

/**
 * Contact events that change nothing route() reads (status, group, priority, queue time and order, direct agent,
 * tried agents, the customer): evolveContact keeps all of those for them.
 */
const eventsRoutingIgnores = new Set<string>(['ContactMessageRecorded', 'ContactMessagesRead']);

/** The kinds of the router's timers keyed by a contact (`<kind>:<contact key>:...`): one pending keeps it. */
const contactTimerKinds = ['offer', 'wait', 'idle', 'prefer'] as const;

/** Offers made at once by one routing pass. */
const offerConcurrency = 16;

/** Runs `job` over `items`, at most `limit` at a time; resolves when all are done. */
async function inParallel<T>(items: readonly T[], limit: number, job: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await job(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
