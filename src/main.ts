// Composition root: config → adapters → processes → API.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import type { Logger as PinoLogger } from 'pino';
import { createLogger } from './adapters/observability/logger.ts';
import { KefuMetrics, type MetricsSources } from './adapters/observability/metrics.ts';
import { readCheckpoint } from './projections/projection-runner.ts';
import { InProcessBus } from './adapters/bus/in-process-bus.ts';
import { NatsBus } from './adapters/bus/nats-bus.ts';
import { CommandHandler } from './adapters/eventstore/command-handler.ts';
import { EventStoreDbEventStore } from './adapters/eventstore/eventstoredb/eventstoredb-event-store.ts';
import { migrateEventStore, PostgresEventStore } from './adapters/eventstore/postgres/postgres-event-store.ts';
import { createKysely } from './adapters/sql/kysely-dialect.ts';
import { createPgliteClient, createPostgresClient, reservedView, type SqlClient } from './adapters/sql/sql-client.ts';
import { buildApp } from './api/app.ts';
import { Authenticator, type OperatorCredential } from './api/auth.ts';
import { hashSecret, randomToken } from './api/credentials.ts';
import { LoginThrottle } from './api/login-throttle.ts';
import { ChatLimits } from './api/chat-limits.ts';
import { ConfigError, loadConfig, mediaThreads, type Config } from './config.ts';
import type { Bus } from './domain/ports/bus.ts';
import type { EventStore } from './domain/ports/event-store.ts';
import { migrateReadModels } from './projections/migrations.ts';
import type { ReadModel } from './projections/projection.ts';
import { ProjectionRunner } from './projections/projection-runner.ts';
import { allProjections } from './projections/registry.ts';
import { Router } from './processes/router/router.ts';
import { ChatFlowRunner, contactChatFlowPorts, resumeStartedChatFlows } from './processes/chat-flows/chat-flow-runner.ts';
import { ChatReception } from './processes/chat-reception/chat-reception.ts';
import type { ReadModelDb } from './projections/read-model-db.ts';
import { hostname } from 'node:os';
import { mkdir } from 'node:fs/promises';
import { holdMusic } from './adapters/media/hold-music.ts';
import { EspeakTextToSpeech } from './adapters/media/text-to-speech.ts';
import { UdpMediaEngine } from './adapters/media/udp-media-engine.ts';
import { ThreadedMediaEngine } from './adapters/media/threaded/threaded-media-engine.ts';
import type { MonitoredMediaEngine } from './adapters/media/media-port.ts';
import { loadAudio, loadFlow, ReadModelSipDirectory } from './adapters/sip-directory/read-model-sip-directory.ts';
import { SipServer } from './adapters/sip/sip-server.ts';
import { FileStorage } from './adapters/storage/file-storage.ts';
import { chatFileLinkKey, type ChatFilesSettings } from './adapters/chat-files/chat-files.ts';
import { WechatApi } from './adapters/wechat/wechat-api.ts';
import { WechatOutbox } from './processes/wechat-outbox/wechat-outbox.ts';
import { SecretBox } from './adapters/wechat/wechat-secrets.ts';
import { ensureRecordingDir, recordingPath } from './adapters/storage/recording-storage.ts';
import { findBlacklistEntry } from './api/resolvers/blacklist.ts';
import { ContactWatch } from './processes/calls/contact-watch.ts';
import { DeviceDirectory } from './processes/calls/devices/device-directory.ts';
import { SipPhoneDevice } from './processes/calls/devices/sip-phone-device.ts';
import { softphoneDevices } from './processes/calls/devices/softphone-device.ts';
import { SoftphoneHub } from './adapters/webrtc/softphone-hub.ts';
import { PhoneCalls } from './processes/calls/phone-calls.ts';
import type { CallDeps } from './processes/calls/call-deps.ts';
import { mobileDeviceSource } from './processes/calls/devices/mobile-device.ts';
import { OutboundCalls } from './processes/calls/outbound-calls.ts';
import { findMobileSetting, findOutboundTrunk } from './api/resolvers/outbound-calls.ts';
import { transferTargetsIn } from './processes/calls/transfer-targets.ts';
import { PromptAudio } from './processes/calls/prompt-audio.ts';
import { loadSatisfactionSurvey } from './api/resolvers/satisfaction.ts';
import { AvCalls } from './processes/av-calls/av-calls.ts';
import { parseAddressList } from './adapters/webrtc/av-offer.ts';
import { avRecordingPath } from './adapters/storage/recording-storage.ts';
import { HttpWebhookSender } from './adapters/webhooks/webhook-sender.ts';
import { keptKey, secretsKeyFor } from './adapters/sql/kept-keys.ts';
import { WebhookDispatcher } from './processes/webhooks/webhook-dispatcher.ts';
import type { Tracer } from '@opentelemetry/api';
import { startTracing, traceCommands, traceEventStore, traceInboundCall, traceSqlClient } from './adapters/observability/tracing.ts';

