// Icons of the AV visual menu (issue 14, AV-5).
//
// POST /av-icons (multipart/form-data, the image in a field named file), instance admins only: a JPEG, PNG,
// GIF or WebP of at most 64 KiB and 512 × 512 pixels, its type detected from its content (never SVG: it
// could run script), metadata stripped and the pixels decoded (or refused) as chat images are. Kept under
// `<storage>/av-icons/<instanceId>/<iconId>`:
//   201 { id, contentType, width, height, url }   (id goes into a menu entry's iconFileId)
//   400 BAD_USER_INPUT; 401; 403 FORBIDDEN (not an admin); 413 PAYLOAD_TOO_LARGE; 415 UNSUPPORTED_MEDIA_TYPE
//
// GET /av-icons/:instanceId/:iconId: the icon, to anyone (the widget shows it on the business's pages; the
// id is a random uuid). Served with its detected type, nosniff, a CSP that allows nothing, cached a day.
import { randomUUID } from 'node:crypto';
import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { detectFileType } from '../adapters/chat-files/detect.ts';
import { UploadProcessor } from '../adapters/chat-files/image-processor.ts';
import { UploadRefusedError } from '../adapters/chat-files/process-upload.ts';
import { FileStorage } from '../adapters/storage/file-storage.ts';
import { DomainError } from '../domain/errors.ts';
import { httpStatusOf } from './errors.ts';
import { maxAvIconBytes, maxAvIconPixels } from '../domain/web-channel/av-settings.ts';
import { requireAdmin } from './auth.ts';
import type { ApiDeps } from './context.ts';

const imageTypes = ['image/jpeg', 'image/png', 'image/gif', 'image/webp'];

export const avIconKey = (instanceId: string, iconId: string) => ['av-icons', instanceId, iconId] as const;

/** Where the widget loads an uploaded icon from (relative to Kefu's origin). */
export const avIconPath = (instanceId: string, iconId: string) => `/av-icons/${instanceId}/${iconId}`;

/** The icons among `ids` that were uploaded to this instance. */
export async function existingAvIcons(deps: ApiDeps, instanceId: string, ids: readonly string[]): Promise<string[]> {
  if (!deps.storageDir || ids.length === 0) return [];
  const storage = new FileStorage(deps.storageDir);
  const found: string[] = [];
  for (const id of new Set(ids)) {
    if (!z.uuid().safeParse(id).success) continue;
    if ((await storage.read(avIconKey(instanceId, id))) !== null) found.push(id);
  }
  return found;
}


function sendError(reply: FastifyReply, status: number, code: string, message: string) {
  return reply.code(status).header('cache-control', 'no-store').send({ error: { code, message } });
}

const paramsSchema = z.object({ instanceId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/), iconId: z.uuid() });

