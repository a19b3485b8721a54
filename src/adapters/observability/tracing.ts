// OpenTelemetry traces (issue 16), off unless OTEL_EXPORTER_OTLP_ENDPOINT is set. The official Node SDK exports
// spans over OTLP/HTTP, sampled parent-based with the ratio OTEL_TRACES_SAMPLER_ARG. Kefu makes its own spans
// (no monkey-patching instrumentation): one per GraphQL request named after its operation, one per command,
// and, inside them, event store reads and appends and every SQL statement (its text, never its parameters).
// Command and store spans carry the event metadata's correlation id (kefu.correlation_id) and the contact
// (kefu.contact_id), which link a call's or a chat's spans across requests and processes.
// With tracing off nothing here is installed: the components are used as they are.
import { context, propagation, SpanKind, SpanStatusCode, trace, TraceFlags, type Attributes, type Span, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, type SpanProcessor } from '@opentelemetry/sdk-trace';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { DocumentNode, GraphQLError, OperationDefinitionNode } from 'graphql';
import type { OperationObserver } from '../../api/graphql-ws-server.ts';
import { formatError } from '../../api/errors.ts';
import type { CommandHandler } from '../eventstore/command-handler.ts';
import type { SqlClient, SqlExecutor } from '../sql/sql-client.ts';
import type { EventStore } from '../../domain/ports/event-store.ts';
import { streamCategory } from '../../domain/streams.ts';

export interface TracingSettings {
  /** OTEL_EXPORTER_OTLP_ENDPOINT: unset, tracing is off. */
  endpoint?: string | undefined;
  /** OTEL_TRACES_SAMPLER_ARG: the share of traces kept (0 to 1), for root spans; children follow their parent. */
  sampleRatio: number;
  serviceName: string;
}

export interface Tracing {
  tracer: Tracer;
  shutdown(): Promise<void>;
}

/**
 * Starts the SDK when an endpoint is set (or span processors are given, as tests do with an in-memory
 * exporter); null otherwise. The exporter reads OTEL_EXPORTER_OTLP_* itself (endpoint, headers) as OTel defines.
 */
export function startTracing(settings: TracingSettings, options: { spanProcessors?: SpanProcessor[] } = {}): Tracing | null {
  if (!settings.endpoint && !options.spanProcessors) return null;
  const sdk = new NodeSDK({
    serviceName: settings.serviceName,
    spanProcessors: options.spanProcessors ?? [new BatchSpanProcessor({ exporter: new OTLPTraceExporter() })],
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(settings.sampleRatio) }),
    instrumentations: [],
    metricReaders: [],
    logRecordProcessors: [],
  });
  sdk.start();
  return { tracer: trace.getTracer('kefu'), shutdown: () => sdk.shutdown() };
}

/**
 * Runs `fn` in a span that is a child of the active one, only when that one is recorded (no root spans here).
 * The span's name and attributes are made only then: most requests are not sampled, and their SQL statements
 * and store calls then cost one context lookup each.
 */
function childSpan<T>(tracer: Tracer, describe: () => [name: string, attributes: Attributes], fn: () => Promise<T>): Promise<T> {
  const parent = trace.getSpan(context.active());
  if (!parent?.isRecording()) return fn();
  const [name, attributes] = describe();
  return tracer.startActiveSpan(name, { kind: SpanKind.CLIENT, attributes }, (span) => ended(span, fn));
}

/** Whether the active span is one that was not sampled: then its children are not either (parent-based sampling). */
function inUnsampledSpan(): boolean {
  const parent = trace.getSpan(context.active());
  return parent !== undefined && !parent.isRecording() && (parent.spanContext().traceFlags & TraceFlags.SAMPLED) === 0;
}

async function ended<T>(span: Span, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    span.recordException(err as Error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.message });
    throw err;
  } finally {
    span.end();
  }
}

function sqlAttributes(text: string): Attributes {
  // The statement's text only: parameters (customer data) never go into a span.
  return { 'db.system.name': 'postgresql', 'db.query.text': text.length > 2000 ? `${text.slice(0, 2000)}…` : text };
}

function sqlSpanName(text: string): string {
  const verb = /^\s*(\w+)/.exec(text)?.[1]?.toUpperCase() ?? 'SQL';
  return `sql ${verb}`;
}

function tracedExecutor(tracer: Tracer, exec: SqlExecutor): SqlExecutor {
  return {
    query: (text, params) => childSpan(tracer, () => [sqlSpanName(text), sqlAttributes(text)], () => exec.query(text, params)),
    script: (text) => childSpan(tracer, () => ['sql script', sqlAttributes(text)], () => exec.script(text)),
  };
}

