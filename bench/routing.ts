// Routing benchmark (issue 3): "10,000 waiting contacts and 5,000 agents in 50 skill groups: assignments
// per second and decision latency p50/p99 in process (target p99 < 1 ms), and offers per second end to end
// through the event store on PostgreSQL."
//
// In process (bench/routing/in-process.ts): assignWaiting over a seeded snapshot of that size, the
// latency of single decisions (chooseOffer) against it, and a scaling check with one group of every agent.
// End to end (bench/routing/end-to-end.ts): the real Router on PostgreSQL, from its start until every agent
// of a smaller seeded contact center is at capacity.
// There is no routing peer to compare with; the tables show absolute figures, and the notes the ratio of
// the decision p99 to the issue's 1 ms target.
import { envInt } from './lib/config.ts';
import type { BenchModule } from './lib/module.ts';
import type { ResultRow } from './lib/report.ts';
import { median, percentile } from './lib/stats.ts';
import { e2eDatabase, runEndToEnd, type EndToEndResult, type EndToEndSettings } from './routing/end-to-end.ts';
import { runInProcess, type InProcessResult, type InProcessSettings } from './routing/in-process.ts';

/** The issue's target for one decision. */
const targetP99Ms = 1;

function settings(): { inProcess: InProcessSettings; e2e: EndToEndSettings; skipE2e: boolean } {
  const seed = envInt('BENCH_ROUTING_SEED', 42);
  return {
    inProcess: {
      agents: Math.max(1, envInt('BENCH_ROUTING_AGENTS', 5000)),
      groups: Math.max(1, envInt('BENCH_ROUTING_GROUPS', 50)),
      waiting: Math.max(1, envInt('BENCH_ROUTING_WAITING', 10_000)),
      seed,
      passes: Math.max(1, envInt('BENCH_ROUTING_PASSES', 7)),
      decisions: Math.max(1, envInt('BENCH_ROUTING_DECISIONS', 50_000)),
      decisionRounds: Math.max(1, envInt('BENCH_ROUTING_DECISION_ROUNDS', 5)),
      bigGroupDecisions: Math.max(1, envInt('BENCH_ROUTING_BIG_GROUP_DECISIONS', 500)),
    },
    e2e: {
      agents: Math.max(1, envInt('BENCH_ROUTING_E2E_AGENTS', 500)),
      groups: Math.max(1, envInt('BENCH_ROUTING_E2E_GROUPS', 10)),
      contacts: Math.max(1, envInt('BENCH_ROUTING_E2E_CONTACTS', 2000)),
      seed,
      seedConcurrency: Math.max(1, envInt('BENCH_ROUTING_E2E_SEED_CONCURRENCY', 16)),
      timeoutMs: Math.max(1, envInt('BENCH_ROUTING_E2E_TIMEOUT_S', 120)) * 1000,
      quietMs: Math.max(1, envInt('BENCH_ROUTING_E2E_QUIET_S', 10)) * 1000,
      keepDatabase: process.env.BENCH_KEEP_DATABASES === '1',
    },
    skipE2e: process.env.BENCH_ROUTING_E2E === '0',
  };
}

let lastInProcess: InProcessResult | null = null;
let lastE2e: EndToEndResult | null = null;

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const fmtMs = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toFixed(3));

