// buildApp(deps): the fastify app with the GraphQL API, GraphiQL and health checks. It never listens.
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { readFileSync } from 'node:fs';
import mercurius from 'mercurius';
import type { FastifyBaseLogger } from 'fastify';
import { GraphQLError, parse, specifiedRules, type DocumentNode, type ExecutionResult, type GraphQLObjectType } from 'graphql';
import { DomainError } from '../domain/errors.ts';
import type { Principal } from './auth.ts';
import { SubscriptionServer } from './graphql-ws-server.ts';
import { LiveFanout, type LiveFanoutOptions, type LiveSocket } from './live-fanout.ts';
import { newCorrelationId, type ApiDeps, type KefuContext } from './context.ts';
import { formatError } from './errors.ts';
import { addChatOriginHooks, checkCustomerOrigin, connectionPrincipal } from './chat-origins.ts';
import { webChannelResolvers } from './resolvers/web-channels.ts';
import { wechatAccountResolvers } from './resolvers/wechat-accounts.ts';
import { wechatCallbackRoutes } from '../adapters/wechat/wechat-callback-route.ts';
import { customerSessionResolvers } from './resolvers/customer-sessions.ts';
import { agentResolvers } from './resolvers/agents.ts';
import { contactResolvers } from './resolvers/contacts.ts';
import { chatResolvers } from './resolvers/chat.ts';
import { monitoringResolvers } from './resolvers/monitoring.ts';
import { instanceResolvers } from './resolvers/instances.ts';
import { skillGroupResolvers } from './resolvers/skill-groups.ts';
import { blacklistResolvers } from './resolvers/blacklist.ts';
import { quickReplyResolvers } from './resolvers/quick-replies.ts';
import { screenPopResolvers } from './resolvers/screen-pop.ts';
import { flowResolvers } from './resolvers/flows.ts';
import { telephonyResolvers } from './resolvers/telephony.ts';
import { registerAudioRoutes } from './audio-upload.ts';
import { callRecordResolvers } from './resolvers/call-records.ts';
import { chatRecordResolvers } from './resolvers/chat-records.ts';
import { satisfactionResolvers } from './resolvers/satisfaction.ts';
import { reportResolvers } from './resolvers/reports.ts';
import { outboundCallResolvers } from './resolvers/outbound-calls.ts';
import { callControlResolvers } from './resolvers/call-control.ts';
import { recordingsRoute } from './recordings-route.ts';
import { exportsRoute } from './exports/exports-route.ts';
import { softphoneResolvers } from './resolvers/softphone.ts';
import { avCallResolvers } from './resolvers/av-calls.ts';
import { projectionResolvers } from './resolvers/projections.ts';
import { webhookResolvers } from './resolvers/webhooks.ts';
import type { Tracer } from '@opentelemetry/api';
import { traceGraphqlOperations, traceGraphqlRequests, traceGraphqlWs } from '../adapters/observability/tracing.ts';
import { listParkedParts, type ParkedPart } from '../projections/parked-parts.ts';
import { demoAgentRoutes } from './demo-agent/demo-agent-route.ts';
import { demoSupervisorRoutes } from './demo-supervisor/demo-supervisor-route.ts';
import { graphiqlRoutes } from './graphiql/graphiql-route.ts';
import { widgetRoutes } from './widget/widget-route.ts';
import { demoCustomerRoutes } from './demo-customer/demo-customer-route.ts';
import { chatFilesRoutes } from './chat-files-route.ts';
import { avIconRoutes } from './av-icons-route.ts';
import { defaultQueryLimits, queryLimitsRule, type QueryLimits } from './query-limits.ts';
import { dateTimeScalar } from './scalars.ts';
import { withStorableArguments } from './storable-arguments.ts';

export const schemaPath = new URL('../../schema.graphql', import.meta.url);

