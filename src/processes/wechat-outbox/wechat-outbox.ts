// The WeChat outbox (issue 13): agents' (and flows') messages in WeChat chats go out through the
// customer-service API, each once. One process of the deployment leads (an advisory lease, as the router): it
// reads every event from its checkpoint and queues each agent message of a WeChat chat in wechat_outbox
// (idempotent by contact and seq), then sends what is due, oldest first and one at a time per chat. A row is
// claimed before it is sent, so a message goes out twice only if Kefu died between WeChat's answer and
// recording it (WeChat's API has no idempotency key). Transient errors (-1 busy, 45011, network, a token
// WeChat calls invalid or expired: the token is refreshed) are retried with backoff; anything else (45015
// outside the 48-hour window, 45047 past the quota, 40003 …) fails the message, and the chat says so in a
// SYSTEM message the agent sees at once. The agent's typing is passed on as WeChat's typing indicator.
// A chat flow's messages (issue 12) go out the same way: WeChat text has no buttons, so a menu's options
// follow its text as a numbered list (the customer replies with the number or a word, which steps the flow);
// a flow's image is fetched from its https URL (flow-image.ts) and sent as an image message. The account's
// reception prompts (chat-reception.ts) go out as text, and count against the send quota as any message does.
// Agents' and flows' link cards (issue 13) go out as WeChat's link card or mini program card (sendLink below).
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { sql } from 'kysely';
import type { CommandHandler } from '../../adapters/eventstore/command-handler.ts';
import type { Lease, SqlClient } from '../../adapters/sql/sql-client.ts';
import { chatFilePath, loadChatFile, type ChatFilesSettings } from '../../adapters/chat-files/chat-files.ts';
import { fetchFlowImage, FlowImageError, type FlowImage } from '../../adapters/wechat/flow-image.ts';
import type { WechatApi } from '../../adapters/wechat/wechat-api.ts';
import { transientErrors, WechatApiError, wechatErrorText, type WechatApiAccount } from '../../adapters/wechat/wechat-api.ts';
import { contactDecider } from '../../domain/contact/contact.decide.ts';
import type { ChatAttachment, ChatFlowImage, ChatLink, ContactMessageData, WechatSource } from '../../domain/contact/contact.ts';
import type { ChatFlowOption } from '../../domain/flow/chat-flow-engine.ts';
import type { EventStore, RecordedEvent, Subscription } from '../../domain/ports/event-store.ts';
import { positionFromString, positionToString } from '../../domain/ports/event-store.ts';
import { streams, streamCategory } from '../../domain/streams.ts';
import type { ReadModel } from '../../projections/projection.ts';
import { loadSatisfactionSurvey } from '../../api/resolvers/satisfaction.ts';
import { surveyOn, type SatisfactionSurvey } from '../../domain/instance/satisfaction.ts';
import type { Logger } from '../../projections/projection-runner.ts';
import { effectiveReceptionPrompts } from '../../domain/web-channel/reception-prompts.ts';
import { wechatPromptsDefaultEnabled } from '../../domain/wechat-account/wechat-account.ts';

export interface WechatOutboxDeps {
  store: EventStore;
  commands: CommandHandler;
  db: ReadModel;
  sql: SqlClient;
  api: WechatApi;
  chatFiles: ChatFilesSettings;
  logger: Logger;
  clock?: () => Date;
  /** Tries before a transiently failing message is given up (default 8). */
  maxAttempts?: number;
  /** The first retry's delay, doubled each time up to a minute (default 1000 ms). */
  backoffMs?: number;
  pollMs?: number;
  /** Chat flow images are fetched from public addresses only unless allowPrivate (KEFU_WECHAT_FLOW_IMAGE_ALLOW_PRIVATE). */
  flowImages?: { allowPrivate: boolean };
}