export async function runRoutingBench(): Promise<ResultRow[]> {
  const s = settings();
  const log = (msg: string) => process.stderr.write(`  ${msg}\n`);
  lastInProcess = null;
  lastE2e = null;
  const rows: ResultRow[] = [];

  const ip = await runInProcess(s.inProcess, log);
  lastInProcess = ip;
  const sizes = `${int(ip.snapshot.agents)} agents, ${ip.snapshot.groups} groups, ${int(ip.snapshot.waiting)} waiting`;
  const passRates = ip.passes.map((p) => p.assignments / (p.ms / 1000));
  const passMs = ip.passes.map((p) => p.ms);
  const assignments = median(ip.passes.map((p) => p.assignments));
  rows.push({
    measurement: 'assign-pass',
    label: `assignWaiting over the whole snapshot (${sizes}): assignments/s (time of one pass); latency = one pass`,
    target: 'in-process',
    events: assignments,
    ms: median(passMs),
    eventsPerSec: median(passRates),
    p50Ms: median(passMs),
    p99Ms: percentile(passMs, 99),
    perRound: passRates,
    showTime: true,
  });
  const passCpu = ip.passes.map((p) => p.cpuMs);
  const cpuRates = ip.passes.map((p) => p.assignments / (p.cpuMs / 1000));
  rows.push({
    measurement: 'assign-pass-cpu',
    label: `The same passes in main-thread CPU time (counted in scheduler ticks): assignments per CPU-second (CPU time of one pass); latency = CPU time of one pass`,
    target: 'in-process',
    events: assignments,
    ms: median(passCpu),
    eventsPerSec: median(cpuRates),
    p50Ms: median(passCpu),
    p99Ms: percentile(passCpu, 99),
    perRound: cpuRates,
    showTime: true,
  });
  const busyRates = ip.busyPassMs.map((ms) => ip.snapshot.waiting / (ms / 1000));
  rows.push({
    measurement: 'assign-pass-busy',
    label: `assignWaiting with every agent busy (the router's pass while nothing can be offered): waiting contacts walked/s (time of one pass)`,
    target: 'in-process',
    events: ip.snapshot.waiting,
    ms: median(ip.busyPassMs),
    eventsPerSec: median(busyRates),
    p50Ms: median(ip.busyPassMs),
    p99Ms: percentile(ip.busyPassMs, 99),
    perRound: busyRates,
    showTime: true,
  });
  const d = ip.decisions;
  rows.push({
    measurement: 'decide-one',
    label: `One decision (chooseOffer) for a random waiting contact against the same snapshot: decisions/s; latency = one decision`,
    target: 'in-process',
    events: d.ms.length,
    ms: d.ms.reduce((a, b) => a + b, 0),
    eventsPerSec: median(d.perRound),
    p50Ms: percentile(d.ms, 50),
    p99Ms: percentile(d.ms, 99),
    perRound: d.perRound,
  });
  const bestTotal = d.bestMs.reduce((a, b) => a + b, 0);
  rows.push({
    measurement: 'decide-one-best',
    label: `The same decisions, each the fastest of 3 back-to-back runs (GC pauses and waits for a CPU left out): decisions/s; latency = one decision`,
    target: 'in-process',
    events: d.bestMs.length,
    ms: bestTotal,
    eventsPerSec: d.bestMs.length / (bestTotal / 1000),
    p50Ms: percentile(d.bestMs, 50),
    p99Ms: percentile(d.bestMs, 99),
    perRound: [d.bestMs.length / (bestTotal / 1000)],
  });
  for (const [strategy, ms] of ip.bigGroup.byStrategy) {
    rows.push({
      measurement: `decide-big-${strategy}`,
      label: `Scaling check: one decision in a ${strategy} group of all ${int(ip.bigGroup.members)} agents: decisions/s; latency = one decision`,
      target: 'in-process',
      events: ms.length,
      ms: ms.reduce((a, b) => a + b, 0),
      eventsPerSec: ms.length / (ms.reduce((a, b) => a + b, 0) / 1000),
      p50Ms: percentile(ms, 50),
      p99Ms: percentile(ms, 99),
      perRound: [ms.length / (ms.reduce((a, b) => a + b, 0) / 1000)],
    });
  }

  if (!s.skipE2e) {
    const e = await runEndToEnd(s.e2e, log);
    lastE2e = e;
    const window = e.lastOfferMs - e.firstOfferMs;
    const rate = window > 0 ? (e.offers - 1) / (window / 1000) : NaN;
    rows.push({
      measurement: 'e2e-offers',
      label: `End to end on PostgreSQL: offers/s from the first offer to the last (${e.agents} agents, ${e.groups.length} groups, ${int(e.contacts)} queued); latency = gap between offers`,
      target: 'kefu-postgres',
      events: e.offers,
      ms: window,
      eventsPerSec: rate,
      p50Ms: percentile(e.offerGaps, 50),
      p99Ms: percentile(e.offerGaps, 99),
      perRound: [rate],
      showTime: true,
    });
    const overall = e.offers / (e.lastOfferMs / 1000);
    rows.push({
      measurement: 'e2e-offers-from-start',
      label: `End to end: offers/s from router.start() to every agent at capacity (lease, catch-up and first pass included)`,
      target: 'kefu-postgres',
      events: e.offers,
      ms: e.lastOfferMs,
      eventsPerSec: overall,
      p50Ms: percentile(e.offerGaps, 50),
      p99Ms: percentile(e.offerGaps, 99),
      perRound: [overall],
      showTime: true,
    });
  }
  return rows;
}

