// The event log of the reports benchmark: one instance's year (2025) of contacts, written as Kefu writes its
// events, inserted straight into `kefu_events` in chunks (one transaction each, one writer, so every stream's
// events commit in revision order; no chunk crosses a power of ten of `seq`, see bench/projections/workload.ts).
//
// Contacts arrive every (year / contacts) seconds. Each is a PHONE (70 %), ONLINE (25 %) or AV (5 %) contact
// of one of the skill groups; 4 % hang up in the IVR, 4 % are turned away after waiting, 8 % hang up in the
// queue, 4 % while an agent rings, the rest are answered by the next agent in turn (rings 5 s, talk 1-6 min,
// 30 s after-call work). Agents go on break now and then. The generator counts what it made, so the
// benchmark can check the report's totals. Seeded: the same log on every run (ids differ).
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { SqlClient } from '../../src/adapters/sql/sql-client.ts';
import { streams } from '../../src/domain/streams.ts';

export interface ReportWorkload {
  contacts: number;
  agents: number;
  groups: number;
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

type Row = [string, string, number, string, Record<string, unknown>, Record<string, unknown>];

export async function seedReportYear(sql: SqlClient, size: ReportWorkload, log: (m: string) => void): Promise<SeededYear> {
  const rnd = prng(20251231);
  const t0 = performance.now();
  const instanceId = randomUUID();
  const groups = Array.from({ length: size.groups }, () => randomUUID());
  const agents = Array.from({ length: size.agents }, () => ({ id: randomUUID(), revision: -1, handled: 0 }));
  const expected = { created: 0, handled: 0, abandoned: 0, rejected: 0 };
  const start = Date.parse('2025-01-01T00:00:00Z');
  const spacing = (365 * 86_400_000) / size.contacts;
  const iso = (t: number) => new Date(t).toISOString();
  const meta = (at: number) => ({ instanceId, actor: 'bench', correlationId: randomUUID(), causationId: null, occurredAt: iso(at) });

  let pending: Row[] = [];
  let events = 0;
  const insertSql = `INSERT INTO kefu_events (event_id, stream_id, revision, type, data, metadata)
    SELECT (e->>0)::uuid, e->>1, (e->>2)::bigint, e->>3, e->4, e->5
    FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS u(e, ord)
    ORDER BY u.ord`;
  const sequence = await sql.query<{ next: string }>(`SELECT (coalesce(pg_sequence_last_value(pg_get_serial_sequence('kefu_events', 'seq')::regclass), 0) + 1)::text AS next`);
  let nextSeq = Number(sequence.rows[0]!.next);
  let lastLog = performance.now();
  const flush = async () => {
    while (pending.length > 0) {
      // A chunk never holds seqs of different digit counts (readAll sorts seq as text within a transaction).
      const room = 10 ** String(nextSeq).length - nextSeq;
      const part = pending.slice(0, Math.min(room, size.chunk));
      pending = pending.slice(part.length);
      await sql.query(insertSql, [JSON.stringify(part)]);
      nextSeq += part.length;
      events += part.length;
    }
    if (performance.now() - lastLog > 10_000) {
      lastLog = performance.now();
      log(`inserted ${events.toLocaleString('en-US')} events`);
    }
  };
  const agentEvent = (a: (typeof agents)[0], type: string, data: Record<string, unknown>, at: number) => {
    a.revision++;
    pending.push([randomUUID(), streams.agent(instanceId, a.id), a.revision, type, data, meta(at)]);
  };

  pending.push([randomUUID(), streams.instance(instanceId), 0, 'InstanceCreated', { instanceId, name: 'Bench', breakReasons: ['Rest', 'Meal'] }, meta(start - 3_600_000)]);
  // The instance reports in its own zone (the benchmark's queries ask for it): its day totals are per Shanghai day.
  pending.push([randomUUID(), streams.instance(instanceId), 1, 'ReportSettingsConfigured', { timeZone: size.timeZone ?? 'Asia/Shanghai', serviceLevelSeconds: 20 }, meta(start - 3_500_000)]);
  for (const [i, a] of agents.entries()) {
    agentEvent(a, 'AgentCreated', { agentId: a.id, name: `Agent ${i + 1}`, login: `agent${i + 1}`, passwordHash: 'x', phone: null, role: 'AGENT' }, start - 3_000_000);
    agentEvent(a, 'AgentWentAvailable', {}, start - 1_800_000);
  }
  let nextAgent = 0;
  for (let c = 0; c < size.contacts; c++) {
    const at = start + c * spacing;
    const contactId = randomUUID();
    const stream = streams.contact(instanceId, contactId);
    let revision = -1;
    const contactEvent = (type: string, data: Record<string, unknown>, t: number) => {
      revision++;
      pending.push([randomUUID(), stream, revision, type, data, meta(t)]);
    };
    const r = rnd();
    const channel = r < 0.7 ? 'PHONE' : r < 0.95 ? 'ONLINE' : 'AV';
    const group = groups[Math.floor(rnd() * groups.length)]!;
    contactEvent('ContactCreated', { contactId, channel, direction: 'IN', customer: { kind: channel === 'PHONE' ? 'PHONE' : 'WEB', id: `c${c}`, name: null }, data: {}, createdAt: iso(at) }, at);
    expected.created++;
    contactEvent('ContactFlowStarted', { flowId: null }, at);
    const outcome = rnd();
    if (outcome < 0.04) {
      contactEvent('ContactEnded', { reason: 'ivrGiveUp', endedBy: 'CUSTOMER', agentId: null, at: iso(at + 8000) }, at + 8000);
      expected.abandoned++;
    } else {
      const queuedAt = at + 10_000;
      contactEvent('ContactQueued', { skillGroupId: group, priority: 0, queuedAt: iso(queuedAt) }, queuedAt);
      if (outcome < 0.08) {
        contactEvent('ContactRejected', { reason: 'QUEUE_TIMEOUT' }, queuedAt + 120_000);
        expected.rejected++;
      } else if (outcome < 0.16) {
        contactEvent('ContactEnded', { reason: 'waitingGiveUp', endedBy: 'CUSTOMER', agentId: null, at: iso(queuedAt + 40_000) }, queuedAt + 40_000);
        expected.abandoned++;
      } else {
        const agent = agents[nextAgent]!;
        nextAgent = (nextAgent + 1) % agents.length;
        const offerId = randomUUID();
        const offeredAt = queuedAt + Math.floor(rnd() * 30_000);
        contactEvent('ContactOffered', { offerId, agentIds: [agent.id], expiresAt: iso(offeredAt + 20_000), transfer: null }, offeredAt);
        agentEvent(agent, 'AgentReserved', { contactId, offerId, channel, skillGroupId: group, expiresAt: iso(offeredAt + 20_000) }, offeredAt);
        if (outcome < 0.2) {
          contactEvent('ContactEnded', { reason: 'ringingGiveUp', endedBy: 'CUSTOMER', agentId: null, at: iso(offeredAt + 3000) }, offeredAt + 3000);
          agentEvent(agent, 'AgentReservationReleased', { contactId, offerId, reason: 'CONTACT_ENDED' }, offeredAt + 3000);
          expected.abandoned++;
        } else {
          const acceptedAt = offeredAt + 5000;
          const endedAt = acceptedAt + 60_000 + Math.floor(rnd() * 300_000);
          contactEvent('ContactAccepted', { offerId, agentId: agent.id, at: iso(acceptedAt) }, acceptedAt);
          agentEvent(agent, 'AgentContactConnected', { contactId, at: iso(acceptedAt) }, acceptedAt);
          contactEvent('ContactEnded', { reason: 'ok', endedBy: 'CUSTOMER', agentId: null, at: iso(endedAt) }, endedAt);
          agentEvent(agent, 'AgentContactFinished', { contactId, at: iso(endedAt) }, endedAt);
          agentEvent(agent, 'AgentWrapUpStarted', { contactId, until: iso(endedAt + 30_000) }, endedAt);
          agentEvent(agent, 'AgentWrapUpEnded', { contactId }, endedAt + 30_000);
          expected.handled++;
          agent.handled++;
          if (agent.handled % 20 === 0) {
            agentEvent(agent, 'AgentWentOnBreak', { reason: 'Rest' }, endedAt + 31_000);
            agentEvent(agent, 'AgentWentAvailable', {}, endedAt + 31_000 + 600_000);
          }
        }
      }
    }
    if (pending.length >= size.chunk) await flush();
  }
  await flush();
  const ms = performance.now() - t0;
  log(`inserted ${events.toLocaleString('en-US')} events for ${size.contacts.toLocaleString('en-US')} contacts in ${(ms / 1000).toFixed(1)} s`);
  return { instanceId, events, ms, expected };
}