interface Payload {
  kind: 'TEXT' | 'IMAGE' | 'FILE' | 'LINK';
  text: string;
  attachment: ChatAttachment | null;
  agentId: string | null;
  /** A chat flow's image (an https URL), sent before its text. */
  image?: ChatFlowImage | null;
  /** The image of an image-and-text message went out already (a retry sends the text only). */
  imageSent?: boolean;
  /** LINK (issue 13): the card; a web link goes out as WeChat's link card, a mini program page as miniprogrampage. */
  link?: ChatLink | null;
}

/** How many WeChat messages a payload goes out as: an image with a text is two. */
function wechatMessagesOf(payload: Payload): number {
  const image = (payload.kind === 'IMAGE' && payload.attachment !== null) || Boolean(payload.image);
  return image && payload.text.trim() !== '' ? 2 : 1;
}

/** A chat flow's message as WeChat text: its text, then each option on a line of its own, numbered. */
export function flowMessageText(text: string, options: readonly ChatFlowOption[] | null | undefined): string {
  const lines = (options ?? []).map((o) => `${o.number}. ${o.label}`);
  return [text.trim(), lines.join('\n')].filter((part) => part !== '').join('\n\n');
}

const checkpointName = 'wechat-outbox';

/** What a WeChat customer reads when their chat ends: reply with a value of the scale. */
export function surveyInvitation(survey: SatisfactionSurvey): string {
  return `How did we do? Reply with a number: ${survey.scale.map((e) => `${e.value} ${e.label}`).join(', ')}.`;
}

export class WechatOutbox {
  private readonly deps: WechatOutboxDeps;
  private lease: Lease | null = null;
  private leaseTimer: NodeJS.Timeout | null = null;
  private subscription: Subscription | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  private sending: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  /** WeChat chats by contact stream (null: not a WeChat chat), from the contact's own events. */
  private readonly sources = new Map<string, WechatSource | null>();
  /** Why chats ended, for the ENDED message that follows in the same append. */
  private readonly endReasons = new Map<string, { reason: string; endedBy: string }>();
  private position: string | null = null;
  private saved: string | null = null;
  private checkpointTimer: NodeJS.Timeout | null = null;

  constructor(deps: WechatOutboxDeps) {
    this.deps = deps;
  }

  private now(): Date {
    return this.deps.clock?.() ?? new Date();
  }