export interface Kefu {
  config: Config;
  app: FastifyInstance;
  store: EventStore;
  sql: SqlClient;
  db: ReadModel;
  bus: Bus;
  projections: ProjectionRunner;
  router: Router;
  /** Sends the web channels' reception prompts (issue 12). */
  reception: ChatReception;
  commands: CommandHandler;
  /** Sends the webhook outbox (issue 16). */
  webhooks: WebhookDispatcher;
  /** The SIP side (null with KEFU_SIP=off): the SIP server, the media engine and the call sessions. */
  phone: Phone | null;
  /** The operator token, when this start generated it (printed once). */
  generatedOperatorToken: string | null;
  close(): Promise<void>;
}

export interface Phone {
  sip: SipServer;
  media: MonitoredMediaEngine;
  calls: PhoneCalls;
  /** Outbound calls (PH-2) placed by this node. */
  outbound: OutboundCalls;
  /** Agents' browser softphones (WebRTC) connected to this node. */
  softphones: SoftphoneHub;
}

/** SIP trunks and phones, RTP media, and the process that runs inbound calls (issue: phone inbound). */
async function startPhone(config: Config, o: { db: ReadModel; commands: CommandHandler; store: EventStore; logger: PinoLogger; dataDir: string; recordingsDir: string; tracer?: Tracer | undefined; clock: () => Date }): Promise<Phone> {
  const mediaOptions = {
    bindAddress: config.KEFU_SIP_BIND,
    publicAddress: config.KEFU_SIP_PUBLIC_ADDRESS,
    portMin: config.KEFU_RTP_PORT_MIN,
    portMax: config.KEFU_RTP_PORT_MAX,
    logger: o.logger,
  };
  const threads = mediaThreads(config.KEFU_MEDIA_THREADS);
  const media: MonitoredMediaEngine = threads === 0 ? new UdpMediaEngine(mediaOptions) : new ThreadedMediaEngine({ ...mediaOptions, threads });
  const storage = new FileStorage(o.dataDir);
  const prompts = new PromptAudio({
    loadUploaded: (instanceId, audioId) => loadAudio(storage, instanceId, audioId),
    tts: new EspeakTextToSpeech({ cacheDir: path.join(o.dataDir, 'tts-cache') }),
  });
  let sip: SipServer | null = null;
  const node = config.KEFU_NODE_ID ?? hostname();
  const softphones = new SoftphoneHub({ publicAddress: config.KEFU_SIP_PUBLIC_ADDRESS, bindAddress: config.KEFU_SIP_BIND, logger: o.logger });
  const callDeps: CallDeps = {
    commands: o.commands,
    media,
    devices: new DeviceDirectory([
      (_instanceId, agentId) =>
        sip!.registrations.lookup(agentId).map(
          (r) => new SipPhoneDevice({ target: { uri: r.contactUri, via: r.source }, label: `${r.source.transport}:${r.source.address}:${r.source.port}`, media, sip: sip! }),
        ),
      softphoneDevices(softphones, media),
      // PH-3: the mobile, dialled through the instance's outbound trunk.
      mobileDeviceSource({ setting: (i, a) => findMobileSetting(o.db, i, a), outboundTrunk: (i) => findOutboundTrunk(o.db, i), media, sip: () => sip! }),
    ]),
    watch: new ContactWatch(o.store),
    promptAudio: (instanceId, prompt) => prompts.get(instanceId, prompt),
    holdMusic: holdMusic(),
    silenceAlertSeconds: config.KEFU_SILENCE_ALERT_SECONDS,
    loadFlow: (instanceId, flowId) => loadFlow(o.db, instanceId, flowId),
    satisfactionSurvey: (instanceId) => loadSatisfactionSurvey(o.db, instanceId),
    isBlacklisted: async (instanceId, caller, now) => (await findBlacklistEntry(o.db, instanceId, 'PHONE', caller, now)) !== null,
    queueHasRoom: async (instanceId, skillGroupId) => {
      const group = await o.db.selectFrom('skill_groups').select('max_queue_length').where('instance_id', '=', instanceId).where('id', '=', skillGroupId).executeTakeFirst();
      if (!group || group.max_queue_length <= 0) return true;
      const waiting = await o.db
        .selectFrom('contacts')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where('instance_id', '=', instanceId)
        .where('skill_group_id', '=', skillGroupId)
        .where('status', '=', 'QUEUED')
        .executeTakeFirstOrThrow();
      return Number(waiting.n) < group.max_queue_length;
    },
    onAgentDeviceLost: async (instanceId, skillGroupId) => {
      // A deleted group has no queue to go back to: END.
      const group = await o.db
        .selectFrom('skill_groups')
        .select('on_agent_device_lost')
        .where('instance_id', '=', instanceId)
        .where('id', '=', skillGroupId)
        .where('deleted_at', 'is', null)
        .executeTakeFirst();
      return group?.on_agent_device_lost === 'REQUEUE' ? 'REQUEUE' : 'END';
    },
    recordingPath: async (instanceId, recordingId) => {
      await ensureRecordingDir(o.recordingsDir, instanceId);
      return recordingPath(o.recordingsDir, instanceId, recordingId);
    },
    findTransferTarget: transferTargetsIn(o.db),
    node,
    logger: o.logger,
    clock: o.clock,
  };
  const calls = new PhoneCalls(callDeps);
  const outbound = new OutboundCalls(callDeps, () => sip!);
  await calls.start();
  sip = new SipServer(
    { port: config.KEFU_SIP_PORT, bindAddress: config.KEFU_SIP_BIND, publicAddress: config.KEFU_SIP_PUBLIC_ADDRESS, realm: config.KEFU_SIP_REALM, udp: true, tcp: true, logger: o.logger },
    { directory: new ReadModelSipDirectory(o.db), onInboundCall: (call) => (o.tracer ? traceInboundCall(o.tracer, call, (c) => calls.handleInbound(c)) : calls.handleInbound(call)) },
  );
  try {
    await sip.start();
  } catch (err) {
    await calls.stop();
    await softphones.close();
    await media.close();
    throw err;
  }
  return { sip, media, calls, softphones, outbound };
}

