// Shared execution of live views (src/api/live-fanout.ts) gives each subscriber exactly what its own execution
// would: random selections (aliases, fragments, inline fragments, @include with a variable), random variables
// and principals of two instances (agents and supervisors mixed), over real graphql-ws connections. Each change
// is compared with the selection executed for that subscriber alone, with its own principal, on the bus
// message. The seed is printed; KEFU_FUZZ_SEED=<seed> replays a run.
import { execute, parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentStatusTopic } from '../../src/projections/agents/agents.projection.ts';
import type { Principal } from '../../src/api/auth.ts';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { collect, wsClient } from '../support/ws-client.ts';
import { until } from '../support/until.ts';
import { fuzzSeed, seededRandom } from '../support/seeded-random.ts';

const seed = fuzzSeed();

/** Seeded picks of test cases. */
function randomFrom(s: number) {
  const next = seededRandom(s);
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T,>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const some = <T,>(xs: readonly T[], min = 1): T[] => {
    const out = xs.filter(() => next() < 0.5);
    while (out.length < min) out.push(pick(xs.filter((x) => !out.includes(x))));
    return out;
  };
  return { next, int, pick, some };
}
type Random = ReturnType<typeof randomFrom>;

// Fields whose value does not depend on when they are computed (secondsInState and onlineSecondsToday do).
const agentFields = ['id', 'name', 'login', 'role', 'presence', 'breakReason', 'forcedOfflineReason', 'mobileNumber', 'sipUsername', 'answerOnMobile', 'skillGroups { level }'];
const statusLeaves = ['presence', 'reason', 'since', 'contactsHandledToday', 'wrapUpUntil'];

function selection(r: Random, depth = 0): string {
  const parts: string[] = [];
  for (const f of r.some(statusLeaves)) parts.push(r.next() < 0.25 ? `a${r.int(3)}${f}: ${f}` : f);
  if (r.next() < 0.7) parts.push(`agent { ${r.some(agentFields).join(' ')} }`);
  if (r.next() < 0.4) parts.push(`workload { ${r.some(['phone', 'online', 'av']).join(' ')} }`);
  if (r.next() < 0.4) parts.push(`reason @include(if: $flag)`);
  if (depth === 0 && r.next() < 0.4) parts.push(`... on AgentStatus { ${selection(r, 1)} }`);
  if (depth === 0 && r.next() < 0.4) parts.push('...Status');
  return parts.join(' ');
}

function document(r: Random): string {
  const body = selection(r);
  const fragment = body.includes('...Status') ? ` fragment Status on AgentStatus { ${selection(r, 1)} }` : '';
  const flag = (body + fragment).includes('$flag') ? ', $flag: Boolean!' : '';
  return `subscription Live($agentId: ID${flag}) { agentStatusChanged(agentId: $agentId) { ${body} } }${fragment}`;
}

interface Person {
  id: string;
  token: string;
  instanceId: string;
  principal: Principal;
}

