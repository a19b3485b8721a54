// The callback WeChat calls for each account (issue 13): GET /wechat/callback/<instanceId>/<accountId> is the
// console's URL check (signature, echostr); POST carries the customers' messages and events, signed, and in safe
// (or compatible) mode encrypted. A checked push is kept first (wechat-intake.ts: one batched INSERT, which is
// also the dedupe of WeChat's retries, exact across processes; on PostgreSQL through a pool of its own) and
// answered `success` then; its effect (the chat, the message, a media download) is made from the kept push after
// (its turn comes once the answers of the moment are written, a bounded number at once), or before the answer for
// up to KEFU_WECHAT_ANSWER_WAIT_MS. An image or voice push waits for its download (WeChat refusing the MediaId is a
// refusal, 400); that stays well inside WeChat's 5 s.
//
// The account a push names is cached per process (wechatAccounts below): forgotten when the accounts projection
// says an account of the instance changed (the bus, so every process hears it) and after a minute in any case.
//
// Refused without touching any chat, each logged once (not once per WeChat retry): an unknown or disabled
// account, a wrong signature or msg_signature, a timestamp more than 5 minutes from now, an AppID that does not
// match after decryption, another ToUserName than the account's, malformed XML or JSON, a body over 64 KB.
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ApiDeps } from '../../api/context.ts';
import { wechatSettingsOf } from '../../api/resolvers/wechat-accounts.ts';
import type { WechatDataFormat } from '../../domain/wechat-account/wechat-account.ts';
import { wechatAccountsTopic, type WechatAccountRow } from '../../projections/wechat-accounts/wechat-accounts.projection.ts';
import { chatFilesSettingsOf, uuid } from '../chat-files/chat-files.ts';
import { decryptWechatMessage, signatureMatches, WechatCryptoError } from './wechat-crypto.ts';
import { parsePushFields, pushOf, WechatPushError, type WechatPush } from './wechat-messages.ts';
import { WechatApi, WechatApiError } from './wechat-api.ts';
import { WechatInbound } from './wechat-inbound.ts';
import { WechatIntake } from './wechat-intake.ts';
import type { Bus } from '../../domain/ports/bus.ts';
import type { ReadModel } from '../../projections/projection.ts';
import { ChatFlowRunner, contactChatFlowPorts } from '../../processes/chat-flows/chat-flow-runner.ts';
import { UploadProcessor } from '../chat-files/image-processor.ts';

export const wechatCallbackBodyLimit = 64 * 1024;
/** WeChat's errcode for a media_id it does not know. */
const invalidMediaId = 40007;
/** How far a push's timestamp may be from now (seconds). */
const maxSkewSeconds = 300;

class Refusal extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** Remembers what was logged lately, so one bad push retried three times is one line. */
class LoggedOnce {
  private readonly seen = new Set<string>();
  first(key: string): boolean {
    if (this.seen.has(key)) return false;
    this.seen.add(key);
    if (this.seen.size > 5000) this.seen.delete(this.seen.values().next().value!);
    return true;
  }
}

/** How long a cached account is used without hearing of a change (a lost bus message is forgotten after this). */
const accountCacheMs = 60_000;

/**
 * The accounts pushes name, cached: a push costs no account look-up. An instance's entries are forgotten when the
 * wechat-accounts projection publishes a change of one of its accounts; the subscription is made before the
 * first read, and a read that a change overtook is not kept (the instance's generation moved meanwhile).
 */
class WechatAccountCache {
  private readonly entries = new Map<string, { row: WechatAccountRow; until: number }>();
  private readonly generations = new Map<string, number>();
  private readonly subscriptions = new Map<string, Promise<(() => Promise<void>) | null>>();
  private readonly db: ReadModel;
  private readonly bus: Bus | undefined;

  constructor(db: ReadModel, bus: Bus | undefined) {
    this.db = db;
    this.bus = bus;
  }

  async get(instanceId: string, accountId: string): Promise<WechatAccountRow | undefined> {
    const id = `${instanceId}/${accountId}`;
    const hit = this.entries.get(id);
    if (hit && hit.until > Date.now()) return hit.row;
    const listening = await this.listen(instanceId);
    const generation = this.generations.get(instanceId) ?? 0;
    const row = await this.db.selectFrom('wechat_accounts').selectAll().where('instance_id', '=', instanceId).where('id', '=', accountId).where('deleted_at', 'is', null).executeTakeFirst();
    if (row && listening && (this.generations.get(instanceId) ?? 0) === generation) {
      if (this.entries.size > 10_000) this.entries.clear();
      this.entries.set(id, { row, until: Date.now() + accountCacheMs });
    }
    return row;
  }