export async function avIconRoutes(app: FastifyInstance, options: { deps: ApiDeps }): Promise<void> {
  const { deps } = options;
  const processor = new UploadProcessor({ timeoutMs: 20_000 });
  app.addHook('onClose', async () => processor.close());
  await app.register(multipart, { limits: { fileSize: maxAvIconBytes, files: 1, fields: 2, parts: 4, fieldSize: 1024 } });
  // What fails before a handler runs (a body type no parser takes, multipart/mixed, XML) answers as the handlers do.
  app.setErrorHandler((err, _request, reply) => {
    const e = err as { code?: string; statusCode?: number; message?: string };
    if (e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return sendError(reply, 400, 'BAD_USER_INPUT', 'Send multipart/form-data with the image in a field named file');
    if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || e.statusCode === 413) return sendError(reply, 413, 'PAYLOAD_TOO_LARGE', `file: an icon is at most ${maxAvIconBytes / 1024} KiB`);
    if (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500) return sendError(reply, 400, 'BAD_USER_INPUT', e.message ?? 'Bad request');
    reply.log.error({ err }, 'unexpected error in an AV icon route');
    return sendError(reply, 500, 'INTERNAL_SERVER_ERROR', 'Internal server error');
  });

  app.post('/av-icons', { bodyLimit: maxAvIconBytes + 16 * 1024 }, async (request, reply) => {
    try {
      const principal = requireAdmin(await deps.auth.authenticate(request.headers.authorization));
      if (!deps.storageDir) return await sendError(reply, 503, 'UNAVAILABLE', 'File storage is not configured');
      if (!request.isMultipart()) return await sendError(reply, 400, 'BAD_USER_INPUT', 'Send multipart/form-data with the image in a field named file');
      let upload: { bytes: Buffer; filename: string | null; type: string | null } | null = null;
      try {
        for await (const part of request.parts()) {
          if (part.type !== 'file') continue;
          if (part.fieldname === 'file' && upload === null) upload = { bytes: await part.toBuffer(), filename: part.filename || null, type: part.mimetype || null };
          else part.file.resume();
        }
      } catch (err) {
        const e = err as { code?: string; statusCode?: number; message?: string };
        if (e.code === 'FST_REQ_FILE_TOO_LARGE' || e.statusCode === 413) throw err;
        return await sendError(reply, 400, 'BAD_USER_INPUT', `the multipart body is malformed or cut short (${e.message ?? 'unreadable'})`);
      }
      if (!upload) return await sendError(reply, 400, 'BAD_USER_INPUT', 'file: send the image in a multipart field named file');
      if (!detectFileType(upload.bytes).image) {
        return await sendError(reply, 415, 'UNSUPPORTED_MEDIA_TYPE', `file: an icon is a JPEG, PNG, GIF or WebP image (this is ${detectFileType(upload.bytes).contentType})`);
      }
      const processed = await processor.process({ bytes: new Uint8Array(upload.bytes), filename: upload.filename, declaredType: upload.type, allowedTypes: imageTypes, thumbnailSize: 64 });
      if (!processed.width || !processed.height || processed.width > maxAvIconPixels || processed.height > maxAvIconPixels) {
        return await sendError(reply, 400, 'BAD_USER_INPUT', `file: an icon is at most ${maxAvIconPixels} × ${maxAvIconPixels} pixels (this one is ${processed.width ?? '?'} × ${processed.height ?? '?'})`);
      }
      const id = randomUUID();
      await new FileStorage(deps.storageDir).write(avIconKey(principal.instanceId, id), processed.bytes);
      return await reply.code(201).send({ id, contentType: processed.contentType, width: processed.width, height: processed.height, url: avIconPath(principal.instanceId, id) });
    } catch (err) {
      if (err instanceof DomainError) return sendError(reply, httpStatusOf[err.code], err.code, err.message);
      if (err instanceof UploadRefusedError) return sendError(reply, err.status, err.status === 415 ? 'UNSUPPORTED_MEDIA_TYPE' : 'BAD_USER_INPUT', err.message);
      const e = err as { code?: string; statusCode?: number };
      if (e.code === 'FST_REQ_FILE_TOO_LARGE' || e.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || e.statusCode === 413) {
        return sendError(reply, 413, 'PAYLOAD_TOO_LARGE', `file: an icon is at most ${maxAvIconBytes / 1024} KiB`);
      }
      reply.log.error({ err }, 'unexpected error uploading an AV icon');
      return sendError(reply, 500, 'INTERNAL_SERVER_ERROR', 'Internal server error');
    }
  });

  app.get('/av-icons/:instanceId/:iconId', async (request, reply) => {
    const params = paramsSchema.safeParse(request.params);
    const bytes = params.success && deps.storageDir ? await new FileStorage(deps.storageDir).read(avIconKey(params.data.instanceId, params.data.iconId)) : null;
    if (!bytes) return sendError(reply, 404, 'NOT_FOUND', 'No such icon');
    const type = detectFileType(bytes);
    if (!type.image) return sendError(reply, 404, 'NOT_FOUND', 'No such icon');
    return reply
      .header('content-type', type.contentType)
      .header('x-content-type-options', 'nosniff')
      .header('content-security-policy', "default-src 'none'")
      .header('cross-origin-resource-policy', 'cross-origin')
      .header('cache-control', 'public, max-age=86400, immutable')
      .send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  });
}
