// The callback WeChat calls for each account (issue 13): GET /wechat/callback/<instanceId>/<accountId> is the
// console's URL check (signature, echostr); POST carries the customers' messages and events, signed, and in safe
// (or compatible) mode encrypted. A push is answered `success` as soon as its effect is stored (milliseconds;
// WeChat waits 5 s); media downloads are the slow part and stay well inside that.
//
// Refused without touching any chat, each logged once (not once per WeChat retry): an unknown or disabled
// account, a wrong signature or msg_signature, a timestamp more than 5 minutes from now, an AppID that does not
// match after decryption, another ToUserName than the account's, malformed XML or JSON, a body over 64 KB.
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ApiDeps } from '../../api/context.ts';
import { wechatSettingsOf } from '../../api/resolvers/wechat-accounts.ts';
import type { WechatDataFormat } from '../../domain/wechat-account/wechat-account.ts';
import type { WechatAccountRow } from '../../projections/wechat-accounts/wechat-accounts.projection.ts';
import { chatFilesSettingsOf, uuid } from '../chat-files/chat-files.ts';
import { decryptWechatMessage, signatureMatches, WechatCryptoError } from './wechat-crypto.ts';
import { parsePushFields, pushOf, WechatPushError, type WechatPush } from './wechat-messages.ts';
import { WechatApi, WechatApiError } from './wechat-api.ts';
import { WechatInbound } from './wechat-inbound.ts';
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
      chatFlows: deps.chatFlows ?? new ChatFlowRunner(contactChatFlowPorts({ db: deps.db, commands: deps.commands, clock: deps.clock })),
    });
  const logged = new LoggedOnce();
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
    const row = await deps.db.selectFrom('wechat_accounts').selectAll().where('instance_id', '=', instanceId).where('id', '=', accountId).where('deleted_at', 'is', null).executeTakeFirst();
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
    // Stored, then answered: an answer means the push is kept (WeChat retries what is not answered in 5 s).
    try {
      await inbound.take(account, push);
    } catch (err) {
      // A MediaId WeChat does not know (40007) stays unknown however often WeChat retries: refused, logged once.
      if (err instanceof WechatApiError && err.errcode === invalidMediaId) return refuse(reply, new Refusal(400, 'WeChat does not know the MediaId (40007)'), where);
      deps.logger.error({ err, instanceId, accountId, msgType: push.msgType }, 'a WeChat push could not be stored; WeChat will retry it');
      return reply.code(503).type('text/plain').send('try again');
    }
    return reply.type('text/plain').send('success');
  });
}
