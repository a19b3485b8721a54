// Prometheus metrics (issue 16) at GET /metrics, in the text format, with prom-client. Off unless
// KEFU_METRICS_TOKEN is set; then a scrape must send "Authorization: Bearer <token>" (Prometheus:
// `authorization: { credentials: <token> }`). Nothing here labels by instance, contact, agent or any other
// value a user chooses: labels come from fixed sets (methods, route patterns, schema fields, error codes,
// event categories, SIP methods and status codes, channels, contact states), so the series stay bounded.
// Counters and histograms are fed by small hooks (HTTP, GraphQL, event store, SIP); gauges are read when
// scraped (projection lag, contacts by state, calls, RTP legs, live connections).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { DocumentNode, ExecutionResult, GraphQLError, GraphQLSchema, OperationDefinitionNode } from 'graphql';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { WrongExpectedRevisionError, type EventStore, type Position } from '../../domain/ports/event-store.ts';
import { streamCategory } from '../../domain/streams.ts';
import { formatError } from '../../api/errors.ts';
import type { OperationObserver } from '../../api/graphql-ws-server.ts';
import type { RtpLegStats } from '../media/media-port.ts';

/** What the gauges read at scrape time; each part is optional (no SIP side, no live server in a test). */
export interface MetricsSources {
  store: EventStore;
  /** Each projection's checkpoint (null: nothing applied yet). */
  projections: { names: string[]; checkpoint: (name: string) => Promise<Position | null> };
  /** Contacts not ended, by channel and status (the contacts read model). */
  openContacts: () => Promise<{ channel: string; status: string; count: number }[]>;
  /** SIP dialogs this node holds (a bridged call has two). */
  sipDialogs?: () => number;
  /** Per media thread ("main" without worker threads): its busy share (null on the main thread) and its open legs' counters (reported at most a second late). */
  mediaThreads?: () => { thread: string; utilization: number | null; legs: RtpLegStats[] }[];
  /** graphql-ws connections by principal kind (customer = chat customers) and their running subscriptions. */
  live?: () => { connections: Record<string, number>; subscriptions: number };
}

const channels = new Set(['PHONE', 'ONLINE', 'AV', 'WECHAT']);
const sipMethods = new Set(['INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS', 'REGISTER', 'INFO', 'REFER', 'NOTIFY', 'SUBSCRIBE', 'UPDATE', 'PRACK', 'MESSAGE']);
const errorCode = /^[A-Z][A-Z_]{0,39}$/;
/** Lag is counted up to this many events (a scrape must stay cheap however far a projection is behind). */
const lagCountCap = 1000;

export class KefuMetrics {
  readonly registry = new Registry();
  private readonly tokenDigest: Buffer;
  private readonly httpRequests: Counter<'method' | 'route' | 'status_code'>;
  private readonly httpDuration: Histogram<'method' | 'route'>;
  private readonly graphqlOperations: Counter<'operation_type' | 'field'>;
  private readonly graphqlErrors: Counter<'operation_type' | 'code'>;
  private readonly graphqlDuration: Histogram<'operation_type' | 'field'>;
  private readonly appends: Counter<'category' | 'result'>;
  private readonly appendedEvents: Counter<'category'>;
  private readonly appendDuration: Histogram<'category'>;
  private readonly offers: Counter;
  private readonly sipRequests: Counter<'direction' | 'method'>;
  private readonly sipResponses: Counter<'direction' | 'method' | 'code'>;
  private sources: MetricsSources | null = null;
  private readonly started = new WeakMap<object, { at: bigint; type: string; field: string }>();
  /** Requests whose GraphQL errors onResolution counted (the rest, refused before execution, are counted on send). */
  private readonly resolved = new WeakSet<object>();

