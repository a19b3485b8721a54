// Chat reception (issue 12, OL-13): sends a chat channel's reception prompts to its chats as SYSTEM messages
// as the chats move: welcome and queue place when a chat queues (the place again when it moves, at most every
// queueUpdateSeconds), "no agent online", the agent who took the chat, the idle reminder before the group's
// automatic end, and the texts of an automatic, agent or off-hours end. Channels are web channels and (issue 13)
// WeChat accounts, with the same settings (reception-prompts.ts); a WeChat chat's prompts go out through the
// WeChat outbox as text, as any SYSTEM message of its chat with words in it.
//
// One process among those sharing a database holds the lease (as the router does). It folds web channels,
// skill groups and chats from all events; a prompt becomes due when the event that calls for it is seen, and
// stops being due when the prompt's message is seen in the chat's stream. Each prompt goes through the
// contact decider under a key (SendReceptionPrompt), so a restart or a second process never sends one twice,
// and a prompt whose moment passed (the chat left the queue, the customer answered) is not sent. Timers (the
// idle reminder, the next queue update) are derived from the chats' events, so they survive a restart; at
// start, prompts that fell due while no process ran are sent if they are recent (catchUpGraceMs).
import { randomUUID } from 'node:crypto';
import type { CommandHandler } from '../../adapters/eventstore/command-handler.ts';
import type { Lease, SqlClient } from '../../adapters/sql/sql-client.ts';
import { contactDecider } from '../../domain/contact/contact.decide.ts';
import type { ContactEvent, ContactState } from '../../domain/contact/contact.ts';
import { evolveContactWithoutSentMessages, initialContactState } from '../../domain/contact/contact.ts';
import type { CommandMetadata } from '../../domain/decider.ts';
import { DomainError } from '../../domain/errors.ts';
import type { EventStore, RecordedEvent, Subscription } from '../../domain/ports/event-store.ts';
import type { SkillGroupEvent, SkillGroupState } from '../../domain/skill-group/skill-group.ts';
import { evolveSkillGroup, initialSkillGroupState } from '../../domain/skill-group/skill-group.ts';
import { streamCategory, streams } from '../../domain/streams.ts';
import {
  effectiveReceptionPrompts,
  promptKindOf,
  renderPrompt,
  spokenDuration,
  type ReceptionPromptName,
  type ReceptionPrompts,
} from '../../domain/web-channel/reception-prompts.ts';
import type { WebChannelEvent, WebChannelState } from '../../domain/web-channel/web-channel.ts';
import { evolveWebChannel, initialWebChannelState } from '../../domain/web-channel/web-channel.ts';
import type { WechatAccountEvent, WechatAccountState } from '../../domain/wechat-account/wechat-account.ts';
import { evolveWechatAccount, initialWechatAccountState, wechatPromptsDefaultEnabled } from '../../domain/wechat-account/wechat-account.ts';
import type { ReadModel } from '../../projections/projection.ts';
import { anyAgentOnline, type AgentsOnlineInMemory } from '../chat-flows/chat-flow-runner.ts';
import type { Logger } from '../../projections/projection-runner.ts';
import { KeyedTimers } from '../keyed-timers.ts';

export interface ChatReceptionDeps {
  store: EventStore;
  commands: CommandHandler;
  sql: SqlClient;
  /** Agents' display names and who is online. */
  db: ReadModel;
  /** Who is online from the router's memory where it answers (else from `db`). */
  agentsOnline?: AgentsOnlineInMemory;
  logger: Logger;
  clock?: () => Date;
  leaseRetryMs?: number;
  /** At start, prompts that fell due while no process ran are sent when at most this old (default 5 minutes). */
  catchUpGraceMs?: number;
}

interface Due {
  name: ReceptionPromptName;
  /** The key it is sent once under; QUEUEING's is made when sent (it says the place). */
  key: string | null;
  /** When it fell due (the event's time). */
  since: string;
  agentId: string | null;
  lastAgentMessageAt?: string;
  /** noAgentOnline while waiting: only if, when sent, the chat still waits and nobody of the group is online. */
  ifNobodyOnline?: boolean;
}

