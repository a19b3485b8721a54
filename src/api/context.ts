import { randomUUID } from 'node:crypto';
import type { ReportLimits } from '../projections/reports/report-queries.ts';
import type { CommandHandler } from '../adapters/eventstore/command-handler.ts';
import type { OutboundCallStarter } from '../processes/calls/outbound-calls.ts';
import type { SoftphoneHub } from '../adapters/webrtc/softphone-hub.ts';
import type { AvCalls } from '../processes/av-calls/av-calls.ts';
import type { IceServerSetting } from './resolvers/av-calls.ts';
import type { WebhookApiSettings } from './resolvers/webhooks.ts';
import type { CommandMetadata } from '../domain/decider.ts';
import { ReadModelBehindError, ValidationError } from '../domain/errors.ts';
import type { Bus } from '../domain/ports/bus.ts';
import type { Position } from '../domain/ports/event-store.ts';
import type { ReadModel } from '../projections/projection.ts';
import type { Logger } from '../projections/projection-runner.ts';
import type { RetryOutcome } from '../projections/parked-parts.ts';
import type { Authenticator, Principal } from './auth.ts';
import type { ChatFilesSettings } from '../adapters/chat-files/chat-files.ts';
import { actorOf } from './auth.ts';
import type { ChatLimits } from './chat-limits.ts';
import type { LoginThrottle } from './login-throttle.ts';
import type { AgentsOnlineInMemory, ChatFlowRunner } from '../processes/chat-flows/chat-flow-runner.ts';
import type { WechatApiSettings } from './resolvers/wechat-accounts.ts';

export interface ReadModelSync {
  /**
   * Resolves once the read models include the event at `position`, or false when the wait timed out (after
   * timeoutMs in all, or, with stallMs, when none of them moved for that long). With the event's
   * `instanceId`, rejects at once with ReadModelParkedError if that instance's part of one is parked.
   */
  waitFor(position: Position, options?: { projections?: string[]; timeoutMs?: number; stallMs?: number; instanceId?: string }): Promise<boolean>;
  /** Replays a parked part's held events and unparks it if they apply; null if that part is not parked. */
  retryParkedPart(projection: string, instanceId: string): Promise<RetryOutcome | null>;
}

export interface ApiDeps {
  commands: CommandHandler;
  db: ReadModel;
  readModels: ReadModelSync;
  bus: Bus;
  auth: Authenticator;
  loginThrottle: LoginThrottle;
  /** Chat rate limits (chatLimit in chat-limits.ts); defaults when absent. */
  chatLimits?: ChatLimits;
  logger: Logger;
  clock: () => Date;
  /** Readiness: true once projections have caught up at start. */
  ready: () => boolean;
  /** Where uploaded files live (prompt audio under `audio/<instanceId>/`); without it uploads are refused. */
  storageDir?: string;
  /** Chat uploads (OL-15): folder, size limit, allowed types, link key and lifetime; defaults under storageDir when absent. */
  chatFiles?: ChatFilesSettings;
  /** The SIP digest realm agents' and trunks' HA1 are computed with (KEFU_SIP_REALM); 'kefu' when unset. */
  sipRealm?: string;
  /** Call recordings: `<recordingsDir>/<instanceId>/<recordingId>.wav` (see src/adapters/storage/recording-storage.ts). */
  recordingsDir: string;
  /** Outbound calls placed by this process's SIP side (PH-2); absent when the phone side is off. */
  outboundCalls?: OutboundCallStarter;
  /** Browser softphones connected to this process (issue 5); absent when the phone side is off. */
  softphones?: SoftphoneHub;
  /** Runs web channels' chat flows (issue 12); one over the read model and the contact streams when absent. */
  chatFlows?: ChatFlowRunner;
  /** Whether a group has a member online, from the router's memory where this process routes (null: it cannot tell; the read model answers). */
  agentsOnline?: AgentsOnlineInMemory;
  /** Customers' audio/video calls whose media this process holds (issue 14); absent with KEFU_AV=off. */
  avCalls?: AvCalls;
  /** STUN/TURN servers handed to browsers for AV calls (KEFU_AV_ICE_SERVERS). */
  avIceServers?: IceServerSetting[];
  /** Webhooks (issue 16): the address policy and the secrets' key; without them the webhook mutations answer NOT_FOUND. */
  webhooks?: WebhookApiSettings;
  /** WeChat (issue 13): the secrets' box, the public URL of callbacks, the API base; defaults when absent (see wechatSettingsOf). */
  wechat?: WechatApiSettings;
  /** Reports (issue 15): KEFU_REPORT_MAX_RANGE_DAYS and KEFU_REPORT_MAX_ROWS; defaultReportLimits when absent. */
  reportLimits?: ReportLimits;
  /** How long mutations wait for the read models (KEFU_SETTLE_STALL_MS, KEFU_SETTLE_MAX_MS); defaultSettleWait when absent. */
  settleWait?: SettleWait;
}

