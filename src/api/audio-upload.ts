// Prompt recordings over REST (PH-15): `POST /audio` (multipart: `file`, optional `name`) converts a WAV
// to 8 kHz mono and keeps it under `<storage>/audio/<instanceId>/<audioId>.wav`; `GET /audio/:id` serves
// it back. Instance admins only; another instance's id is a 404 like an id that exists nowhere.
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { AudioFormatError, encodeWav8kMono } from '../adapters/media/audio-file.ts';
import { OffThreadWavDecoder } from '../adapters/media/off-thread-wav-decoder.ts';
import { audioFileKey, FileStorage } from '../adapters/storage/file-storage.ts';
import { DomainError, RateLimitedError } from '../domain/errors.ts';
import { httpStatusOf } from './errors.ts';
import { audioFileDecider } from '../domain/flow/audio-file.decide.ts';
import { streams } from '../domain/streams.ts';
import { requireAdmin, type InstancePrincipal } from './auth.ts';
import { commandMetadata, settle, type ApiDeps, type KefuContext } from './context.ts';
import { name as nameSchema } from './input.ts';

export const maxAudioUploadBytes = 10 * 1024 * 1024;
/** The longest prompt kept: a menu, an announcement or hold music, not a recording archive. */
export const maxAudioSeconds = 600;
/** Uploads converted one after another; beyond these waiting, another is refused (each holds up to 10 MB). */
const maxUploadsWaiting = 4;


function sendError(reply: FastifyReply, status: number, code: string, message: string) {
  return reply.code(status).send({ error: { code, message } });
}

async function adminOf(deps: ApiDeps, request: FastifyRequest): Promise<InstancePrincipal> {
  return requireAdmin(await deps.auth.authenticate(request.headers.authorization));
}

function contextOf(deps: ApiDeps, request: FastifyRequest, principal: InstancePrincipal): KefuContext {
  return { deps, principal, clientIp: request.ip, correlationId: String(request.id) };
}

/** The `file` part's bytes and the `name` field, in whichever order they came; other parts are drained. */
async function readUpload(request: FastifyRequest): Promise<{ bytes: Buffer | null; filename: string | null; name: string | null }> {
  let bytes: Buffer | null = null;
  let filename: string | null = null;
  let name: string | null = null;
  for await (const part of request.parts()) {
    if (part.type === 'file') {
      if (part.fieldname === 'file' && bytes === null) {
        bytes = await part.toBuffer();
        filename = part.filename || null;
      } else {
        part.file.resume();
      }
    } else if (part.fieldname === 'name' && typeof part.value === 'string') {
      name = part.value;
    }
  }
  return { bytes, filename, name };
}

/**
 * The multipart parser's own errors (a body cut short, no or another boundary, a broken part header) are
 * plain Errors; they all mean the client sent a bad body. Limit errors keep their status (413).
 */
function asMalformedUpload(err: unknown): unknown {
  const e = err as { statusCode?: number; message?: string } | null;
  if (typeof e?.statusCode === 'number') return err;
  return Object.assign(new Error(`the multipart body is malformed or cut short (${e?.message ?? 'unreadable'})`), { statusCode: 400 });
}

const paramsSchema = z.object({ id: z.uuid() });