function describe(): string {
  const s = settings();
  const i = s.inProcess;
  const e = s.e2e;
  return [
    `**In process** (no I/O; src/domain/routing only): a seeded snapshot of ${int(i.agents)} agents in ${i.groups} skill groups (40% PHONE with RING_ALL in every 7th,`,
    `40% ONLINE with SATURATION in 3 of 8 and 2-5 chats each, 20% AV; every strategy present), each agent a member of 1-3 groups at level 1-5, 75% available,`,
    `40% with their line busy, 0-4 chats held; ${int(i.waiting)} waiting contacts spread over the groups (priorities 0-2, 10% with agents that already missed them,`,
    `5% waiting for their last agent). assignWaiting runs ${i.passes} passes over the whole snapshot after 2 warm-up passes (median shown; latency columns: median and`,
    `slowest pass); the busy variant is the same snapshot with no agent available. Single decisions: ${int(i.decisions)} chooseOffer calls (selectAgents is chooseOffer`,
    `plus a map) for random contacts, each timed alone, in ${i.decisionRounds} rounds, against the unreserved snapshot; the scaling check puts all agents in one group.`,
    `**End to end** (${s.skipE2e ? 'skipped this run' : `database ${e2eDatabase}, fresh`}): ${e.agents} agents AVAILABLE in ${e.groups} groups (1-2 each), ${int(e.contacts)} contacts queued,`,
    `seeded through CommandHandler (not timed); then the real Router (own pool, own CommandHandler) is started and timed until every agent is at capacity;`,
    `"offers" are ContactOffered events it appended (a RING_ALL offer reserves every free member). Sizes: BENCH_ROUTING_* variables (bench/routing.ts).`,
  ].join(' ');
}

function table(header: string[], body: string[][]): string {
  return [header, header.map((_, k) => (k === 0 ? '---' : '---:')), ...body].map((c) => `| ${c.join(' | ')} |`).join('\n');
}

