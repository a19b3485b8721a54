// GraphQL over WebSocket (Kefu's graphql-ws server) is traced and measured as over HTTP (issue 16): a
// subscribe frame is a server span named after its operation, active while the subscription starts, so the
// SQL of its first read are its children; it carries the subscription's correlation id, joins the client's
// trace when the frame's extensions carry a traceparent, and is marked failed with the error codes when the
// subscription is refused (a forbidden view, a query sent over the socket). /metrics counts the same
// operations under the HTTP names: kefu_graphql_operations_total, _errors_total, _operation_duration_seconds.
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { startTracing, type Tracing } from '../../src/adapters/observability/tracing.ts';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { until } from '../support/until.ts';
import { collect, wsClient } from '../support/ws-client.ts';

const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;
const idOf = (s: ReadableSpan) => s.spanContext().spanId;
const metricsToken = 'metrics-scrape-token-0123456789';
const statusQuery = 'subscription Following($agentId: ID) { agentStatusChanged(agentId: $agentId) { agent { id } presence } }';

/** A sample's value in Prometheus text (0 when absent). */
function sample(text: string, name: string, labels: Record<string, string>): number {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = (m[2] ?? '').split(',');
    if (wanted.every((w) => have.includes(w))) return Number(m[3]);
  }
  return 0;
}

