// Every setting in one place, checked with zod. Each has a default for the embedded run; a wrong one stops
// start-up with a message that names it.
import { availableParallelism } from 'node:os';
import { isIP } from 'node:net';
import { z } from 'zod';
import { parseChatLimit } from './api/chat-limits.ts';
import { defaultAllowedTypes, detectableTypes } from './adapters/chat-files/detect.ts';
import { parseAddressList } from './adapters/webrtc/av-offer.ts';

const url = (schemes: string[]) =>
  z
    .string()
    .trim()
    .refine((v) => {
      try {
        return v.split(',').every((part) => schemes.includes(new URL(part.trim()).protocol));
      } catch {
        return false;
      }
    }, `must be a URL starting with ${schemes.map((s) => `${s}//`).join(' or ')}`);

const chatLimitSetting = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((v, ctx) => {
      const limit = parseChatLimit(v);
      if (!limit) {
        ctx.addIssue({ code: 'custom', message: 'must be count/seconds (e.g. 30/10, seconds 1 to 86400) or 0 (off)' });
        return z.NEVER;
      }
      return limit;
    });

/** KEFU_TRUST_PROXY: off, on (any proxy), a hop count, or the proxies' addresses and CIDR ranges. */
const trustProxySetting = z
  .string()
  .trim()
  .default('off')
  .transform((v, ctx): boolean | number | string[] => {
    const lower = v.toLowerCase();
    if (lower === '' || lower === 'off' || lower === 'false') return false;
    if (lower === 'on' || lower === 'true') return true;
    if (/^\d{1,2}$/.test(v)) return Number(v);
    const parts = v.split(',').map((p) => p.trim());
    const ok = parts.every((p) => {
      const [address, prefix, extra] = p.split('/');
      const family = isIP(address ?? '');
      if (family === 0 || extra !== undefined) return false;
      return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128));
    });
    if (!ok) {
      ctx.addIssue({ code: 'custom', message: 'must be off, on, a hop count, or comma-separated addresses or CIDR ranges of the proxies' });
      return z.NEVER;
    }
    return parts;
  });

const emptyAsUndefined = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);

