// Flows (PH-15): admins create IVR flows as JSON documents; each saved change is a new version, old
// versions stay readable. Prompt recordings are uploaded over REST (audio-upload.ts) and listed here.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { audioFileDecider } from '../../domain/flow/audio-file.decide.ts';
import { chatFlowReferences, type ChatFlowDocument } from '../../domain/flow/chat-flow-document.ts';
import { flowDecider, parseFlowDefinition, type FlowCommand } from '../../domain/flow/flow.decide.ts';
import { flowKinds, type FlowDefinition, type FlowKind } from '../../domain/flow/flow.ts';
import { flowReferences, parseFlowDocument, type FlowDocument } from '../../domain/flow/flow-document.ts';
import { NotFoundError, ValidationError } from '../../domain/errors.ts';
import { streams } from '../../domain/streams.ts';
import { audioFileKey, FileStorage } from '../../adapters/storage/file-storage.ts';
import type { AudioFileRow } from '../../projections/flows/audio-files.projection.ts';
import type { FlowRow, FlowVersionRow } from '../../projections/flows/flows.projection.ts';
import { requireAdmin } from '../auth.ts';
import { commandMetadata, inInput, settle, type KefuContext } from '../context.ts';
import { id, name, parseInput } from '../input.ts';
import { jsonScalar } from '../scalars.ts';
import { toWebChannel } from './web-channels.ts';

export interface FlowView {
  id: string;
  instanceId: string;
  name: string;
  kind: string;
  version: number;
  definition: unknown;
  createdAt: Date;
  updatedAt: Date;
}