export async function registerAudioRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const decoder = new OffThreadWavDecoder();
  // In its own scope: the multipart parser serves these routes only.
  await app.register(async (scope) => {
    await scope.register(multipart, { limits: { fileSize: maxAudioUploadBytes, files: 1, fields: 5, parts: 10 } });
    // What fails before a handler runs (a body type no parser takes, multipart/mixed, XML) answers as the handlers do.
    scope.setErrorHandler((err, _request, reply) =>
      (err as { code?: string }).code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? sendError(reply, 400, 'BAD_USER_INPUT', 'Send multipart/form-data with the audio in a field named file') : replyWithError(reply, err),
    );

    scope.post('/audio', { bodyLimit: maxAudioUploadBytes + 64 * 1024 }, async (request, reply) => {
      try {
        const principal = await adminOf(deps, request);
        if (!deps.storageDir) return await sendError(reply, 503, 'UNAVAILABLE', 'File storage is not configured');
        if (!request.isMultipart()) return await sendError(reply, 400, 'BAD_USER_INPUT', 'Send multipart/form-data with the audio in a field named file');
        const upload = await readUpload(request).catch((err: unknown) => {
          throw asMalformedUpload(err);
        });
        if (!upload.bytes) return await sendError(reply, 400, 'BAD_USER_INPUT', 'file: send the audio in a multipart field named file');
        const rawName = upload.name ?? (upload.filename ? path.parse(upload.filename).name : '') ?? '';
        const parsedName = nameSchema.safeParse(rawName === '' ? 'audio' : rawName);
        if (!parsedName.success) return await sendError(reply, 400, 'BAD_USER_INPUT', `name: ${parsedName.error.issues[0]!.message}`);
        let samples: Int16Array;
        try {
          if (decoder.pending > maxUploadsWaiting) throw new RateLimitedError('Other audio uploads are being converted; try again in a few seconds', 5);
          samples = await decoder.decode(new Uint8Array(upload.bytes), { maxSeconds: maxAudioSeconds });
        } catch (err) {
          if (err instanceof AudioFormatError) return await sendError(reply, 400, 'BAD_USER_INPUT', err.message);
          throw err;
        }
        const wav = encodeWav8kMono(samples);
        const audioId = randomUUID();
        await new FileStorage(deps.storageDir).write(audioFileKey(principal.instanceId, audioId), wav);
        const ctx = contextOf(deps, request, principal);
        const facts = { audioId, name: parsedName.data, durationMs: Math.round(samples.length / 8), sampleRate: 8000, sizeBytes: wav.byteLength };
        const result = await deps.commands.handle(streams.audio(principal.instanceId, audioId), audioFileDecider, {
          type: 'RecordAudioUpload',
          data: facts,
          metadata: commandMetadata(ctx, principal.instanceId),
        });
        await settle(ctx, result.position, ['audioFiles']);
        return await reply.code(201).send({ id: audioId, name: facts.name, durationMs: facts.durationMs, sampleRate: facts.sampleRate });
      } catch (err) {
        return replyWithError(reply, err);
      }
    });

    scope.get('/audio/:id', async (request, reply) => {
      try {
        const principal = await adminOf(deps, request);
        const params = paramsSchema.safeParse(request.params);
        const notFound = () => sendError(reply, 404, 'NOT_FOUND', 'No such audio file');
        if (!params.success || !deps.storageDir) return await notFound();
        const row = await deps.db
          .selectFrom('audio_files')
          .select(['id', 'name'])
          .where('instance_id', '=', principal.instanceId)
          .where('id', '=', params.data.id)
          .where('deleted_at', 'is', null)
          .executeTakeFirst();
        const bytes = row ? await new FileStorage(deps.storageDir).read(audioFileKey(principal.instanceId, row.id)) : null;
        if (!row || !bytes) return await notFound();
        return await reply
          .header('content-type', 'audio/wav')
          .header('content-disposition', `attachment; filename="${row.id}.wav"`)
          .send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      } catch (err) {
        return replyWithError(reply, err);
      }
    });
  });
}

function replyWithError(reply: FastifyReply, err: unknown) {
  if (err instanceof RateLimitedError) reply.header('retry-after', String(err.retryAfterSeconds));
  if (err instanceof DomainError) return sendError(reply, httpStatusOf[err.code], err.code, err.message);
  const e = err as { code?: string; statusCode?: number; message?: string };
  if (e.code === 'FST_REQ_FILE_TOO_LARGE' || e.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || e.statusCode === 413) {
    return sendError(reply, 413, 'PAYLOAD_TOO_LARGE', `The audio file is larger than ${maxAudioUploadBytes / (1024 * 1024)} MB`);
  }
  if (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500) return sendError(reply, 400, 'BAD_USER_INPUT', e.message ?? 'Bad request');
  reply.log.error({ err }, 'unexpected error in an audio route');
  return sendError(reply, 500, 'INTERNAL_SERVER_ERROR', 'Internal server error');
}
