// In-process routing decisions over a snapshot of the issue's size: no I/O, only src/domain/routing.
//
// 1. assign-pass: assignWaiting over the whole snapshot, as the router runs it on every pass (it reserves
//    as it goes on its own copy of the agents). Assignments/s and the time of one pass.
// 2. decide-one: chooseOffer (what selectAgents wraps) for single contacts picked at random, each timed on
//    its own, against the unreserved snapshot: the latency of one decision.
// 3. decide-big-group: the same with every agent a member of the contact's group, to show how a decision
//    scales with group size (not a size the issue asks for).
import { performance, PerformanceObserver } from 'node:perf_hooks';
import { assignWaiting, type RoutingSnapshot } from '../../src/domain/routing/assign.ts';
import { orderQueue } from '../../src/domain/routing/queue-order.ts';
import type { SkillGroupRouting, WaitingContact } from '../../src/domain/routing/routing-state.ts';
import { chooseOffer, type RoutingContext } from '../../src/domain/routing/select-agent.ts';
import type { Channel, RoutingStrategy } from '../../src/domain/skill-group/skill-group.ts';
import { median, percentile } from '../lib/stats.ts';
import { buildSnapshot, seededRandom, type Snapshot, type SnapshotSize } from './snapshot.ts';

export interface InProcessSettings extends SnapshotSize {
  passes: number;
  decisions: number;
  decisionRounds: number;
  bigGroupDecisions: number;
}

export interface PassRun {
  ms: number;
  /** Main-thread CPU time of the pass (counted in scheduler ticks of a few ms: good to a few %). */
  cpuMs: number;
  assignments: number;
  /** Agents offered over all assignments (RING_ALL offers to many). */
  reservations: number;
}

export interface DecisionSample {
  /** Wall-clock milliseconds of each decision, in run order. */
  ms: number[];
  /**
   * The same decision run twice more right after, and the fastest of the three kept: what the decision
   * itself costs, without a GC pause or a wait for a CPU (a shared host) that landed in one run. A little
   * optimistic, as the repeats find the contact's group in the CPU caches. (Per-thread CPU time is no
   * help here: Linux counts it in scheduler ticks of 4 ms.)
   */
  bestMs: number[];
  /** Decisions/s of each round: decisions over the sum of their first-run times. */
  perRound: number[];
  byStrategy: Map<string, number[]>;
  bestByStrategy: Map<string, number[]>;
  outcomes: Record<'offer' | 'waitForPreferredAgent' | 'noEligibleAgent', number>;
  /** Agents named per offer, summed (RING_ALL names many). */
  agentsNamed: number;
  /** p99 of each round. */
  roundP99: number[];
  /** Process CPU time over wall-clock time while sampling: well below 1 means the process waited for a CPU. */
  cpuShare: number;
  /** Garbage collections while sampling, and their total pause. */
  gc: { count: number; ms: number };
}

export interface InProcessResult {
  snapshot: { agents: number; groups: number; waiting: number; memberships: number; available: number; strategies: Record<string, number>; buildMs: number };
  passes: PassRun[];
  /** orderQueue alone (the sort that starts every pass), median over as many runs as passes. */
  orderMs: number;
  /** assignWaiting with every agent busy (nothing to offer): what every router pass costs while contacts wait. */
  busyPassMs: number[];
  busyPassCpuMs: number[];
  decisions: DecisionSample;
  bigGroup: { members: number; byStrategy: Map<string, number[]>; bestByStrategy: Map<string, number[]> };
}