export interface SettleWait {
  /** Give up when none of the read models waited for has moved for this long. */
  stallMs: number;
  /** Give up after this long in all. */
  maxMs: number;
}

export const defaultSettleWait: SettleWait = { stallMs: 10_000, maxMs: 120_000 };

export interface KefuContext {
  deps: ApiDeps;
  principal: Principal | null;
  clientIp: string;
  correlationId: string;
  /** The request's Origin header (HTTP; the WebSocket upgrade's for graphql-ws), null when none. */
  origin?: string | null;
}

export function commandMetadata(ctx: KefuContext, instanceId: string): CommandMetadata {
  return {
    now: ctx.deps.clock().toISOString(),
    instanceId,
    actor: ctx.principal ? actorOf(ctx.principal) : 'anonymous',
    correlationId: ctx.correlationId,
  };
}

/**
 * Waits until the read models show what a command appended, so the mutation can answer from them. It waits as
 * long as they move (a busy or catching-up projection) up to settleWait.maxMs, and gives up when none of them has
 * moved for settleWait.stallMs (stuck). Giving up throws READ_MODEL_BEHIND: answering from read models that do not
 * show the change would say NOT_FOUND for what was created, or the old state, and invite a retry that does it
 * twice. If the instance's part of one of them is parked, fails at once (CONFLICT naming it). The instance is the
 * caller's own unless named (the operator acts on other instances).
 */
export async function settle(ctx: KefuContext, position: Position | null, projections?: string[], instanceId?: string): Promise<void> {
  if (!position) return;
  const instance = instanceId ?? (ctx.principal && ctx.principal.kind !== 'operator' ? ctx.principal.instanceId : undefined);
  const wait = ctx.deps.settleWait ?? defaultSettleWait;
  const ok = await ctx.deps.readModels.waitFor(position, {
    ...(projections ? { projections } : {}),
    ...(instance !== undefined ? { instanceId: instance } : {}),
    timeoutMs: wait.maxMs,
    stallMs: wait.stallMs,
  });
  if (!ok) throw behind(ctx, position, projections);
}

/**
 * For a mutation that creates something and answers with a secret shown only in that answer (an API key, a
 * channel's identity secret): waits for the projection whose table the answer reads for settleWait.maxMs in all,
 * also while it does not move (a lost secret is worse than a slow answer), then READ_MODEL_BEHIND. Such a mutation
 * skips the general settle (its command helper is told so), which could give up earlier.
 */
export async function settleShownOnce(ctx: KefuContext, position: Position | null, projection: string, instanceId: string): Promise<void> {
  if (!position) return;
  const wait = ctx.deps.settleWait ?? defaultSettleWait;
  const ok = await ctx.deps.readModels.waitFor(position, { projections: [projection], instanceId, timeoutMs: wait.maxMs });
  if (!ok) throw behind(ctx, position, [projection]);
}

function behind(ctx: KefuContext, position: Position, projections: string[] | undefined): ReadModelBehindError {
  ctx.deps.logger.error({ position: String(position.commit), projections }, 'read models lag behind a command: answered READ_MODEL_BEHIND');
  return new ReadModelBehindError(
    'The change was stored, but the read models did not show it in time (they are behind); do not send it again: it shows once they catch up',
  );
}

export function newCorrelationId(): string {
  return randomUUID();
}

/**
 * Runs a command for a mutation: the decider names its own fields ("reason"); the caller sent them inside
 * `input`, so that is the field the error names.
 */
export async function inInput<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (err instanceof ValidationError && !err.field.startsWith('input.')) throw new ValidationError(`input.${err.field}`, err.problem);
    throw err;
  }
}