  private forget(instanceId: string): void {
    this.generations.set(instanceId, (this.generations.get(instanceId) ?? 0) + 1);
    const prefix = `${instanceId}/`;
    for (const id of this.entries.keys()) if (id.startsWith(prefix)) this.entries.delete(id);
  }

  /** Subscribed to the instance's account changes (false: no bus, or it failed; nothing is cached then). */
  private async listen(instanceId: string): Promise<boolean> {
    if (!this.bus) return false;
    let sub = this.subscriptions.get(instanceId);
    if (!sub) {
      sub = this.bus.subscribe(wechatAccountsTopic(instanceId), () => this.forget(instanceId)).catch(() => null);
      this.subscriptions.set(instanceId, sub);
      if ((await sub) === null) this.subscriptions.delete(instanceId);
    }
    return (await sub) !== null;
  }

  async close(): Promise<void> {
    const subs = [...this.subscriptions.values()];
    this.subscriptions.clear();
    this.entries.clear();
    for (const s of subs) await (await s)?.().catch(() => undefined);
  }
}

/** What `p` resolves with, or undefined once `ms` have passed. */
async function waitAtMost(p: Promise<unknown>, ms: number): Promise<unknown> {
  if (ms <= 0) return undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

function queryString(q: unknown, name: string): string {
  const v = (q as Record<string, unknown>)[name];
  return typeof v === 'string' ? v : '';
}

export async function wechatCallbackRoutes(app: FastifyInstance, options: { deps: ApiDeps; inbound?: WechatInbound }): Promise<void> {
  const { deps } = options;
  const settings = wechatSettingsOf(deps);
  const images = new UploadProcessor();
  app.addHook('onClose', async () => images.close());
  const inbound =
    options.inbound ??
    new WechatInbound({
      images,
      commands: deps.commands,
      db: deps.db,
      readModels: deps.readModels,
      api: new WechatApi({ db: deps.db, secrets: settings.secrets, apiBase: settings.apiBase, clock: deps.clock }),
      chatFiles: chatFilesSettingsOf(deps),
      clock: deps.clock,
      // Accounts with a CHAT flow: the chats enter it through the same runner as web chats.
      chatFlows: deps.chatFlows ?? new ChatFlowRunner(contactChatFlowPorts({ db: deps.db, commands: deps.commands, clock: deps.clock, bus: deps.bus })),
    });
  const logged = new LoggedOnce();
  const accounts = new WechatAccountCache(deps.db, deps.bus);
  const answerWaitMs = settings.answerWaitMs ?? 0;
  const intake = new WechatIntake({
    db: deps.db,
    ...(settings.intakeDb ? { keepDb: settings.intakeDb } : {}),
    clock: deps.clock,
    logger: deps.logger,
    account: async (instanceId, accountId) => {
      const row = await accounts.get(instanceId, accountId);
      return row?.enabled ? row : null;
    },
    handle: (account, push) => inbound.take(account, push),
    refused: (err) => err instanceof WechatApiError && err.errcode === invalidMediaId,
  });
  intake.start();
  app.addHook('onClose', async () => {
    await intake.stop();
    await accounts.close();
  });
  const opened = new Map<string, string>();
  const open = (sealed: string) => {
    let v = opened.get(sealed);
    if (v === undefined) {
      v = settings.secrets.open(sealed);
      if (opened.size > 1000) opened.clear();
      opened.set(sealed, v);
    }
    return v;
  };

  // Bodies as text, whatever the declared type (WeChat sends text/xml; mini programs' JSON as application/json).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: wechatCallbackBodyLimit }, (_req, body, done) => done(null, body));

  async function accountOf(instanceId: string, accountId: string): Promise<WechatAccountRow> {
    if (!uuid.test(instanceId) || !uuid.test(accountId)) throw new Refusal(404, 'no such account');
    const row = await accounts.get(instanceId, accountId);
    if (!row) throw new Refusal(404, 'no such account');
    if (!row.enabled) throw new Refusal(403, 'the account is disabled');
    return row;
  }

  function checkTimestamp(timestamp: string): void {
    if (!/^\d{1,12}$/.test(timestamp)) throw new Refusal(403, 'no timestamp');
    if (Math.abs(Number(timestamp) - deps.clock().getTime() / 1000) > maxSkewSeconds) throw new Refusal(403, 'the timestamp is too far from now (a replay?)');
  }

  const refuse = (reply: FastifyReply, err: unknown, where: Record<string, string>) => {
    if (!(err instanceof Refusal)) throw err;
    if (logged.first(`${where.accountId}|${err.message}|${where.timestamp}|${where.nonce}`)) deps.logger.warn({ ...where, reason: err.message }, 'WeChat callback refused');
    return reply.code(err.status).type('text/plain').send(err.status === 404 ? 'not found' : 'refused');
  };

  app.get('/wechat/callback/:instanceId/:accountId', async (request, reply) => {
    const { instanceId, accountId } = request.params as { instanceId: string; accountId: string };
    const q = request.query;
    const where = { instanceId, accountId, timestamp: queryString(q, 'timestamp'), nonce: queryString(q, 'nonce') };
    try {
      const account = await accountOf(instanceId, accountId);
      checkTimestamp(where.timestamp);
      if (!signatureMatches(queryString(q, 'signature'), open(account.token), where.timestamp, where.nonce)) throw new Refusal(403, 'wrong signature');
      const echostr = queryString(q, 'echostr');
      if (!/^[A-Za-z0-9_-]{1,128}$/.test(echostr)) throw new Refusal(400, 'no echostr');
      return reply.type('text/plain').send(echostr);
    } catch (err) {
      return refuse(reply, err, where);
    }
  });

  app.post('/wechat/callback/:instanceId/:accountId', async (request, reply) => {
    const { instanceId, accountId } = request.params as { instanceId: string; accountId: string };
    const q = request.query;
    const where = { instanceId, accountId, timestamp: queryString(q, 'timestamp'), nonce: queryString(q, 'nonce') };
    let push: WechatPush;
    let account: WechatAccountRow;
    try {
      account = await accountOf(instanceId, accountId);
      checkTimestamp(where.timestamp);
      const token = open(account.token);
      if (!signatureMatches(queryString(q, 'signature'), token, where.timestamp, where.nonce)) throw new Refusal(403, 'wrong signature');
      const body = typeof request.body === 'string' ? request.body : '';
      const format = account.data_format as WechatDataFormat;
      let fields: Record<string, string>;
      try {
        fields = parsePushFields(body, format);
        if (account.message_mode !== 'PLAIN') {
          // Safe mode: only the encrypted part counts (compatible mode's clear copy is ignored).
          const encrypted = fields.Encrypt;
          if (!encrypted) throw new Refusal(403, 'no Encrypt field in a safe-mode push');
          if (!signatureMatches(queryString(q, 'msg_signature'), token, where.timestamp, where.nonce, encrypted)) throw new Refusal(403, 'wrong msg_signature');
          if (account.encoding_aes_key === null) throw new Refusal(403, 'the account has no EncodingAESKey');
          const inner = decryptWechatMessage(open(account.encoding_aes_key), encrypted);
          if (inner.appId !== account.app_id) throw new Refusal(403, 'the AppID inside the message is not the account\'s');
          fields = parsePushFields(inner.message, format);
        }
        push = pushOf(fields);
      } catch (err) {
        if (err instanceof WechatPushError || err instanceof WechatCryptoError) throw new Refusal(400, `malformed push: ${err.message}`);
        throw err;
      }
      if (account.original_id !== null && push.toUserName !== account.original_id) throw new Refusal(403, 'the push is for another account (ToUserName)');
    } catch (err) {
      return refuse(reply, err, where);
    }
    // Kept, then answered: WeChat does not retry a push answered `success`.
    let received;
    try {
      received = await intake.receive(account, push);
    } catch (err) {
      deps.logger.error({ err, instanceId, accountId, msgType: push.msgType }, 'a WeChat push could not be kept; WeChat will retry it');
      return reply.code(503).type('text/plain').send('try again');
    }
    if (received.taken) {
      // Media wait for their download (a MediaId WeChat does not know is refused); the rest as long as the setting says.
      const media = push.mediaId !== null && (push.msgType === 'image' || push.msgType === 'voice');
      const failed = media ? await received.effect : await waitAtMost(received.effect, answerWaitMs);
      // A MediaId WeChat does not know (40007) stays unknown however often WeChat retries: refused (each retry), logged once.
      if (failed instanceof WechatApiError && failed.errcode === invalidMediaId) return refuse(reply, new Refusal(400, 'WeChat does not know the MediaId (40007)'), where);
      // Any other failure: the push is kept, and made again later (the intake logged it).
    }
    return reply.type('text/plain').send('success');
  });
}