export const configSchema = z.object({
  PORT: z.coerce.number().int('must be a whole number').min(0, 'must be 0 to 65535').max(65535, 'must be 0 to 65535').default(4000),
  HOST: z.string().trim().min(1, 'must not be empty').default('127.0.0.1'),
  DATABASE_URL: z.preprocess(emptyAsUndefined, url(['postgres:', 'postgresql:']).optional()),
  KEFU_DATA_DIR: z.string().trim().min(1, 'must not be empty').default('./data'),
  /** PGlite (no DATABASE_URL) on a worker thread (on), or on the event loop's own thread (off). */
  KEFU_PGLITE_WORKER: z.enum(['on', 'off'], { message: 'must be on or off' }).default('on'),
  /** The PostgreSQL connection pool's size (the event store, projections and API reads share it). */
  KEFU_PG_POOL_MAX: z.coerce.number().int('must be a whole number').min(2, 'must be 2 to 500').max(500, 'must be 2 to 500').default(20),
  /**
   * How long a checked token's principal is trusted before its agent or web channel is read again (ms; 0: every
   * request). An agent's row read while the bus tells its changes is kept until one is heard (at most 30 s).
   */
  KEFU_AUTH_CACHE_MS: z.coerce.number().int('must be a whole number').min(0, 'must be 0 to 5000').max(5000, 'must be 0 to 5000').default(1000),
  /**
   * A mutation answers from the read models once they show what it stored. It waits while they move and gives up
   * when none of those it reads has moved for this long (ms), answering READ_MODEL_BEHIND (stored, not shown).
   */
  KEFU_SETTLE_STALL_MS: z.coerce.number().int('must be a whole number').min(100, 'must be 100 to 600000').max(600_000, 'must be 100 to 600000').default(10_000),
  /** The longest a mutation waits for the read models in all (ms), even while they move. */
  KEFU_SETTLE_MAX_MS: z.coerce.number().int('must be a whole number').min(100, 'must be 100 to 600000').max(600_000, 'must be 100 to 600000').default(120_000),
  /** Reports (issue 15): the longest date range one report may cover, in days. */
  KEFU_REPORT_MAX_RANGE_DAYS: z.coerce.number().int('must be a whole number').min(1, 'must be 1 to 3660').max(3660, 'must be 1 to 3660').default(366),
  /** Reports: the most intervals one report may have (e.g. hours of its range). */
  KEFU_REPORT_MAX_ROWS: z.coerce.number().int('must be a whole number').min(10, 'must be 10 to 100000').max(100000, 'must be 10 to 100000').default(2000),
  EVENTSTORE_URL: z.preprocess(emptyAsUndefined, url(['esdb:', 'esdb+discover:', 'kurrentdb:', 'kurrentdb+discover:']).optional()),
  NATS_URL: z.preprocess(emptyAsUndefined, url(['nats:', 'tls:', 'ws:', 'wss:']).optional()),
  KEFU_OPERATOR_TOKEN: z.preprocess(emptyAsUndefined, z.string().min(16, 'must be at least 16 characters').optional()),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { message: 'must be one of fatal, error, warn, info, debug, trace, silent' }).default('info'),
  /** json: one JSON object a line (log collectors); pretty: readable lines; auto: pretty when the output is a terminal. */
  KEFU_LOG_FORMAT: z.enum(['auto', 'json', 'pretty'], { message: 'must be auto, json or pretty' }).default('auto'),
  /** GET /metrics (Prometheus text format) is served only when this is set, to scrapes sending "Authorization: Bearer <it>". */
  KEFU_METRICS_TOKEN: z.preprocess(emptyAsUndefined, z.string().min(16, 'must be at least 16 characters').max(200, 'at most 200 characters').optional()),
  KEFU_SIP: z.enum(['on', 'off'], { message: 'must be on or off' }).default('on'),
  KEFU_SIP_PORT: z.coerce.number().int('must be a whole number').min(1, 'must be 1 to 65535').max(65535, 'must be 1 to 65535').default(5060),
  KEFU_SIP_BIND: z.string().trim().min(1, 'must not be empty').default('0.0.0.0'),
  /** The address phones and trunks reach Kefu at, put in Contact, Via and SDP (set it behind NAT). */
  KEFU_SIP_PUBLIC_ADDRESS: z.string().trim().min(1, 'must not be empty').default('127.0.0.1'),
  KEFU_RTP_PORT_MIN: z.coerce.number().int('must be a whole number').min(1024, 'must be 1024 to 65534').max(65534, 'must be 1024 to 65534').default(20000),
  KEFU_RTP_PORT_MAX: z.coerce.number().int('must be a whole number').min(1025, 'must be 1025 to 65535').max(65535, 'must be 1025 to 65535').default(29999),
  /**
   * Worker threads that carry the RTP media (relay, recording, prompts): a number (0 = on the main thread), or
   * auto = one less than the CPUs, 1 to 4.
   */
  KEFU_MEDIA_THREADS: z
    .union([z.literal('auto'), z.coerce.number().int('must be a whole number or auto').min(0, 'must be 0 to 16 or auto').max(16, 'must be 0 to 16 or auto')], { message: 'must be 0 to 16 or auto' })
    .default('auto'),
  /**
   * A connected call from whose side (customer or agent) no audio came for this many seconds raises
   * CallMediaSilent on the contact and a warning in the log (one-way audio, a dead carrier leg); 0 turns it off.
   */
  KEFU_SILENCE_ALERT_SECONDS: z.coerce
    .number()
    .int('must be a whole number')
    .max(3600, 'must be 0 (off) or 3 to 3600')
    // Media threads report leg counters once a second: a shorter alert would take a late report for silence.
    .refine((v) => v === 0 || v >= 3, 'must be 0 (off) or 3 to 3600')
    .default(30),
  /** This SIP node's name; a restart ends the calls the node held (keep it stable per node). */
  KEFU_NODE_ID: z.string().trim().min(1, 'must not be empty').max(100, 'at most 100 characters').optional(),
  /** The SIP digest realm; agents' and trunks' HA1 = md5(username:realm:password) depend on it, so changing it invalidates them. */
  KEFU_SIP_REALM: z.string().trim().min(1, 'must not be empty').max(100, 'at most 100 characters').default('kefu'),
  KEFU_TOKEN_TTL_SECONDS: z.coerce.number().int('must be a whole number').min(60, 'must be at least 60').max(30 * 86400, 'must be at most 2592000').default(43200),
  /** Bounds on one GraphQL operation (src/api/query-limits.ts): nesting, aliases, fields it may select, mutations, tokens. */
  KEFU_GRAPHQL_MAX_DEPTH: z.coerce.number().int('must be a whole number').min(2, 'must be 2 to 100').max(100, 'must be 2 to 100').default(15),
  KEFU_GRAPHQL_MAX_ALIASES: z.coerce.number().int('must be a whole number').min(0, 'must be 0 to 10000').max(10000, 'must be 0 to 10000').default(30),
  KEFU_GRAPHQL_MAX_COST: z.coerce.number().int('must be a whole number').min(100, 'must be 100 to 10000000').max(10_000_000, 'must be 100 to 10000000').default(50_000),
  KEFU_GRAPHQL_MAX_MUTATIONS: z.coerce.number().int('must be a whole number').min(1, 'must be 1 to 1000').max(1000, 'must be 1 to 1000').default(10),
  KEFU_GRAPHQL_MAX_TOKENS: z.coerce.number().int('must be a whole number').min(200, 'must be 200 to 100000').max(100_000, 'must be 200 to 100000').default(5000),
  /** Customer tokens (issue 11): how long a chat customer's session token is valid. */
  KEFU_CUSTOMER_TOKEN_SECONDS: z.coerce.number().int('must be a whole number').min(60, 'must be 60 to 2592000').max(30 * 86400, 'must be 60 to 2592000').default(86400),
  /** Chat uploads (OL-15): where they are kept (default <KEFU_DATA_DIR>/chat-files), their largest size, their types, how long a link to one works. */
  KEFU_CHAT_FILES_DIR: z.preprocess(emptyAsUndefined, z.string().trim().min(1, 'must not be empty').optional()),
  KEFU_CHAT_UPLOAD_MAX_BYTES: z.coerce.number().int('must be a whole number').min(1024, 'must be 1024 to 104857600').max(100 * 1024 * 1024, 'must be 1024 to 104857600').default(10 * 1024 * 1024),
  KEFU_CHAT_UPLOAD_TYPES: z
    .string()
    .trim()
    .default(defaultAllowedTypes.join(','))
    .transform((v) => [...new Set(v.split(',').map((t) => t.trim().toLowerCase()).filter((t) => t !== ''))])
    .refine((types) => types.length > 0 && types.every((t) => detectableTypes.includes(t)), `must be a comma-separated list of ${detectableTypes.join(', ')}`),
  KEFU_CHAT_FILE_LINK_SECONDS: z.coerce.number().int('must be a whole number').min(60, 'must be 60 to 604800').max(7 * 86400, 'must be 60 to 604800').default(3600),
  /**
   * Chat rate limits, "count/seconds" or 0 (off), src/api/chat-limits.ts: new customer sessions per client
   * address; new chats, messages and uploads per visitor, and per client address (_PER_ADDRESS).
   */
  KEFU_CHAT_LIMIT_SESSION: chatLimitSetting('60/600'),
  KEFU_CHAT_LIMIT_CHAT: chatLimitSetting('20/3600'),
  KEFU_CHAT_LIMIT_MESSAGE: chatLimitSetting('30/10'),
  KEFU_CHAT_LIMIT_UPLOAD: chatLimitSetting('20/60'),
  KEFU_CHAT_LIMIT_CHAT_PER_ADDRESS: chatLimitSetting('60/3600'),
  KEFU_CHAT_LIMIT_MESSAGE_PER_ADDRESS: chatLimitSetting('300/10'),
  KEFU_CHAT_LIMIT_UPLOAD_PER_ADDRESS: chatLimitSetting('100/60'),
  /**
   * Behind a reverse proxy, whose X-Forwarded-For to believe for the client's address (per-address limits,
   * logs): off (default: the connection's address), on (any), a hop count, or the proxies' addresses/CIDRs.
   */
  KEFU_TRUST_PROXY: trustProxySetting,
  /** Customers' audio/video calls (issue 14): on (WebRTC peers in this process) or off. */
  KEFU_AV: z.enum(['on', 'off'], { message: 'must be on or off' }).default('on'),
  /** The address browsers reach Kefu's AV media at (the ICE host candidate); default KEFU_SIP_PUBLIC_ADDRESS. */
  KEFU_AV_PUBLIC_ADDRESS: z.preprocess(emptyAsUndefined, z.string().trim().refine((v) => isIP(v) !== 0, 'must be an IP address').optional()),
  /** The address AV media sockets bind to; default KEFU_SIP_BIND. */
  KEFU_AV_BIND: z.preprocess(emptyAsUndefined, z.string().trim().refine((v) => isIP(v) !== 0, 'must be an IP address').optional()),
  /** UDP ports for AV media, "min-max" (e.g. 40000-40999); empty: ephemeral ports. */
  KEFU_AV_PORTS: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .trim()
      .regex(/^\d{4,5}-\d{4,5}$/, 'must be min-max, e.g. 40000-40999')
      .transform((v) => v.split('-').map(Number) as [number, number])
      .refine(([min, max]) => min >= 1024 && max <= 65535 && min <= max, 'must be min-max within 1024-65535, min not above max')
      .optional(),
  ),
  /**
   * STUN/TURN servers handed to browsers for AV calls, as the RTCPeerConnection iceServers JSON:
   * [{"urls":"turn:turn.example.com:3478","username":"u","credential":"p"}]. Default none (host candidates).
   */
  KEFU_AV_ICE_SERVERS: z
    .string()
    .trim()
    .default('[]')
    .transform((v, ctx) => {
      const server = z.object({ urls: z.union([z.string().regex(/^(stun|turns?):/), z.array(z.string().regex(/^(stun|turns?):/)).min(1)]), username: z.string().optional(), credential: z.string().optional() });
      try {
        const parsed = z.array(server).max(10).safeParse(JSON.parse(v));
        if (parsed.success) return parsed.data;
      } catch {
        // reported below
      }
      ctx.addIssue({ code: 'custom', message: 'must be a JSON array of {"urls":"stun:…|turn:…","username"?,"credential"?} (at most 10)' });
      return z.NEVER;
    }),
  /** Where browsers' ICE candidates may point: "any", or comma-separated addresses and CIDR ranges. */
  KEFU_AV_ALLOWED_CANDIDATES: z
    .string()
    .trim()
    .default('any')
    .refine((v) => {
      try {
        parseAddressList(v);
        return true;
      } catch {
        return false;
      }
    }, 'must be any, or comma-separated addresses and CIDR ranges'),
  /** A customer's browser gone (connection closed, or no media) this long ends their AV call (ms). */
  KEFU_AV_GRACE_MS: z.coerce.number().int('must be a whole number').min(1000, 'must be 1000 to 600000').max(600_000, 'must be 1000 to 600000').default(10_000),
  /** How long a browser has after Kefu's answer to connect (ICE and DTLS) before its AV call ends (ms). */
  KEFU_AV_CONNECT_TIMEOUT_MS: z.coerce.number().int('must be a whole number').min(1000, 'must be 1000 to 600000').max(600_000, 'must be 1000 to 600000').default(30_000),
  /** Most AV calls at once per visitor and per client address (0: no limit). */
  KEFU_AV_MAX_PER_VISITOR: z.coerce.number().int('must be a whole number').min(0, 'must be 0 to 100').max(100, 'must be 0 to 100').default(1),
  KEFU_AV_MAX_PER_ADDRESS: z.coerce.number().int('must be a whole number').min(0, 'must be 0 to 10000').max(10_000, 'must be 0 to 10000').default(10),
  /** Record each AV call participant's media as WebM (on) or not (off). */
  KEFU_AV_RECORDING: z.enum(['on', 'off'], { message: 'must be on or off' }).default('on'),
  /** Worker threads that build AV recordings (the main thread only hands them the packets). */
  KEFU_AV_RECORDING_THREADS: z.coerce.number().int('must be a whole number').min(1, 'must be 1 to 16').max(16, 'must be 1 to 16').default(1),
  /** Worker threads holding AV calls' media (peers, relay, recordings' feed; each its own recording threads); 0: Kefu's main thread. */
  KEFU_AV_MEDIA_THREADS: z.coerce.number().int('must be a whole number').min(0, 'must be 0 to 16').max(16, 'must be 0 to 16').default(2),
  /** WeChat (issue 13): the API's base URL (tests point it at a local server that speaks the protocol). */
  KEFU_WECHAT_API_BASE: url(['https:', 'http:']).default('https://api.weixin.qq.com'),
  /** WeChat: a chat flow's images are fetched to be sent as image messages; from this machine or private addresses only when on. */
  KEFU_WECHAT_FLOW_IMAGE_ALLOW_PRIVATE: z.enum(['on', 'off'], { message: 'must be on or off' }).default('off'),
  /** WeChat: how long the callback's answer waits for a kept push's effect (chat, message) before answering `success` anyway (ms; 0: at once; over ~4000 WeChat gives up and retries, which is a harmless duplicate). */
  KEFU_WECHAT_ANSWER_WAIT_MS: z.coerce.number().int('must be a whole number').min(0, 'must be 0 to 60000').max(60_000, 'must be 0 to 60000').default(0),
  /** The address WeChat reaches Kefu at, for the callback URLs the API shows (default http://HOST:PORT). */
  KEFU_PUBLIC_URL: z.preprocess(emptyAsUndefined, url(['https:', 'http:']).optional()),
  /** Key material for stored secrets (WeChat AppSecrets, webhook signing secrets: each use derives its own key); unset: a key made once and kept in the database. */
  KEFU_SECRETS_KEY: z.preprocess(emptyAsUndefined, z.string().min(32, 'must be at least 32 characters').optional()),
  /** Webhooks (issue 16): http:// URLs, and URLs at this machine or private addresses, are refused unless on. */
  KEFU_WEBHOOK_ALLOW_HTTP: z.enum(['on', 'off'], { message: 'must be on or off' }).default('off'),
  KEFU_WEBHOOK_ALLOW_PRIVATE: z.enum(['on', 'off'], { message: 'must be on or off' }).default('off'),
  /** How long one delivery attempt may wait for the endpoint's answer. */
  KEFU_WEBHOOK_TIMEOUT_MS: z.coerce.number().int('must be a whole number').min(100, 'must be 100 to 120000').max(120_000, 'must be 100 to 120000').default(10_000),
  /** How long a failing delivery is retried (exponential backoff) before its endpoint is paused. */
  KEFU_WEBHOOK_RETRY_SECONDS: z.coerce.number().int('must be a whole number').min(1, 'must be 1 to 604800').max(7 * 86400, 'must be 1 to 604800').default(86400),
  /** The first retry's delay (doubled after each failure) and the longest one. */
  KEFU_WEBHOOK_BACKOFF_MIN_MS: z.coerce.number().int('must be a whole number').min(10, 'must be 10 to 3600000').max(3_600_000, 'must be 10 to 3600000').default(1000),
  KEFU_WEBHOOK_BACKOFF_MAX_MS: z.coerce.number().int('must be a whole number').min(10, 'must be 10 to 3600000').max(3_600_000, 'must be 10 to 3600000').default(300_000),
  /** OpenTelemetry traces (issue 16): off unless set; the OTLP/HTTP base URL (traces go to <url>/v1/traces). */
  OTEL_EXPORTER_OTLP_ENDPOINT: z.preprocess(emptyAsUndefined, url(['http:', 'https:']).optional()),
  /** The share of traces kept, 0 to 1 (parent-based: a request carrying a sampled traceparent is always kept). */
  OTEL_TRACES_SAMPLER_ARG: z.coerce.number({ message: 'must be a number from 0 to 1' }).min(0, 'must be a number from 0 to 1').max(1, 'must be a number from 0 to 1').default(1),
  OTEL_SERVICE_NAME: z.string().trim().min(1, 'must not be empty').max(100, 'at most 100 characters').default('kefu'),
});

export type Config = z.infer<typeof configSchema>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export function loadConfig(env: Record<string, string | undefined>): Config {
  const result = configSchema.safeParse(env);
  if (result.success) return result.data;
  const secret = new Set(['KEFU_OPERATOR_TOKEN', 'KEFU_METRICS_TOKEN', 'DATABASE_URL', 'EVENTSTORE_URL', 'NATS_URL', 'KEFU_SECRETS_KEY']);
  const lines = result.error.issues.map((i) => {
    const key = String(i.path[0]);
    return `  ${key}: ${i.message}${secret.has(key) ? '' : ` (got ${JSON.stringify(env[key] ?? null)})`}`;
  });
  throw new ConfigError(`Kefu cannot start: wrong settings\n${lines.join('\n')}`);
}

/** KEFU_MEDIA_THREADS as a count: auto is one less than the CPUs (the main thread keeps signalling), 1 to 4. */
export function mediaThreads(setting: number | 'auto'): number {
  return setting === 'auto' ? Math.max(1, Math.min(4, availableParallelism() - 1)) : setting;
}