describe('GraphQL over WebSocket: traces and metrics', () => {
  const exporter = new InMemorySpanExporter();
  let tracing: Tracing;
  let t: TestKefu;
  let baseUrl: string;
  let ann: { id: string; token: string };
  let bob: { id: string; token: string };

  const spanNamed = (name: string) => until(async () => exporter.getFinishedSpans().find((s) => s.name === name), (s) => s !== undefined);
  const scrape = async () => {
    const res = await t.kefu.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${metricsToken}` } });
    expect(res.statusCode).toBe(200);
    return res.body;
  };

  beforeAll(async () => {
    tracing = startTracing({ endpoint: undefined, sampleRatio: 1, serviceName: 'kefu-test' }, { spanProcessors: [new SimpleSpanProcessor({ exporter })] })!;
    t = await startTestKefu({ database: 'postgres', listen: true, tracer: tracing.tracer, env: { KEFU_METRICS_TOKEN: metricsToken } });
    baseUrl = `http://127.0.0.1:${(t.kefu.app.server.address() as { port: number }).port}`;
    const seed = await seedInstance(t, { agents: [{ name: 'Ann', login: 'ann' }, { name: 'Bob', login: 'bob' }] });
    ann = seed.agents[0]!;
    bob = seed.agents[1]!;
  });
  afterAll(async () => {
    await t?.close();
    await tracing?.shutdown();
  });

  it('makes a subscription one span with its first read as children, its correlation id, and counts it', async () => {
    const before = await scrape();
    exporter.reset();
    const client = wsClient(baseUrl, ann.token);
    try {
      const sub = collect<{ agentStatusChanged: { agent: { id: string } } }>(client, statusQuery, { agentId: ann.id });
      await sub.next(1, 30_000);
      const root = (await spanNamed('graphql subscription Following'))!;
      expect(root.kind).toBe(SpanKind.SERVER);
      expect(parentOf(root)).toBeUndefined();
      expect(root.status.code).not.toBe(SpanStatusCode.ERROR);
      expect(root.attributes).toMatchObject({ 'graphql.operation.type': 'subscription', 'graphql.operation.name': 'Following', 'network.protocol.name': 'websocket' });
      expect(String(root.attributes['kefu.correlation_id'])).toMatch(/\S{8,}/);
      // The first read (the agents' current state) is SQL under the subscribe span.
      const inTrace = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === root.spanContext().traceId);
      const statements = inTrace.filter((s) => s.name.startsWith('sql '));
      expect(statements.length, inTrace.map((s) => s.name).join(', ')).toBeGreaterThan(0);
      const byId = new Map(inTrace.map((s) => [idOf(s), s]));
      for (const s of statements) {
        let at: ReadableSpan | undefined = s;
        while (at && parentOf(at)) at = byId.get(parentOf(at)!);
        expect(at).toBe(root);
      }
      expect(statements.some((s) => /agents/.test(String(s.attributes['db.query.text'])))).toBe(true);

      // Later changes are not in the subscribe span's trace (a view lasts hours): the span has ended already.
      const spansBefore = inTrace.length;
      await t.ok(ann.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
      await sub.next(2, 30_000);
      expect(exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === root.spanContext().traceId).length).toBe(spansBefore);
      sub.dispose();
    } finally {
      await client.dispose();
    }
    const after = await scrape();
    const labels = { operation_type: 'subscription', field: 'agentStatusChanged' };
    expect(sample(after, 'kefu_graphql_operations_total', labels) - sample(before, 'kefu_graphql_operations_total', labels)).toBe(1);
    expect(sample(after, 'kefu_graphql_operation_duration_seconds_count', labels) - sample(before, 'kefu_graphql_operation_duration_seconds_count', labels)).toBe(1);
  });

  it("joins the client's trace when the frame's extensions carry a traceparent", async () => {
    exporter.reset();
    const traceId = randomBytes(16).toString('hex');
    const parentId = randomBytes(8).toString('hex');
    const client = wsClient(baseUrl, ann.token);
    try {
      const received: unknown[] = [];
      const dispose = client.subscribe(
        { query: 'subscription Traced { agentStatusChanged { presence } }', extensions: { traceparent: `00-${traceId}-${parentId}-01` } },
        { next: (v) => received.push(v), error: (e) => received.push(e), complete: () => undefined },
      );
      await until(async () => received.length, (n) => n > 0, 30_000);
      dispose();
    } finally {
      await client.dispose();
    }
    const span = (await spanNamed('graphql subscription Traced'))!;
    expect(span.spanContext().traceId).toBe(traceId);
    expect(parentOf(span)).toBe(parentId);
  });

  it('ignores a malformed traceparent or an oversized tracestate: the subscription runs in a trace of its own', async () => {
    for (const extensions of [
      { traceparent: 'not-a-traceparent\u0000', tracestate: 'x'.repeat(100_000) },
      { traceparent: `00-${'0'.repeat(32)}-${'0'.repeat(16)}-01` },
      { traceparent: 42, tracestate: ['a'] },
    ]) {
      exporter.reset();
      const client = wsClient(baseUrl, ann.token);
      try {
        const received: unknown[] = [];
        const dispose = client.subscribe(
          { query: 'subscription Odd { agentStatusChanged { presence } }', extensions },
          { next: (v) => received.push(v), error: (e) => received.push(e), complete: () => undefined },
        );
        await until(async () => received.length, (n) => n > 0, 30_000);
        dispose();
        expect(received[0]).toHaveProperty('data.agentStatusChanged');
      } finally {
        await client.dispose();
      }
      const span = (await spanNamed('graphql subscription Odd'))!;
      expect(span.spanContext().traceId).not.toBe('0'.repeat(32));
      expect(parentOf(span)).toBeUndefined();
    }
  });

  it('marks a refused subscription and a query sent over the socket failed, with their codes, and counts their errors', async () => {
    const before = await scrape();
    exporter.reset();
    const client = wsClient(baseUrl, ann.token);
    try {
      // An agent may not follow another agent.
      const forbidden = collect(client, statusQuery, { agentId: bob.id });
      await until(async () => forbidden.errors.length, (n) => n > 0, 30_000);
      const refused = (await spanNamed('graphql subscription Following'))!;
      expect(refused.status.code).toBe(SpanStatusCode.ERROR);
      expect(refused.attributes['graphql.error.codes']).toBe('FORBIDDEN');

      const query = collect(client, 'query Me { me { __typename } }');
      await until(async () => query.errors.length, (n) => n > 0, 30_000);
      const q = (await spanNamed('graphql query Me'))!;
      expect(q.status.code).toBe(SpanStatusCode.ERROR);
      expect(q.attributes['graphql.error.codes']).toBe('BAD_USER_INPUT');

      const broken = collect(client, 'subscription { agentStatusChanged { nope } }');
      await until(async () => broken.errors.length, (n) => n > 0, 30_000);
      const invalid = (await spanNamed('graphql'))!;
      expect(invalid.attributes['graphql.error.codes']).toBe('BAD_USER_INPUT');
    } finally {
      await client.dispose();
    }
    const after = await scrape();
    const delta = (name: string, labels: Record<string, string>) => sample(after, name, labels) - sample(before, name, labels);
    // The forbidden one ran (graphql's subscribe) and was refused: an operation with an error.
    expect(delta('kefu_graphql_operations_total', { operation_type: 'subscription', field: 'agentStatusChanged' })).toBe(1);
    expect(delta('kefu_graphql_errors_total', { operation_type: 'subscription', code: 'FORBIDDEN' })).toBe(1);
    // The query and the invalid document never ran: errors of type "none", as over HTTP.
    expect(delta('kefu_graphql_errors_total', { operation_type: 'none', code: 'BAD_USER_INPUT' })).toBe(2);
    expect(delta('kefu_graphql_operations_total', { operation_type: 'query', field: 'me' })).toBe(0);
  });
});