export function toFlow(row: FlowRow): FlowView {
  return {
    id: row.id,
    instanceId: row.instance_id,
    name: row.name,
    kind: row.kind,
    version: row.version,
    definition: row.definition,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

const toFlowVersion = (row: FlowVersionRow) => ({ flowId: row.flow_id, version: row.version, definition: row.definition, createdAt: new Date(row.created_at) });

export function toAudioFile(row: AudioFileRow) {
  return { id: row.id, name: row.name, durationMs: row.duration_ms, sampleRate: row.sample_rate, sizeBytes: row.size_bytes, createdAt: new Date(row.created_at), downloadPath: `/audio/${row.id}` };
}

export async function loadFlowRow(ctx: KefuContext, instanceId: string, flowId: string): Promise<FlowRow> {
  const row = await ctx.deps.db.selectFrom('flows').selectAll().where('instance_id', '=', instanceId).where('id', '=', flowId).where('deleted_at', 'is', null).executeTakeFirst();
  if (!row) throw new NotFoundError('Flow', flowId);
  return row;
}

/**
 * Checks what only the instance knows: every route names one of its live skill groups of the flow's
 * channel (PHONE for IVR flows, ONLINE for chat flows) and every recording is one of its audio files.
 * Another instance's ids are simply not there.
 */
async function checkReferences(ctx: KefuContext, instanceId: string, kind: FlowKind, definition: FlowDefinition): Promise<void> {
  const { skillGroupIds, audioIds } =
    kind === 'CHAT'
      ? { ...chatFlowReferences(definition as ChatFlowDocument, 'input.definition'), audioIds: new Map<string, string>() }
      : flowReferences(definition as FlowDocument, 'input.definition');
  const wanted = kind === 'CHAT' ? 'ONLINE' : 'PHONE';
  if (skillGroupIds.size > 0) {
    const groups = await ctx.deps.db
      .selectFrom('skill_groups')
      .select(['id', 'channel'])
      .where('instance_id', '=', instanceId)
      .where('id', 'in', [...skillGroupIds.keys()])
      .where('deleted_at', 'is', null)
      .execute();
    const channels = new Map(groups.map((g) => [g.id, g.channel]));
    for (const [groupId, path] of skillGroupIds) {
      const channel = channels.get(groupId);
      if (channel === undefined) throw new ValidationError(path, `no skill group ${groupId}`);
      if (channel !== wanted) throw new ValidationError(path, `skill group ${groupId} is not a ${wanted} skill group`);
    }
  }
  if (audioIds.size > 0) {
    const files = await ctx.deps.db
      .selectFrom('audio_files')
      .select('id')
      .where('instance_id', '=', instanceId)
      .where('id', 'in', [...audioIds.keys()])
      .where('deleted_at', 'is', null)
      .execute();
    const known = new Set(files.map((f) => f.id));
    for (const [audioId, path] of audioIds) if (!known.has(audioId)) throw new ValidationError(path, `no audio file ${audioId}`);
  }
}

async function flowCommand(ctx: KefuContext, instanceId: string, command: FlowCommand) {
  const result = await inInput(ctx.deps.commands.handle(streams.flow(instanceId, command.data.flowId), flowDecider, command));
  await settle(ctx, result.position, ['flows']);
  return result;
}

/** Names of the instance's flows whose current version plays this recording. */
async function flowsPlaying(ctx: KefuContext, instanceId: string, audioId: string): Promise<string[]> {
  const rows = await ctx.deps.db.selectFrom('flows').select(['name', 'definition']).where('instance_id', '=', instanceId).where('kind', '=', 'IVR').where('deleted_at', 'is', null).execute();
  return rows.filter((r) => flowReferences(parseFlowDocument(r.definition)).audioIds.has(audioId)).map((r) => r.name);
}

const createInput = z.object({ name, kind: z.enum(flowKinds), definition: z.unknown() });
const updateInput = z.object({ id, name: name.nullish(), definition: z.unknown().optional() });
const versionArgs = z.object({ id, version: z.number().int().min(1, 'at least 1') });

export const flowResolvers = {
  JSON: jsonScalar,
  Query: {
    async flows(_: unknown, __: unknown, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const rows = await ctx.deps.db.selectFrom('flows').selectAll().where('instance_id', '=', p.instanceId).where('deleted_at', 'is', null).orderBy('name').orderBy('id').execute();
      return rows.map(toFlow);
    },
    async flow(_: unknown, args: unknown, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const { id: flowId } = parseInput(z.object({ id }), args, '');
      return toFlow(await loadFlowRow(ctx, p.instanceId, flowId));
    },
    async flowVersion(_: unknown, args: unknown, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const { id: flowId, version } = parseInput(versionArgs, args, '');
      await loadFlowRow(ctx, p.instanceId, flowId);
      const row = await ctx.deps.db
        .selectFrom('flow_versions')
        .selectAll()
        .where('instance_id', '=', p.instanceId)
        .where('flow_id', '=', flowId)
        .where('version', '=', version)
        .executeTakeFirst();
      if (!row) throw new NotFoundError('Flow version', `${flowId} ${version}`);
      return toFlowVersion(row);
    },
    async audioFiles(_: unknown, __: unknown, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const rows = await ctx.deps.db
        .selectFrom('audio_files')
        .selectAll()
        .where('instance_id', '=', p.instanceId)
        .where('deleted_at', 'is', null)
        .orderBy('created_at', 'desc')
        .orderBy('id')
        .execute();
      return rows.map(toAudioFile);
    },
  },
  Mutation: {
    async createFlow(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const input = parseInput(createInput, args.input);
      const definition = parseFlowDefinition(input.kind, input.definition, 'input.definition');
      await checkReferences(ctx, p.instanceId, input.kind, definition);
      const flowId = randomUUID();
      await flowCommand(ctx, p.instanceId, {
        type: 'CreateFlow',
        data: { flowId, name: input.name, kind: input.kind, definition },
        metadata: commandMetadata(ctx, p.instanceId),
      });
      return toFlow(await loadFlowRow(ctx, p.instanceId, flowId));
    },
    async updateFlow(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const input = parseInput(updateInput, args.input);
      const row = await loadFlowRow(ctx, p.instanceId, input.id);
      const kind = row.kind as FlowKind;
      let definition: FlowDefinition | undefined;
      if (input.definition !== undefined && input.definition !== null) {
        definition = parseFlowDefinition(kind, input.definition, 'input.definition');
        await checkReferences(ctx, p.instanceId, kind, definition);
      }
      await flowCommand(ctx, p.instanceId, {
        type: 'UpdateFlow',
        data: { flowId: input.id, ...(input.name ? { name: input.name } : {}), ...(definition ? { definition } : {}) },
        metadata: commandMetadata(ctx, p.instanceId),
      });
      return toFlow(await loadFlowRow(ctx, p.instanceId, input.id));
    },
    async deleteFlow(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const { id: flowId } = parseInput(z.object({ id }), args.input);
      const bound = await ctx.deps.db.selectFrom('phone_numbers').select('number').where('instance_id', '=', p.instanceId).where('flow_id', '=', flowId).orderBy('number').execute();
      const channels = await ctx.deps.db
        .selectFrom('web_channels')
        .select('name')
        .where('instance_id', '=', p.instanceId)
        .where('flow_id', '=', flowId)
        .where('deleted_at', 'is', null)
        .orderBy('name')
        .execute();
      await flowCommand(ctx, p.instanceId, {
        type: 'DeleteFlow',
        data: { flowId, boundNumbers: bound.map((b) => b.number), boundWebChannels: channels.map((c) => c.name) },
        metadata: commandMetadata(ctx, p.instanceId),
      });
      return { id: flowId };
    },
    async deleteAudio(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const { id: audioId } = parseInput(z.object({ id }), args.input);
      const usedBy = await flowsPlaying(ctx, p.instanceId, audioId);
      const result = await inInput(
        ctx.deps.commands.handle(streams.audio(p.instanceId, audioId), audioFileDecider, {
          type: 'DeleteAudio',
          data: { audioId, usedBy },
          metadata: commandMetadata(ctx, p.instanceId),
        }),
      );
      await settle(ctx, result.position, ['audioFiles']);
      if (ctx.deps.storageDir) await new FileStorage(ctx.deps.storageDir).remove(audioFileKey(p.instanceId, audioId));
      return { id: audioId };
    },
  },
  Flow: {
    async versions(flow: FlowView, _: unknown, ctx: KefuContext) {
      const rows = await ctx.deps.db
        .selectFrom('flow_versions')
        .selectAll()
        .where('instance_id', '=', flow.instanceId)
        .where('flow_id', '=', flow.id)
        .orderBy('version', 'desc')
        .execute();
      return rows.map(toFlowVersion);
    },
    async numbers(flow: FlowView, _: unknown, ctx: KefuContext) {
      const rows = await ctx.deps.db.selectFrom('phone_numbers').selectAll().where('instance_id', '=', flow.instanceId).where('flow_id', '=', flow.id).orderBy('number').execute();
      return rows.map((r) => ({ number: r.number, flowId: r.flow_id, instanceId: r.instance_id, boundAt: new Date(r.bound_at) }));
    },
    async webChannels(flow: FlowView, _: unknown, ctx: KefuContext) {
      const rows = await ctx.deps.db
        .selectFrom('web_channels')
        .selectAll()
        .where('instance_id', '=', flow.instanceId)
        .where('flow_id', '=', flow.id)
        .where('deleted_at', 'is', null)
        .orderBy('name')
        .orderBy('id')
        .execute();
      return rows.map(toWebChannel);
    },
  },
};
