// OpenTelemetry traces (issue 16) with an in-memory exporter: one GraphQL mutation gives one trace, from the
// request's span named after the operation, through the command and the event store append, down to the SQL
// statements; the command, the append and the request carry the same correlation id as the appended event's
// metadata, and a SQL span carries the statement's text but never its parameters. Tracing is off without
// OTEL_EXPORTER_OTLP_ENDPOINT.
import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { startTracing, traceInboundCall, type Tracing } from '../../src/adapters/observability/tracing.ts';
import { contactDecider, type ContactCommand } from '../../src/domain/contact/contact.decide.ts';
import { streams } from '../../src/domain/streams.ts';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { until } from '../support/until.ts';

const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;
const idOf = (s: ReadableSpan) => s.spanContext().spanId;

describe('traces', () => {
  const exporter = new InMemorySpanExporter();
  let tracing: Tracing;

  beforeAll(() => {
    tracing = startTracing({ endpoint: undefined, sampleRatio: 1, serviceName: 'kefu-test' }, { spanProcessors: [new SimpleSpanProcessor({ exporter })] })!;
  });
  afterAll(async () => {
    await tracing?.shutdown();
  });

  it('is off unless an OTLP endpoint is set', () => {
    expect(startTracing({ endpoint: undefined, sampleRatio: 1, serviceName: 'kefu' })).toBeNull();
  });

  for (const database of ['pglite', 'postgres'] as const) {
    describe(`on ${database}`, () => {
      let t: TestKefu;
      beforeAll(async () => {
        t = await startTestKefu({ database, tracer: tracing.tracer });
      });
      afterAll(async () => {
        await t?.close();
      });

      it('follows a GraphQL mutation down to its SQL in one trace', async () => {
        const seed = await seedInstance(t, { agents: [{ name: 'Ann', login: 'ann' }] });
        const ann = seed.agents[0]!;
        exporter.reset();
        await t.ok(ann.token, 'mutation GoOnBreak { setPresence(input: { presence: BREAK, reason: "Meal" }) { presence } }');

        const request = await until(
          async () => exporter.getFinishedSpans().find((s) => s.name === 'graphql mutation GoOnBreak'),
          (s) => s !== undefined,
        );
        const root = request!;
        expect(root.kind).toBe(SpanKind.SERVER);
        expect(parentOf(root)).toBeUndefined();
        expect(root.attributes).toMatchObject({ 'graphql.operation.type': 'mutation', 'graphql.operation.name': 'GoOnBreak', 'http.response.status_code': 200 });
        const traceId = root.spanContext().traceId;
        const inTrace = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);

        const command = inTrace.find((s) => s.name.startsWith('command ') && s.attributes['kefu.stream'] === streams.agent(seed.instanceId, ann.id));
        expect(command, inTrace.map((s) => s.name).join(', ')).toBeDefined();
        const append = inTrace.find((s) => s.name === 'eventstore append' && parentOf(s) === idOf(command!));
        expect(append).toBeDefined();
        expect(String(append!.attributes['kefu.event_types'])).toContain('AgentWentOnBreak');
        const statements = inTrace.filter((s) => s.name.startsWith('sql ') && parentOf(s) === idOf(append!));
        expect(statements.length).toBeGreaterThan(0);
        expect(statements.some((s) => /kefu_append/.test(String(s.attributes['db.query.text']))), statements.map((s) => s.attributes['db.query.text']).join(' | ')).toBe(true);
        // Each span's parent is in the trace, up to the request.
        const byId = new Map(inTrace.map((s) => [idOf(s), s]));
        for (const s of [...statements, append!, command!]) {
          let at: ReadableSpan | undefined = s;
          while (at && parentOf(at)) at = byId.get(parentOf(at)!);
          expect(at).toBe(root);
        }
        // The resolver's reads are SQL spans of the same trace too.
        expect(inTrace.filter((s) => s.name === 'sql SELECT').length).toBeGreaterThan(0);

        // One correlation id links the request, the command, the append and the event's metadata.
        const [event] = await t.kefu.store.readStream(streams.agent(seed.instanceId, ann.id), { direction: 'backwards', maxCount: 1 });
        expect(event!.type).toBe('AgentWentOnBreak');
        const correlationId = event!.metadata.correlationId;
        expect(root.attributes['kefu.correlation_id']).toBe(correlationId);
        expect(command!.attributes['kefu.correlation_id']).toBe(correlationId);
        expect(append!.attributes['kefu.correlation_id']).toBe(correlationId);
        // No parameters in spans: the break reason was a parameter of the append.
        for (const s of inTrace) expect(JSON.stringify(s.attributes)).not.toContain('"Meal"');
      });

      it('makes an inbound call one trace from its INVITE, its session\'s commands as children', async () => {
        const seed = await seedInstance(t, { name: 'Phone Co', agents: [] });
        exporter.reset();
        const contactId = randomUUID();
        let session: Promise<unknown> = Promise.resolve();
        // As PhoneCalls.handleInbound does: the session runs on after the handler returned.
        traceInboundCall(tracing.tracer, { callId: 'call-1@trunk', instanceId: seed.instanceId }, () => {
          session = new Promise((r) => setTimeout(r, 20)).then(() =>
            t.kefu.commands.handle(streams.contact(seed.instanceId, contactId), contactDecider, {
              type: 'CreateContact',
              data: { contactId, channel: 'PHONE', direction: 'IN', customer: { kind: 'PHONE', id: '+8613800000009', name: null }, data: {}, call: { callId: 'call-1@trunk', direction: 'IN', from: '+8613800000009', to: '+864001234567', trunkId: null, node: 'n' } },
              metadata: { now: new Date().toISOString(), instanceId: seed.instanceId, actor: 'system:sip', correlationId: contactId },
            } as ContactCommand),
          );
        });
        await session;
        const spans = exporter.getFinishedSpans();
        const invite = spans.find((s) => s.name === 'sip INVITE')!;
        expect(invite.attributes['sip.call_id']).toBe('call-1@trunk');
        const command = spans.find((s) => s.name === 'command CreateContact')!;
        expect(parentOf(command)).toBe(idOf(invite));
        expect(command.attributes).toMatchObject({ 'kefu.correlation_id': contactId, 'kefu.contact_id': contactId });
        // The caller's number is not in any span.
        for (const s of spans) expect(JSON.stringify(s.attributes)).not.toContain('8613800000009');
      });

      it("follows the caller's traceparent: sampled, the request joins its trace; not sampled, no span at all", async () => {
        const seed = await seedInstance(t, { name: 'Propagated', agents: [{ name: 'Cy', login: 'cy' }] });
        const cy = seed.agents[0]!;
        const send = (traceparent: string, presence: string) =>
          t.kefu.app.inject({
            method: 'POST',
            url: '/graphql',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${cy.token}`, traceparent },
            payload: JSON.stringify({ query: `mutation Presence { setPresence(input: { presence: ${presence} }) { presence } }` }),
          });
        const traceId = randomUUID().replaceAll('-', '');
        exporter.reset();
        expect((await send(`00-${traceId}-00f067aa0ba902b7-01`, 'AVAILABLE')).statusCode).toBe(200);
        const joined = await until(async () => exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId), (s) => s.some((x) => x.name.startsWith('command ')));
        expect(joined.find((s) => s.name === 'graphql mutation Presence')!.parentSpanContext?.spanId).toBe('00f067aa0ba902b7');

        // A caller that did not sample its trace: the request, its command, its store calls and SQL make no span.
        exporter.reset();
        const unsampled = randomUUID().replaceAll('-', '');
        expect((await send(`00-${unsampled}-00f067aa0ba902b7-00`, 'OFFLINE')).statusCode).toBe(200);
        const [event] = await t.kefu.store.readStream(streams.agent(seed.instanceId, cy.id), { direction: 'backwards', maxCount: 1 });
        expect(event!.type).toBe('AgentWentOffline');
        await new Promise((r) => setTimeout(r, 200));
        expect(exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === unsampled)).toEqual([]);
        expect(exporter.getFinishedSpans().filter((s) => s.attributes['kefu.correlation_id'] === event!.metadata.correlationId)).toEqual([]);
      });

      it('marks a failed operation with its error code', async () => {
        exporter.reset();
        await t.gql(null, 'query Me { me { __typename } }');
        const span = await until(async () => exporter.getFinishedSpans().find((s) => s.name === 'graphql query Me'), (s) => s !== undefined);
        expect(span!.attributes['graphql.error.codes']).toBe('UNAUTHENTICATED');
      });
    });
  }
});
