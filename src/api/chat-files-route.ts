// Chat uploads and downloads (OL-15).
//
// POST /chat/uploads (multipart/form-data: the field contactId, then the file in a field named file),
// `Authorization: Bearer` of the chat's customer or of the agent holding it (connected). The type comes from
// the content (src/adapters/chat-files/detect.ts) and must be on the allow-list (KEFU_CHAT_UPLOAD_TYPES);
// images are stripped of metadata, decoded (or refused) and get a thumbnail. The file and its thumbnail are
// on disk (fsync'd) and ChatFileStored appended before the answer:
//   201 { fileId, name, contentType, bytes, width, height, url, thumbnailUrl }
//   400 BAD_USER_INPUT (not multipart, no contactId before the file, no file, an empty file)
//   401 UNAUTHENTICATED; 403 FORBIDDEN (API keys, the operator, an agent not holding the chat);
//   404 NOT_FOUND (no such chat, or another customer's); 409 CONFLICT (the chat has ended);
//   413 PAYLOAD_TOO_LARGE (over KEFU_CHAT_UPLOAD_MAX_BYTES); 415 UNSUPPORTED_MEDIA_TYPE (a type not
//   allowed, or content that is not the image it presents itself as); 429 RATE_LIMITED (Retry-After).
//
// GET /chat/files/:fileId and /chat/files/:fileId/thumbnail: with a signed link's query (i, exp, sig; see
// chat-files.ts), or with `Authorization: Bearer` of someone who may see the chat (its customer, its agents,
// supervisors, admins, API keys). 403 for an expired or altered link, 404 for a file the caller may not see.
// Served with the detected type, nosniff, a CSP that allows nothing (a file never runs as a page), inline for
// images and as an attachment otherwise.
import { createHash, randomUUID } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { chatFilesSettingsOf, chatFilePath, chatFileUrls, checkChatFileLink, loadChatFile, uuid, writeDurably, type ChatFile, type FileVariant } from '../adapters/chat-files/chat-files.ts';
import { UploadProcessor } from '../adapters/chat-files/image-processor.ts';
import { UploadRefusedError } from '../adapters/chat-files/process-upload.ts';
import { chatFileDecider } from '../domain/chat-file/chat-file.decide.ts';
import type { ChatFileFacts } from '../domain/chat-file/chat-file.ts';
import { DomainError, RateLimitedError } from '../domain/errors.ts';
import { httpStatusOf } from './errors.ts';
import { streams } from '../domain/streams.ts';
import type { ContactRow } from '../projections/contacts/contacts.projection.ts';
import { isSupervisor, type Principal } from './auth.ts';
import { chatLimit } from './chat-limits.ts';
import { commandMetadata, type ApiDeps, type KefuContext } from './context.ts';

type ErrorCode = 'BAD_USER_INPUT' | 'UNAUTHENTICATED' | 'FORBIDDEN' | 'NOT_FOUND' | 'CONFLICT' | 'READ_MODEL_BEHIND' | 'PAYLOAD_TOO_LARGE' | 'UNSUPPORTED_MEDIA_TYPE' | 'RATE_LIMITED' | 'UNAVAILABLE' | 'INTERNAL_SERVER_ERROR';