/** Customers' audio/video calls (issue 14): WebRTC peers in this process, following their contacts' events. */
async function startAvCalls(config: Config, o: { db: ReadModel; commands: CommandHandler; store: EventStore; logger: PinoLogger; recordingsDir: string; clock: () => Date }): Promise<AvCalls> {
  const calls = new AvCalls({
    publicAddress: config.KEFU_AV_PUBLIC_ADDRESS ?? config.KEFU_SIP_PUBLIC_ADDRESS,
    bindAddress: config.KEFU_AV_BIND ?? config.KEFU_SIP_BIND,
    ...(config.KEFU_AV_PORTS ? { portRange: config.KEFU_AV_PORTS } : {}),
    limits: { maxBytes: 20_000, maxMediaSections: 3, allowedCandidates: parseAddressList(config.KEFU_AV_ALLOWED_CANDIDATES) },
    commands: o.commands,
    watch: new ContactWatch(o.store),
    graceMs: config.KEFU_AV_GRACE_MS,
    connectTimeoutMs: config.KEFU_AV_CONNECT_TIMEOUT_MS,
    maxPerVisitor: config.KEFU_AV_MAX_PER_VISITOR,
    maxPerAddress: config.KEFU_AV_MAX_PER_ADDRESS,
    record: config.KEFU_AV_RECORDING === 'on',
    recordingThreads: config.KEFU_AV_RECORDING_THREADS,
    mediaThreads: config.KEFU_AV_MEDIA_THREADS,
    recordingPath: async (instanceId, recordingId) => {
      await ensureRecordingDir(o.recordingsDir, instanceId);
      return avRecordingPath(o.recordingsDir, instanceId, recordingId);
    },
    onAgentDeviceLost: async (instanceId, skillGroupId) => {
      const group = await o.db
        .selectFrom('skill_groups')
        .select('on_agent_device_lost')
        .where('instance_id', '=', instanceId)
        .where('id', '=', skillGroupId)
        .where('deleted_at', 'is', null)
        .executeTakeFirst();
      return group?.on_agent_device_lost === 'REQUEUE' ? 'REQUEUE' : 'END';
    },
    logger: o.logger,
    clock: o.clock,
  });
  await calls.start();
  return calls;
}

