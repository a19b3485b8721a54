import { randomUUID } from 'node:crypto';
import type { Selectable } from 'kysely';
import { z } from 'zod';
import { NotFoundError } from '../../domain/errors.ts';
import { instanceDecider } from '../../domain/instance/instance.decide.ts';
import { streams } from '../../domain/streams.ts';
import type { ReadModelDb } from '../../projections/read-model-db.ts';
import { formatApiKey, requireAdmin, requireInstance, requireOperator } from '../auth.ts';
import { commandMetadata, inInput, settle, settleShownOnce, type KefuContext } from '../context.ts';
import { hashSecret, randomToken } from '../credentials.ts';
import { breakReason, id, name, parseInput, reason, text } from '../input.ts';

type InstanceRow = Selectable<ReadModelDb['instances']>;
type ApiKeyRow = Selectable<ReadModelDb['api_keys']>;

export function toInstance(row: InstanceRow) {
  return {
    id: row.id,
    name: row.name,
    createdAt: row.created_at,
    seats: row.seats,
    seatsUsed: row.seats_used,
    breakReasons: row.break_reasons,
    qualification: {
      status: row.qualification_status,
      companyName: row.company_name,
      registrationNumber: row.registration_number,
      documents: row.documents,
      submittedAt: row.qualification_submitted_at,
      reviewedAt: row.qualification_reviewed_at,
      reviewReason: row.qualification_review_reason,
    },
  };
}

export function toApiKey(row: Pick<ApiKeyRow, 'id' | 'name' | 'role' | 'created_at' | 'revoked_at'>) {
  return { id: row.id, name: row.name, role: row.role, createdAt: row.created_at, revokedAt: row.revoked_at };
}

export async function loadInstance(ctx: KefuContext, instanceId: string) {
  const row = await ctx.deps.db.selectFrom('instances').selectAll().where('id', '=', instanceId).executeTakeFirst();
  if (!row) throw new NotFoundError('Instance', instanceId);
  return toInstance(row);
}

/** `showsSecret`: the caller answers a secret shown once and waits with settleShownOnce instead. */
async function instanceCommand(ctx: KefuContext, instanceId: string, command: Parameters<typeof instanceDecider.decide>[0], showsSecret = false) {
  const result = await inInput(ctx.deps.commands.handle(streams.instance(instanceId), instanceDecider, command));
  if (!showsSecret) await settle(ctx, result.position, undefined, instanceId);
  return result;
}

const createInstanceInput = z.object({ name });
const submitQualificationInput = z.object({
  companyName: name,
  registrationNumber: text({ max: 64 }),
  documents: z.array(text({ max: 2000 })).min(1, 'at least one document').max(20, 'at most 20 documents'),
});
const reviewQualificationInput = z.object({ instanceId: id, approve: z.boolean(), reason: reason.nullish() });
const purchaseSeatsInput = z.object({ instanceId: id, seats: z.number().int().min(1, 'at least 1').max(100_000, 'at most 100000 at once') });
const createApiKeyInput = z.object({ name, role: z.enum(['ADMIN', 'INTEGRATION']) });
const revokeApiKeyInput = z.object({ id });
const configureBreakReasonsInput = z.object({
  reasons: z
    .array(breakReason)
    .min(1, 'at least one reason')
    .max(30, 'at most 30 reasons')
    .refine((r) => new Set(r).size === r.length, 'reasons must be different'),
});