describe('shared execution of live views', () => {
  let t: TestKefu;
  let url: string;
  beforeAll(async () => {
    t = await startTestKefu({ database: 'pglite', listen: true });
    url = `http://127.0.0.1:${(t.kefu.app.server.address() as { port: number }).port}`;
  });
  afterAll(async () => t?.close());

  it('gives each subscriber exactly what its own execution would', async () => {
    console.log(`live-sharing seed ${seed} (KEFU_FUZZ_SEED=${seed} replays)`);
    const r = randomFrom(seed);
    const people: Person[] = [];
    for (const name of ['Acme', 'Other']) {
      const seeded = await seedInstance(t, {
        name,
        agents: [
          { name: `${name} Ann`, login: 'ann' },
          { name: `${name} Bob`, login: 'bob' },
          { name: `${name} Sue`, login: 'sue', role: 'SUPERVISOR' },
        ],
      });
      seeded.agents.forEach((a, i) =>
        people.push({ id: a.id, token: a.token, instanceId: seeded.instanceId, principal: { kind: 'agent', instanceId: seeded.instanceId, agentId: a.id, role: i === 2 ? 'SUPERVISOR' : 'AGENT' } }),
      );
    }

    // Few documents and variable sets for many subscribers, so that groups form; every case still random.
    const documents = Array.from({ length: 3 }, () => document(r));
    const subscribers = Array.from({ length: 32 }, () => {
      const who = r.pick(people);
      const isSupervisor = who.principal.kind === 'agent' && who.principal.role === 'SUPERVISOR';
      const colleagues = people.filter((p) => p.instanceId === who.instanceId);
      // Agents mostly follow themselves (or nobody named); sometimes one asks for a colleague and is refused.
      const agentId = r.next() < 0.6 ? null : isSupervisor ? r.pick(colleagues).id : r.next() < 0.8 ? who.id : r.pick(colleagues.filter((c) => c.id !== who.id)).id;
      const variables = { agentId, flag: r.next() < 0.7 };
      const query = r.pick(documents);
      const refused = !isSupervisor && agentId !== null && agentId !== who.id;
      const snapshot = refused ? 0 : isSupervisor && agentId === null ? colleagues.length : 1;
      const client = wsClient(url, who.token);
      const sub = collect<{ agentStatusChanged: unknown }>(client, query, variables);
      return { who, query, variables, refused, snapshot, client, sub };
    });

    const messages: { instanceId: string; message: { id: string } }[] = [];
    const unsubscribes = await Promise.all(
      [...new Set(people.map((p) => p.instanceId))].map((instanceId) => t.kefu.bus.subscribe(agentStatusTopic(instanceId), (m) => messages.push({ instanceId, message: m as { id: string } }))),
    );

    for (const s of subscribers) {
      if (s.refused) await until(async () => s.sub.errors.length, (n) => n > 0);
      else await s.sub.next(s.snapshot, 30_000);
    }
    for (const s of subscribers.filter((x) => x.refused)) expect(JSON.stringify(s.sub.errors)).toContain('FORBIDDEN');
    const executionsBefore = t.kefu.app.liveFanout.counts.executions;

    // Each change makes the agent's state differ from the one before (OFFLINE → AVAILABLE → BREAK → AVAILABLE ...).
    const onBreak = new Map<string, boolean>();
    const changes = 12;
    for (let k = 0; k < changes; k++) {
      const who = r.pick(people);
      const toBreak = onBreak.has(who.id) && !onBreak.get(who.id);
      onBreak.set(who.id, toBreak);
      await t.ok(who.token, toBreak ? `mutation { setPresence(input: { presence: BREAK, reason: "${r.pick(["Rest", "Meal", "Meeting", "Training"])}" }) { id } }` : 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    }
    await until(async () => messages.length, (n) => n === changes);

    let frames = 0;
    /** Per message, the groups that see it: one execution each. */
    const groups = messages.map(() => new Set<string>());
    for (const s of subscribers.filter((x) => !x.refused)) {
      const { principal } = s.who;
      const isSupervisor = principal.kind === 'agent' && principal.role === 'SUPERVISOR';
      const seen = messages.filter(
        ({ instanceId, message }) => instanceId === s.who.instanceId && (isSupervisor || message.id === s.who.id) && (!s.variables.agentId || message.id === s.variables.agentId),
      );
      const expected = [];
      const view = isSupervisor ? `${s.who.instanceId} supervisor` : s.who.id;
      const declared = { agentId: s.variables.agentId, ...(s.query.includes('$flag: Boolean!') ? { flag: s.variables.flag } : {}) };
      for (const m of seen) groups[messages.indexOf(m)]!.add(`${view} ${s.query} ${JSON.stringify(declared)}`);
      for (const { message } of seen) {
        // The subscriber's own execution: its principal, its variables, the message as published.
        const own = await execute({
          schema: t.kefu.app.graphql.schema,
          document: parse(s.query),
          rootValue: message,
          contextValue: { deps: { db: t.kefu.db, clock: () => new Date() }, principal },
          variableValues: s.variables,
        });
        expect(own.errors).toBeUndefined();
        expected.push(JSON.parse(JSON.stringify(own.data)));
      }
      const got = await s.sub.next(s.snapshot + expected.length, 30_000);
      frames += expected.length;
      expect(got.slice(s.snapshot), `seed ${seed}: ${s.query} ${JSON.stringify(s.variables)} as ${JSON.stringify(principal)}`).toEqual(expected);
    }
    // The point of sharing: one execution per change and group of subscribers, whatever their number.
    const executions = t.kefu.app.liveFanout.counts.executions - executionsBefore;
    const groupCount = groups.reduce((n, g) => n + g.size, 0);
    console.log(`live-sharing: ${frames} frames from ${executions} executions (${groupCount} groups over ${changes} changes)`);
    expect(executions).toBe(groupCount);

    // Nothing more arrives for anyone (no duplicate), once the last change's frames were written.
    for (const s of subscribers) {
      s.sub.dispose();
      await s.client.dispose();
    }
    for (const s of subscribers.filter((x) => !x.refused)) expect(s.sub.errors).toEqual([]);
    await Promise.all(unsubscribes.map((u) => u()));
  }, 180_000);
});