/** The SQL client with a child span per statement (kysely's queries go through withConnection). */
export function traceSqlClient(tracer: Tracer, sql: SqlClient): SqlClient {
  const exec = tracedExecutor(tracer, sql);
  return {
    kind: sql.kind,
    // The PostgreSQL event store runs its appends as named statements on the pool itself.
    raw: sql.kind === 'postgres' && sql.raw ? (tracedPool(tracer, sql.raw) as SqlClient['raw']) : sql.raw,
    query: exec.query,
    script: exec.script,
    transaction: (fn) => sql.transaction((tx) => fn(tracedExecutor(tracer, tx))),
    withConnection: (fn, options) => sql.withConnection((conn) => fn(tracedExecutor(tracer, conn)), options),
    listen: (channel, onNotify) => sql.listen(channel, onNotify),
    ...(sql.listenerCount ? { listenerCount: sql.listenerCount.bind(sql) } : {}),
    tryLease: (key) => sql.tryLease(key),
    ...(sql.tryLeases ? { tryLeases: sql.tryLeases.bind(sql) } : {}),
    close: () => sql.close(),
  };
}

function tracedPool<P extends object>(tracer: Tracer, pool: P): P {
  return new Proxy(pool, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (prop !== 'query' || typeof value !== 'function') return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      return (config: unknown, ...rest: unknown[]) => {
        const call = () => (value as (...a: unknown[]) => Promise<unknown>).call(target, config, ...rest);
        // Callback-style calls are left alone (nothing in Kefu uses them).
        if (rest.some((r) => typeof r === 'function')) return call();
        return childSpan(
          tracer,
          () => {
            const text = typeof config === 'string' ? config : String((config as { text?: unknown })?.text ?? '');
            return [sqlSpanName(text), sqlAttributes(text)];
          },
          call,
        );
      };
    },
  });
}

function streamAttributes(streamId: string): Attributes {
  const category = streamCategory(streamId);
  return { 'kefu.stream': streamId, 'kefu.stream.category': category, ...(category === 'contact' ? { 'kefu.contact_id': streamId.slice(streamId.indexOf('.') + 1) } : {}) };
}

/** The event store with child spans for appends and stream reads (subscriptions are background work: none). */
export function traceEventStore(tracer: Tracer, store: EventStore): EventStore {
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'appendToStream') {
        return (streamId: string, events: Parameters<EventStore['appendToStream']>[1], options: Parameters<EventStore['appendToStream']>[2]) => {
          const describe = (): [string, Attributes] => {
            const first = events[0];
            return [
              'eventstore append',
              {
                ...streamAttributes(streamId),
                'kefu.events': events.length,
                'kefu.event_types': events.map((e) => e.type).join(','),
                ...(first ? { 'kefu.correlation_id': first.metadata.correlationId } : {}),
              },
            ];
          };
          return childSpan(tracer, describe, () => target.appendToStream(streamId, events, options));
        };
      }
      if (prop === 'readStream') {
        return (streamId: string, options?: Parameters<EventStore['readStream']>[1]) => childSpan(tracer, () => ['eventstore read', streamAttributes(streamId)], () => target.readStream(streamId, options));
      }
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** A span per command (a root span when no request or process span is active), named after its type. */
export function traceCommands(tracer: Tracer, commands: CommandHandler): void {
  const handle = commands.handle.bind(commands);
  commands.handle = ((streamId, decider, command) => {
    // Inside a request or call that was not sampled, the command's span would not be either: skip making it.
    if (inUnsampledSpan()) return handle(streamId, decider, command);
    const c = command as unknown as { type?: string; metadata: { correlationId: string; instanceId: string; actor: string } };
    return tracer.startActiveSpan(
      `command ${c.type ?? 'unknown'}`,
      {
        kind: SpanKind.INTERNAL,
        attributes: { ...streamAttributes(streamId), 'kefu.command': c.type ?? 'unknown', 'kefu.correlation_id': c.metadata.correlationId, 'kefu.instance_id': c.metadata.instanceId, 'kefu.actor': c.metadata.actor },
      },
      (span) => ended(span, () => handle(streamId, decider, command)),
    );
  }) as CommandHandler['handle'];
}

/**
 * A span for an inbound INVITE, active while the call session starts: the session's commands (the contact's
 * whole life on this node: flow, queue, answer, recording, end) are its children, so a call is one trace. The
 * span itself ends at once (children may outlive it); its attribute is the Call-ID, never the numbers.
 */
export function traceInboundCall<C extends { callId: string; instanceId: string }>(tracer: Tracer, call: C, handle: (call: C) => void): void {
  tracer.startActiveSpan('sip INVITE', { kind: SpanKind.SERVER, attributes: { 'sip.call_id': call.callId, 'kefu.instance_id': call.instanceId } }, (span) => {
    try {
      handle(call);
    } finally {
      span.end();
    }
  });
}

function operationOf(document: DocumentNode, name: string | undefined): OperationDefinitionNode | undefined {
  const operations = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === 'OperationDefinition');
  return name ? operations.find((o) => o.name?.value === name) : operations[0];
}

/**
 * A server span per GraphQL request over HTTP, active while mercurius runs it (so commands, store calls and SQL
 * are its children), named `graphql <type> <operation name or first field>`. Call before mercurius is registered
 * and after the other preHandler hooks, so that the handler runs inside the span's context.
 */
