// GET/HEAD /recordings/:recordingId: a call recording's WAV file (PH-14).
//
// Authentication is the API's: `Authorization: Bearer <token>` (agent token or API key), or, for an
// <audio src> that cannot send headers, `?access_token=<token>` (the header wins when both are sent; the
// token then sits in a URL, so the answer says no-store and no-referrer). Visibility is callRecords':
// an agent gets only recordings of calls they had a leg of; supervisors, admins and API keys any of their
// instance; the operator none. Answers:
//   200 audio/wav, or 206 with Content-Range for one `Range: bytes=…` range (a multi-range request gets
//       the whole file, 200); Accept-Ranges: bytes on both; 416 with `Content-Range: bytes */<size>` for a
//       range past the end. A malformed Range header is ignored (200), as RFC 9110 allows.
//   401 { error: { code: 'UNAUTHENTICATED' } } without a valid token; 403 FORBIDDEN for the operator.
//   404 NOT_FOUND for an unknown id, another instance's, a call the agent had no part in, or a READY
//       recording whose file is missing.
//   409 CONFLICT while the recording is still RECORDING: the file is incomplete until the call has ended
//       and the recorder has closed it (CallRecordingCompleted).
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { parse as parseRange } from 'range-parser';
import { z } from 'zod';
import { avRecordingPath, recordingPath } from '../adapters/storage/recording-storage.ts';
import { DomainError } from '../domain/errors.ts';
import { findRecording } from '../projections/call-records/call-records.queries.ts';
import { findChatRecord } from '../projections/chat-records/chat-records.queries.ts';
import type { ApiDeps } from './context.ts';
import { callRecordsLimitedTo } from './resolvers/call-records.ts';

type ErrorCode = 'UNAUTHENTICATED' | 'FORBIDDEN' | 'NOT_FOUND' | 'CONFLICT' | 'BAD_USER_INPUT' | 'RANGE_NOT_SATISFIABLE' | 'INTERNAL_SERVER_ERROR';

function fail(reply: FastifyReply, status: number, code: ErrorCode, message: string) {
  return reply.code(status).header('content-type', 'application/json; charset=utf-8').send({ error: { code, message } });
}

const notFound = (reply: FastifyReply, recordingId: string) => fail(reply, 404, 'NOT_FOUND', `Recording ${recordingId} not found`);

export async function recordingsRoute(app: FastifyInstance, options: { deps: ApiDeps }): Promise<void> {
  const { deps } = options;
  // This plugin is encapsulated: the zod compiler, the hook and the error handler apply to its route only.
  app.setValidatorCompiler(validatorCompiler);

  app.addHook('onRequest', async (request, reply) => {
    const fromQuery = new URL(request.url, 'http://kefu.invalid').searchParams.get('access_token');
    const header = request.headers.authorization ?? (fromQuery ? `Bearer ${fromQuery}` : undefined);
    try {
      request.principal = await deps.auth.authenticate(header);
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
      return fail(reply.header('www-authenticate', 'Bearer'), 401, 'UNAUTHENTICATED', err.message);
    }
    if (!request.principal) {
      return fail(reply.header('www-authenticate', 'Bearer'), 401, 'UNAUTHENTICATED', 'Sign in: send "Authorization: Bearer <token>" or ?access_token=<token>');
    }
    if (request.principal.kind === 'operator') return fail(reply, 403, 'FORBIDDEN', 'The platform operator has no access to instances\' recordings');
  });

  app.setErrorHandler((err: FastifyError, _request, reply) => {
    // An id that is not a UUID names no recording.
    if (err.validation && err.validationContext === 'params') return fail(reply, 404, 'NOT_FOUND', 'Recording not found');
    if (err.validation) return fail(reply, 400, 'BAD_USER_INPUT', err.message);
    deps.logger.error({ err }, 'recording download failed');
    return fail(reply, 500, 'INTERNAL_SERVER_ERROR', 'Internal server error');
  });

  app.withTypeProvider<ZodTypeProvider>().route({
    method: ['GET', 'HEAD'],
    url: '/recordings/:recordingId',
    schema: {
      params: z.object({ recordingId: z.uuid() }),
      querystring: z.object({ access_token: z.string().max(4096).optional() }),
    },
    handler: async (request, reply) => {
      const p = request.principal;
      if (!p || p.kind === 'operator') return fail(reply, 401, 'UNAUTHENTICATED', 'Sign in first');
      if (p.kind === 'customer') return fail(reply, 403, 'FORBIDDEN', 'Chat customers have no access to recordings');
      const { recordingId } = request.params;
      const limitedTo = callRecordsLimitedTo(p);
      let recording = await findRecording(deps.db, p.instanceId, recordingId, limitedTo);
      // An AV call's recording (issue 14): the agents who served the call (its service record) have it too.
      if (!recording && limitedTo) {
        const any = await findRecording(deps.db, p.instanceId, recordingId, null);
        if (any && (await findChatRecord(deps.db, p.instanceId, any.contact_id, limitedTo))) recording = any;
      }
      if (!recording) return notFound(reply, recordingId);
      if (recording.status !== 'READY') {
        return fail(reply, 409, 'CONFLICT', `Recording ${recordingId} is still being recorded; it can be downloaded once the call has ended and the recording is complete`);
      }
      // A phone call's WAV, or an AV call participant's WebM (issue 14).
      let file = recordingPath(deps.recordingsDir, p.instanceId, recording.id);
      let webm = false;
      let size: number;
      try {
        size = (await stat(file)).size;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        try {
          file = avRecordingPath(deps.recordingsDir, p.instanceId, recording.id);
          size = (await stat(file)).size;
          webm = true;
        } catch (err2) {
          if ((err2 as NodeJS.ErrnoException).code !== 'ENOENT') throw err2;
          deps.logger.warn({ recordingId, instanceId: p.instanceId }, 'a READY recording has no file');
          return notFound(reply, recordingId);
        }
      }

      reply
        .header('content-type', webm ? 'video/webm' : 'audio/wav')
        .header('accept-ranges', 'bytes')
        .header('cache-control', 'private, no-store')
        .header('referrer-policy', 'no-referrer')
        .header('content-disposition', `inline; filename="${recording.id}.${webm ? 'webm' : 'wav'}"`);

      let start = 0;
      let end = size - 1;
      const rangeHeader = request.headers.range;
      if (rangeHeader && rangeHeader.length <= 200) {
        const parsed = parseRange(size, rangeHeader);
        // Malformed (code bit 1) or not in bytes: ignored, the whole file follows.
        if (parsed.type === 'bytes' && (parsed.code & 1) === 0) {
          if (parsed.ranges.length === 0 && size > 0) {
            reply.header('content-range', `bytes */${size}`);
            return fail(reply, 416, 'RANGE_NOT_SATISFIABLE', `The recording has ${size} bytes`);
          }
          if (parsed.ranges.length === 1) {
            ({ start, end } = parsed.ranges[0]!);
            reply.code(206).header('content-range', `bytes ${start}-${end}/${size}`);
          }
        }
      }
      const length = Math.max(0, end - start + 1);
      reply.header('content-length', String(length));
      if (request.method === 'HEAD' || length === 0) return reply.send();
      return reply.send(createReadStream(file, { start, end }));
    },
  });
}