export interface Storage {
  sql: SqlClient;
  db: ReadModel;
  store: EventStore;
}

/** The databases: PostgreSQL when DATABASE_URL is set, else PGlite in KEFU_DATA_DIR; events in EventStoreDB when EVENTSTORE_URL is set. */
export async function openStorage(config: Config, options: { tracer?: Tracer } = {}): Promise<Storage> {
  const opened = config.DATABASE_URL ? createPostgresClient(config.DATABASE_URL, { max: config.KEFU_PG_POOL_MAX }) : await createPgliteClient(path.resolve(config.KEFU_DATA_DIR), { worker: config.KEFU_PGLITE_WORKER === 'on' });
  // Traces (issue 16): SQL statements and event store calls as child spans, only when tracing is on.
  const sql = options.tracer ? traceSqlClient(options.tracer, opened) : opened;
  try {
    const db = createKysely<ReadModelDb>(sql);
    let store: EventStore;
    if (config.EVENTSTORE_URL) {
      store = new EventStoreDbEventStore(config.EVENTSTORE_URL);
    } else {
      await migrateEventStore(sql);
      store = new PostgresEventStore(sql);
    }
    await migrateReadModels(db as never);
    return { sql, db, store: options.tracer ? traceEventStore(options.tracer, store) : store };
  } catch (err) {
    await sql.close().catch(() => undefined);
    throw err;
  }
}

async function signingKey(db: ReadModel): Promise<Uint8Array> {
  return keptKey(db, 'token_signing_key');
}

/** The configured operator token, or the hash of one generated on the very first start. */
async function operatorCredential(db: ReadModel, config: Config): Promise<{ credential: OperatorCredential; generated: string | null }> {
  if (config.KEFU_OPERATOR_TOKEN) return { credential: { token: config.KEFU_OPERATOR_TOKEN }, generated: null };
  const existing = await db.selectFrom('kefu_secrets').select('value').where('name', '=', 'operator_token_hash').executeTakeFirst();
  if (existing) return { credential: { hash: existing.value }, generated: null };
  const token = `kefu-operator-${randomToken(24)}`;
  const inserted = await db
    .insertInto('kefu_secrets')
    .values({ name: 'operator_token_hash', value: await hashSecret(token), created_at: new Date() })
    .onConflict((c) => c.column('name').doNothing())
    .executeTakeFirst();
  const row = await db.selectFrom('kefu_secrets').select('value').where('name', '=', 'operator_token_hash').executeTakeFirstOrThrow();
  return { credential: { hash: row.value }, generated: Number(inserted.numInsertedOrUpdatedRows ?? 0n) > 0 ? token : null };
}