async function sampleDecisions(
  snap: RoutingSnapshot,
  contacts: readonly WaitingContact[],
  ctx: RoutingContext,
  count: number,
  rounds: number,
  seed: number,
  groupOf: (c: WaitingContact) => SkillGroupRouting,
): Promise<DecisionSample> {
  const random = seededRandom(seed);
  const ms: number[] = [];
  const bestMs: number[] = [];
  const perRound: number[] = [];
  const byStrategy = new Map<string, number[]>();
  const bestByStrategy = new Map<string, number[]>();
  const outcomes = { offer: 0, waitForPreferredAgent: 0, noEligibleAgent: 0 };
  let agentsNamed = 0;
  const roundP99: number[] = [];
  const perRoundCount = Math.max(1, Math.floor(count / rounds));
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  const gc = { count: 0, ms: 0 };
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gc.count++;
      gc.ms += e.duration;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  for (let r = 0; r < rounds; r++) {
    const from = ms.length;
    for (let i = 0; i < perRoundCount; i++) {
      const contact = contacts[Math.floor(random() * contacts.length)]!;
      const group = groupOf(contact);
      const t0 = performance.now();
      const choice = chooseOffer(group, contact, snap.agents, ctx);
      const dt = performance.now() - t0;
      let best = dt;
      for (let k = 0; k < 2; k++) {
        const t1 = performance.now();
        chooseOffer(group, contact, snap.agents, ctx);
        best = Math.min(best, performance.now() - t1);
      }
      ms.push(dt);
      bestMs.push(best);
      let list = byStrategy.get(group.strategy);
      if (!list) byStrategy.set(group.strategy, (list = []));
      list.push(dt);
      let bestList = bestByStrategy.get(group.strategy);
      if (!bestList) bestByStrategy.set(group.strategy, (bestList = []));
      bestList.push(best);
      outcomes[choice.kind]++;
      if (choice.kind === 'offer') agentsNamed += choice.agentIds.length;
    }
    perRound.push(perRoundCount / (ms.slice(from).reduce((a, b) => a + b, 0) / 1000));
    roundP99.push(percentile(ms.slice(from), 99));
  }
  const wall = performance.now() - wall0;
  const cpu = process.cpuUsage(cpu0);
  // GC entries reach the observer from the event loop: let it turn, then take what is still queued.
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
  for (const e of observer.takeRecords()) {
    gc.count++;
    gc.ms += e.duration;
  }
  observer.disconnect();
  return { ms, bestMs, perRound, byStrategy, bestByStrategy, outcomes, agentsNamed, roundP99, cpuShare: (cpu.user + cpu.system) / 1000 / wall, gc };
}

/** One group holding every agent, per channel and strategy, for the scaling check. */
function bigGroups(snap: Snapshot): Map<RoutingStrategy, { group: SkillGroupRouting; channel: Channel }> {
  const members = new Map<string, number>();
  let i = 0;
  for (const agentId of snap.agents.keys()) members.set(agentId, 1 + (i++ % 5));
  const out = new Map<RoutingStrategy, { group: SkillGroupRouting; channel: Channel }>();
  const shapes: [RoutingStrategy, Channel, number][] = [
    ['LONGEST_IDLE', 'PHONE', 1],
    ['RING_ALL', 'PHONE', 1],
    ['SATURATION', 'ONLINE', 5],
  ];
  for (const [strategy, channel, maxConcurrency] of shapes) {
    out.set(strategy, { channel, group: { skillGroupId: `sg-all-${strategy}`, channel, strategy, maxConcurrency, members } });
  }
  return out;
}

