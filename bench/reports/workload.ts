// The event log of the reports benchmark: one instance's year (2025) of contacts, made by Kefu's own deciders
// (decideContact, decideAgent, decideInstance, decideSkillGroup: every event is one Kefu would append for the
// command, checked by the same rules, folded by the same evolve functions) and the router's workload rule
// (reconcileWorkload: what an agent's stream says when its contact is accepted, transferred or ends), with
// the metadata the command handler writes. The rows go straight into the PostgreSQL event store in big
// batches (bench/lib/bulk-events.ts), in time order across streams, as Kefu would have written them.
//
// Contacts arrive every (year / contacts) seconds: PHONE 70 %, ONLINE (web chat) 25 %, AV 5 %, each in a skill
// group of its channel. Calls go through an IVR (a key pressed); 4 % hang up there, 4 % are turned away after
// waiting (QUEUE_TIMEOUT), 8 % hang up in the queue, 4 % while an agent's phone rings; 3 % of offers ring out
// first (the agent missed it) and go to the next agent; 5 % of answered contacts are transferred to another
// agent (no after-call work for the first); a tenth of answered calls are held once. Chats: the customer's
// first message, the agent's first reply (first response time), the customer's answer. Answered contacts
// talk 1-6 minutes, then after-call work (the group's 30 s) ends by the router's EndWrapUp. Agents take a
// break now and then (Rest or Meal, 10 minutes) and go offline for 8 hours after every 60 contacts. The
// generator counts what it made, so the benchmark can check the report's totals. Seeded: the same log on
// every run (ids differ).
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { SqlClient } from '../../src/adapters/sql/sql-client.ts';
import type { ActiveAgent, AgentEvent, AgentState } from '../../src/domain/agent/agent.ts';
import { agentDecider, type AgentCommand } from '../../src/domain/agent/agent.decide.ts';
import type { ContactEvent, ContactState } from '../../src/domain/contact/contact.ts';
import { contactDecider, type ContactCommand } from '../../src/domain/contact/contact.decide.ts';
import type { CommandMetadata, Decider, DomainEvent } from '../../src/domain/decider.ts';
import { instanceDecider, type InstanceCommand } from '../../src/domain/instance/instance.decide.ts';
import type { InstanceEvent, InstanceState } from '../../src/domain/instance/instance.ts';
import { reconcileWorkload } from '../../src/domain/routing/reconcile-workload.ts';
import { skillGroupDecider, type SkillGroupCommand } from '../../src/domain/skill-group/skill-group.decide.ts';
import type { Channel, SkillGroupEvent, SkillGroupState } from '../../src/domain/skill-group/skill-group.ts';
import { streams } from '../../src/domain/streams.ts';
import { BulkEventWriter, type EventRow } from '../lib/bulk-events.ts';

export interface ReportWorkload {
  contacts: number;
  agents: number;
  groups: number;
  /** Events per INSERT (and transaction). */
  chunk: number;
  /** The instance's report time zone (ReportSettingsConfigured); default Asia/Shanghai. */
  timeZone?: string;
}

export interface SeededYear {
  instanceId: string;
  events: number;
  ms: number;
  /** Inbound totals as the generator made them. */
  expected: { created: number; handled: number; abandoned: number; rejected: number };
}

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A stream being written: its decider's state and last revision, and the time of its last event. */
interface Stream<S> {
  id: string;
  state: S;
  revision: number;
  lastAt: number;
}

interface Agent {
  id: string;
  stream: Stream<AgentState>;
  /** Free for an offer from this time on (after a contact, its after-call work, a break or a night off). */
  freeAt: number;
  handled: number;
}

interface Group {
  id: string;
  channel: Channel;
  wrapUpSeconds: number;
}

/** Events decided but not yet written, with the time they happen (written in time order). */
interface Pending {
  at: number;
  order: number;
  row: EventRow;
}

const breakReasons = ['Rest', 'Meal'];
const wrapUpSeconds = 30;

/**
 * The year's log: `write` gets the rows in the order Kefu would have appended them (time, then decision
 * order), a chunk at a time. Every event comes from a decider's decide for a command, so a command Kefu
 * would refuse (an offer to a busy agent, a message to an ended chat) throws here too.
 */