function notes(): string {
  const out: string[] = [];
  const ip = lastInProcess;
  if (ip) {
    const d = ip.decisions;
    const p99 = percentile(d.ms, 99);
    const bestP99 = percentile(d.bestMs, 99);
    const verdict = (v: number) => `**${(v / targetP99Ms).toFixed(2)}x** (${v < targetP99Ms ? 'met' : 'NOT met'})`;
    const strategies = [...d.byStrategy.keys()].sort();
    const row = (k: string, wall: number[], best: number[]) => [
      k,
      int(wall.length),
      `${fmtMs(percentile(wall, 50))} / ${fmtMs(percentile(wall, 99))} / ${fmtMs(percentile(wall, 99.9))} / ${fmtMs(Math.max(...wall))}`,
      `${fmtMs(percentile(best, 50))} / ${fmtMs(percentile(best, 99))} / ${fmtMs(Math.max(...best))}`,
    ];
    out.push(
      table(
        ['Target (issue 3)', 'Measured', 'Measured / target'],
        [
          [`Decision p99 < ${targetP99Ms} ms, wall clock`, `p99 ${fmtMs(p99)} ms (per round: ${d.roundP99.map(fmtMs).join(', ')})`, verdict(p99)],
          [`Decision p99 < ${targetP99Ms} ms, fastest of 3 runs per decision`, `p99 ${fmtMs(bestP99)} ms`, verdict(bestP99)],
        ],
      ),
      '',
      `While the decisions were sampled the process had a CPU ${Math.round(d.cpuShare * 100)}% of the wall-clock time (CPU time / wall time), and ${d.gc.count} garbage ` +
        `collections paused it ${fmtMs(d.gc.ms)} ms in all. On a shared host the wall-clock tail (p99 and above) is mostly time spent waiting for a CPU or in a GC pause ` +
        `in the middle of a decision; the best-of-3 column is what a decision itself costs.`,
      '',
      table(
        ['Single decisions', 'decisions', 'wall p50 / p99 / p99.9 / max ms', 'best of 3: p50 / p99 / max ms'],
        [...strategies.map((k) => row(k, d.byStrategy.get(k)!, d.bestByStrategy.get(k)!)), row('all', d.ms, d.bestMs)],
      ),
      '',
      `Outcomes: ${int(d.outcomes.offer)} offers naming ${int(d.agentsNamed)} agents (RING_ALL names every free member), ${int(d.outcomes.waitForPreferredAgent)} waits for the ` +
        `last agent, ${int(d.outcomes.noEligibleAgent)} with no eligible agent.`,
      '',
      table(
        [`Scaling check: one group of all ${int(ip.bigGroup.members)} agents`, 'decisions', 'wall p50 / p99 ms', 'best of 3: p50 / p99 ms'],
        [...ip.bigGroup.byStrategy].map(([k, wall]) => {
          const best = ip.bigGroup.bestByStrategy.get(k)!;
          return [k, int(wall.length), `${fmtMs(percentile(wall, 50))} / ${fmtMs(percentile(wall, 99))}`, `${fmtMs(percentile(best, 50))} / ${fmtMs(percentile(best, 99))}`];
        }),
      ),
      '',
      `assignWaiting: ${int(median(ip.passes.map((p) => p.assignments)))} assignments (${int(median(ip.passes.map((p) => p.reservations)))} agents offered) per pass over ` +
        `${int(ip.snapshot.waiting)} waiting contacts and ${int(ip.snapshot.available)} available agents (${int(ip.snapshot.memberships)} memberships). ` +
        `Passes took ${ip.passes.map((p) => fmtMs(p.ms)).join(', ')} ms (CPU time ${ip.passes.map((p) => fmtMs(p.cpuMs)).join(', ')} ms). ` +
        `orderQueue alone (the sort by priority and queuedAt that starts every pass) took ${fmtMs(ip.orderMs)} ms. ` +
        `With every agent busy, a pass took ${ip.busyPassMs.map(fmtMs).join(', ')} ms (CPU ${ip.busyPassCpuMs.map(fmtMs).join(', ')} ms).`,
    );
  }
  const e = lastE2e;
  if (e) {
    const pct = (v: number[], p: number) => (v.length ? fmtMs(percentile(v, p)) : '-');
    const sqlTotal = Object.values(e.sql).reduce((a, t) => a + t.ms, 0);
    out.push(
      '',
      table(
        ['End to end', 'Value'],
        [
          ['Agents / seats (calls + chats) / groups / contacts queued', `${e.agents} / ${int(e.capacity)} / ${e.groups.length} / ${int(e.contacts)}`],
          ['Groups (channel strategy maxConcurrency: members, contacts)', e.groups.map((g) => `${g.channel} ${g.strategy} ${g.maxConcurrency}: ${g.members}, ${g.contacts}`).join('; ')],
          ['Seeding (not timed)', `${int(e.seed.commands)} commands, ${int(e.seed.events)} events in ${(e.seed.ms / 1000).toFixed(1)} s`],
          ['Router start -> lease held and caught up', `${fmtMs(e.caughtUpMs)} ms${e.hiddenAtStart ? ` (${int(e.hiddenAtStart)} seeded events were still hidden from readAll at start by a transaction open elsewhere on the server)` : ''}`],
          ['Router start -> first ReserveAgent sent (catch-up + reconcile + first pass)', `${fmtMs(e.firstReserveMs)} ms`],
          ['**Router start -> first offer appended**', `**${fmtMs(e.firstOfferMs)} ms**`],
          ['Router start -> last offer (every agent at capacity)', `${fmtMs(e.lastOfferMs)} ms${e.complete ? '' : ' (INCOMPLETE: stopped by timeout or quiet period)'}`],
          ['Offers / reservations / agents full', `${int(e.offers)} / ${int(e.reservations)} / ${e.agentsFull} of ${e.agents}`],
          ['**Offers/s, first to last offer**', `**${int((e.offers - 1) / ((e.lastOfferMs - e.firstOfferMs) / 1000))}** (reservations/s ${int(e.reservations / ((e.lastOfferMs - e.firstReserveMs) / 1000))})`],
          ['Gap between offers p50 / p99 / max', `${pct(e.offerGaps, 50)} / ${pct(e.offerGaps, 99)} / ${e.offerGaps.length ? fmtMs(Math.max(...e.offerGaps)) : '-'} ms`],
          ...Object.entries(e.commandMs).map(([type, v]) => [
            `Router command ${type}: count, p50 / p99 ms`,
            `${int(v.length)}, ${pct(v, 50)} / ${pct(v, 99)}${e.failures[type] ? ` (${e.failures[type]} failed)` : ''}`,
          ]),
          ...Object.entries(e.sql)
            .sort((a, b) => b[1].ms - a[1].ms)
            .map(([k, t]) => [
              `Router SQL: ${k}`,
              `${int(t.calls)} calls, ${(t.ms / 1000).toFixed(2)} s (${Math.round((t.ms / Math.max(1, sqlTotal)) * 100)}% of SQL time), ${fmtMs(t.ms / Math.max(1, t.calls))} ms each`,
            ]),
        ],
      ),
      '',
      `Checks: ${e.checks}${e.routerErrors.length ? ` Router errors: ${e.routerErrors.length} (first: ${e.routerErrors[0]}).` : ' No router errors.'}`,
    );
  }
  return out.join('\n');
}

export const routingBench: BenchModule = {
  name: 'routing',
  title: 'Routing',
  describe,
  comparison: null,
  run: runRoutingBench,
  notes,
};
