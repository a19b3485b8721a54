// What a WeChat push does to chats (issue 13). A message becomes a customer message of the customer's open
// WeChat chat on that account, or starts one (queued in the account's skill group, or turned away when the
// customer is blacklisted or the queue is full); subscribe, SCAN, CLICK and a mini program's
// user_enter_tempsession open a chat too, with their data for the screen pop (SessionFrom, EventKey);
// unsubscribe ends the open chat. Images and voice are downloaded at once (their media ids expire) and stored
// as chat files.
//
// Stored once: WeChat retries a push it got no answer for within 5 s (three tries), maybe at another Kefu
// process. The callback keeps each push first (wechat-intake.ts: its key in wechat_inbound, so a retry is not
// even looked at again) and this makes its effect after, maybe twice (a sweep after a crash): a push's key
// (MsgId, or customer + time + event) is the customer message's clientMessageId, which the contact decider
// drops when it sees it again (the event store decides, at the stream's revision); a chat started by a push has
// an id derived from its key, so a push made again that finds no open chat starts the same one (nothing).
//
// An account with a CHAT flow (issue 12) puts its chats into the flow as the web channel does, through the same
// runner (chat-flow-runner.ts): the flow's first step runs when the chat starts, and each text the customer
// writes while the chat is in its flow (a menu option's number or word, an answer) is recorded with the step it
// takes, in one append. The flow's messages go out through the WeChat outbox.
import { createHash, randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { CommandHandler } from '../eventstore/command-handler.ts';
import { contactDecider, type ContactCommand, type NewChatMessage } from '../../domain/contact/contact.decide.ts';
import type { ChatAttachment, RejectReason, WechatSource } from '../../domain/contact/contact.ts';
import { chatFileDecider } from '../../domain/chat-file/chat-file.decide.ts';
import { streams } from '../../domain/streams.ts';
import type { WechatAccountKind } from '../../domain/wechat-account/wechat-account.ts';
import type { ReadModel } from '../../projections/projection.ts';
import type { ReadModelSync } from '../../api/context.ts';
import type { WechatAccountRow } from '../../projections/wechat-accounts/wechat-accounts.projection.ts';
import { findBlacklistEntry } from '../../api/resolvers/blacklist.ts';
import { loadSatisfactionSurvey } from '../../api/resolvers/satisfaction.ts';
import { DomainError } from '../../domain/errors.ts';
import { isOpenAt } from '../../domain/flow/business-hours.ts';
import { chatFilePath, writeDurably, type ChatFilesSettings } from '../chat-files/chat-files.ts';
import { detectFileType } from '../chat-files/detect.ts';
import type { UploadProcessor } from '../chat-files/image-processor.ts';
import type { ProcessedUpload } from '../chat-files/process-upload.ts';
import { pushKey, type WechatPush } from './wechat-messages.ts';
import type { WechatApi } from './wechat-api.ts';
import type { ChatFlowAdvance, ChatFlowRunner } from '../../processes/chat-flows/chat-flow-runner.ts';

export interface WechatInboundDeps {
  commands: CommandHandler;
  db: ReadModel;
  readModels: ReadModelSync;
  api: WechatApi;
  chatFiles: ChatFilesSettings;
  clock: () => Date;
  /** Images are stripped of metadata and get a thumbnail as uploads do (on a worker thread); absent: kept as WeChat gave them. */
  images?: UploadProcessor;
  /** Runs the chat flows of accounts that have one (absent: chats go straight to the account's skill group). */
  chatFlows?: ChatFlowRunner;
}

/** A name-based UUID (version 5 layout) of the parts. */
export function nameUuid(...parts: string[]): string {
  const h = createHash('sha256').update(JSON.stringify(parts)).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

/** The id of the chat a push starts: the same for WeChat's retries of it, at any Kefu process. */
function chatIdOf(account: WechatAccountRow, key: string): string {
  return nameUuid('wechat-chat', account.instance_id, account.id, key);
}

/**
 * How long a customer's open chat is remembered without a look-up after its last append through the memory (a
 * chat that ended is noticed by the append at once; a chat out of its flow does not go back into one).
 */
const openChatMemoryMs = 10_000;

const chatOpeningEvents = new Set(['subscribe', 'SCAN', 'CLICK', 'user_enter_tempsession']);

export class WechatInbound {
  private readonly deps: WechatInboundDeps;
  /** One customer's pushes one after the other in this process (a second message finds the chat the first started). */
  private readonly queues = new Map<string, Promise<unknown>>();
  /** Customers' open chats lately seen (queued, offered, with an agent): a text to one needs no look-up. */
  private readonly openChats = new Map<string, { id: string; until: number }>();

  constructor(deps: WechatInboundDeps) {
    this.deps = deps;
  }

  /** Makes a push's effect (kept by the intake, wechat-intake.ts); resolves with its contact when it is stored. */
  take(account: WechatAccountRow, push: WechatPush): Promise<string | null> {
    const key = `${account.instance_id}/${account.id}/${push.fromUserName}`;
    const before = this.queues.get(key) ?? Promise.resolve();
    const run = before.catch(() => undefined).then(() => this.apply(account, push, pushKey(push)));
    const tail = run.catch(() => undefined);
    this.queues.set(key, tail);
    void tail.then(() => {
      if (this.queues.get(key) === tail) this.queues.delete(key);
    });
    return run;
  }

  /** The customer's open chat on the account as this process last saw it (null: forgotten). */
  private remember(account: WechatAccountRow, openId: string, contactId: string | null): void {
    const key = `${account.instance_id}/${account.id}/${openId}`;
    this.openChats.delete(key);
    if (contactId === null) return;
    if (this.openChats.size >= 10_000) this.openChats.delete(this.openChats.keys().next().value!);
    this.openChats.set(key, { id: contactId, until: this.deps.clock().getTime() + openChatMemoryMs });
  }

  private metadata(instanceId: string) {
    return { now: this.deps.clock().toISOString(), instanceId, actor: 'system:wechat', correlationId: randomUUID() };
  }

  /** The customer's open chat on this account, as the read model shows it. */
  private async openChat(account: WechatAccountRow, openId: string): Promise<string | null> {
    return (await this.openChatRow(account, openId))?.id ?? null;
  }

  private async openChatRow(account: WechatAccountRow, openId: string): Promise<{ id: string; status: string } | null> {
    const row = await this.deps.db
      .selectFrom('contacts')
      .select(['id', 'status'])
      .where('instance_id', '=', account.instance_id)
      .where('channel', '=', 'ONLINE')
      .where('status', 'not in', ['ENDED', 'REJECTED'])
      .where(sql<boolean>`customer->>'id' = ${openId}`)
      .where(sql<boolean>`source->>'kind' = 'WECHAT'`)
      .where(sql<boolean>`source->>'wechatAccountId' = ${account.id}`)
      .orderBy('created_at', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row ?? null;
  }

  /**
   * A reply to the survey invitation sent when the customer's last chat ended (within a day): a value of the
   * instance's scale rates that chat, once. Anything else (or a chat rated already) is a new message.
   */
  private async rating(account: WechatAccountRow, openId: string, content: string, key: string): Promise<string | null> {
    const value = /^\s*(\d)\s*$/.exec(content)?.[1];
    if (value === undefined) return null;
    const since = new Date(this.deps.clock().getTime() - 86_400_000);
    const last = await this.deps.db
      .selectFrom('contacts')
      .select(['id', 'status'])
      .where('instance_id', '=', account.instance_id)
      .where('channel', '=', 'ONLINE')
      .where(sql<boolean>`customer->>'id' = ${openId}`)
      .where(sql<boolean>`source->>'kind' = 'WECHAT'`)
      .where(sql<boolean>`source->>'wechatAccountId' = ${account.id}`)
      .where('ended_at', '>', since)
      .orderBy('created_at', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (!last || last.status !== 'ENDED') return null;
    // Claimed before rating (on the kept push): made again after a crash, this reply must not become a new chat when it finds the chat rated.
    const claimed = await this.deps.db
      .updateTable('wechat_inbound')
      .set({ contact_id: last.id })
      .where('instance_id', '=', account.instance_id)
      .where('account_id', '=', account.id)
      .where('push_key', '=', key)
      .where('contact_id', 'is', null)
      .executeTakeFirst();
    if (Number(claimed.numUpdatedRows) === 0) return last.id;
    const survey = await loadSatisfactionSurvey(this.deps.db, account.instance_id);
    try {
      await this.command(account.instance_id, { type: 'RateContact', data: { contactId: last.id, value: Number(value), comment: null, by: 'CUSTOMER', key: null, survey }, metadata: this.metadata(account.instance_id) });
      return last.id;
    } catch (err) {
      // Rated already, off, not on the scale: an ordinary message.
      if (err instanceof DomainError) return null;
      throw err;
    }
  }

  private async command(instanceId: string, command: ContactCommand) {
    const result = await this.deps.commands.handle(streams.contact(instanceId, command.data.contactId), contactDecider, command);
    // The next push of this customer looks its open chat up in the read model: a chat started or ended must show
    // there first (a message added to an open chat changes nothing that look-up reads).
    if (result.position && command.type !== 'RecordMessage' && command.type !== 'SetVariables') await this.deps.readModels.waitFor(result.position, { projections: ['contacts'], timeoutMs: 10_000 });
    return result;
  }

  private async apply(account: WechatAccountRow, push: WechatPush, key: string): Promise<string | null> {
    const openId = push.fromUserName;
    const instanceId = account.instance_id;
    if (push.msgType === 'event') {
      const event = push.event ?? '';
      const open = await this.openChat(account, openId);
      if (event === 'unsubscribe') {
        this.remember(account, openId, null);
        if (!open) return null;
        try {
          await this.command(instanceId, { type: 'EndContact', data: { contactId: open, reason: 'customerUnsubscribed', endedBy: 'CUSTOMER', agentId: null }, metadata: this.metadata(instanceId) });
        } catch {
          // Ended meanwhile: nothing to end.
        }
        return open;
      }
      if (!chatOpeningEvents.has(event)) return open;
      const data: Record<string, string> = { wechatEvent: event };
      if (push.eventKey) data.wechatEventKey = push.eventKey;
      if (push.sessionFrom) data.sessionFrom = push.sessionFrom;
      if (open) {
        await this.command(instanceId, { type: 'SetVariables', data: { contactId: open, variables: data }, metadata: this.metadata(instanceId) });
        return open;
      }
      return this.startChat(account, push, key, data, null);
    }
    // A text for a chat this process saw open (and out of its flow) in the last seconds: appended without a look-up.
    // The append refuses a chat that ended since (here or elsewhere): then it is looked up as below.
    const remembered = push.msgType === 'text' ? this.openChats.get(`${instanceId}/${account.id}/${openId}`) : undefined;
    if (remembered && remembered.until > this.deps.clock().getTime()) {
      const message = await this.messageOf(account, push, key, remembered.id);
      if (message === null) return null;
      try {
        await this.command(instanceId, { type: 'RecordMessage', data: { contactId: remembered.id, ...message, from: 'CUSTOMER', agentId: null }, metadata: this.metadata(instanceId) });
        // Renewed: a customer writing every few seconds costs no look-up every 10 s.
        remembered.until = this.deps.clock().getTime() + openChatMemoryMs;
        return remembered.id;
      } catch (err) {
        if (!(err instanceof Error) || !/has already ended/.test(err.message)) throw err;
      }
    }
    this.remember(account, openId, null);
    const openRow = await this.openChatRow(account, openId);
    const open = openRow?.id ?? null;
    if (!open && push.msgType === 'text' && push.content) {
      const rated = await this.rating(account, openId, push.content, key);
      if (rated) return rated;
    }
    const message = await this.messageOf(account, push, key, open ?? chatIdOf(account, key));
    if (message === null) return null;
    if (open && (openRow!.status === 'IN_FLOW' || openRow!.status === 'CREATED') && message.kind === 'TEXT' && this.deps.chatFlows) {
      // The chat's flow waits for this: the message and the step it takes go in one append.
      const advance = await this.flowShown(instanceId, this.deps.chatFlows.message({ instanceId, contactId: open }, message.text, { message }));
      if (advance.carried) return open;
      if (advance.run === null) {
        // Its flow never took its first step (a process died in between): recorded, then the flow starts.
        await this.command(instanceId, { type: 'RecordMessage', data: { contactId: open, ...message, from: 'CUSTOMER', agentId: null }, metadata: this.metadata(instanceId) });
        await this.startFlow(account, open);
        return open;
      }
    }
    if (open) {
      try {
        await this.command(instanceId, { type: 'RecordMessage', data: { contactId: open, ...message, from: 'CUSTOMER', agentId: null }, metadata: this.metadata(instanceId) });
        if (openRow!.status !== 'IN_FLOW' && openRow!.status !== 'CREATED') this.remember(account, openId, open);
        return open;
      } catch (err) {
        // The chat ended between the look-up and the append: the message opens a new one.
        if (!(err instanceof Error) || !/has already ended/.test(err.message)) throw err;
      }
    }
    return this.startChat(account, push, key, {}, message);
  }

  /** The message a push carries (text, image or voice, media stored), or null for a type Kefu does not take. */
  private async messageOf(account: WechatAccountRow, push: WechatPush, key: string, contactId: string): Promise<NewChatMessage | null> {
    const base = { messageId: nameUuid('wechat-message', account.instance_id, account.id, key), clientMessageId: `wechat:${key}` };
    switch (push.msgType) {
      case 'text':
        if (!push.content) return null;
        return { ...base, kind: 'TEXT', text: push.content, attachment: null };
      case 'image':
      case 'voice': {
        if (!push.mediaId) return null;
        const attachment = await this.storeMedia(account, push, key, contactId);
        return { ...base, kind: push.msgType === 'image' ? 'IMAGE' : 'FILE', text: '', attachment };
      }
      default:
        return null;
    }
  }

  private async storeMedia(account: WechatAccountRow, push: WechatPush, key: string, contactId: string): Promise<ChatAttachment> {
    const settings = this.deps.chatFiles;
    const media = await this.deps.api.downloadMedia({ instanceId: account.instance_id, accountId: account.id, appId: account.app_id, appSecret: account.app_secret }, push.mediaId!, settings.maxBytes);
    const fileId = nameUuid('wechat-file', account.instance_id, account.id, key);
    const detected = detectFileType(media.bytes);
    // Voice is AMR or Speex, which the detector does not know: the format WeChat names.
    const contentType = push.msgType === 'voice' ? (push.format?.toLowerCase() === 'amr' ? 'audio/amr' : push.format ? `audio/${push.format.toLowerCase().replace(/[^a-z0-9.+-]/g, '')}` : media.contentType) : detected.contentType;
    const extension = push.msgType === 'voice' ? (push.format ?? 'amr').toLowerCase().replace(/[^a-z0-9]/g, '') : (contentType.split('/')[1] ?? 'bin');
    const name = `${push.msgType}-${push.msgId ?? push.createTime}.${extension}`;
    let processed: ProcessedUpload | null = null;
    if (push.msgType === 'image' && detected.image && this.deps.images) {
      // Metadata (a phone photo's GPS position) stripped, a thumbnail made; an image that does not decode is kept as it came.
      processed = await this.deps.images
        .process({ bytes: new Uint8Array(media.bytes), filename: name, declaredType: contentType, allowedTypes: [contentType], thumbnailSize: settings.thumbnailSize })
        .catch(() => null);
    }
    const bytes = Buffer.from(processed?.bytes ?? media.bytes);
    if (processed?.thumbnail) await writeDurably(chatFilePath(settings, account.instance_id, fileId, 'thumbnail'), processed.thumbnail.bytes);
    await writeDurably(chatFilePath(settings, account.instance_id, fileId, 'file'), bytes);
    await this.deps.commands.handle(streams.chatFile(account.instance_id, fileId), chatFileDecider, {
      type: 'StoreChatFile',
      data: {
        fileId,
        contactId,
        name,
        contentType,
        bytes: bytes.length,
        width: processed?.width ?? null,
        height: processed?.height ?? null,
        thumbnailType: processed?.thumbnail?.contentType ?? null,
        sha256: createHash('sha256').update(bytes).digest('hex'),
        uploadedBy: { kind: 'CUSTOMER', customerId: push.fromUserName },
        at: this.deps.clock().toISOString(),
      },
      metadata: this.metadata(account.instance_id),
    });
    return { fileId, name, contentType, bytes: bytes.length, width: processed?.width ?? null, height: processed?.height ?? null, thumbnail: Boolean(processed?.thumbnail) };
  }

  private async startChat(account: WechatAccountRow, push: WechatPush, key: string, data: Record<string, string>, first: NewChatMessage | null): Promise<string> {
    const { db } = this.deps;
    const instanceId = account.instance_id;
    const contactId = chatIdOf(account, key);
    const now = this.deps.clock();
    const blocked = await findBlacklistEntry(db, instanceId, 'ONLINE', push.fromUserName, now);
    let reject: RejectReason | null = blocked ? 'BLACKLISTED' : null;
    // Off the account's work hours (issue 13, as web channels') a chat is not queued: it ends with the off-hours prompt. A chat flow decides itself.
    if (!reject && !account.flow_id && account.work_hours && !isOpenAt(account.work_hours, now)) reject = 'AFTER_HOURS';
    if (!reject) {
      const group = await db.selectFrom('skill_groups').select(['max_queue_length']).where('instance_id', '=', instanceId).where('id', '=', account.skill_group_id).executeTakeFirst();
      if (group && group.max_queue_length > 0) {
        const waiting = await db
          .selectFrom('contacts')
          .select((eb) => eb.fn.countAll<string>().as('n'))
          .where('instance_id', '=', instanceId)
          .where('skill_group_id', '=', account.skill_group_id)
          .where('status', '=', 'QUEUED')
          .executeTakeFirstOrThrow();
        if (Number(waiting.n) >= group.max_queue_length) reject = 'QUEUE_FULL';
      }
    }
    const source: WechatSource = {
      kind: 'WECHAT',
      wechatAccountId: account.id,
      accountKind: account.kind as WechatAccountKind,
      appId: account.app_id,
      openId: push.fromUserName,
      unionId: push.unionId,
      sessionFrom: push.sessionFrom,
    };
    // A chat entering its account's flow: the flow's first step (its greeting) goes in the start's append, one append
    // and one wait (issue 12, as web chats). Without it (no live flow), the runner's start below takes the step (or
    // ends the chat); so it does when the start appended nothing (a retry of the push found the chat started).
    const flowId = reject || !this.deps.chatFlows ? null : account.flow_id;
    const firstStep = flowId ? await this.deps.chatFlows!.firstStep({ instanceId, contactId }, flowId) : null;
    const started = await this.command(instanceId, {
      type: 'StartChat',
      data: {
        contactId,
        customer: { kind: 'WECHAT', id: push.fromUserName, name: null },
        data: { wechatOpenId: push.fromUserName, ...(push.unionId ? { wechatUnionId: push.unionId } : {}), wechatAccount: account.name, ...data },
        source,
        skillGroupId: account.skill_group_id,
        priority: 0,
        reject,
        firstMessage: first,
        flowId,
        ...(firstStep ? { firstStep } : {}),
      },
      metadata: this.metadata(instanceId),
    });
    // The account's chat flow greets the customer (its first step); a retry of the push finds it taken.
    if (flowId && (!firstStep || started.events.length === 0)) await this.startFlow(account, contactId);
    return contactId;
  }

  /** The account's chat flow takes its first step on the chat (nothing when it has none, or the chat is in it already). */
  private async startFlow(account: WechatAccountRow, contactId: string): Promise<void> {
    if (!account.flow_id || !this.deps.chatFlows) return;
    await this.flowShown(account.instance_id, this.deps.chatFlows.start({ instanceId: account.instance_id, contactId }, account.flow_id));
  }

  /** A flow step, once the read model shows it (queued or ended: the next push's look-up reads that). */
  private async flowShown(instanceId: string, step: Promise<ChatFlowAdvance>): Promise<ChatFlowAdvance> {
    const advance = await step;
    if (advance.appended) await this.deps.readModels.waitFor(advance.appended, { projections: ['contacts'], timeoutMs: 10_000 });
    return advance;
  }
}