/** A refusal decided in the route, answered as `{ error: { code, message } }`. */
class Refusal extends Error {
  readonly status: number;
  readonly code: ErrorCode;
  constructor(status: number, code: ErrorCode, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function send(reply: FastifyReply, status: number, code: ErrorCode, message: string) {
  return reply.code(status).header('content-type', 'application/json; charset=utf-8').header('cache-control', 'no-store').send({ error: { code, message } });
}

const contactIdPattern = /^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/;

async function principalOf(deps: ApiDeps, request: FastifyRequest): Promise<Principal> {
  let principal: Principal | null;
  try {
    principal = await deps.auth.authenticate(request.headers.authorization);
  } catch (err) {
    if (err instanceof DomainError) throw new Refusal(401, 'UNAUTHENTICATED', err.message);
    throw err;
  }
  if (!principal) throw new Refusal(401, 'UNAUTHENTICATED', 'Sign in: send "Authorization: Bearer <token>"');
  return principal;
}

function contactRow(deps: ApiDeps, instanceId: string, contactId: string): Promise<ContactRow | undefined> {
  return deps.db.selectFrom('contacts').selectAll().where('instance_id', '=', instanceId).where('id', '=', contactId).executeTakeFirst();
}

function isCustomersChat(p: Extract<Principal, { kind: 'customer' }>, row: ContactRow): boolean {
  // Chats, and AV calls (issue 14: pictures sent during the call go into its conversation).
  return (row.channel === 'ONLINE' || row.channel === 'AV') && row.web_customer_id === p.customerId && row.web_verified === p.verified;
}

/** Who may see a chat's files: as the conversation itself (src/api/resolvers/chat.ts). */
function mayView(p: Principal, row: ContactRow): boolean {
  if (p.kind === 'operator') return false;
  if (p.kind === 'customer') return isCustomersChat(p, row);
  if (p.kind === 'apiKey' || isSupervisor(p)) return true;
  const offer = row.offer as { agentIds?: string[] } | null;
  return row.agent_id === p.agentId || (row.served_agent_ids ?? []).includes(p.agentId) || (offer?.agentIds ?? []).includes(p.agentId);
}

/** The chat an upload goes to, if this principal may upload to it now; refusals otherwise. */
async function uploadTarget(deps: ApiDeps, p: Principal, contactId: string): Promise<{ row: ContactRow; uploadedBy: ChatFileFacts['uploadedBy'] }> {
  if (p.kind === 'operator' || p.kind === 'apiKey') throw new Refusal(403, 'FORBIDDEN', 'Files are uploaded by the chat\'s customer or the agent holding the chat');
  const notFound = new Refusal(404, 'NOT_FOUND', `Conversation ${contactId} not found`);
  if (!contactIdPattern.test(contactId)) throw notFound;
  const row = await contactRow(deps, p.instanceId, contactId);
  if (!row || (row.channel !== 'ONLINE' && row.channel !== 'AV')) throw notFound;
  if (p.kind === 'customer') {
    if (!isCustomersChat(p, row)) throw notFound;
  } else if (!mayView(p, row)) {
    throw notFound;
  }
  if (row.status === 'ENDED' || row.status === 'REJECTED') throw new Refusal(409, 'CONFLICT', `Conversation ${contactId} has ended`);
  if (p.kind === 'customer') return { row, uploadedBy: { kind: 'CUSTOMER', customerId: p.customerId } };
  if (row.status !== 'CONNECTED' || row.agent_id !== p.agentId) throw new Refusal(403, 'FORBIDDEN', `Only the agent holding conversation ${contactId} sends files in it`);
  return { row, uploadedBy: { kind: 'AGENT', agentId: p.agentId } };
}

function limitKeys(request: FastifyRequest, p: Principal): string[] {
  if (p.kind === 'customer') return [`visitor:${p.instanceId}:${p.verified ? 'verified' : 'visitor'}:${p.customerId}`, request.ip ? `ip:${request.ip}` : ''];
  if (p.kind === 'agent') return [`agent:${p.instanceId}:${p.agentId}`];
  return [];
}

/** The multipart parser's own errors (a cut body, a broken part header) mean a bad body; limit errors keep their status. */
function asMalformedUpload(err: unknown): unknown {
  const e = err as { statusCode?: number; message?: string; code?: string } | null;
  if (err instanceof Refusal || err instanceof DomainError || typeof e?.statusCode === 'number' || e?.code === 'FST_REQ_FILE_TOO_LARGE') return err;
  return new Refusal(400, 'BAD_USER_INPUT', `the multipart body is malformed or cut short (${e?.message ?? 'unreadable'})`);
}

function contentDisposition(kind: 'inline' | 'attachment', name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '_');
  return `${kind}; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

export async function chatFilesRoutes(app: FastifyInstance, options: { deps: ApiDeps }): Promise<void> {
  const { deps } = options;
  const settings = chatFilesSettingsOf(deps);
  const processor = new UploadProcessor();
  app.addHook('onClose', async () => processor.close());
  /** Images waiting beyond this many: refused for now (each one holds up to maxBytes in memory). */
  const maxWaiting = 8;

  await app.register(multipart, { limits: { fileSize: settings.maxBytes, files: 1, fields: 5, parts: 10, fieldSize: 1024 } });

  app.setErrorHandler((err, request, reply) => {
    if (err instanceof Refusal) return send(reply, err.status, err.code, err.message);
    if (err instanceof RateLimitedError) reply.header('retry-after', String(err.retryAfterSeconds));
    if (err instanceof DomainError) return send(reply, httpStatusOf[err.code], err.code as ErrorCode, err.message);
    if (err instanceof UploadRefusedError) return send(reply, err.status, err.status === 415 ? 'UNSUPPORTED_MEDIA_TYPE' : 'BAD_USER_INPUT', err.message);
    const e = err as { code?: string; statusCode?: number; message?: string };
    if (e.code === 'FST_PARTS_LIMIT' || e.code === 'FST_FILES_LIMIT' || e.code === 'FST_FIELDS_LIMIT') {
      return send(reply, 400, 'BAD_USER_INPUT', 'Send one file with the field contactId, nothing more');
    }
    if (e.code === 'FST_REQ_FILE_TOO_LARGE' || e.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || e.statusCode === 413) {
      return send(reply, 413, 'PAYLOAD_TOO_LARGE', `file: the file is larger than ${formatBytes(settings.maxBytes)}`);
    }
    if (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500) return send(reply, 400, 'BAD_USER_INPUT', e.message ?? 'Bad request');
    request.log.error({ err }, 'unexpected error in a chat file route');
    return send(reply, 500, 'INTERNAL_SERVER_ERROR', 'Internal server error');
  });

  app.post('/chat/uploads', { bodyLimit: settings.maxBytes + 64 * 1024 }, async (request, reply) => {
    const p = await principalOf(deps, request);
    if (!request.isMultipart()) throw new Refusal(400, 'BAD_USER_INPUT', 'Send multipart/form-data: the field contactId, then the file in a field named file');
    let target: Awaited<ReturnType<typeof uploadTarget>> | null = null;
    let upload: { bytes: Buffer; filename: string | null; declaredType: string | null } | null = null;
    try {
      for await (const part of request.parts()) {
        if (part.type === 'field') {
          if (part.fieldname === 'contactId' && target === null) {
            // The chat is checked before the file is read: a refused upload costs no more than its first bytes.
            target = await uploadTarget(deps, p, String(part.value ?? '').trim());
            chatLimit(deps, 'upload', limitKeys(request, p));
          }
          continue;
        }
        if (part.fieldname !== 'file' || upload !== null) {
          part.file.resume();
          continue;
        }
        if (target === null) throw new Refusal(400, 'BAD_USER_INPUT', 'contactId: send the field contactId before the file');
        upload = { bytes: await part.toBuffer(), filename: part.filename || null, declaredType: part.mimetype || null };
      }
    } catch (err) {
      throw asMalformedUpload(err);
    }
    if (target === null) throw new Refusal(400, 'BAD_USER_INPUT', 'contactId: send the chat\'s contactId');
    if (upload === null) throw new Refusal(400, 'BAD_USER_INPUT', 'file: send the file in a multipart field named file');
    if (processor.pending > maxWaiting) throw new RateLimitedError('Other uploads are being processed; try again in a few seconds', 5);

    const processed = await processor.process({ bytes: new Uint8Array(upload.bytes), filename: upload.filename, declaredType: upload.declaredType, allowedTypes: settings.allowedTypes, thumbnailSize: settings.thumbnailSize });
    const instanceId = target.row.instance_id;
    const fileId = randomUUID();
    const paths = { file: chatFilePath(settings, instanceId, fileId, 'file'), thumbnail: chatFilePath(settings, instanceId, fileId, 'thumbnail') };
    const ctx: KefuContext = { deps, principal: p, clientIp: request.ip, correlationId: String(request.id) };
    const facts: ChatFileFacts = {
      fileId,
      contactId: target.row.id,
      name: processed.name,
      contentType: processed.contentType,
      bytes: processed.bytes.length,
      width: processed.width,
      height: processed.height,
      thumbnailType: processed.thumbnail?.contentType ?? null,
      sha256: createHash('sha256').update(processed.bytes).digest('hex'),
      uploadedBy: target.uploadedBy,
      at: deps.clock().toISOString(),
    };
    try {
      if (processed.thumbnail) await writeDurably(paths.thumbnail, processed.thumbnail.bytes);
      await writeDurably(paths.file, processed.bytes);
      await deps.commands.handle(streams.chatFile(instanceId, fileId), chatFileDecider, { type: 'StoreChatFile', data: facts, metadata: commandMetadata(ctx, instanceId) });
    } catch (err) {
      // Not stored: no bytes left behind without their event (a fresh id each time, so nothing else names them).
      await Promise.all([rm(paths.file, { force: true }), rm(paths.thumbnail, { force: true })]).catch(() => undefined);
      throw err;
    }
    const links = chatFileUrls(deps, instanceId, { fileId, thumbnail: facts.thumbnailType !== null }, p);
    return reply.code(201).header('cache-control', 'no-store').send({
      fileId,
      name: facts.name,
      contentType: facts.contentType,
      bytes: facts.bytes,
      width: facts.width,
      height: facts.height,
      url: links.url,
      thumbnailUrl: links.thumbnailUrl,
    });
  });

  const serve = (variant: FileVariant) => async (request: FastifyRequest, reply: FastifyReply) => {
    const { fileId } = request.params as { fileId: string };
    const query = request.query as Record<string, unknown>;
    const notFound = new Refusal(404, 'NOT_FOUND', `File ${String(fileId).slice(0, 64)} not found`);
    let file: ChatFile | null;
    let cache: string;
    if (query.sig !== undefined || query.exp !== undefined) {
      const instanceId = typeof query.i === 'string' ? query.i : '';
      if (!uuid.test(fileId) || !uuid.test(instanceId)) throw notFound;
      const check = checkChatFileLink(settings, deps.clock(), instanceId, fileId, variant, String(query.exp ?? ''), String(query.sig ?? ''));
      if (!check.ok) {
        throw new Refusal(403, 'FORBIDDEN', check.reason === 'expired' ? 'This link has expired: reload the conversation for a new one' : 'This link is not valid');
      }
      file = await loadChatFile(deps, instanceId, fileId);
      cache = `private, max-age=${Math.max(0, Math.min(check.exp - Math.floor(deps.clock().getTime() / 1000), 86_400))}, immutable`;
    } else {
      const p = await principalOf(deps, request);
      if (p.kind === 'operator' || !uuid.test(fileId)) throw notFound;
      file = await loadChatFile(deps, p.instanceId, fileId);
      const row = file ? await contactRow(deps, p.instanceId, file.contactId) : undefined;
      if (!row || !mayView(p, row)) throw notFound;
      cache = 'private, no-store';
    }
    if (!file || (variant === 'thumbnail' && !file.thumbnailType)) throw notFound;
    let bytes: Buffer;
    try {
      bytes = await readFile(chatFilePath(settings, file.instanceId, file.fileId, variant));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      request.log.warn({ fileId: file.fileId, instanceId: file.instanceId, variant }, 'a stored chat file is missing on disk');
      throw notFound;
    }
    const type = variant === 'thumbnail' ? file.thumbnailType! : file.contentType;
    const image = type.startsWith('image/');
    return reply
      .header('content-type', type === 'text/plain' ? 'text/plain; charset=utf-8' : type)
      .header('content-length', String(bytes.length))
      .header('x-content-type-options', 'nosniff')
      .header('content-security-policy', "default-src 'none'; frame-ancestors 'none'; sandbox")
      .header('content-disposition', contentDisposition(image ? 'inline' : 'attachment', variant === 'thumbnail' ? thumbnailName(file.name, type) : file.name))
      .header('cache-control', cache)
      .header('referrer-policy', 'no-referrer')
      .header('cross-origin-resource-policy', 'cross-origin')
      .send(bytes);
  };
  app.get('/chat/files/:fileId', serve('file'));
  app.get('/chat/files/:fileId/thumbnail', serve('thumbnail'));
}

/** `photo.jpg` → `photo-thumbnail.png` when the thumbnail is a PNG: the name says what the bytes are. */
function thumbnailName(name: string, type: string): string {
  const dot = name.lastIndexOf('.');
  return `${dot > 0 ? name.slice(0, dot) : name}-thumbnail.${type === 'image/png' ? 'png' : 'jpg'}`;
}

function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${Math.round((n / (1024 * 1024)) * 10) / 10} MiB`;
  if (n >= 1024) return `${Math.round(n / 1024)} KiB`;
  return `${n} bytes`;
}