/**
 * `clock`: the time work hours, business hours, timers and event stamps are read from (default: the wall clock).
 * Tests set it (an off-hours chat without waiting for the night); no config, env or API setting reaches it.
 */
export async function startKefu(config: Config, options: { logger?: PinoLogger; listen?: boolean; tracer?: Tracer; clock?: () => Date } = {}): Promise<Kefu> {
  const clock = options.clock ?? (() => new Date());
  const logger = options.logger ?? createLogger({ level: config.LOG_LEVEL, format: config.KEFU_LOG_FORMAT });
  // Prometheus metrics (issue 16): only with KEFU_METRICS_TOKEN; off, nothing is wrapped or hooked.
  const metrics = config.KEFU_METRICS_TOKEN ? new KefuMetrics({ token: config.KEFU_METRICS_TOKEN }) : null;
  const storage = await openStorage(config, options.tracer ? { tracer: options.tracer } : {});
  const { sql, db } = storage;
  // WeChat's answer waits for its push to be kept (issue 13): on PostgreSQL that INSERT has two connections of its
  // own, so it never queues for one behind the pushes' effects and the projections.
  const wechatIntakeSql = config.DATABASE_URL && sql.kind === 'postgres' ? createPostgresClient(config.DATABASE_URL, { max: 2 }) : null;
  const wechatIntakeDb = wechatIntakeSql ? createKysely<ReadModelDb>(wechatIntakeSql) : null;
  const store = metrics ? metrics.instrumentEventStore(storage.store) : storage.store;
  const bus: Bus = config.NATS_URL ? await NatsBus.connect(config.NATS_URL) : new InProcessBus();
  // The projections that only store let the live fan-out write a change's frames first (yieldTo); set once the app is built.
  let liveFanout: { whenWritten(): Promise<void> | null } | null = null;
  // The live projections' batches (contacts: what a chat send settles on and what publishes its message) take the
  // client's reserved connections on PostgreSQL: they never queue for one behind the requests that wait for them.
  // Through the same client object (its withConnection looked up at each call), so that tracing and watchers see them.
  const liveDb = sql.kind === 'postgres' ? createKysely<ReadModelDb>(reservedView(sql)) : null;
  const projections = new ProjectionRunner({ store, db, ...(liveDb ? { liveDb } : {}), sql, bus, projections: allProjections, logger, yieldTo: () => liveFanout?.whenWritten() ?? null });
  let ready = false;
  await projections.start();
  void store.headPosition().then(async (head) => {
    if (head) await projections.waitFor(head, { timeoutMs: 10 * 60_000 });
    ready = true;
  });

  const commands = new CommandHandler(store);
  if (options.tracer) traceCommands(options.tracer, commands);
  const router = new Router({ store, commands, sql, logger, clock });
  await router.start();
  // Chat flows (issue 12): the API's runner; once the read models caught up, chats whose flow never took its first step take it.
  // Who is online, for a flow's "no agent online" branch and the reception's prompt: from the router's state where it routes.
  const agentsOnline = (instanceId: string, skillGroupId: string) => router.anyMemberOnlineNow(instanceId, skillGroupId);
  const chatFlows = new ChatFlowRunner(contactChatFlowPorts({ db, commands, clock, bus, agentsOnline }));
  void store
    .headPosition()
    .then(async (head) => {
      if (head) await projections.waitFor(head, { timeoutMs: 10 * 60_000 });
      await resumeStartedChatFlows(db, chatFlows, logger, store);
    })
    .catch((err: unknown) => logger.error({ err }, 'resuming chat flows failed'));

  const chatFiles: ChatFilesSettings = {
    dir: config.KEFU_CHAT_FILES_DIR ? path.resolve(config.KEFU_CHAT_FILES_DIR) : path.join(path.resolve(config.KEFU_DATA_DIR), 'chat-files'),
    maxBytes: config.KEFU_CHAT_UPLOAD_MAX_BYTES,
    allowedTypes: config.KEFU_CHAT_UPLOAD_TYPES,
    linkSeconds: config.KEFU_CHAT_FILE_LINK_SECONDS,
    linkKey: await chatFileLinkKey(db),
    thumbnailSize: 320,
  };
  // WeChat (issue 13): agents' messages go out through the customer-service API, each once (one leading process).
  const wechatSecrets = new SecretBox(await secretsKeyFor(db, config.KEFU_SECRETS_KEY, 'wechat-secrets'));
  const wechatOutbox = new WechatOutbox({ store, commands, db, sql, api: new WechatApi({ db, secrets: wechatSecrets, apiBase: config.KEFU_WECHAT_API_BASE }), chatFiles, logger, flowImages: { allowPrivate: config.KEFU_WECHAT_FLOW_IMAGE_ALLOW_PRIVATE === 'on' } });
  await wechatOutbox.start();
  // Reception prompts of web chats (issue 12).
  const reception = new ChatReception({ store, commands, sql, db, logger, clock, agentsOnline });
  await reception.start();

  // Webhooks (issue 16): the dispatcher sends what the webhooks projection queued, off the calls' and chats' path.
  const webhookPolicy = { allowHttp: config.KEFU_WEBHOOK_ALLOW_HTTP === 'on', allowPrivate: config.KEFU_WEBHOOK_ALLOW_PRIVATE === 'on' };
  const webhookKey = await secretsKeyFor(db, config.KEFU_SECRETS_KEY, 'webhook-secrets');
  const webhooks = new WebhookDispatcher({
    db,
    sql,
    bus,
    commands,
    sender: new HttpWebhookSender({ ...webhookPolicy, timeoutMs: config.KEFU_WEBHOOK_TIMEOUT_MS }),
    secretKey: webhookKey,
    logger,
    clock,
    retryForMs: config.KEFU_WEBHOOK_RETRY_SECONDS * 1000,
    backoffMinMs: config.KEFU_WEBHOOK_BACKOFF_MIN_MS,
    backoffMaxMs: Math.max(config.KEFU_WEBHOOK_BACKOFF_MIN_MS, config.KEFU_WEBHOOK_BACKOFF_MAX_MS),
  });
  await webhooks.start();

  const dataDir = path.resolve(config.KEFU_DATA_DIR);
  const recordingsDir = path.join(dataDir, 'recordings');
  await mkdir(recordingsDir, { recursive: true });
  const startedAt = new Date();
  const phone = config.KEFU_SIP === 'on' ? await startPhone(config, { db, commands, store, logger, dataDir, recordingsDir, tracer: options.tracer, clock }) : null;
  if (phone) {
    // Calls an earlier run of this node held when it died end now (systemError), once the records are read.
    void store
      .headPosition()
      .then(async (head) => {
        if (head) await projections.waitFor(head, { timeoutMs: 10 * 60_000 });
        await phone.calls.endOrphanedCalls(db, startedAt);
      })
      .catch((err: unknown) => logger.error({ err }, 'ending calls left over by an earlier run failed'));
  }

  const avCalls = config.KEFU_AV === 'on' ? await startAvCalls(config, { db, commands, store, logger, recordingsDir, clock }) : null;
  if (avCalls) {
    // AV calls an earlier run held when it died end now (systemError): their media died with it.
    void store
      .headPosition()
      .then(async (head) => {
        if (head) await projections.waitFor(head, { timeoutMs: 10 * 60_000 });
        await avCalls.endOrphanedCalls(db, startedAt);
      })
      .catch((err: unknown) => logger.error({ err }, 'ending AV calls left over by an earlier run failed'));
  }

  const { credential, generated } = await operatorCredential(db, config);
  const auth = new Authenticator({ db, operator: credential, signingKey: await signingKey(db), tokenTtlSeconds: config.KEFU_TOKEN_TTL_SECONDS, customerTokenTtlSeconds: config.KEFU_CUSTOMER_TOKEN_SECONDS, cacheMs: config.KEFU_AUTH_CACHE_MS, bus });
  const app = await buildApp(
    {
      commands,
      db,
      readModels: projections,
      bus,
      auth,
      loginThrottle: new LoginThrottle(),
      chatLimits: new ChatLimits(
        { session: config.KEFU_CHAT_LIMIT_SESSION, chat: config.KEFU_CHAT_LIMIT_CHAT, message: config.KEFU_CHAT_LIMIT_MESSAGE, upload: config.KEFU_CHAT_LIMIT_UPLOAD },
        Date.now,
        { session: config.KEFU_CHAT_LIMIT_SESSION, chat: config.KEFU_CHAT_LIMIT_CHAT_PER_ADDRESS, message: config.KEFU_CHAT_LIMIT_MESSAGE_PER_ADDRESS, upload: config.KEFU_CHAT_LIMIT_UPLOAD_PER_ADDRESS },
      ),
      logger,
      clock,
      ready: () => ready,
      storageDir: dataDir,
      chatFiles,
      recordingsDir,
      sipRealm: config.KEFU_SIP_REALM,
      reportLimits: { maxRangeDays: config.KEFU_REPORT_MAX_RANGE_DAYS, maxRows: config.KEFU_REPORT_MAX_ROWS },
      settleWait: { stallMs: config.KEFU_SETTLE_STALL_MS, maxMs: config.KEFU_SETTLE_MAX_MS },
      wechat: {
        secrets: wechatSecrets,
        publicUrl: config.KEFU_PUBLIC_URL ?? `http://${config.HOST}:${config.PORT}`,
        apiBase: config.KEFU_WECHAT_API_BASE,
        answerWaitMs: config.KEFU_WECHAT_ANSWER_WAIT_MS,
        agentTyping: (instanceId, contactId, typing) => wechatOutbox.agentTyping(instanceId, contactId, typing),
        ...(wechatIntakeDb ? { intakeDb: wechatIntakeDb } : {}),
      },
      webhooks: { policy: webhookPolicy, secretKey: webhookKey, wake: () => webhooks.wake() },
      ...(phone ? { softphones: phone.softphones } : {}),
      ...(phone ? { outboundCalls: phone.outbound } : {}),
      chatFlows,
      agentsOnline,
      ...(avCalls ? { avCalls, avIceServers: config.KEFU_AV_ICE_SERVERS } : {}),
    },
    {
      logger,
      trustProxy: config.KEFU_TRUST_PROXY,
      ...(options.tracer ? { tracer: options.tracer } : {}),
      queryLimits: {
        maxDepth: config.KEFU_GRAPHQL_MAX_DEPTH,
        maxAliases: config.KEFU_GRAPHQL_MAX_ALIASES,
        maxCost: config.KEFU_GRAPHQL_MAX_COST,
        maxMutationFields: config.KEFU_GRAPHQL_MAX_MUTATIONS,
        maxTokens: config.KEFU_GRAPHQL_MAX_TOKENS,
      },
    },
  );
  liveFanout = app.liveFanout;
  if (metrics) {
    metrics.instrumentApp(app);
    if (phone) phone.sip.observer = metrics.observeSip;
    metrics.attach(metricsSources({ store, db, app, phone }));
  }

  const close = async () => {
    if (phone) {
      await phone.outbound.stop();
      await phone.calls.stop();
      await phone.softphones.close();
      await phone.sip.stop();
      await phone.media.close();
    }
    await avCalls?.stop();
    await app.close();
    await wechatIntakeDb?.destroy();
    await wechatIntakeSql?.close();
    await webhooks.stop();
    await router.stop();
    await wechatOutbox.stop();
    await reception.stop();
    await projections.stop();
    await liveDb?.destroy();
    await bus.close();
    await store.close();
    await db.destroy();
    await sql.close();
  };
  if (options.listen !== false) {
    try {
      await app.listen({ port: config.PORT, host: config.HOST });
    } catch (err) {
      await close();
      throw err;
    }
  }
  return { config, app, store, sql, db, bus, projections, router, reception, commands, webhooks, phone, generatedOperatorToken: generated, close };
}