export function traceGraphqlRequests(app: FastifyInstance, tracer: Tracer): void {
  const spans = new WeakMap<FastifyRequest, Span>();
  app.addHook('preHandler', (request, _reply, done) => {
    if (!request.url.startsWith('/graphql') || request.method !== 'POST') return done();
    // A caller's trace context (W3C traceparent, baggage), when it sent one: most requests do not.
    const headers = request.headers;
    const parent = headers.traceparent !== undefined || headers.baggage !== undefined ? propagation.extract(context.active(), headers) : context.active();
    const span = tracer.startSpan('graphql', { kind: SpanKind.SERVER, attributes: { 'http.request.method': request.method, 'url.path': '/graphql', 'kefu.correlation_id': String(request.id) } }, parent);
    spans.set(request, span);
    context.with(trace.setSpan(parent, span), done);
  });
  app.addHook('onResponse', (request, reply, done) => {
    const span = spans.get(request);
    if (span) {
      span.setAttribute('http.response.status_code', reply.statusCode);
      if (reply.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    }
    done();
  });
}

/** The mercurius half of traceGraphqlRequests: names the span after the operation, and marks it failed with the errors' codes. Call after mercurius is registered. */
export function traceGraphqlOperations(app: FastifyInstance): void {
  app.graphql.addHook('preExecution', async (_schema, document, ctx) => {
    const body = (ctx as { reply?: { request?: { body?: unknown } } }).reply?.request?.body as { operationName?: unknown } | undefined;
    nameGraphqlSpan(document, typeof body?.operationName === 'string' ? body.operationName : undefined);
  });
  app.graphql.addHook('onResolution', async (execution) => {
    graphqlErrorsOnSpan(execution.errors as readonly { extensions?: Record<string, unknown> }[] | undefined);
  });
}

/** Names the active request span after the operation, once mercurius has parsed it. */
export function nameGraphqlSpan(document: DocumentNode, operationName: string | undefined): void {
  const span = trace.getSpan(context.active());
  if (span?.isRecording()) nameSpan(span, document, operationName);
}

function nameSpan(span: Span, document: DocumentNode, operationName: string | undefined): void {
  const op = operationOf(document, operationName);
  if (!op) return;
  const first = op.selectionSet.selections.find((s) => s.kind === 'Field');
  const name = op.name?.value ?? (first && 'name' in first ? first.name.value : 'anonymous');
  span.updateName(`graphql ${op.operation} ${name}`);
  span.setAttributes({ 'graphql.operation.type': op.operation, 'graphql.operation.name': name });
}

/** Marks the active request span failed with the GraphQL error codes of a result (its onResolution hook). */
export function graphqlErrorsOnSpan(errors: readonly { extensions?: Record<string, unknown> }[] | undefined): void {
  if (!errors?.length) return;
  const span = trace.getSpan(context.active());
  if (!span?.isRecording()) return;
  failedWith(span, [...new Set(errors.map((e) => String(e.extensions?.code ?? 'UNKNOWN')))]);
}

function failedWith(span: Span, codes: string[]): void {
  span.setAttribute('graphql.error.codes', codes.join(','));
  span.setStatus({ code: SpanStatusCode.ERROR, message: codes.join(',') });
}

/**
 * A server span per subscribe frame over graphql-ws (Kefu's own server), as traceGraphqlRequests makes per HTTP
 * request: named `graphql subscription <name>`, active while the subscription starts (its checks and first reads
 * are its children: commands, store calls, SQL), ended when it is running or refused; an error status with the
 * codes when refused. It carries the subscription's correlation id. A W3C `traceparent` (and `tracestate`) in
 * the frame's `extensions` makes it a child of the client's trace, as the headers do over HTTP. The events the
 * subscription sends later are not in it (a live view lasts hours).
 */
export function traceGraphqlWs(tracer: Tracer): OperationObserver {
  return {
    begin(frame) {
      const carrier = frame.extensions && typeof frame.extensions.traceparent === 'string' ? frame.extensions : null;
      const parent = carrier ? propagation.extract(context.active(), carrier) : context.active();
      const span = tracer.startSpan('graphql', { kind: SpanKind.SERVER, attributes: { 'network.protocol.name': 'websocket', 'url.path': '/graphql' } }, parent);
      const active = trace.setSpan(parent, span);
      return {
        within: (fn) => context.with(active, fn),
        operation(document, operationName, ctx) {
          if (!span.isRecording()) return;
          nameSpan(span, document, operationName);
          const correlationId = (ctx as { correlationId?: unknown } | null)?.correlationId;
          if (typeof correlationId === 'string') span.setAttribute('kefu.correlation_id', correlationId);
        },
        end(errors) {
          if (errors?.length && span.isRecording()) failedWith(span, [...new Set(errors.map(errorCodeOf))]);
          span.end();
        },
      };
    },
  };
}

/** An error's extensions.code as the client sees it (formatError's, without logging anything). */
export function errorCodeOf(error: GraphQLError): string {
  return String(formatError(error, () => undefined).extensions?.code ?? 'INTERNAL_SERVER_ERROR');
}