  constructor(options: { token: string; defaultMetrics?: boolean }) {
    this.tokenDigest = createHash('sha256').update(options.token).digest();
    const registers = [this.registry];
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'kefu_' });
    this.httpRequests = new Counter({ name: 'kefu_http_requests_total', help: 'HTTP requests answered, by method, route pattern and status code.', labelNames: ['method', 'route', 'status_code'], registers });
    this.httpDuration = new Histogram({ name: 'kefu_http_request_duration_seconds', help: 'HTTP request time to the answer, by method and route pattern.', labelNames: ['method', 'route'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers });
    this.graphqlOperations = new Counter({ name: 'kefu_graphql_operations_total', help: 'GraphQL operations executed (queries and mutations over HTTP, subscriptions started over graphql-ws), by type and first root field.', labelNames: ['operation_type', 'field'], registers });
    this.graphqlErrors = new Counter({ name: 'kefu_graphql_errors_total', help: 'Errors in GraphQL results, by operation type and extensions.code.', labelNames: ['operation_type', 'code'], registers });
    this.graphqlDuration = new Histogram({ name: 'kefu_graphql_operation_duration_seconds', help: 'GraphQL execution time (a subscription: its start, to running or refused), by type and first root field.', labelNames: ['operation_type', 'field'], buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers });
    this.appends = new Counter({ name: 'kefu_event_store_appends_total', help: 'Appends to the event store, by stream category and result (ok, conflict, error).', labelNames: ['category', 'result'], registers });
    this.appendedEvents = new Counter({ name: 'kefu_event_store_events_appended_total', help: 'Events appended, by stream category.', labelNames: ['category'], registers });
    this.appendDuration = new Histogram({ name: 'kefu_event_store_append_duration_seconds', help: 'Event store append time, by stream category.', labelNames: ['category'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1], registers });
    this.offers = new Counter({ name: 'kefu_router_offers_total', help: 'Contacts offered to agents (ContactOffered appended).', registers });
    this.sipRequests = new Counter({ name: 'kefu_sip_requests_total', help: 'SIP requests (new transactions and retransmissions), by direction and method.', labelNames: ['direction', 'method'], registers });
    this.sipResponses = new Counter({ name: 'kefu_sip_responses_total', help: 'SIP responses, by direction, method (CSeq) and status code.', labelNames: ['direction', 'method', 'code'], registers });
    KefuMetrics.defineGauges(this, registers);
  }

  /** The gauges' sources, once the components exist (start-up order: metrics first, sources later). */
  attach(sources: MetricsSources): void {
    this.sources = sources;
  }

  /** GET /metrics and the HTTP and GraphQL hooks; call before the app is ready (listen). */
  instrumentApp(app: FastifyInstance): void {
    app.addHook('onResponse', async (request, reply) => {
      const route = routeOf(request);
      const seconds = reply.elapsedTime / 1000;
      this.httpRequests.inc({ method: request.method, route, status_code: String(reply.statusCode) });
      this.httpDuration.observe({ method: request.method, route }, seconds);
    });
    app.get('/metrics', async (request, reply) => {
      if (!this.authorized(request.headers.authorization)) {
        return reply.code(401).header('www-authenticate', 'Bearer realm="kefu-metrics"').send({ error: 'send Authorization: Bearer <KEFU_METRICS_TOKEN>' });
      }
      const text = await this.registry.metrics();
      return reply.header('cache-control', 'no-store').type(this.registry.contentType).send(text);
    });
    // The root types' field names, made once per schema (not per request).
    const fieldsOf = new WeakMap<GraphQLSchema, Map<string, Set<string>>>();
    const schemaFields = (schema: GraphQLSchema, type: string): Set<string> => {
      let byType = fieldsOf.get(schema);
      if (!byType) fieldsOf.set(schema, (byType = new Map()));
      let fields = byType.get(type);
      if (!fields) {
        fields = new Set(Object.keys((type === 'mutation' ? schema.getMutationType() : type === 'subscription' ? schema.getSubscriptionType() : schema.getQueryType())?.getFields() ?? {}));
        byType.set(type, fields);
      }
      return fields;
    };
    app.graphql.addHook('preExecution', async (schema, document, context) => {
      const op = operationOf(document, (context as { operationName?: string }).operationName);
      const type = op?.operation ?? 'query';
      const first = op?.selectionSet.selections.find((s) => s.kind === 'Field');
      const name = first?.kind === 'Field' ? first.name.value : '';
      // Only the schema's own fields: never a name a client made up.
      const field = name === '__typename' || name === '__schema' || name === '__type' ? name : schemaFields(schema, type).has(name) ? name : 'unknown';
      this.started.set(context as object, { at: process.hrtime.bigint(), type, field });
    });
    app.graphql.addHook('onResolution', async (execution: ExecutionResult, context) => {
      const start = this.started.get(context as object);
      if (!start) return;
      this.started.delete(context as object);
      const labels = { operation_type: start.type, field: start.field };
      this.graphqlOperations.inc(labels);
      this.graphqlDuration.observe(labels, Number(process.hrtime.bigint() - start.at) / 1e9);
      const request = (context as { reply?: { request?: object } }).reply?.request;
      if (request) this.resolved.add(request);
      for (const error of execution.errors ?? []) {
        const code = String(formatError(error as GraphQLError, () => undefined).extensions?.code ?? 'INTERNAL_SERVER_ERROR');
        this.graphqlErrors.inc({ operation_type: start.type, code: errorCode.test(code) ? code : 'OTHER' });
      }
    });
    // Subscriptions over graphql-ws (Kefu's own server): the same counters, type "subscription".
    (app as { liveServer?: { addObserver(o: OperationObserver): void } }).liveServer?.addObserver(this.subscribeFrames);
    // Operations refused before they ran (syntax, validation, limits, no token): their answer's codes, as "none".
    app.addHook('onSend', async (request, reply, payload) => {
      if (typeof payload !== 'string' || this.resolved.has(request) || routeOf(request) !== '/graphql' || !payload.includes('"errors"')) return payload;
      try {
        const body = JSON.parse(payload) as { errors?: { extensions?: { code?: unknown } }[] };
        for (const e of body.errors ?? []) {
          const code = String(e.extensions?.code ?? 'BAD_USER_INPUT');
          this.graphqlErrors.inc({ operation_type: 'none', code: errorCode.test(code) ? code : 'OTHER' });
        }
      } catch {
        // Not JSON: nothing to count.
      }
      return payload;
    });
  }

  /**
   * graphql-ws subscribe frames: a subscription that ran (graphql's subscribe) is an operation, timed from
   * the frame to running or refused, its errors by code; a frame refused before (bad document, a query sent
   * over the socket) counts its errors as type "none", as over HTTP.
   */
  private readonly subscribeFrames: OperationObserver = {
    begin: () => {
      const at = process.hrtime.bigint();
      let ran: { type: string; field: string } | null = null;
      return {
        within: (fn) => fn(),
        operation: (document, operationName, context) => {
          if (context === null) return;
          const op = operationOf(document, operationName);
          const first = op?.selectionSet.selections.find((s) => s.kind === 'Field');
          // The document was validated against the schema: its first field is one of the schema's.
          ran = { type: op?.operation ?? 'subscription', field: first?.kind === 'Field' ? first.name.value : 'unknown' };
        },
        end: (errors) => {
          const type = ran?.type ?? 'none';
          if (ran) {
            const labels = { operation_type: ran.type, field: ran.field };
            this.graphqlOperations.inc(labels);
            this.graphqlDuration.observe(labels, Number(process.hrtime.bigint() - at) / 1e9);
          }
          for (const error of errors ?? []) {
            const code = String(formatError(error, () => undefined).extensions?.code ?? 'INTERNAL_SERVER_ERROR');
            this.graphqlErrors.inc({ operation_type: type, code: errorCode.test(code) ? code : 'OTHER' });
          }
        },
      };
    },
  };

  /** The event store with appends counted and timed (a conflict is WrongExpectedRevisionError). */
  instrumentEventStore(store: EventStore): EventStore {
    const wrapped: EventStore = Object.create(store) as EventStore;
    wrapped.appendToStream = async (streamId, events, options) => {
      const category = streamCategory(streamId);
      const end = this.appendDuration.startTimer({ category });
      try {
        const result = await store.appendToStream(streamId, events, options);
        this.appends.inc({ category, result: 'ok' });
        this.appendedEvents.inc({ category }, events.length);
        const offered = events.filter((e) => e.type === 'ContactOffered').length;
        if (offered > 0) this.offers.inc(offered);
        return result;
      } catch (err) {
        this.appends.inc({ category, result: err instanceof WrongExpectedRevisionError ? 'conflict' : 'error' });
        throw err;
      } finally {
        end();
      }
    };
    // The rest as they are, bound to the store (it keeps private state).
    for (const name of ['readStream', 'readAll', 'subscribeToAll', 'headPosition', 'close'] as const) {
      (wrapped as unknown as Record<string, unknown>)[name] = (store[name] as (...a: unknown[]) => unknown).bind(store);
    }
    return wrapped;
  }

  /** For the SIP transport: every message in and out. */
  readonly observeSip = (direction: 'in' | 'out', message: { method?: string; status?: number; headers: { cseq?: { method?: string } } }): void => {
    if (message.method) {
      this.sipRequests.inc({ direction, method: sipMethods.has(message.method) ? message.method : 'OTHER' });
      return;
    }
    const method = message.headers.cseq?.method ?? '';
    const status = message.status ?? 0;
    this.sipResponses.inc({ direction, method: sipMethods.has(method) ? method : 'OTHER', code: status >= 100 && status < 700 ? String(status) : 'invalid' });
  };

  private authorized(header: string | undefined): boolean {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
    if (!m) return false;
    return timingSafeEqual(createHash('sha256').update(m[1]!).digest(), this.tokenDigest);
  }

  private static defineGauges(metrics: KefuMetrics, registers: Registry[]): void {
    new Gauge({
      name: 'kefu_projection_lag_events',
      help: `Events in the store that a projection has not applied yet (counted up to ${lagCountCap}).`,
      labelNames: ['projection'],
      registers,
      async collect() {
        const lag = await metrics.projectionLag();
        this.reset();
        for (const l of lag) this.set({ projection: l.projection }, l.events);
      },
    });
    new Gauge({
      name: 'kefu_projection_lag_seconds',
      help: 'Age of the oldest event a projection has not applied yet (0 when caught up).',
      labelNames: ['projection'],
      registers,
      async collect() {
        const lag = await metrics.projectionLag();
        this.reset();
        for (const l of lag) this.set({ projection: l.projection }, l.seconds);
      },
    });
    new Gauge({
      name: 'kefu_contacts',
      help: 'Contacts not ended, by channel (PHONE calls, ONLINE chats, AV calls, WECHAT) and status (QUEUED = waiting in a queue).',
      labelNames: ['channel', 'status'],
      registers,
      async collect() {
        this.reset();
        for (const row of (await metrics.sources?.openContacts()) ?? []) {
          const status = /^[A-Z_]{1,30}$/.test(row.status) ? row.status : 'OTHER';
          this.inc({ channel: channels.has(row.channel) ? row.channel : 'OTHER', status }, row.count);
        }
      },
    });
    new Gauge({
      name: 'kefu_router_queued_contacts',
      help: 'Contacts waiting in skill-group queues, by channel.',
      labelNames: ['channel'],
      registers,
      async collect() {
        this.reset();
        for (const c of channels) this.set({ channel: c }, 0);
        for (const row of (await metrics.sources?.openContacts()) ?? []) {
          if (row.status === 'QUEUED') this.inc({ channel: channels.has(row.channel) ? row.channel : 'OTHER' }, row.count);
        }
      },
    });
    new Gauge({
      name: 'kefu_sip_dialogs',
      help: "SIP dialogs this node holds (a bridged call has two: the caller's and the agent phone's; an ended one stays 32 s for retransmissions). Calls by state: kefu_contacts{channel=\"PHONE\"}.",
      registers,
      collect() {
        this.set(metrics.sources?.sipDialogs?.() ?? 0);
      },
    });
    // Per media thread ("0", "1", ...; "main" when RTP runs on the main thread): bounded by KEFU_MEDIA_THREADS.
    const rtp = () =>
      (metrics.sources?.mediaThreads?.() ?? []).map(({ thread, utilization, legs }) => {
        let packetsIn = 0;
        let packetsOut = 0;
        let lost = 0;
        let jitterMax = 0;
        let jitterSum = 0;
        let jitterLegs = 0;
        for (const stats of legs) {
          packetsIn += stats.packetsIn;
          packetsOut += stats.packetsOut;
          lost += stats.packetsLost ?? 0;
          if (stats.jitterMs !== undefined) {
            jitterMax = Math.max(jitterMax, stats.jitterMs);
            jitterSum += stats.jitterMs;
            jitterLegs++;
          }
        }
        return { thread, utilization, legs: legs.length, packetsIn, packetsOut, lost, jitterMax: jitterMax / 1000, jitterMean: jitterLegs ? jitterSum / jitterLegs / 1000 : 0 };
      });
    new Gauge({
      name: 'kefu_rtp_open_legs',
      help: 'Open RTP legs (two per bridged call), by media thread.',
      labelNames: ['thread'],
      registers,
      collect() {
        this.reset();
        for (const t of rtp()) this.set({ thread: t.thread }, t.legs);
      },
    });
    new Gauge({
      name: 'kefu_rtp_open_legs_packets',
      help: 'RTP packets received and sent so far by the legs open now, by media thread and direction.',
      labelNames: ['thread', 'direction'],
      registers,
      collect() {
        this.reset();
        for (const t of rtp()) {
          this.set({ thread: t.thread, direction: 'received' }, t.packetsIn);
          this.set({ thread: t.thread, direction: 'sent' }, t.packetsOut);
        }
      },
    });
    new Gauge({
      name: 'kefu_rtp_open_legs_packets_lost',
      help: 'RTP packets lost (from RTP sequence numbers) on the legs open now, by media thread.',
      labelNames: ['thread'],
      registers,
      collect() {
        this.reset();
        for (const t of rtp()) this.set({ thread: t.thread }, t.lost);
      },
    });
    new Gauge({
      name: 'kefu_rtp_jitter_seconds',
      help: 'RFC 3550 interarrival jitter of the audio received on the open legs, by media thread: max and mean.',
      labelNames: ['thread', 'stat'],
      registers,
      collect() {
        this.reset();
        for (const t of rtp()) {
          this.set({ thread: t.thread, stat: 'max' }, t.jitterMax);
          this.set({ thread: t.thread, stat: 'mean' }, t.jitterMean);
        }
      },
    });
    new Gauge({
      name: 'kefu_media_thread_utilization',
      help: "Share of time (0 to 1) each media worker thread's event loop was busy since the previous scrape.",
      labelNames: ['thread'],
      registers,
      collect() {
        this.reset();
        for (const t of rtp()) if (t.utilization !== null) this.set({ thread: t.thread }, t.utilization);
      },
    });
    new Gauge({
      name: 'kefu_live_connections',
      help: 'graphql-ws connections (live views, chats), by principal kind (customer = chat customers, agent, apiKey, operator, unauthenticated).',
      labelNames: ['principal'],
      registers,
      collect() {
        this.reset();
        for (const kind of ['customer', 'agent', 'apiKey', 'operator', 'unauthenticated']) this.set({ principal: kind }, 0);
        for (const [kind, n] of Object.entries(metrics.sources?.live?.().connections ?? {})) this.set({ principal: kind }, n);
      },
    });
    new Gauge({
      name: 'kefu_live_subscriptions',
      help: 'GraphQL subscriptions running over graphql-ws.',
      registers,
      collect() {
        this.set(metrics.sources?.live?.().subscriptions ?? 0);
      },
    });
  }

  /** Each projection's lag; the gauges of one scrape share it (one read per projection). */
  private lagOfScrape: Promise<{ projection: string; events: number; seconds: number }[]> | null = null;
  private projectionLag(): Promise<{ projection: string; events: number; seconds: number }[]> {
    if (!this.lagOfScrape) {
      this.lagOfScrape = this.readProjectionLag().finally(() => setImmediate(() => (this.lagOfScrape = null)));
    }
    return this.lagOfScrape;
  }

  private async readProjectionLag(): Promise<{ projection: string; events: number; seconds: number }[]> {
    const sources = this.sources;
    if (!sources) return [];
    const now = Date.now();
    const byCheckpoint = new Map<string, Promise<{ events: number; seconds: number }>>();
    const out: { projection: string; events: number; seconds: number }[] = [];
    for (const name of sources.projections.names) {
      const checkpoint = await sources.projections.checkpoint(name);
      const key = checkpoint ? `${checkpoint.commit}/${checkpoint.prepare}` : 'start';
      let lag = byCheckpoint.get(key);
      if (!lag) {
        lag = sources.store.readAll({ after: checkpoint, maxCount: lagCountCap }).then((behind) => ({
          events: behind.length,
          seconds: behind.length === 0 ? 0 : Math.max(0, (now - Date.parse(behind[0]!.metadata.occurredAt)) / 1000),
        }));
        byCheckpoint.set(key, lag);
      }
      out.push({ projection: name, ...(await lag) });
    }
    return out;
  }
}

function routeOf(request: FastifyRequest): string {
  // The route's pattern (/recordings/:id), never the path a client sent.
  return request.routeOptions.url ?? 'unmatched';
}

function operationOf(document: DocumentNode, name: string | undefined): OperationDefinitionNode | undefined {
  const ops = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === 'OperationDefinition');
  return name ? (ops.find((o) => o.name?.value === name) ?? ops[0]) : ops[0];
}
