// Telephony administration (PH-1, PH-15, CON-2): an instance's SIP trunks, the numbers bound to its flows,
// and its agents' SIP extensions. Secrets are kept as digest HA1 only and never returned.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { digestHa1 } from '../../adapters/sip/digest-auth.ts';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../../domain/errors.ts';
import { streams } from '../../domain/streams.ts';
import { phoneNumberDecider } from '../../domain/telephony/phone-number.decide.ts';
import { normalizeNumber, numberKey } from '../../domain/telephony/phone-number.ts';
import { sipExtensionDecider } from '../../domain/telephony/sip-extension.decide.ts';
import { sipUsernameDecider } from '../../domain/telephony/sip-username.decide.ts';
import { normalizeSipUsername, sipUsernamePattern } from '../../domain/telephony/sip-username.ts';
import { trunkDecider, type TrunkCommand } from '../../domain/telephony/trunk.decide.ts';
import type { TrunkDigest } from '../../domain/telephony/trunk.ts';
import type { PhoneNumberRow, TrunkRow } from '../../projections/telephony/telephony.projection.ts';
import { isSupervisor, requireAdmin, type InstancePrincipal } from '../auth.ts';
import { commandMetadata, inInput, settle, type KefuContext } from '../context.ts';
import { id, name, parseInput, password } from '../input.ts';
import { loadAgentRow } from './agents.ts';
import { loadFlowRow, toFlow } from './flows.ts';

const realmOf = (ctx: KefuContext) => ctx.deps.sipRealm ?? 'kefu';