/** Parses a document, refusing one longer than maxTokens with a clear BAD_USER_INPUT. */
function parseWithinLimits(source: string, maxTokens: number): DocumentNode {
  try {
    return parse(source, { maxTokens });
  } catch (err) {
    if (err instanceof GraphQLError && err.message.includes(`more that ${maxTokens} tokens`)) {
      throw new GraphQLError(`The document has more than ${maxTokens} tokens; send a shorter one`, { extensions: { code: 'BAD_USER_INPUT', limit: 'tokens', max: maxTokens } });
    }
    if (err instanceof GraphQLError) throw new GraphQLError(err.message, { nodes: err.nodes, source: err.source, positions: err.positions, extensions: { code: 'BAD_USER_INPUT' } });
    // graphql-js parses by recursion: braces or brackets nested a thousand deep exhaust the stack first.
    if (err instanceof RangeError) throw new GraphQLError('The document nests too deeply', { extensions: { code: 'BAD_USER_INPUT', limit: 'depth' } });
    throw err;
  }
}

function mergeResolvers(...parts: Record<string, object>[]): Record<string, object> {
  const out: Record<string, object> = {};
  for (const part of parts) for (const [type, fields] of Object.entries(part)) out[type] = { ...(out[type] ?? {}), ...fields };
  return out;
}

/** Errors from mercurius's validation step are plain objects or another copy of graphql's class. */
function asGraphQLError(e: unknown): GraphQLError {
  if (e && typeof e === 'object' && 'message' in e && ('originalError' in e || 'locations' in e || 'path' in e)) return e as GraphQLError;
  return new GraphQLError(String((e as { message?: unknown })?.message ?? e));
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
  interface FastifyInstance {
    /** The live views' fan-out (its counts show how much work changes cost). */
    liveFanout: LiveFanout;
    /** The graphql-ws server (live connections and subscriptions, for metrics). */
    liveServer: SubscriptionServer<unknown>;
  }
}

function trustHops(hops: number): (address: string, hop: number) => boolean {
  return (_address, hop) => hop < hops;
}

export interface BuildAppOptions {
  logger?: FastifyBaseLogger;
  /** Bounds on each GraphQL operation (depth, aliases, cost, mutations, tokens); defaults otherwise. */
  queryLimits?: QueryLimits;
  /** Live views' fan-out: slow-consumer bounds, write slices, sharing (defaults otherwise). */
  live?: Omit<LiveFanoutOptions, 'formatErrors' | 'log'>;
  /** Whose X-Forwarded-For gives the client's address (KEFU_TRUST_PROXY); false: the connection's. */
  trustProxy?: boolean | number | string[];
  /** OpenTelemetry (issue 16): with a tracer, a span per GraphQL request; without, none. */
  tracer?: Tracer;
}