/** What /metrics reads when scraped: projection checkpoints, open contacts, calls, RTP legs, live connections. */
function metricsSources(o: { store: EventStore; db: ReadModel; app: FastifyInstance; phone: Phone | null }): MetricsSources {
  const { phone } = o;
  return {
    store: o.store,
    projections: { names: allProjections.map((p) => p.name), checkpoint: (name) => readCheckpoint(o.db, name) },
    openContacts: async () => {
      const rows = await o.db
        .selectFrom('contacts')
        .select(['channel', 'status', (eb) => eb.fn.countAll<string>().as('n')])
        .where('status', '!=', 'ENDED')
        .groupBy(['channel', 'status'])
        .execute();
      return rows.map((r) => ({ channel: String(r.channel), status: String(r.status), count: Number(r.n) }));
    },
    ...(phone
      ? {
          sipDialogs: () => phone.sip.openDialogs,
          mediaThreads: () =>
            phone.media instanceof ThreadedMediaEngine
              ? phone.media.threadFigures().map((t) => ({ thread: String(t.thread), utilization: t.utilization, legs: t.legs }))
              : [{ thread: 'main', utilization: null, legs: phone.media.legStats().map((l) => l.stats) }],
        }
      : {}),
    live: () => o.app.liveServer.liveCounts((p) => (p as { kind?: string } | null)?.kind ?? 'unauthenticated'),
  };
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger({ level: config.LOG_LEVEL, format: config.KEFU_LOG_FORMAT });
  const tracing = startTracing({ endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT, sampleRatio: config.OTEL_TRACES_SAMPLER_ARG, serviceName: config.OTEL_SERVICE_NAME });
  const kefu = await startKefu(config, { logger, ...(tracing ? { tracer: tracing.tracer } : {}) });
  const address = kefu.app.server.address();
  const where = typeof address === 'object' && address ? `http://${address.address}:${address.port}` : String(address);
  if (kefu.generatedOperatorToken) {
    // Shown this once: only its hash is kept.
    console.log(
      `\n  Platform operator token (shown once, keep it safe; Kefu stores only its hash):\n\n    ${kefu.generatedOperatorToken}\n\n  Set KEFU_OPERATOR_TOKEN to choose your own instead.\n`,
    );
  }
  logger.info(
    {
      graphql: `${where}/graphql`,
      graphiql: `${where}/graphiql`,
      database: config.DATABASE_URL ? 'postgresql' : `pglite:${path.resolve(config.KEFU_DATA_DIR)}`,
      eventStore: kefu.store.name,
      bus: kefu.bus.name,
      ...(kefu.phone ? { sip: `${config.KEFU_SIP_BIND}:${config.KEFU_SIP_PORT}`, mediaThreads: mediaThreads(config.KEFU_MEDIA_THREADS) } : {}),
    },
    'Kefu is listening',
  );
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, 'shutting down');
    kefu.close().then(
      // The last spans are exported before the exit.
      () => (tracing ? tracing.shutdown().catch(() => undefined) : undefined),
    ).then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error('Kefu failed to start:', err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