interface ChatEntry {
  instanceId: string;
  contactId: string;
  /** The stream of the channel whose prompts the chat gets: its web channel or (issue 13) its WeChat account; null (AV calls): followed only for the queue places. */
  channelKey: string | null;
  state: ContactState;
  /** The chat went through the channel's chat flow first: the flow welcomed it. */
  viaFlow: boolean;
  due: Due[];
  /** The last queue place told, and when. */
  queueTold: { at: string; position: number } | null;
}

/** Waits answered in the last hour per group, for the estimated wait. */
const recentWaitMs = 60 * 60_000;
const maxRecentWaits = 200;

function splitStream(streamId: string): { instanceId: string; entityId: string } {
  const rest = streamId.slice(streamId.indexOf('-') + 1);
  const dot = rest.indexOf('.');
  if (dot < 0) return { instanceId: rest, entityId: '' };
  return { instanceId: rest.slice(0, dot), entityId: rest.slice(dot + 1) };
}

const queueingKeyPrefix = 'QUEUEING:';

/** `QUEUEING:<n>@<place>`: the n-th place told, so a place told again later (3, 2, 3) is a new prompt. */
function queueingKey(n: number, position: number): string {
  return `${queueingKeyPrefix}${n}@${position}`;
}

function placeOfKey(key: string): number | null {
  const at = key.lastIndexOf('@');
  const n = at < 0 ? NaN : Number(key.slice(at + 1));
  return Number.isSafeInteger(n) ? n : null;
}

export class ChatReception {
  private readonly deps: ChatReceptionDeps;
  private readonly channels = new Map<string, WebChannelState>();
  private readonly wechatAccounts = new Map<string, WechatAccountState>();
  private readonly groups = new Map<string, SkillGroupState>();
  private readonly chats = new Map<string, ChatEntry>();
  /** Group stream → the chats waiting in it (status queued). */
  private readonly waitingIn = new Map<string, Set<string>>();
  /** Group stream → recent waits (answered at, ms waited). */
  private readonly waits = new Map<string, { at: number; ms: number }[]>();
  private readonly timers = new KeyedTimers();
  private dirtyChats = new Set<string>();
  private dirtyGroups = new Set<string>();
  private caughtUp = false;
  private caughtUpAt = 0;
  private subscription: Subscription | null = null;
  private lease: Lease | null = null;
  private leaseTimer: NodeJS.Timeout | null = null;
  private working: Promise<void> = Promise.resolve();
  private scheduled = false;
  private stopped = false;

  constructor(deps: ChatReceptionDeps) {
    this.deps = deps;
  }

  private now(): Date {
    return this.deps.clock?.() ?? new Date();
  }