export const instanceResolvers = {
  Query: {
    async me(_: unknown, __: unknown, ctx: KefuContext) {
      const p = ctx.principal;
      if (!p) return requireInstance(p);
      if (p.kind === 'operator') return { __typename: 'OperatorPrincipal', operator: true };
      if (p.kind === 'customer') return requireInstance(p);
      if (p.kind === 'apiKey') {
        const row = await ctx.deps.db.selectFrom('api_keys').selectAll().where('id', '=', p.keyId).executeTakeFirstOrThrow();
        return { __typename: 'ApiKeyPrincipal', instanceId: p.instanceId, apiKey: toApiKey(row) };
      }
      return { __typename: 'AgentPrincipal', instanceId: p.instanceId, agentId: p.agentId };
    },
    async instances(_: unknown, __: unknown, ctx: KefuContext) {
      requireOperator(ctx.principal);
      const rows = await ctx.deps.db.selectFrom('instances').selectAll().orderBy('created_at').orderBy('id').execute();
      return rows.map(toInstance);
    },
    async instance(_: unknown, args: { id: string }, ctx: KefuContext) {
      const principal = ctx.principal?.kind === 'operator' ? ctx.principal : requireInstance(ctx.principal);
      const { id: instanceId } = parseInput(z.object({ id }), args, '');
      // Another instance's id behaves like one that does not exist.
      if (principal.kind !== 'operator' && principal.instanceId !== instanceId) throw new NotFoundError('Instance', instanceId);
      return loadInstance(ctx, instanceId);
    },
    async apiKeys(_: unknown, __: unknown, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const rows = await ctx.deps.db.selectFrom('api_keys').selectAll().where('instance_id', '=', p.instanceId).orderBy('created_at').execute();
      return rows.map(toApiKey);
    },
    async breakReasons(_: unknown, __: unknown, ctx: KefuContext) {
      const p = requireInstance(ctx.principal);
      return (await loadInstance(ctx, p.instanceId)).breakReasons;
    },
  },
  Mutation: {
    async createInstance(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      requireOperator(ctx.principal);
      const input = parseInput(createInstanceInput, args.input);
      const instanceId = randomUUID();
      const keyId = randomUUID();
      const secret = randomToken();
      const created = await instanceCommand(ctx, instanceId, {
        type: 'CreateInstance',
        data: { instanceId, name: input.name, adminKey: { keyId, secretHash: await hashSecret(secret) } },
        metadata: commandMetadata(ctx, instanceId),
      }, true);
      await settleShownOnce(ctx, created.position, 'instances', instanceId);
      return { instance: await loadInstance(ctx, instanceId), adminApiKey: formatApiKey(keyId, secret) };
    },
    async submitQualification(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const input = parseInput(submitQualificationInput, args.input);
      await instanceCommand(ctx, p.instanceId, { type: 'SubmitQualification', data: input, metadata: commandMetadata(ctx, p.instanceId) });
      return loadInstance(ctx, p.instanceId);
    },
    async reviewQualification(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      requireOperator(ctx.principal);
      const input = parseInput(reviewQualificationInput, args.input);
      await instanceCommand(ctx, input.instanceId, {
        type: 'ReviewQualification',
        data: { approve: input.approve, reason: input.reason ?? null },
        metadata: commandMetadata(ctx, input.instanceId),
      });
      return loadInstance(ctx, input.instanceId);
    },
    async purchaseSeats(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      requireOperator(ctx.principal);
      const input = parseInput(purchaseSeatsInput, args.input);
      await instanceCommand(ctx, input.instanceId, { type: 'PurchaseSeats', data: { seats: input.seats }, metadata: commandMetadata(ctx, input.instanceId) });
      return loadInstance(ctx, input.instanceId);
    },
    async createApiKey(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const input = parseInput(createApiKeyInput, args.input);
      const keyId = randomUUID();
      const secret = randomToken();
      const created = await instanceCommand(ctx, p.instanceId, {
        type: 'CreateApiKey',
        data: { keyId, name: input.name, role: input.role, secretHash: await hashSecret(secret) },
        metadata: commandMetadata(ctx, p.instanceId),
      }, true);
      await settleShownOnce(ctx, created.position, 'instances', p.instanceId);
      const row = await ctx.deps.db.selectFrom('api_keys').selectAll().where('id', '=', keyId).executeTakeFirstOrThrow();
      return { apiKey: toApiKey(row), secret: formatApiKey(keyId, secret) };
    },
    async revokeApiKey(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const input = parseInput(revokeApiKeyInput, args.input);
      await instanceCommand(ctx, p.instanceId, { type: 'RevokeApiKey', data: { keyId: input.id }, metadata: commandMetadata(ctx, p.instanceId) });
      const row = await ctx.deps.db
        .selectFrom('api_keys')
        .selectAll()
        .where('id', '=', input.id)
        .where('instance_id', '=', p.instanceId)
        .executeTakeFirst();
      if (!row) throw new NotFoundError('API key', input.id);
      return toApiKey(row);
    },
    async configureBreakReasons(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const input = parseInput(configureBreakReasonsInput, args.input);
      await instanceCommand(ctx, p.instanceId, { type: 'ConfigureBreakReasons', data: input, metadata: commandMetadata(ctx, p.instanceId) });
      return (await loadInstance(ctx, p.instanceId)).breakReasons;
    },
  },
};