export async function runInProcess(s: InProcessSettings, log: (msg: string) => void): Promise<InProcessResult> {
  const b0 = performance.now();
  const snap = buildSnapshot(s);
  const buildMs = performance.now() - b0;
  const ctx: RoutingContext = { now: snap.now, random: seededRandom(s.seed + 1) };
  const available = [...snap.agents.values()].filter((a) => a.available).length;
  log(
    `in process: ${snap.agents.size} agents (${available} available) in ${snap.groups.size} groups (${snap.memberships} memberships), ${snap.waiting.length} waiting; built in ${buildMs.toFixed(0)} ms`,
  );

  // Warm-up: let V8 optimise the code paths before anything is timed.
  for (let i = 0; i < 2; i++) assignWaiting(snap, ctx);
  const groupOf = (c: WaitingContact) => snap.groups.get(c.skillGroupId)!;
  await sampleDecisions(snap, snap.waiting, ctx, Math.min(5000, s.decisions), 1, s.seed + 2, groupOf);

  const passes: PassRun[] = [];
  const orderRuns: number[] = [];
  for (let i = 0; i < s.passes; i++) {
    const c0 = process.threadCpuUsage();
    const t0 = performance.now();
    const assignments = assignWaiting(snap, ctx);
    const ms = performance.now() - t0;
    const c = process.threadCpuUsage(c0);
    passes.push({ ms, cpuMs: (c.user + c.system) / 1000, assignments: assignments.length, reservations: assignments.reduce((n, a) => n + a.agentIds.length, 0) });
    const o0 = performance.now();
    orderQueue(snap.waiting);
    orderRuns.push(performance.now() - o0);
  }
  const busy: RoutingSnapshot = { ...snap, agents: new Map([...snap.agents].map(([id, a]) => [id, { ...a, available: false }])) };
  assignWaiting(busy, ctx);
  const busyPassMs: number[] = [];
  const busyPassCpuMs: number[] = [];
  for (let i = 0; i < s.passes; i++) {
    const c0 = process.threadCpuUsage();
    const t0 = performance.now();
    const none = assignWaiting(busy, ctx);
    busyPassMs.push(performance.now() - t0);
    const c = process.threadCpuUsage(c0);
    busyPassCpuMs.push((c.user + c.system) / 1000);
    if (none.length > 0) throw new Error('assignWaiting offered to a busy agent');
  }
  const mid = [...passes].sort((a, b) => a.ms - b.ms)[Math.floor(passes.length / 2)]!;
  log(`in process: assignWaiting ${mid.assignments} assignments (${mid.reservations} agents offered) in ${mid.ms.toFixed(1)} ms (median of ${s.passes})`);

  const decisions = await sampleDecisions(snap, snap.waiting, ctx, s.decisions, s.decisionRounds, s.seed + 3, groupOf);
  log(
    `in process: ${decisions.ms.length} single decisions, wall p50 ${percentile(decisions.ms, 50).toFixed(4)} ms, p99 ${percentile(decisions.ms, 99).toFixed(4)} ms; ` +
      `best of 3 p50 ${percentile(decisions.bestMs, 50).toFixed(4)} ms, p99 ${percentile(decisions.bestMs, 99).toFixed(4)} ms; CPU share ${Math.round(decisions.cpuShare * 100)}%`,
  );

  const big = bigGroups(snap);
  const byStrategy = new Map<string, number[]>();
  const bestByStrategy = new Map<string, number[]>();
  for (const [strategy, { group, channel }] of big) {
    const contacts = snap.waiting.slice(0, 1000).map((c) => ({ ...c, skillGroupId: group.skillGroupId, channel, triedAgentIds: [], preferredAgent: null }));
    await sampleDecisions(snap, contacts, ctx, Math.min(200, s.bigGroupDecisions), 1, s.seed + 4, () => group);
    const sample = await sampleDecisions(snap, contacts, ctx, s.bigGroupDecisions, 1, s.seed + 5, () => group);
    byStrategy.set(strategy, sample.ms);
    bestByStrategy.set(strategy, sample.bestMs);
  }
  log(
    `in process: one group of all ${snap.agents.size} agents: ${[...byStrategy].map(([k, v]) => `${k} p99 ${percentile(v, 99).toFixed(3)} ms`).join(', ')}`,
  );

  return {
    snapshot: {
      agents: snap.agents.size,
      groups: snap.groups.size,
      waiting: snap.waiting.length,
      memberships: snap.memberships,
      available,
      strategies: snap.strategies,
      buildMs,
    },
    passes,
    orderMs: median(orderRuns),
    busyPassMs,
    busyPassCpuMs,
    decisions,
    bigGroup: { members: snap.agents.size, byStrategy, bestByStrategy },
  };
}