export function toTrunk(row: TrunkRow) {
  return {
    id: row.id,
    name: row.name,
    allowedAddresses: row.allowed_addresses,
    username: row.digest_username,
    hasPassword: row.digest_ha1 !== null,
    outboundUri: row.outbound_uri,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

export function toPhoneNumber(row: PhoneNumberRow) {
  return { number: row.number, flowId: row.flow_id, instanceId: row.instance_id, boundAt: new Date(row.bound_at) };
}

async function loadTrunkRow(ctx: KefuContext, instanceId: string, trunkId: string): Promise<TrunkRow> {
  const row = await ctx.deps.db.selectFrom('trunks').selectAll().where('instance_id', '=', instanceId).where('id', '=', trunkId).where('deleted_at', 'is', null).executeTakeFirst();
  if (!row) throw new NotFoundError('Trunk', trunkId);
  return row;
}

async function trunkCommand(ctx: KefuContext, instanceId: string, command: TrunkCommand) {
  const result = await inInput(ctx.deps.commands.handle(streams.trunk(instanceId, command.data.trunkId), trunkDecider, command));
  await settle(ctx, result.position, ['telephony']);
  return result;
}

const address = z.union([z.ipv4(), z.ipv6(), z.cidrv4(), z.cidrv6()], { message: 'an IPv4 or IPv6 address, or a CIDR range (203.0.113.0/24)' });
const addresses = z
  .array(z.string().trim().pipe(address))
  .min(1, 'at least one address: a trunk is allow-listed')
  .max(100, 'at most 100 addresses')
  .transform((list) => [...new Set(list)]);
const digestUsername = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(64, 'at most 64 characters')
  .regex(/^[A-Za-z0-9._~+-]+$/, 'letters, digits and . _ ~ + - only');
const sipUri = z
  .string()
  .trim()
  .max(500, 'at most 500 characters')
  .regex(/^sips?:[^\s<>"]+$/i, 'a SIP URI, e.g. sip:carrier.example.com:5060');
const createTrunkInput = z.object({
  name,
  allowedAddresses: addresses,
  username: digestUsername.nullish(),
  password: password.nullish(),
  outboundUri: sipUri.nullish(),
});
const updateTrunkInput = z.object({
  id,
  name: name.nullish(),
  allowedAddresses: addresses.nullish(),
  username: digestUsername.nullish(),
  password: password.nullish(),
  /** null clears it. */
  outboundUri: sipUri.nullish(),
  removeDigest: z.boolean().nullish(),
});
const numberField = z.string().transform((raw, c) => {
  const n = normalizeNumber(raw);
  if (!n) {
    c.addIssue({ code: 'custom', message: 'digits, optionally after a +, 3 to 20 of them' });
    return z.NEVER;
  }
  return n;
});
const bindNumberInput = z.object({ number: numberField, flowId: id });
const sipCredentialsInput = z.object({
  agentId: id,
  username: z
    .string()
    .transform(normalizeSipUsername)
    .pipe(z.string().regex(sipUsernamePattern, '3 to 64 of a-z 0-9 . _ -, starting with a letter or digit'))
    .nullish(),
  password,
});

/** A default extension username: the login made SIP-safe, and a piece of the agent id for uniqueness. */
function defaultSipUsername(login: string, agentId: string): string {
  const base = login.toLowerCase().replace(/[^a-z0-9._-]/g, '.').replace(/^[^a-z0-9]+/, '').slice(0, 40);
  return `${base || 'agent'}-${agentId.replace(/-/g, '').slice(0, 6)}`;
}

async function numbersOf(ctx: KefuContext, p: InstancePrincipal) {
  return ctx.deps.db.selectFrom('phone_numbers').selectAll().where('instance_id', '=', p.instanceId).orderBy('number').execute();
}

export const telephonyResolvers = {
  Query: {
    async trunks(_: unknown, __: unknown, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const rows = await ctx.deps.db.selectFrom('trunks').selectAll().where('instance_id', '=', p.instanceId).where('deleted_at', 'is', null).orderBy('name').orderBy('id').execute();
      return rows.map(toTrunk);
    },
    async numbers(_: unknown, __: unknown, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      return (await numbersOf(ctx, p)).map(toPhoneNumber);
    },
  },
  Mutation: {
    async createTrunk(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const input = parseInput(createTrunkInput, args.input);
      if (!input.username !== !input.password) {
        throw new ValidationError(input.username ? 'input.password' : 'input.username', 'digest authentication needs both a username and a password');
      }
      const digest: TrunkDigest | null = input.username && input.password ? { username: input.username, ha1: digestHa1(input.username, realmOf(ctx), input.password) } : null;
      const trunkId = randomUUID();
      await trunkCommand(ctx, p.instanceId, {
        type: 'CreateTrunk',
        data: { trunkId, name: input.name, allowedAddresses: input.allowedAddresses, digest, outboundUri: input.outboundUri ?? null },
        metadata: commandMetadata(ctx, p.instanceId),
      });
      return toTrunk(await loadTrunkRow(ctx, p.instanceId, trunkId));
    },
    async updateTrunk(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const input = parseInput(updateTrunkInput, args.input);
      const row = await loadTrunkRow(ctx, p.instanceId, input.id);
      let digest: TrunkDigest | null | undefined;
      if (input.removeDigest) {
        if (input.username || input.password) throw new ValidationError('input.removeDigest', 'either remove digest authentication or set a username and password');
        digest = null;
      } else if (input.password) {
        const username = input.username ?? row.digest_username;
        if (!username) throw new ValidationError('input.username', 'digest authentication needs a username');
        digest = { username, ha1: digestHa1(username, realmOf(ctx), input.password) };
      } else if (input.username && input.username !== row.digest_username) {
        throw new ValidationError('input.password', 'required to change the username (the password is kept hashed with it)');
      }
      await trunkCommand(ctx, p.instanceId, {
        type: 'UpdateTrunk',
        data: {
          trunkId: input.id,
          ...(input.name ? { name: input.name } : {}),
          ...(input.allowedAddresses ? { allowedAddresses: input.allowedAddresses } : {}),
          ...(digest !== undefined ? { digest } : {}),
          ...(input.outboundUri !== undefined ? { outboundUri: input.outboundUri } : {}),
        },
        metadata: commandMetadata(ctx, p.instanceId),
      });
      return toTrunk(await loadTrunkRow(ctx, p.instanceId, input.id));
    },
    async deleteTrunk(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const { id: trunkId } = parseInput(z.object({ id }), args.input);
      await trunkCommand(ctx, p.instanceId, { type: 'DeleteTrunk', data: { trunkId }, metadata: commandMetadata(ctx, p.instanceId) });
      return { id: trunkId };
    },
    async bindNumber(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const input = parseInput(bindNumberInput, args.input);
      const instance = await ctx.deps.db.selectFrom('instances').select('qualification_status').where('id', '=', p.instanceId).executeTakeFirst();
      if (instance?.qualification_status !== 'APPROVED') throw new ForbiddenError("Numbers can be bound once the instance's qualification is approved");
      const flow = await loadFlowRow(ctx, p.instanceId, input.flowId);
      if (flow.kind !== 'IVR') throw new ValidationError('input.flowId', `a number runs an IVR flow; this one is ${flow.kind}`);
      const result = await inInput(
        ctx.deps.commands.handle(streams.phoneNumber(numberKey(input.number)), phoneNumberDecider, {
          type: 'BindNumber',
          data: { number: input.number, flowId: input.flowId },
          metadata: commandMetadata(ctx, p.instanceId),
        }),
      );
      await settle(ctx, result.position, ['telephony']);
      const row = await ctx.deps.db.selectFrom('phone_numbers').selectAll().where('number_key', '=', numberKey(input.number)).where('instance_id', '=', p.instanceId).executeTakeFirst();
      if (!row) throw new ConflictError('The number changed meanwhile; try again');
      return toPhoneNumber(row);
    },
    async unbindNumber(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const input = parseInput(z.object({ number: numberField }), args.input);
      const result = await inInput(
        ctx.deps.commands.handle(streams.phoneNumber(numberKey(input.number)), phoneNumberDecider, {
          type: 'UnbindNumber',
          data: { number: input.number },
          metadata: commandMetadata(ctx, p.instanceId),
        }),
      );
      await settle(ctx, result.position, ['telephony']);
      return { number: result.events[0]?.data.number ?? input.number };
    },
    async setAgentSipCredentials(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const input = parseInput(sipCredentialsInput, args.input);
      const agent = await loadAgentRow(ctx, p.instanceId, input.agentId);
      const metadata = commandMetadata(ctx, p.instanceId);
      const extensionStream = streams.sipExtension(p.instanceId, agent.id);
      const current = await ctx.deps.commands.load(extensionStream, sipExtensionDecider);
      const before = current.state.status === 'set' ? current.state.username : null;
      const username = input.username ?? before ?? defaultSipUsername(agent.login, agent.id);
      // Claim the new name first: if someone holds it, nothing has changed yet.
      await inInput(
        ctx.deps.commands.handle(streams.sipUsername(username), sipUsernameDecider, { type: 'ClaimSipUsername', data: { username, agentId: agent.id }, metadata }),
      );
      const result = await inInput(
        ctx.deps.commands.handle(extensionStream, sipExtensionDecider, {
          type: 'SetAgentSipCredentials',
          data: { agentId: agent.id, username, ha1: digestHa1(username, realmOf(ctx), input.password) },
          metadata,
        }),
      );
      if (before && before !== username) {
        await ctx.deps.commands.handle(streams.sipUsername(before), sipUsernameDecider, { type: 'ReleaseSipUsername', data: { username: before, agentId: agent.id }, metadata });
      }
      await settle(ctx, result.position, ['telephony']);
      return { agentId: agent.id, username, domain: realmOf(ctx) };
    },
  },
  PhoneNumber: {
    async flow(n: { instanceId: string; flowId: string }, _: unknown, ctx: KefuContext) {
      return toFlow(await loadFlowRow(ctx, n.instanceId, n.flowId));
    },
  },
  Agent: {
    /** The agent themselves, supervisors and admins see it. */
    async sipUsername(agent: { id: string; instanceId: string }, _: unknown, ctx: KefuContext) {
      const p = ctx.principal;
      if (!p || p.kind === 'operator' || p.instanceId !== agent.instanceId) return null;
      if (!(isSupervisor(p) || (p.kind === 'agent' && p.agentId === agent.id))) return null;
      const row = await ctx.deps.db.selectFrom('sip_extensions').select('username').where('instance_id', '=', agent.instanceId).where('agent_id', '=', agent.id).executeTakeFirst();
      return row?.username ?? null;
    },
  },
};