export async function buildApp(deps: ApiDeps, options: BuildAppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger } : { logger: false }),
    bodyLimit: 1024 * 1024,
    // A hop count as proxy-addr's function: believe that many proxies nearest to Kefu.
    trustProxy: typeof options.trustProxy === 'number' ? trustHops(options.trustProxy) : (options.trustProxy ?? false),
    genReqId: () => newCorrelationId(),
    // The router's own refusals (a path that is not percent-encoded UTF-8, a path parameter past its length)
    // answer as the REST routes do, { error: { code, message } }, not in fastify's own shape.
    frameworkErrors: (error, _request, reply) =>
      (reply as unknown as FastifyReply).code(error.statusCode ?? 400).send({
        error: { code: 'BAD_USER_INPUT', message: error.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'A part of the URL path is too long' : 'The URL path is not valid percent-encoded UTF-8' },
      }),
  }) as unknown as FastifyInstance;
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: { code: 'NOT_FOUND', message: `No such route: ${request.method} ${request.url.split('?')[0]!.slice(0, 200)}` } }),
  );

  app.decorateRequest('principal', null);
  app.addHook('preHandler', async (request, reply) => {
    if (!request.url.startsWith('/graphql')) return;
    try {
      request.principal = await deps.auth.authenticate(request.headers.authorization);
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
      return reply.code(401).send({ data: null, errors: [{ message: err.message, extensions: { code: err.code } }] });
    }
    // A chat customer's token works only from the origins of their channel (issue 11).
    return checkCustomerOrigin(deps, request, reply);
  });
  // CORS for /graphql and /chat/* (origins some web channel allows); customers' /chat/* requests' origin.
  addChatOriginHooks(app, deps);

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_, reply) => {
    if (!deps.ready()) return reply.code(503).send({ status: 'starting' });
    let parked: ParkedPart[];
    try {
      parked = await listParkedParts(deps.db);
    } catch {
      return reply.code(503).send({ status: 'database unavailable' });
    }
    // Parked parts stop one instance's read model, not the service: still ready, but say which. The errors
    // themselves (which may quote customer data) are for the operator's parkedProjectionParts query.
    if (parked.length > 0) {
      return {
        status: 'degraded',
        parked: parked.map((p) => ({ projection: p.projection, instanceId: p.instanceId, eventType: p.eventType, parkedAt: p.parkedAt.toISOString() })),
      };
    }
    return { status: 'ready' };
  });

  await app.register(recordingsRoute, { deps });
  // CSV exports of records and reports (issue 15), streamed; their own auth hook and error answers.
  await app.register(exportsRoute, { deps });
  await registerAudioRoutes(app, deps);
  await app.register(demoAgentRoutes);
  await app.register(demoSupervisorRoutes);
  // GraphiQL from Kefu itself (works offline), not mercurius' CDN page.
  await app.register(graphiqlRoutes);
  await app.register(widgetRoutes);
  await app.register(demoCustomerRoutes);
  // Chat uploads and files (OL-15), in their own scope: the multipart parser and error answers are theirs.
  await app.register(chatFilesRoutes, { deps });
  await app.register(avIconRoutes, { deps });
  // WeChat callbacks (issue 13), in their own scope: bodies as text, their own limit.
  await app.register(wechatCallbackRoutes, { deps });

  const limits = options.queryLimits ?? defaultQueryLimits;
  const limitsRule = queryLimitsRule(limits);

  const resolvers = withStorableArguments(mergeResolvers({ DateTime: dateTimeScalar as unknown as object }, instanceResolvers, agentResolvers, skillGroupResolvers, contactResolvers, chatResolvers, monitoringResolvers, blacklistResolvers, screenPopResolvers, callRecordResolvers, chatRecordResolvers, callControlResolvers, flowResolvers, telephonyResolvers, softphoneResolvers, avCallResolvers, outboundCallResolvers, projectionResolvers, webChannelResolvers, wechatAccountResolvers, customerSessionResolvers, quickReplyResolvers, satisfactionResolvers, reportResolvers, webhookResolvers, {
    Principal: { resolveType: (p: { __typename: string }) => p.__typename },
  }));

  const errorFormatter = (execution: ExecutionResult, context: unknown) => {
    // mercurius' formatter logs through the request's reply, or the app: live views and Kefu's graphql-ws
    // server have neither in their context (a subscription's first result with an error crashed it).
    const withLogger = (context as { reply?: unknown } | null)?.reply ? context : { app };
    const base = mercurius.defaultErrorFormatter(execution as never, withLogger as never);
    const log = (err: unknown) => app.log.error({ err }, 'unexpected error in a resolver');
    // mercurius wraps parse and validation errors in one; show each of them.
    const flat = (execution.errors ?? []).flatMap((e) => {
      const inner = (e as GraphQLError).originalError as { errors?: unknown } | undefined;
      return Array.isArray(inner?.errors) ? (inner.errors as GraphQLError[]) : [e as GraphQLError];
    });
    const errors = flat.map((e) => formatError(asGraphQLError(e), log));
    return { statusCode: base.statusCode, response: { data: execution.data ?? null, errors } };
  };
  // Live views: one execution and one frame per change and group of subscribers, written in slices (live-fanout.ts).
  const live = new LiveFanout(deps.bus, { formatErrors: errorFormatter, log: app.log, ...options.live });
  app.decorate('liveFanout', live);

  // Subscriptions are served by Kefu's own graphql-ws server (graphql-ws-server.ts): mercurius gets the other
  // resolvers, and the Subscription fields' subscribe/resolve go onto the schema below.
  const { Subscription: subscriptionResolvers, ...httpResolvers } = resolvers as Record<string, Record<string, object>>;
  // OpenTelemetry (issue 16): a span per GraphQL request, active while mercurius runs it; its hook goes last.
  if (options.tracer) traceGraphqlRequests(app, options.tracer);
  await app.register(mercurius, {
    schema: readFileSync(schemaPath, 'utf8'),
    resolvers: httpResolvers as never,
    path: '/graphql',
    graphiql: false,
    // Depth, aliases, cost and mutations per request: one rule, run with the spec's rules before anything executes.
    validationRules: [limitsRule],
    graphql: { parseOptions: { maxTokens: limits.maxTokens } },
    // graphql-jit for the operations sent again and again (a chat's sendChatMessage, an agent's offers): compiled
    // once in the background after their third request (adaptive mode: every request's variables are still
    // checked by graphql-js first, so refusals keep their messages and codes); the others run through graphql-js.
    jit: { minCount: 3, eluThreshold: 1 },
    context: (request): Omit<KefuContext, 'pubsub'> => ({
      deps,
      principal: request.principal,
      clientIp: request.ip,
      correlationId: String(request.id),
      origin: typeof request.headers.origin === 'string' ? request.headers.origin : null,
    }),
    errorFormatter: errorFormatter as never,
  });
  if (options.tracer) traceGraphqlOperations(app);

  // mercurius falls back to reading a query that is not GraphQL as a JSON document ("{}", "42"), which
  // then fails deep in validation. Kefu takes GraphQL text only: parse it first, so such a query is a
  // plain syntax error (BAD_USER_INPUT). Known-good queries are remembered to parse each only once.
  const parsedQueries = new Set<string>();
  app.graphql.addHook('preParsing', async (_schema, source) => {
    if (typeof source !== 'string') throw new GraphQLError('The query must be GraphQL text');
    if (parsedQueries.has(source)) return;
    parseWithinLimits(source, limits.maxTokens);
    if (parsedQueries.size > 5000) parsedQueries.clear();
    parsedQueries.add(source);
  });

  const schema = app.graphql.schema;
  const subscriptionFields = (schema.getSubscriptionType() as GraphQLObjectType).getFields();
  for (const [name, field] of Object.entries(subscriptionResolvers ?? {})) {
    if (!subscriptionFields[name]) throw new Error(`No subscription field ${name} in the schema`);
    Object.assign(subscriptionFields[name], field);
  }

  // graphql-ws on GET /graphql: the same parse limits and validation rules as over HTTP, each text once.
  const subscriptions = new SubscriptionServer<Principal>({
    schema,
    path: '/graphql',
    parse: (source) => parseWithinLimits(source, limits.maxTokens),
    validationRules: [...specifiedRules, limitsRule],
    // A chat customer's connection must come from an origin of their channel (issue 11).
    authenticate: async (payload, connection) => connectionPrincipal(deps, payload.authorization ?? payload.Authorization, connection.origin),
    context: ({ principal, clientIp, origin, socket, id }) => ({ deps, principal, clientIp, origin, correlationId: newCorrelationId(), live, liveSocket: socket as unknown as LiveSocket, id }),
    formatResult: errorFormatter,
    formatErrors: (errors) => errors.map((e) => formatError(e, (err) => app.log.error({ err }, 'unexpected error in a subscription'))),
    log: app.log,
  });
  subscriptions.attach(app.server);
  if (options.tracer) subscriptions.addObserver(traceGraphqlWs(options.tracer));
  app.decorate('liveServer', subscriptions as SubscriptionServer<unknown>);
  app.addHook('preClose', (done) => {
    subscriptions.close();
    done();
  });

  return app;
}