export async function generateReportYear(size: ReportWorkload, write: (rows: EventRow[]) => Promise<void>): Promise<{ instanceId: string; events: number; expected: SeededYear['expected'] }> {
  const rnd = prng(20251231);
  const instanceId = randomUUID();
  const start = Date.parse('2025-01-01T00:00:00Z');
  const spacing = (365 * 86_400_000) / size.contacts;
  const iso = (t: number) => new Date(t).toISOString();
  const expected = { created: 0, handled: 0, abandoned: 0, rejected: 0 };
  let pending: Pending[] = [];
  let order = 0;
  let events = 0;

  const newStream = <S>(id: string, state: S): Stream<S> => ({ id, state, revision: -1, lastAt: -Infinity });
  /** Decides `command` at `at` on the stream, folds the events in and queues them with the handler's metadata. */
  const run = <S, C extends { metadata: CommandMetadata }, E extends DomainEvent>(stream: Stream<S>, decider: Decider<S, C, E>, command: Omit<C, 'metadata'>, at: number, actor: string): E[] => {
    if (at < stream.lastAt) throw new Error(`generator bug: ${(command as { type?: string }).type} at ${iso(at)} before the stream's last event (${iso(stream.lastAt)}) on ${stream.id}`);
    const now = iso(at);
    const correlationId = randomUUID();
    const decided = decider.decide({ ...command, metadata: { now, instanceId, actor, correlationId } } as C, stream.state);
    // As the command handler writes it for every event of the command.
    const metadata = { instanceId, actor, correlationId, causationId: null, occurredAt: now };
    for (const e of decided) {
      stream.state = decider.evolve(stream.state, e);
      stream.revision++;
      pending.push({ at, order: order++, row: { id: randomUUID(), streamId: stream.id, revision: stream.revision, type: e.type, data: e.data, metadata } });
    }
    stream.lastAt = at;
    return decided;
  };
  /** Writes the queued events that happen before `horizon` (every later decision is at or after it). */
  const flush = async (horizon: number) => {
    pending.sort((a, b) => a.at - b.at || a.order - b.order);
    let n = 0;
    while (n < pending.length && pending[n]!.at < horizon) n++;
    if (n === 0) return;
    const rows = pending.slice(0, n).map((p) => p.row);
    pending = pending.slice(n);
    events += rows.length;
    await write(rows);
  };

  const admin = `apikey:${randomUUID()}`;
  const router = 'system:router';
  const instance = newStream<InstanceState>(streams.instance(instanceId), instanceDecider.initialState());
  const setUpAt = start - 3_600_000;
  run<InstanceState, InstanceCommand, InstanceEvent>(instance, instanceDecider, { type: 'CreateInstance', data: { instanceId, name: 'Bench', adminKey: { keyId: randomUUID(), secretHash: 'x' } } }, setUpAt, 'operator');
  run<InstanceState, InstanceCommand, InstanceEvent>(instance, instanceDecider, { type: 'PurchaseSeats', data: { seats: size.agents } }, setUpAt, 'operator');
  run<InstanceState, InstanceCommand, InstanceEvent>(instance, instanceDecider, { type: 'ConfigureBreakReasons', data: { reasons: breakReasons } }, setUpAt, admin);
  // The instance reports in its own zone (the benchmark's queries ask for it): its day totals are per local day.
  run<InstanceState, InstanceCommand, InstanceEvent>(instance, instanceDecider, { type: 'ConfigureReports', data: { timeZone: size.timeZone ?? 'Asia/Shanghai', serviceLevelSeconds: 20 } }, setUpAt, admin);

  // Groups per channel: at least one each, the rest in proportion to the channel's contacts.
  const groupCount = Math.max(3, size.groups);
  const online = Math.max(1, Math.round(groupCount * 0.25));
  const av = Math.max(1, Math.round(groupCount * 0.05));
  const groups: Group[] = Array.from({ length: groupCount }, (_, i) => ({
    id: randomUUID(),
    channel: i < online ? 'ONLINE' : i < online + av ? 'AV' : 'PHONE',
    wrapUpSeconds,
  }));
  const groupsOf = (channel: Channel) => groups.filter((g) => g.channel === channel);
  const byChannel = { PHONE: groupsOf('PHONE'), ONLINE: groupsOf('ONLINE'), AV: groupsOf('AV') };
  const agents: Agent[] = Array.from({ length: size.agents }, () => {
    const id = randomUUID();
    return { id, stream: newStream<AgentState>(streams.agent(instanceId, id), agentDecider.initialState()), freeAt: start, handled: 0 };
  });
  for (const [i, a] of agents.entries()) {
    run<InstanceState, InstanceCommand, InstanceEvent>(instance, instanceDecider, { type: 'AssignAgentSeat', data: { agentId: a.id, login: `agent${i + 1}` } }, setUpAt + 60_000, admin);
    run<AgentState, AgentCommand, AgentEvent>(a.stream, agentDecider, { type: 'CreateAgent', data: { agentId: a.id, name: `Agent ${i + 1}`, login: `agent${i + 1}`, passwordHash: 'x', phone: null, role: 'AGENT' } }, setUpAt + 60_000, admin);
  }
  for (const g of groups) {
    const stream = newStream<SkillGroupState>(streams.skillGroup(instanceId, g.id), skillGroupDecider.initialState());
    run<SkillGroupState, SkillGroupCommand, SkillGroupEvent>(
      stream,
      skillGroupDecider,
      { type: 'CreateSkillGroup', data: { skillGroupId: g.id, name: `${g.channel} ${g.id.slice(0, 4)}`, channel: g.channel, strategy: 'LONGEST_IDLE', maxConcurrency: 1, ringTimeoutSeconds: 20, wrapUpSeconds: g.wrapUpSeconds } },
      setUpAt + 120_000,
      admin,
    );
    for (const a of agents) run<SkillGroupState, SkillGroupCommand, SkillGroupEvent>(stream, skillGroupDecider, { type: 'SetSkillGroupMember', data: { skillGroupId: g.id, agentId: a.id, level: 1 } }, setUpAt + 120_000, admin);
  }
  const presence = (a: Agent, choice: 'AVAILABLE' | 'BREAK' | 'OFFLINE', reason: string | null, at: number, actor = `agent:${a.id}`) =>
    run<AgentState, AgentCommand, AgentEvent>(a.stream, agentDecider, { type: 'SetPresence', data: { agentId: a.id, presence: choice, reason, breakReasons } }, at, actor);
  for (const a of agents) presence(a, 'AVAILABLE', null, start - 1_800_000);

  /** The agent commands the router sends after a contact event: reconcileWorkload's fixes, decided. */
  const reconcile = (a: Agent, contact: Stream<ContactState>, contactId: string, group: Group, at: number) => {
    const state = a.stream.state as ActiveAgent;
    for (const fix of reconcileWorkload(state, new Map([[contactId, contact.state]]), iso(at))) {
      const data =
        fix.type === 'FinishContact'
          ? { agentId: a.id, contactId, wrapUpSeconds: fix.afterCallWork ? group.wrapUpSeconds : 0 }
          : fix.type === 'ReleaseReservation'
            ? { agentId: a.id, contactId, offerId: fix.offerId, reason: fix.reason, breakReason: null }
            : { agentId: a.id, contactId };
      const decided = run<AgentState, AgentCommand, AgentEvent>(a.stream, agentDecider, { type: fix.type, data } as Omit<AgentCommand, 'metadata'>, at, router);
      const wrapUp = decided.find((e): e is Extract<AgentEvent, { type: 'AgentWrapUpStarted' }> => e.type === 'AgentWrapUpStarted');
      // The router ends the after-call work when it runs out.
      if (wrapUp) run<AgentState, AgentCommand, AgentEvent>(a.stream, agentDecider, { type: 'EndWrapUp', data: { agentId: a.id, contactId } }, Date.parse(wrapUp.data.until), router);
    }
  };

  let nextAgent = 0;
  /** The next agent in turn who is free at `at` (LONGEST_IDLE, roughly); null when none is. */
  const freeAgent = (at: number, except: string | null): Agent | null => {
    for (let tried = 0; tried < agents.length; tried++) {
      const a = agents[nextAgent]!;
      nextAgent = (nextAgent + 1) % agents.length;
      if (a.freeAt <= at && a.id !== except) return a;
    }
    return null;
  };

  for (let c = 0; c < size.contacts; c++) {
    const at = Math.round(start + c * spacing);
    if (pending.length >= size.chunk) await flush(at);
    const contactId = randomUUID();
    const contact = newStream<ContactState>(streams.contact(instanceId, contactId), contactDecider.initialState());
    const act = (command: Omit<ContactCommand, 'metadata' | 'data'> & { data: Record<string, unknown> }, t: number, actor = 'system:calls') =>
      run<ContactState, ContactCommand, ContactEvent>(contact, contactDecider, { ...command, data: { ...command.data, contactId } } as Omit<ContactCommand, 'metadata'>, t, actor);
    const r = rnd();
    const channel: Channel = r < 0.7 ? 'PHONE' : r < 0.95 ? 'ONLINE' : 'AV';
    const choices = byChannel[channel];
    const group = choices[Math.floor(rnd() * choices.length)]!;
    const outcome = rnd();
    const customerActor = channel === 'PHONE' ? 'system:calls' : `customer:${contactId}`;
    let messages = 0;
    const say = (from: 'AGENT' | 'CUSTOMER', agentId: string | null, text: string, t: number) => {
      messages++;
      act({ type: 'RecordMessage', data: { from, agentId, messageId: randomUUID(), clientMessageId: `m${messages}`, kind: 'TEXT', text } }, t, from === 'AGENT' ? `agent:${agentId}` : customerActor);
    };
    expected.created++;
    let t = at;
    if (channel === 'PHONE') {
      act(
        {
          type: 'CreateContact',
          data: {
            channel,
            direction: 'IN',
            customer: { kind: 'PHONE', id: `+86138${String(c).padStart(8, '0')}`, name: null },
            data: {},
            call: { callId: `${contactId}@trunk.example.com`, direction: 'IN', from: `+86138${String(c).padStart(8, '0')}`, to: '+864001234567', trunkId: null, node: 'node-a' },
          },
        },
        t,
      );
      act({ type: 'StartFlow', data: { flowId: null } }, t);
      t += 5000;
      act({ type: 'PressKey', data: { key: '1', label: 'Sales' } }, t);
      if (outcome < 0.04) {
        act({ type: 'EndContact', data: { reason: 'customerHangUp', endedBy: 'CUSTOMER', agentId: null } }, t + 3000);
        expected.abandoned++;
        continue;
      }
      t += 5000;
      act({ type: 'QueueContact', data: { skillGroupId: group.id, priority: 0 } }, t);
    } else {
      act(
        {
          type: 'StartChat',
          data: {
            customer: { kind: 'WEB', id: `visitor-${c}`, name: null },
            data: {},
            source: { kind: 'WEB', webChannelId: 'bench-web', clientChatId: contactId, verified: false, pageUrl: 'https://shop.example.com/', referrer: null, userAgent: 'bench', address: '203.0.113.9' },
            skillGroupId: group.id,
            priority: 0,
            reject: null,
            firstMessage: channel === 'ONLINE' ? { messageId: randomUUID(), clientMessageId: 'm0', kind: 'TEXT', text: 'Hello, a question about my order' } : null,
            ...(channel === 'AV' ? { channel: 'AV' as const } : {}),
          },
        },
        t,
        customerActor,
      );
    }
    // Waiting in the queue.
    if (outcome < 0.08) {
      act({ type: 'RejectContact', data: { reason: 'QUEUE_TIMEOUT' } }, t + 120_000, router);
      expected.rejected++;
      continue;
    }
    if (outcome < 0.16) {
      act({ type: 'EndContact', data: { reason: 'customerHangUp', endedBy: 'CUSTOMER', agentId: null } }, t + 40_000, customerActor);
      expected.abandoned++;
      continue;
    }
    t += 2000 + Math.floor(rnd() * 30_000);
    // Offers until an agent answers (a missed one rings out first), or the customer hangs up while it rings.
    let serving: Agent | null = null;
    let transfers = 0;
    for (;;) {
      const agent = freeAgent(t, serving?.id ?? null);
      if (!agent) {
        act({ type: 'EndContact', data: { reason: 'customerHangUp', endedBy: 'CUSTOMER', agentId: null } }, t + 60_000, customerActor);
        expected.abandoned++;
        break;
      }
      const offerId = randomUUID();
      const expiresAt = t + 20_000;
      run<AgentState, AgentCommand, AgentEvent>(
        agent.stream,
        agentDecider,
        { type: 'ReserveAgent', data: { agentId: agent.id, contactId, offerId, channel, skillGroupId: group.id, maxConcurrency: 1, expiresAt: iso(expiresAt) } },
        t,
        router,
      );
      act({ type: 'OfferContact', data: { offerId, agentIds: [agent.id], expiresAt: iso(expiresAt) } }, t, router);
      if (channel === 'PHONE') act({ type: 'RingAgentLeg', data: { offerId, agentId: agent.id, device: 'SIP_PHONE', address: 'sip:agent@10.0.0.5' } }, t);
      const ring = rnd();
      if (transfers === 0 && outcome < 0.2) {
        // The customer gives up while it rings.
        act({ type: 'EndContact', data: { reason: 'customerHangUp', endedBy: 'CUSTOMER', agentId: null } }, t + 3000, customerActor);
        reconcile(agent, contact, contactId, group, t + 3000);
        agent.freeAt = t + 3000;
        expected.abandoned++;
        break;
      }
      if (ring < 0.03 && transfers === 0) {
        // Rings out: the next agent gets it.
        act({ type: 'TimeOutOffer', data: { offerId } }, expiresAt, router);
        reconcile(agent, contact, contactId, group, expiresAt);
        agent.freeAt = expiresAt;
        t = expiresAt + 1000;
        continue;
      }
      t += 3000 + Math.floor(rnd() * 5000);
      act({ type: 'AcceptOffer', data: { offerId, agentId: agent.id } }, t, `agent:${agent.id}`);
      reconcile(agent, contact, contactId, group, t);
      serving = agent;
      if (channel === 'ONLINE') {
        // The agent's first reply (first response time), the customer's answer.
        say('AGENT', agent.id, 'Hello, how can I help?', t + 10_000 + Math.floor(rnd() * 50_000));
        say('CUSTOMER', null, 'My parcel has not come', contact.lastAt + 20_000);
      }
      if (channel === 'PHONE' && rnd() < 0.1) {
        act({ type: 'HoldCall', data: { agentId: agent.id } }, t + 20_000, `agent:${agent.id}`);
        act({ type: 'ResumeCall', data: { agentId: agent.id } }, t + 50_000, `agent:${agent.id}`);
      }
      const talkEnd = Math.max(contact.lastAt, t) + 60_000 + Math.floor(rnd() * 300_000);
      if (transfers === 0 && rnd() < 0.05) {
        // Transferred to another agent: this one is done without after-call work, the next gets an offer.
        const to = freeAgent(talkEnd, agent.id);
        if (to) {
          act({ type: 'TransferContact', data: { agentId: agent.id, toAgentId: to.id, toSkillGroupId: null, note: 'For you' } }, talkEnd, `agent:${agent.id}`);
          reconcile(agent, contact, contactId, group, talkEnd);
          agent.freeAt = talkEnd;
          nextAgent = agents.indexOf(to);
          transfers++;
          t = talkEnd + 1000;
          continue;
        }
      }
      const byAgent = rnd() < 0.3;
      act(
        { type: 'EndContact', data: byAgent ? { reason: 'agentHangUp', endedBy: 'AGENT', agentId: agent.id } : { reason: 'customerHangUp', endedBy: 'CUSTOMER', agentId: null } },
        talkEnd,
        byAgent ? `agent:${agent.id}` : customerActor,
      );
      reconcile(agent, contact, contactId, group, talkEnd);
      agent.freeAt = talkEnd + group.wrapUpSeconds * 1000 + 1000;
      agent.handled++;
      expected.handled++;
      if (agent.handled % 60 === 0) {
        // A night off.
        presence(agent, 'OFFLINE', null, agent.freeAt);
        presence(agent, 'AVAILABLE', null, agent.freeAt + 8 * 3_600_000);
        agent.freeAt += 8 * 3_600_000 + 1000;
      } else if (agent.handled % 20 === 0) {
        const reason = breakReasons[agent.handled % 40 === 0 ? 1 : 0]!;
        presence(agent, 'BREAK', reason, agent.freeAt);
        presence(agent, 'AVAILABLE', null, agent.freeAt + 600_000);
        agent.freeAt += 601_000;
      }
      break;
    }
  }
  await flush(Infinity);
  return { instanceId, events, expected };
}

/** Generates the year (generateReportYear) into the PostgreSQL event store of `sql` (migrated). */
export async function seedReportYear(sql: SqlClient, size: ReportWorkload, log: (m: string) => void): Promise<SeededYear> {
  const t0 = performance.now();
  const writer = new BulkEventWriter(sql, { batchSize: size.chunk });
  await writer.start();
  let lastLog = performance.now();
  const made = await generateReportYear(size, async (rows) => {
    await writer.add(rows);
    if (performance.now() - lastLog > 10_000) {
      lastLog = performance.now();
      log(`written ${writer.written.toLocaleString('en-US')} events`);
    }
  });
  const events = await writer.finish(log);
  if (events !== made.events) throw new Error(`wrote ${events} events of ${made.events}`);
  const ms = performance.now() - t0;
  log(`inserted ${events.toLocaleString('en-US')} events for ${size.contacts.toLocaleString('en-US')} contacts in ${(ms / 1000).toFixed(1)} s`);
  return { instanceId: made.instanceId, events, ms, expected: made.expected };
}
