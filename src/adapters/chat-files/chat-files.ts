// Chat files (OL-15): where they are kept, who may see them, and the signed, expiring links that let a
// browser show them in <img> or open them without sending a token. A link is
// `/chat/files/<fileId>[/thumbnail]?i=<instanceId>&exp=<unix seconds>&sig=<HMAC-SHA256>`; the key is Kefu's
// own (kefu_secrets, shared by every process of one deployment), so a link cannot be made or changed by
// anyone else, and it stops working at exp.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { chatFileDecider } from '../../domain/chat-file/chat-file.decide.ts';
import type { ChatFileFacts } from '../../domain/chat-file/chat-file.ts';
import { streams } from '../../domain/streams.ts';
import type { ReadModel } from '../../projections/projection.ts';
import type { CommandHandler } from '../eventstore/command-handler.ts';
import { keptKey } from '../sql/kept-keys.ts';
import { randomToken } from '../../api/credentials.ts';
import type { Principal } from '../../api/auth.ts';
import { defaultAllowedTypes } from './detect.ts';

export interface ChatFilesSettings {
  /** Where files live: `<dir>/<instanceId>/<fileId>` and `<fileId>.thumb`. */
  dir: string;
  maxBytes: number;
  linkSeconds: number;
  allowedTypes: readonly string[];
  /** The HMAC key of links. */
  linkKey: Uint8Array;
  /** Thumbnails fit in a square of this many pixels. */
  thumbnailSize: number;
}

export const defaultChatUploadMaxBytes = 10 * 1024 * 1024;
export const defaultChatFileLinkSeconds = 3600;

interface ChatFilesDeps {
  commands: CommandHandler;
  clock: () => Date;
  chatFiles?: ChatFilesSettings | undefined;
  storageDir?: string | undefined;
}

/** Settings for deps assembled without them (tests building ApiDeps by hand): a key of their own, files under storageDir. */
const fallback = new WeakMap<object, ChatFilesSettings>();

export function chatFilesSettingsOf(deps: ChatFilesDeps): ChatFilesSettings {
  if (deps.chatFiles) return deps.chatFiles;
  let settings = fallback.get(deps);
  if (!settings) {
    settings = {
      dir: path.join(deps.storageDir ?? path.resolve('data'), 'chat-files'),
      maxBytes: defaultChatUploadMaxBytes,
      linkSeconds: defaultChatFileLinkSeconds,
      allowedTypes: defaultAllowedTypes,
      linkKey: Buffer.from(randomToken(32), 'base64url'),
      thumbnailSize: 320,
    };
    fallback.set(deps, settings);
  }
  return settings;
}

/** The links' key, made on the first start and kept with Kefu's other secrets. */
export async function chatFileLinkKey(db: ReadModel): Promise<Uint8Array> {
  return keptKey(db, 'chat_file_link_key');
}

// ---- metadata ---------------------------------------------------------------------------------------

export interface ChatFile extends ChatFileFacts {
  instanceId: string;
  /** Whether an image thumbnail was stored. */
  thumbnail: boolean;
}

/** A chat file's metadata (with the chat it belongs to), or null when the instance has no such file. */
export async function loadChatFile(deps: { commands: CommandHandler }, instanceId: string, fileId: string): Promise<ChatFile | null> {
  if (!uuid.test(fileId) || !uuid.test(instanceId)) return null;
  const { state } = await deps.commands.load(streams.chatFile(instanceId, fileId), chatFileDecider);
  if (state.status !== 'stored') return null;
  const { status: _status, ...facts } = state;
  return { ...facts, instanceId, thumbnail: facts.thumbnailType !== null };
}

export const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

// ---- storage ----------------------------------------------------------------------------------------

export type FileVariant = 'file' | 'thumbnail';

export function chatFilePath(settings: ChatFilesSettings, instanceId: string, fileId: string, variant: FileVariant): string {
  if (!uuid.test(instanceId) || !uuid.test(fileId)) throw new Error('chat file ids are UUIDs');
  return path.join(path.resolve(settings.dir), instanceId, variant === 'file' ? fileId : `${fileId}.thumb`);
}

/** Writes a file so that it survives a crash once this resolves: a temporary file, fsync, rename, fsync of the folder. */
export async function writeDurably(target: string, bytes: Uint8Array): Promise<void> {
  const dir = path.dirname(target);
  await mkdir(dir, { recursive: true });
  const temp = `${target}.${randomToken(8)}.part`;
  try {
    const handle = await open(temp, 'w', 0o640);
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, target);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  const folder = await open(dir, 'r');
  try {
    await folder.sync();
  } catch {
    // Some file systems refuse fsync on a directory; the rename is then as durable as they make it.
  } finally {
    await folder.close();
  }
}

// ---- links ------------------------------------------------------------------------------------------

function signature(key: Uint8Array, instanceId: string, fileId: string, variant: FileVariant, exp: number): string {
  return createHmac('sha256', key).update(`chat-file\n${instanceId}\n${fileId}\n${variant}\n${exp}`).digest('base64url');
}

/** A signed link's path and query; exp rounded up to the minute so that repeated reads give the same URL (cacheable). */
export function signedChatFileLink(settings: Pick<ChatFilesSettings, 'linkKey' | 'linkSeconds'>, now: Date, instanceId: string, fileId: string, variant: FileVariant): string {
  const exp = Math.ceil((now.getTime() / 1000 + settings.linkSeconds) / 60) * 60;
  const sig = signature(settings.linkKey, instanceId, fileId, variant, exp);
  const base = `/chat/files/${fileId}${variant === 'thumbnail' ? '/thumbnail' : ''}`;
  return `${base}?i=${instanceId}&exp=${exp}&sig=${sig}`;
}

export type LinkCheck = { ok: true; exp: number } | { ok: false; reason: 'expired' | 'invalid' };

/** Whether a link's query is one Kefu signed for this file and variant, and not expired. */
export function checkChatFileLink(settings: Pick<ChatFilesSettings, 'linkKey'>, now: Date, instanceId: string, fileId: string, variant: FileVariant, expText: string, sig: string): LinkCheck {
  if (!/^\d{1,12}$/.test(expText) || !/^[A-Za-z0-9_-]{43}$/.test(sig)) return { ok: false, reason: 'invalid' };
  const exp = Number(expText);
  const expected = Buffer.from(signature(settings.linkKey, instanceId, fileId, variant, exp));
  if (!timingSafeEqual(expected, Buffer.from(sig))) return { ok: false, reason: 'invalid' };
  if (exp * 1000 <= now.getTime()) return { ok: false, reason: 'expired' };
  return { ok: true, exp };
}

/**
 * Links to a file for someone who may see it (the caller checked that): signed and expiring, so they work
 * in <img> and for a customer's browser on another site. The thumbnail's is null when there is none.
 */
export function chatFileUrls(
  deps: ChatFilesDeps,
  instanceId: string,
  file: { fileId: string; thumbnail?: boolean; hasThumbnail?: boolean; thumbnailType?: string | null },
  _viewer: Principal,
): { url: string; thumbnailUrl: string | null } {
  const settings = chatFilesSettingsOf(deps);
  const now = deps.clock();
  const hasThumbnail = Boolean(file.thumbnail ?? file.hasThumbnail ?? (file.thumbnailType != null));
  return {
    url: signedChatFileLink(settings, now, instanceId, file.fileId, 'file'),
    thumbnailUrl: hasThumbnail ? signedChatFileLink(settings, now, instanceId, file.fileId, 'thumbnail') : null,
  };
}