  async start(): Promise<void> {
    await this.tryLead();
    if (!this.lease) {
      this.leaseTimer = setInterval(() => void this.tryLead(), 2000);
      this.leaseTimer.unref();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.leaseTimer) clearInterval(this.leaseTimer);
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.checkpointTimer) clearInterval(this.checkpointTimer);
    await this.subscription?.stop();
    await this.sending;
    if (this.lease) await this.saveCheckpoint().catch(() => undefined);
    await this.lease?.release();
  }

  private async tryLead(): Promise<void> {
    if (this.lease || this.stopped) return;
    const lease = await this.deps.sql.tryLease('wechat-outbox').catch(() => null);
    if (!lease) return;
    this.lease = lease;
    if (this.leaseTimer) clearInterval(this.leaseTimer);
    void lease.lost.then(() => {
      if (this.stopped) return;
      this.deps.logger.error({}, 'the WeChat outbox lost its lease; another process takes over');
      void this.subscription?.stop();
      if (this.pollTimer) clearInterval(this.pollTimer);
    });
    const row = await this.deps.db.selectFrom('wechat_checkpoints').select('position').where('name', '=', checkpointName).executeTakeFirst();
    this.subscription = this.deps.store.subscribeToAll({
      after: row?.position ? positionFromString(row.position) : null,
      onEvent: (e) => this.take(e),
      onError: (err) => this.deps.logger.error({ err }, 'the WeChat outbox subscription failed'),
    });
    this.pollTimer = setInterval(() => this.kick(), this.deps.pollMs ?? 500);
    this.pollTimer.unref();
    this.checkpointTimer = setInterval(() => void this.saveCheckpoint().catch((err: unknown) => this.deps.logger.error({ err }, 'the WeChat outbox could not save its checkpoint')), 1000);
    this.checkpointTimer.unref();
  }

  /** Queues an agent's message of a WeChat chat; moves the checkpoint. */
  private async take(e: RecordedEvent): Promise<void> {
    if (e.type === 'ContactEnded' && streamCategory(e.streamId) === 'contact') {
      const d = e.data as { reason?: unknown; endedBy?: unknown };
      this.endReasons.set(e.streamId, { reason: String(d.reason ?? ''), endedBy: String(d.endedBy ?? '') });
      if (this.endReasons.size > 1000) this.endReasons.delete(this.endReasons.keys().next().value!);
    }
    if (e.type === 'ContactMessageRecorded' && streamCategory(e.streamId) === 'contact') {
      const m = e.data as unknown as ContactMessageData;
      if (m.from === 'AGENT' && m.kind !== 'SYSTEM') {
        const source = await this.sourceOf(e.streamId);
        if (source) await this.queue(e, m, source);
      } else if (m.from === 'SYSTEM' && m.system?.type === 'PROMPT' && (m.text ?? '').trim() !== '') {
        // A reception prompt (issue 13: chat-reception.ts sends the account's prompts as it does a web channel's): as text.
        const source = await this.sourceOf(e.streamId);
        let text = m.text ?? '';
        if (source && (m.system.prompt === 'AGENT_ENDED' || m.system.prompt === 'AUTO_END')) {
          // The end's prompt, then the invitation to rate (held back at the end for this, see below), as one message.
          const survey = await loadSatisfactionSurvey(this.deps.db, e.metadata.instanceId);
          if (survey && surveyOn(survey, 'ONLINE')) text = `${text.trim()}\n\n${surveyInvitation(survey)}`;
        }
        if (source) await this.queue(e, { ...m, kind: 'TEXT', text, agentId: null }, source);
      } else if (m.from === 'SYSTEM' && m.kind === 'TEXT') {
        // A chat flow's message (SYSTEM sender, TEXT kind; notices are of kind SYSTEM).
        const source = await this.sourceOf(e.streamId);
        if (source) await this.queue(e, { ...m, text: flowMessageText(m.text ?? '', m.options), agentId: null }, source);
      } else if (m.from === 'SYSTEM' && m.kind === 'LINK' && m.link) {
        // A chat flow's link card (issue 13): the same card as an agent's web link.
        const source = await this.sourceOf(e.streamId);
        if (source) await this.queue(e, { ...m, agentId: null }, source);
      } else if (m.from === 'SYSTEM' && m.system?.type === 'ENDED' && this.endReasons.has(e.streamId) && this.endReasons.get(e.streamId)!.reason !== 'customerUnsubscribed') {
        // Ended after it was taken in (a rejected chat, a blacklisted customer's, is not asked), not by unsubscribing.
        // The chat ended: the customer is asked to rate it by replying with a value (the callback takes the reply);
        // with the account's prompt for this end switched on, the invitation follows that prompt instead (above).
        const source = await this.sourceOf(e.streamId);
        const survey = source ? await loadSatisfactionSurvey(this.deps.db, e.metadata.instanceId) : null;
        if (source && survey && surveyOn(survey, 'ONLINE') && !(await this.endPromptComes(e.metadata.instanceId, source.wechatAccountId, this.endReasons.get(e.streamId)!))) {
          await this.queue(e, { ...m, text: surveyInvitation(survey), agentId: null }, source);
        }
      }
    }
    // Saved once a second, not per event: replaying a little after a restart queues nothing twice (rows are keyed).
    this.position = positionToString(e.position);
  }

  /** Whether chat-reception sends a prompt for this end (agentEnded, autoEnd: as it decides in dueOf), switched on in the account. */
  private async endPromptComes(instanceId: string, accountId: string, end: { reason: string; endedBy: string }): Promise<boolean> {
    const name = end.endedBy === 'SYSTEM' && end.reason === 'customerIdle' ? 'autoEnd' : end.endedBy === 'AGENT' || (end.endedBy === 'SYSTEM' && end.reason === 'supervisorHangUp') ? 'agentEnded' : null;
    if (!name) return false;
    const a = await this.deps.db.selectFrom('wechat_accounts').select(['welcome_text', 'reception_prompts']).where('instance_id', '=', instanceId).where('id', '=', accountId).executeTakeFirst();
    if (!a) return false;
    return effectiveReceptionPrompts({ welcomeText: a.welcome_text, receptionPrompts: a.reception_prompts }, wechatPromptsDefaultEnabled)[name].enabled;
  }

  private async saveCheckpoint(): Promise<void> {
    const position = this.position;
    if (position === null || position === this.saved) return;
    await this.deps.db
      .insertInto('wechat_checkpoints')
      .values({ name: checkpointName, position, updated_at: this.now() })
      .onConflict((c) => c.column('name').doUpdateSet({ position, updated_at: this.now() }))
      .execute();
    this.saved = position;
  }

  private async sourceOf(streamId: string): Promise<WechatSource | null> {
    if (this.sources.has(streamId)) return this.sources.get(streamId)!;
    const first = await this.deps.store.readStream(streamId, { maxCount: 1 });
    const created = first[0];
    const source = created?.type === 'ContactCreated' ? ((created.data as { source?: { kind?: string } }).source ?? null) : null;
    const wechat = source?.kind === 'WECHAT' ? (source as WechatSource) : null;
    if (this.sources.size > 10_000) this.sources.clear();
    this.sources.set(streamId, wechat);
    return wechat;
  }

  private async queue(e: RecordedEvent, m: ContactMessageData, source: WechatSource): Promise<void> {
    const instanceId = e.metadata.instanceId;
    const contactId = e.streamId.slice(e.streamId.indexOf('.') + 1);
    const kind = m.kind === 'IMAGE' || m.kind === 'FILE' || (m.kind === 'LINK' && m.link) ? m.kind : 'TEXT';
    const payload: Payload = { kind, text: m.text ?? '', attachment: m.attachment ?? null, agentId: m.agentId, ...(m.image ? { image: m.image } : {}), ...(kind === 'LINK' ? { link: m.link } : {}) };
    await this.deps.db
      .insertInto('wechat_outbox')
      .values({
        instance_id: instanceId,
        contact_id: contactId,
        seq: m.seq ?? e.revision + 1,
        account_id: source.wechatAccountId,
        open_id: source.openId,
        state: 'PENDING',
        attempts: 0,
        next_attempt_at: this.now(),
        claimed_until: null,
        error_code: null,
        error: null,
        payload: JSON.stringify(payload),
        created_at: this.now(),
        updated_at: this.now(),
      })
      .onConflict((c) => c.columns(['instance_id', 'contact_id', 'seq']).doNothing())
      .execute();
    this.kick();
  }

  /** Sends what is due (again when more came meanwhile). */
  kick(): void {
    if (this.stopped || !this.lease) return;
    if (this.sending) {
      this.again = true;
      return;
    }
    this.sending = (async () => {
      do {
        this.again = false;
        try {
          while (await this.sendDue()) {
            // more were due
          }
        } catch (err) {
          this.deps.logger.error({ err }, 'the WeChat outbox could not send');
        }
      } while (this.again && !this.stopped);
    })().finally(() => (this.sending = null));
  }

  /** Claims and sends due messages, the oldest pending one of each chat; whether any were found. */
  private async sendDue(): Promise<boolean> {
    const now = this.now();
    const claimedUntil = new Date(now.getTime() + 60_000);
    const rows = await this.deps.db
      .updateTable('wechat_outbox as o')
      .set({ claimed_until: claimedUntil, attempts: sql`o.attempts + 1`, updated_at: now })
      .where('o.state', '=', 'PENDING')
      .where('o.next_attempt_at', '<=', now)
      .where((eb) => eb.or([eb('o.claimed_until', 'is', null), eb('o.claimed_until', '<', now)]))
      // In order within a chat: nothing earlier of the same chat still waits.
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('wechat_outbox as e')
              .select('e.seq')
              .whereRef('e.instance_id', '=', 'o.instance_id')
              .whereRef('e.contact_id', '=', 'o.contact_id')
              .where('e.state', '=', 'PENDING')
              .whereRef('e.seq', '<', 'o.seq'),
          ),
        ),
      )
      .returningAll()
      .execute();
    for (const row of rows) await this.send(row);
    return rows.length > 0;
  }

  private async accountOf(instanceId: string, accountId: string): Promise<(WechatApiAccount & { sendQuota: number; kind: 'OFFICIAL_ACCOUNT' | 'MINI_PROGRAM' }) | null> {
    const a = await this.deps.db.selectFrom('wechat_accounts').select(['app_id', 'app_secret', 'send_quota', 'kind', 'deleted_at']).where('instance_id', '=', instanceId).where('id', '=', accountId).executeTakeFirst();
    if (!a || a.deleted_at !== null) return null;
    return { instanceId, accountId, appId: a.app_id, appSecret: a.app_secret, sendQuota: a.send_quota, kind: a.kind === 'MINI_PROGRAM' ? 'MINI_PROGRAM' : 'OFFICIAL_ACCOUNT' };
  }

  /**
   * WeChat's limits checked before asking it: the customer's last word (a message, or the event that opened the
   * chat) must be at most 48 hours old, and at most the account's sendQuota messages go out after it.
   */
  private async withinLimits(row: { instance_id: string; contact_id: string; account_id: string; open_id: string }, quota: number, payload: Payload): Promise<WechatApiError | null> {
    const { db } = this.deps;
    const [last, contact] = await Promise.all([
      db.selectFrom('contact_messages').select('sent_at').where('instance_id', '=', row.instance_id).where('contact_id', '=', row.contact_id).where('sender', '=', 'CUSTOMER').orderBy('seq', 'desc').limit(1).executeTakeFirst(),
      db.selectFrom('contacts').select('created_at').where('instance_id', '=', row.instance_id).where('id', '=', row.contact_id).executeTakeFirst(),
    ]);
    const times = [last?.sent_at, contact?.created_at].filter((t) => t != null).map((t) => new Date(t!).getTime());
    if (times.length === 0) return null;
    const since = new Date(Math.max(...times));
    if (this.now().getTime() - since.getTime() > 48 * 3600_000) return new WechatApiError(45015, `Kefu did not send it: ${wechatErrorText[45015]}`);
    // WeChat counts its messages, not Kefu's: an image with a text went out as two.
    const sent = await db
      .selectFrom('wechat_outbox')
      .select(
        sql<string>`coalesce(sum(case when ((payload->>'kind' = 'IMAGE' and jsonb_typeof(payload->'attachment') = 'object') or jsonb_typeof(payload->'image') = 'object') and coalesce(payload->>'text', '') ~ '[^[:space:]]' then 2 else 1 end), 0)`.as('n'),
      )
      .where('instance_id', '=', row.instance_id)
      .where('account_id', '=', row.account_id)
      .where('open_id', '=', row.open_id)
      .where('state', '=', 'SENT')
      .where('updated_at', '>=', since)
      .executeTakeFirstOrThrow();
    if (Number(sent.n) + wechatMessagesOf(payload) > quota) return new WechatApiError(45047, `Kefu did not send it: ${quota} messages went out since the customer last wrote (the account's send quota)`);
    return null;
  }

  private async send(row: { instance_id: string; contact_id: string; seq: number; account_id: string; open_id: string; attempts: number; payload: unknown }): Promise<void> {
    const payload = (typeof row.payload === 'string' ? JSON.parse(row.payload) : row.payload) as Payload;
    const key = { instance_id: row.instance_id, contact_id: row.contact_id, seq: row.seq };
    const account = await this.accountOf(row.instance_id, row.account_id);
    try {
      if (!account) throw new WechatApiError(null, 'the WeChat account was deleted');
      const limit = await this.withinLimits(row, account.sendQuota, payload);
      if (limit) throw limit;
      if (payload.kind === 'LINK' && payload.link) {
        await this.sendLink(account, row.instance_id, row.open_id, payload.link);
      } else if (payload.kind === 'IMAGE' && payload.attachment) {
        const a = payload.attachment;
        const bytes = await readFile(chatFilePath(this.deps.chatFiles, row.instance_id, a.fileId, 'file'));
        const mediaId = await this.deps.api.uploadImage(account, bytes, a.contentType, a.name);
        await this.deps.api.sendImage(account, row.open_id, mediaId);
        if (payload.text.trim() !== '') await this.deps.api.sendText(account, row.open_id, payload.text);
      } else if (payload.kind === 'FILE' && payload.attachment) {
        // The customer-service API has no file messages for every account kind: the file's name goes as text.
        await this.deps.api.sendText(account, row.open_id, `[${payload.attachment.name}]${payload.text ? ` ${payload.text}` : ''}`);
      } else if (payload.image && payload.imageSent) {
        // The image went out on an earlier try (its text failed): only the text now, never the image twice.
        await this.deps.api.sendText(account, row.open_id, payload.text);
      } else if (payload.image) {
        const image = await this.fetchFlowImage(payload.image.url).catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))));
        if (image instanceof Error) {
          // The chat goes on without the picture (never held up behind it): its text is sent, the agent told why the picture was not.
          const hasText = payload.text.trim() !== '';
          if (hasText) await this.deps.api.sendText(account, row.open_id, payload.text);
          throw new Error(`${image.message}${hasText ? '; its text was sent' : ''}`);
        }
        const mediaId = await this.deps.api.uploadImage(account, image.bytes, image.contentType, image.name);
        await this.deps.api.sendImage(account, row.open_id, mediaId);
        if (payload.text.trim() !== '') {
          await this.deps.db
            .updateTable('wechat_outbox')
            .set({ payload: sql`payload || '{"imageSent": true}'::jsonb` })
            .where('instance_id', '=', key.instance_id)
            .where('contact_id', '=', key.contact_id)
            .where('seq', '=', key.seq)
            .execute();
          await this.deps.api.sendText(account, row.open_id, payload.text);
        }
      } else {
        await this.deps.api.sendText(account, row.open_id, payload.text);
      }
      await this.mark(key, { state: 'SENT', error_code: null, error: null });
    } catch (err) {
      const apiError = err instanceof WechatApiError ? err : null;
      const code = apiError?.errcode ?? null;
      const transient = apiError !== null && account !== null && (code === null || transientErrors.has(code));
      const maxAttempts = this.deps.maxAttempts ?? 8;
      const reason = apiError?.message.startsWith('Kefu did not send it') ? apiError.message : code !== null ? (wechatErrorText[code] ?? apiError!.message) : err instanceof Error ? err.message : String(err);
      if (transient && row.attempts < maxAttempts) {
        const delay = Math.min(60_000, (this.deps.backoffMs ?? 1000) * 2 ** (row.attempts - 1));
        await this.mark(key, { state: 'PENDING', error_code: code, error: reason, next_attempt_at: new Date(this.now().getTime() + delay) });
        this.deps.logger.warn({ instanceId: row.instance_id, contactId: row.contact_id, seq: row.seq, errcode: code, attempt: row.attempts }, 'a WeChat message will be retried');
        setTimeout(() => this.kick(), delay + 10).unref();
        return;
      }
      this.deps.logger.warn({ instanceId: row.instance_id, contactId: row.contact_id, seq: row.seq, errcode: code }, 'WeChat refused a message');
      // Told in the chat first, then marked: a crash in between tells it again, which the contact drops.
      await this.deps.commands.handle(streams.contact(row.instance_id, row.contact_id), contactDecider, {
        type: 'RecordDeliveryFailure',
        data: { contactId: row.contact_id, seq: row.seq, agentId: payload.agentId, errorCode: code, reason },
        metadata: { now: this.now().toISOString(), instanceId: row.instance_id, actor: 'system:wechat-outbox', correlationId: randomUUID() },
      });
      await this.mark(key, { state: 'FAILED', error_code: code, error: reason });
    }
  }

  /**
   * A link card: a web page as WeChat's link card (mini programs `link`, official accounts `news`); a mini program
   * page as `miniprogrampage`, its cover (an image of the chat) uploaded as temporary media first, or a configured
   * card's permanent cover (official accounts: with the linked mini program's AppID).
   */
  private async sendLink(account: WechatApiAccount & { kind: 'OFFICIAL_ACCOUNT' | 'MINI_PROGRAM' }, instanceId: string, openId: string, link: ChatLink): Promise<void> {
    if (link.url) {
      await this.deps.api.sendLink(account, account.kind, openId, { title: link.title, description: link.description ?? '', url: link.url, thumbUrl: link.thumbUrl ?? '' });
      return;
    }
    if (!link.pagePath) throw new Error('the mini program page has no path');
    if (account.kind === 'OFFICIAL_ACCOUNT') {
      // An official account sends only its configured cards: each names the linked mini program and a permanent cover.
      if (!link.appId || !link.thumbMediaId) throw new Error("an official account sends a mini program page only as one of its configured cards (the linked mini program's AppID)");
      await this.deps.api.sendMiniProgramPage(account, openId, { title: link.title, appId: link.appId, pagePath: link.pagePath, thumbMediaId: link.thumbMediaId });
      return;
    }
    if (link.thumbMediaId) {
      // A configured card: its cover is a permanent material, sent as it is.
      await this.deps.api.sendMiniProgramPage(account, openId, { title: link.title, pagePath: link.pagePath, thumbMediaId: link.thumbMediaId });
      return;
    }
    if (!link.thumbFileId) throw new Error('the mini program page has no cover');
    const cover = await loadChatFile(this.deps, instanceId, link.thumbFileId);
    if (!cover) throw new Error('the mini program page\'s cover is gone');
    const bytes = await readFile(chatFilePath(this.deps.chatFiles, instanceId, cover.fileId, 'file'));
    const thumbMediaId = await this.deps.api.uploadImage(account, bytes, cover.contentType, cover.name);
    await this.deps.api.sendMiniProgramPage(account, openId, { title: link.title, pagePath: link.pagePath, thumbMediaId });
  }

  /** A chat flow's image (flow-image.ts: public https addresses only, size-capped); a network failure is tried once more after a second. */
  private async fetchFlowImage(url: string): Promise<FlowImage> {
    const policy = { allowPrivate: this.deps.flowImages?.allowPrivate ?? false, maxBytes: this.deps.chatFiles.maxBytes };
    try {
      return await fetchFlowImage(url, policy);
    } catch (err) {
      if (!(err instanceof FlowImageError) || !err.transient) throw err;
      await new Promise((resolve) => setTimeout(resolve, 1000));
      return fetchFlowImage(url, policy);
    }
  }

  private async mark(key: { instance_id: string; contact_id: string; seq: number }, set: { state: string; error_code: number | null; error: string | null; next_attempt_at?: Date }): Promise<void> {
    await this.deps.db
      .updateTable('wechat_outbox')
      .set({ ...set, claimed_until: null, updated_at: this.now() })
      .where('instance_id', '=', key.instance_id)
      .where('contact_id', '=', key.contact_id)
      .where('seq', '=', key.seq)
      .execute();
  }

  /** The agent typing in a WeChat chat: WeChat's typing indicator (best effort, never retried). */
  async agentTyping(instanceId: string, contactId: string, typing: boolean): Promise<void> {
    const source = await this.sourceOf(streams.contact(instanceId, contactId));
    if (!source) return;
    const account = await this.accountOf(instanceId, source.wechatAccountId);
    if (!account) return;
    await this.deps.api.typing(account, source.openId, typing).catch((err: unknown) => this.deps.logger.warn({ err, instanceId, contactId }, 'WeChat typing failed'));
  }
}