  async start(): Promise<void> {
    await this.tryLead();
    if (!this.lease) {
      this.leaseTimer = setInterval(() => void this.tryLead(), this.deps.leaseRetryMs ?? 2000);
      this.leaseTimer.unref();
    }
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.leaseTimer) clearInterval(this.leaseTimer);
    await this.subscription?.stop();
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    await this.working;
    await this.lease?.release();
  }

  private async tryLead(): Promise<void> {
    if (this.lease || this.stopped) return;
    const lease = await this.deps.sql.tryLease('chat-reception').catch(() => null);
    if (!lease) return;
    this.lease = lease;
    if (this.leaseTimer) clearInterval(this.leaseTimer);
    void lease.lost.then(() => {
      if (!this.stopped) this.deps.logger.error({}, 'chat reception lost its lease; no prompts from this process');
      void this.subscription?.stop();
    });
    this.subscription = this.deps.store.subscribeToAll({
      onEvent: (e) => this.apply(e),
      onCaughtUp: () => {
        if (this.caughtUp) return;
        this.caughtUp = true;
        this.caughtUpAt = this.now().getTime();
        for (const key of this.chats.keys()) this.dirtyChats.add(key);
        for (const key of this.waitingIn.keys()) this.dirtyGroups.add(key);
        this.schedule();
      },
      onError: (err) => this.deps.logger.error({ err }, 'chat reception subscription failed'),
    });
  }

  private apply(e: RecordedEvent): void {
    const category = streamCategory(e.streamId);
    if (category === 'webchannel') {
      this.channels.set(e.streamId, evolveWebChannel(this.channels.get(e.streamId) ?? initialWebChannelState(), { type: e.type, data: e.data } as WebChannelEvent));
      return;
    }
    if (category === 'wechataccount') {
      this.wechatAccounts.set(e.streamId, evolveWechatAccount(this.wechatAccounts.get(e.streamId) ?? initialWechatAccountState(), { type: e.type, data: e.data } as WechatAccountEvent));
      return;
    }
    if (category === 'skillgroup') {
      this.groups.set(e.streamId, evolveSkillGroup(this.groups.get(e.streamId) ?? initialSkillGroupState(), { type: e.type, data: e.data } as SkillGroupEvent));
      return;
    }
    if (category !== 'contact') return;
    const event = { type: e.type, data: e.data } as ContactEvent;
    let entry = this.chats.get(e.streamId);
    if (!entry) {
      // Chats only, from their start: a contact first seen later is one this process forgot (ended and done).
      if (event.type !== 'ContactCreated' || event.data.channel === 'PHONE') return;
      const { instanceId } = splitStream(e.streamId);
      const source = event.data.source;
      // Prompts are for chats of web channels and WeChat accounts (a customer's AV call from the web keeps its conversation without them).
      const channelKey =
        event.data.channel !== 'ONLINE' || !source
          ? null
          : source.kind === 'WEB'
            ? streams.webChannel(instanceId, source.webChannelId)
            : source.kind === 'WECHAT'
              ? streams.wechatAccount(instanceId, source.wechatAccountId)
              : null;
      entry = { instanceId, contactId: event.data.contactId, channelKey, state: initialContactState(), viaFlow: false, due: [], queueTold: null };
      this.chats.set(e.streamId, entry);
    }
    const before = entry.state;
    entry.state = evolveContactWithoutSentMessages(before, event);
    this.trackQueue(e.streamId, entry, before);
    if (event.type === 'ContactAccepted' && before.status === 'offered') {
      this.recordWait(streams.skillGroup(entry.instanceId, before.skillGroupId), before.queuedAt, event.data.at);
    }
    if (entry.channelKey !== null) this.dueOf(entry, before, event, e.metadata.occurredAt);
    this.dirtyChats.add(e.streamId);
    if (this.caughtUp) this.schedule();
  }

  /** Keeps each group's waiting chats; a change of who waits where is a queue change for the group. */
  private trackQueue(key: string, entry: ChatEntry, before: ContactState): void {
    const was = before.status === 'queued' ? streams.skillGroup(entry.instanceId, before.skillGroupId) : null;
    const s = entry.state;
    const now = s.status === 'queued' ? streams.skillGroup(entry.instanceId, s.skillGroupId) : null;
    if (was === now) return;
    if (was) {
      this.waitingIn.get(was)?.delete(key);
      this.dirtyGroups.add(was);
    }
    if (now) {
      let set = this.waitingIn.get(now);
      if (!set) this.waitingIn.set(now, (set = new Set()));
      set.add(key);
      this.dirtyGroups.add(now);
    }
  }

  private recordWait(groupKey: string, queuedAt: string, answeredAt: string): void {
    const ms = Date.parse(answeredAt) - Date.parse(queuedAt);
    if (!Number.isFinite(ms) || ms < 0) return;
    const list = this.waits.get(groupKey) ?? [];
    list.push({ at: Date.parse(answeredAt), ms });
    if (list.length > maxRecentWaits) list.splice(0, list.length - maxRecentWaits);
    this.waits.set(groupKey, list);
  }

  /** The group's average wait of the chats answered in the last hour; null when it answered none. */
  private averageWaitMs(groupKey: string): number | null {
    const since = this.now().getTime() - recentWaitMs;
    const recent = (this.waits.get(groupKey) ?? []).filter((w) => w.at >= since);
    if (recent.length === 0) return null;
    return recent.reduce((sum, w) => sum + w.ms, 0) / recent.length;
  }

  /** The prompts an event of a web chat calls for, and the prompts its messages show as sent. */
  private dueOf(entry: ChatEntry, before: ContactState, event: ContactEvent, at: string): void {
    const due = (d: Omit<Due, 'since' | 'agentId'> & { agentId?: string | null }) => entry.due.push({ agentId: null, since: at, ...d });
    switch (event.type) {
      case 'ContactFlowStarted':
        entry.viaFlow = true;
        return;
      case 'ContactQueued':
        // The first time only (not an overflow to another group). A chat flow welcomed its chat itself.
        if (before.status === 'created' && !entry.viaFlow) due({ name: 'welcome', key: 'WELCOME' });
        // A message left for the group (a chat flow's leaveMessage) waits for an agent to come back: the flow thanked the customer already.
        if ((before.status === 'created' || before.status === 'inFlow') && !event.data.leftMessage) {
          due({ name: 'queueing', key: null });
          due({ name: 'noAgentOnline', key: 'NO_AGENT_ONLINE', ifNobodyOnline: true });
        }
        return;
      case 'ContactAccepted':
        // Queue places told before belong to that wait (a transferred chat waits again without them).
        entry.queueTold = null;
        due({ name: 'transferredToAgent', key: `TRANSFERRED_TO_AGENT:${event.data.offerId}`, agentId: event.data.agentId });
        return;
      case 'ContactRejected':
        if (event.data.reason === 'AFTER_HOURS') due({ name: 'offHours', key: 'OFF_HOURS' });
        else if (event.data.reason === 'NO_AGENT') due({ name: 'noAgentOnline', key: 'NO_AGENT_ONLINE' });
        return;
      case 'ContactEnded':
        if (event.data.endedBy === 'SYSTEM' && event.data.reason === 'customerIdle') due({ name: 'autoEnd', key: 'AUTO_END' });
        else if (event.data.endedBy === 'AGENT' || (event.data.endedBy === 'SYSTEM' && event.data.reason === 'supervisorHangUp')) {
          due({ name: 'agentEnded', key: 'AGENT_ENDED', agentId: event.data.agentId });
        }
        return;
      case 'ContactMessageRecorded': {
        const sys = event.data.system;
        if (sys?.type !== 'PROMPT' || !sys.promptKey) return;
        const key = sys.promptKey;
        if (key.startsWith(queueingKeyPrefix)) {
          const position = placeOfKey(key);
          if (position !== null) entry.queueTold = { at: event.data.at, position };
          entry.due = entry.due.filter((d) => d.name !== 'queueing');
        } else {
          entry.due = entry.due.filter((d) => d.key !== key);
        }
        return;
      }
      default:
        return;
    }
  }

  private schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.enqueue(() => this.work());
    });
  }

  private enqueue(job: () => Promise<unknown>): void {
    this.working = this.working.then(job).then(
      () => undefined,
      (err: unknown) => this.deps.logger.error({ err }, 'chat reception pass failed'),
    );
  }

  private async work(): Promise<void> {
    if (!this.lease || this.stopped) return;
    const chats = this.dirtyChats;
    const groups = this.dirtyGroups;
    this.dirtyChats = new Set();
    this.dirtyGroups = new Set();
    // Waiting chats whose place may have moved.
    const places = new Map<string, number>();
    for (const groupKey of groups) {
      const waiting = [...(this.waitingIn.get(groupKey) ?? [])].map((k) => [k, this.chats.get(k)] as const).filter((x): x is readonly [string, ChatEntry] => x[1]?.state.status === 'queued');
      waiting.sort(([, a], [, b]) => compareWaiting(a, b));
      waiting.forEach(([k], i) => {
        places.set(k, i + 1);
        chats.add(k);
      });
    }
    for (const key of chats) {
      const entry = this.chats.get(key);
      if (!entry) continue;
      if (entry.channelKey !== null) {
        await this.flush(key, entry, places.get(key));
        this.timeIdleReminder(key, entry);
      }
      const s = entry.state;
      // Done with an ended chat once nothing is due: its later events (a rating) need nothing from here.
      if ((s.status === 'ended' || s.status === 'rejected') && entry.due.length === 0) {
        this.chats.delete(key);
        this.clearTimers(`idle:${key}:`);
        this.clearTimers(`queue:${key}`);
      }
    }
  }

  /** Sends what is due for a chat, in order; then a queue update if its place moved. */
  private async flush(key: string, entry: ChatEntry, knownPlace: number | undefined): Promise<void> {
    const grace = this.deps.catchUpGraceMs ?? 5 * 60_000;
    while (entry.due.length > 0) {
      const due = entry.due.shift()!;
      // Due since before this process caught up, and long ago: the moment is gone.
      if (Date.parse(due.since) < this.caughtUpAt - grace) continue;
      await this.send(key, entry, due);
    }
    const s = entry.state;
    if (s.status !== 'queued' || !entry.queueTold) return this.clearTimers(`queue:${key}`);
    const position = knownPlace ?? this.placeOf(key, entry);
    if (position === null || position === entry.queueTold.position) return this.clearTimers(`queue:${key}`);
    const channel = this.channelOf(entry);
    if (!channel) return;
    const next = Date.parse(entry.queueTold.at) + channel.queueUpdateSeconds * 1000;
    if (this.now().getTime() >= next) {
      await this.send(key, entry, { name: 'queueing', key: null, since: this.now().toISOString(), agentId: null });
    } else {
      this.setTimer(`queue:${key}`, next, () => {
        this.dirtyChats.add(key);
        this.schedule();
      });
    }
  }

  /** The prompts of the chat's channel: a web channel's, or a WeChat account's (the same settings). */
  private channelOf(entry: ChatEntry): ReceptionPrompts | null {
    if (entry.channelKey === null) return null;
    const web = this.channels.get(entry.channelKey);
    if (web) return web.status === 'active' ? promptsOfState(web, () => effectiveReceptionPrompts(web)) : null;
    const wechat = this.wechatAccounts.get(entry.channelKey);
    if (wechat?.status !== 'active') return null;
    return promptsOfState(wechat, () => effectiveReceptionPrompts({ welcomeText: wechat.welcomeText ?? null, receptionPrompts: wechat.receptionPrompts ?? null }, wechatPromptsDefaultEnabled));
  }

  private placeOf(key: string, entry: ChatEntry): number | null {
    const s = entry.state;
    if (s.status !== 'queued') return null;
    let ahead = 0;
    for (const k of this.waitingIn.get(streams.skillGroup(entry.instanceId, s.skillGroupId)) ?? []) {
      const other = this.chats.get(k);
      if (k !== key && other?.state.status === 'queued' && compareWaiting(other, entry) < 0) ahead++;
    }
    return ahead + 1;
  }

  private async send(key: string, entry: ChatEntry, due: Due): Promise<void> {
    const prompts = this.channelOf(entry);
    const prompt = prompts?.[due.name];
    if (!prompts || !prompt?.enabled) return;
    const s = entry.state;
    if (s.status === 'none') return;
    const values: Record<string, string | null> = {};
    let promptKey = due.key;
    if (due.name === 'queueing') {
      const position = s.status === 'queued' ? this.placeOf(key, entry) : null;
      if (position === null || s.status !== 'queued') return;
      const told = (s.receptionPromptKeys ?? []).filter((k) => k.startsWith(queueingKeyPrefix)).length;
      promptKey = queueingKey(told + 1, position);
      const wait = this.averageWaitMs(streams.skillGroup(entry.instanceId, s.skillGroupId));
      values.position = String(position);
      values.estimatedWait = wait === null ? null : spokenDuration(wait / 1000);
    }
    if (due.ifNobodyOnline) {
      if (s.status !== 'queued' || (await anyAgentOnline(this.deps.db, entry.instanceId, s.skillGroupId, this.deps.agentsOnline))) return;
    }
    if (due.name === 'transferredToAgent' || due.name === 'agentEnded') values.agentName = (await this.agentName(entry.instanceId, due.agentId)) ?? 'our agent';
    if (due.name === 'idleReminder') values.timeLeft = spokenDuration(prompts.idleReminderSeconds, false);
    const text = renderPrompt(prompt.text, values);
    if (text === '' || promptKey === null) return;
    try {
      await this.deps.commands.handle(key, contactDecider, {
        type: 'SendReceptionPrompt',
        data: { contactId: entry.contactId, prompt: promptKindOf[due.name], key: promptKey, text, agentId: due.agentId, ...(due.lastAgentMessageAt ? { lastAgentMessageAt: due.lastAgentMessageAt } : {}) },
        metadata: this.meta(entry.instanceId),
      });
    } catch (err) {
      // A rule said no (the chat moved on): nothing to send.
      if (err instanceof DomainError) return;
      this.deps.logger.error({ err, contactId: entry.contactId, prompt: due.name }, 'sending a reception prompt failed');
    }
  }

  /** OL-8's reminder: idleReminderSeconds before the group's chatIdleEndSeconds end a chat whose last word is the agent's. */
  private timeIdleReminder(key: string, entry: ChatEntry): void {
    const prefix = `idle:${key}:`;
    const s = entry.state;
    const prompts = this.channelOf(entry);
    if (s.status !== 'connected' || !prompts?.idleReminder.enabled || !s.lastAgentMessageAt) return this.clearTimers(prefix);
    if (s.lastCustomerMessageAt && Date.parse(s.lastCustomerMessageAt) >= Date.parse(s.lastAgentMessageAt)) return this.clearTimers(prefix);
    const group = s.skillGroupId ? this.groups.get(streams.skillGroup(entry.instanceId, s.skillGroupId)) : undefined;
    const idleSeconds = group?.status === 'active' ? group.chatIdleEndSeconds : 0;
    if (idleSeconds <= prompts.idleReminderSeconds) return this.clearTimers(prefix);
    const lastAgentMessageAt = s.lastAgentMessageAt;
    const timerKey = `${prefix}${lastAgentMessageAt}`;
    for (const k of this.timers.keysWithPrefix(prefix)) if (k !== timerKey) this.clearTimers(k);
    if ((s.receptionPromptKeys ?? []).includes(`IDLE_REMINDER:${lastAgentMessageAt}`)) return;
    const at = Date.parse(lastAgentMessageAt) + (idleSeconds - prompts.idleReminderSeconds) * 1000;
    this.setTimer(timerKey, at, () => {
      const now = this.chats.get(key);
      if (!now) return;
      now.due.push({ name: 'idleReminder', key: `IDLE_REMINDER:${lastAgentMessageAt}`, since: this.now().toISOString(), agentId: null, lastAgentMessageAt });
      this.dirtyChats.add(key);
      this.schedule();
    });
  }

  private setTimer(key: string, atMs: number, fire: () => void): void {
    if (this.timers.has(key)) return;
    const delay = Math.max(1, atMs - this.now().getTime());
    const timer = setTimeout(
      () => {
        this.timers.delete(key);
        // setTimeout's clock may run a little ahead of the wall clock: not before the deadline.
        if (this.now().getTime() < atMs) return this.setTimer(key, atMs, fire);
        fire();
      },
      Math.min(delay, 2 ** 31 - 1),
    );
    timer.unref();
    this.timers.set(key, timer);
  }

  private clearTimers(prefix: string): void {
    this.timers.clearPrefix(prefix);
  }

  private meta(instanceId: string): CommandMetadata {
    return { now: this.now().toISOString(), instanceId, actor: 'system:chat-reception', correlationId: randomUUID() };
  }

  private async agentName(instanceId: string, agentId: string | null): Promise<string | null> {
    if (!agentId) return null;
    const row = await this.deps.db.selectFrom('agents').select('name').where('instance_id', '=', instanceId).where('id', '=', agentId).executeTakeFirst();
    return row?.name ?? null;
  }
}

/**
 * A channel's prompts, made once per state of the channel (a state is an immutable value: a change of the channel
 * is a new one). Every message of a chat asked for them again (issue 11: a dozen objects per message).
 */
const promptsOfStates = new WeakMap<WebChannelState | WechatAccountState, ReceptionPrompts>();
function promptsOfState(state: WebChannelState | WechatAccountState, make: () => ReceptionPrompts): ReceptionPrompts {
  let prompts = promptsOfStates.get(state);
  if (!prompts) promptsOfStates.set(state, (prompts = make()));
  return prompts;
}

/** The queue's order as monitoring's queuePlace counts it: higher priority, then earlier, then by id. */
function compareWaiting(a: ChatEntry, b: ChatEntry): number {
  const x = a.state;
  const y = b.state;
  if (x.status !== 'queued' || y.status !== 'queued') return 0;
  if (x.priority !== y.priority) return y.priority - x.priority;
  const byTime = Date.parse(x.queuedAt) - Date.parse(y.queuedAt);
  if (byTime !== 0) return byTime;
  return a.contactId < b.contactId ? -1 : a.contactId > b.contactId ? 1 : 0;
}
