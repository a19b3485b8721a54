import { randomUUID } from 'node:crypto';
import type { ReportLimits } from '../projections/reports/report-queries.ts';
import type { CommandHandler } from '../adapters/eventstore/command-handler.ts';
import type { OutboundCallStarter } from '../processes/calls/outbound-calls.ts';
import type { SoftphoneHub } from '../adapters/webrtc/softphone-hub.ts';
import type { AvCalls } from '../processes/av-calls/av-calls.ts';
import type { IceServerSetting } from './resolvers/av-calls.ts';
import type { WebhookApiSettings } from './resolvers/webhooks.ts';
import type { CommandMetadata } from '../domain/decider.ts';
import { ValidationError } from '../domain/errors.ts';
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
import type { ChatFlowRunner } from '../processes/chat-flows/chat-flow-runner.ts';
import type { WechatApiSettings } from './resolvers/wechat-accounts.ts';

export interface ReadModelSync {
  /**
   * Resolves once the read models include the event at `position` (or the wait timed out). With the event's
   * `instanceId`, rejects at once with ReadModelParkedError if that instance's part of one is parked.
   */
  waitFor(position: Position, options?: { projections?: string[]; timeoutMs?: number; instanceId?: string }): Promise<boolean>;
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
}

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
 * Waits until the read models show what a command appended, so the mutation can return them. If the
 * instance's part of one of them is parked, fails at once (CONFLICT naming it) instead of waiting in vain.
 * The instance is the caller's own unless named (the operator acts on other instances).
 */
export async function settle(ctx: KefuContext, position: Position | null, projections?: string[], instanceId?: string): Promise<void> {
  if (!position) return;
  const instance = instanceId ?? (ctx.principal && ctx.principal.kind !== 'operator' ? ctx.principal.instanceId : undefined);
  const ok = await ctx.deps.readModels.waitFor(position, { ...(projections ? { projections } : {}), ...(instance !== undefined ? { instanceId: instance } : {}) });
  if (!ok) ctx.deps.logger.warn({ position: String(position.commit) }, 'read models lag behind a command');
}

/** How long a mutation whose answer shows a secret once waits for the table it reads (see settleShownOnce). */
export const shownOnceWaitMs = 120_000;

/**
 * For a mutation that creates something and answers with a secret shown only in that answer (an API key, a
 * channel's identity secret): waits, beyond settle's wait, for the projection whose table the answer reads.
 * Answering NOT_FOUND for what was created would lose the secret and invite a retry that creates it twice.
 */
export async function settleShownOnce(ctx: KefuContext, position: Position | null, projection: string, instanceId: string): Promise<void> {
  if (!position) return;
  const ok = await ctx.deps.readModels.waitFor(position, { projections: [projection], instanceId, timeoutMs: shownOnceWaitMs });
  if (!ok) ctx.deps.logger.error({ position: String(position.commit), projection }, 'a read model lags two minutes behind a created secret');
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
